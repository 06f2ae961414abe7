"""`curate`: run pipelines and inspect run directories. A thin layer over `curate.api`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from typing import Any, Literal

import typer
from rich.console import Console, JustifyMethod
from rich.logging import RichHandler
from rich.table import Table

from curate import __version__
from curate.errors import ConfigError, CurateError

app = typer.Typer(
    name="curate",
    help="Turn raw text and math problems into clean training data: dedup, filter, generate, verify, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)
if not out.is_terminal and "COLUMNS" not in os.environ:
    out = Console(width=120)  # pipes and logs: do not cut tables at 80 columns

_Columns = tuple[tuple[str, JustifyMethod], ...]
"""A table's column names and their alignment."""


def _version(value: bool) -> None:
    if value:
        out.print(f"curate {__version__}")
        raise typer.Exit()


class RichProgress:
    """The runner's progress (the `curate.runner.phases.Progress` protocol) as rich bars on stderr: one per phase."""

    def __init__(self, console: Any = None):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[shown]:>20}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.records: dict[str, int | None] = {}
        self.bar.start()

    def phase(self, label: str, total: int, done: int, counts_records: bool) -> Any:
        self.records[label] = 0 if counts_records else None
        return self.bar.add_task(label, total=max(total, 1), completed=done if total else 1, shown="")

    def advance(self, handle: Any, records: int = 0) -> None:
        label = self.bar.tasks[[t.id for t in self.bar.tasks].index(handle)].description
        shown = ""
        count = self.records.get(label)
        if count is not None:
            self.records[label] = count = count + records
            shown = f"{count:,} records"
        self.bar.update(handle, advance=1, shown=shown)

    def close(self) -> None:
        self.bar.stop()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Turn raw text and math problems into clean training data: dedup, filter, generate, verify, export.

    Every record ends up in RUN_DIR/kept/ or in RUN_DIR/removed/ with the stage and reason that removed it.
    """


@app.command()
def run(
    pipeline: str = typer.Argument(..., metavar="PIPELINE.yaml", help="The pipeline YAML file, e.g. pipelines/demo.yaml."),
    input: list[str] | None = typer.Option(None, "--input", "-i", metavar="GLOB", help="Input file, directory or glob; replaces the pipeline's input.path (repeatable)."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="DIR", help="Run directory; replaces the pipeline's output."),
    set: list[str] | None = typer.Option(None, "--set", "-s", metavar="STAGE.PARAM=VALUE", help="Override a parameter: STAGE.PARAM=VALUE or input.KEY=VALUE; VALUE is YAML (repeatable)."),
    ray_address: str | None = typer.Option(None, "--ray-address", envvar="RAY_ADDRESS", metavar="ADDR", help="Join this Ray cluster instead of starting a local one."),
    num_cpus: int | None = typer.Option(None, "--num-cpus", min=1, metavar="N", help="CPUs of the local Ray started when no cluster is given (default: all)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run directory that holds a different (or finished) run."),
    executor: str = typer.Option("auto", "--executor", metavar="KIND", help="ray, in-process (no Ray: small inputs, a debugger) or auto (in-process for an input of at most 4 MB when no Ray is named)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display and no stats table."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write RUN_DIR/report.html at the end."),
) -> None:
    """Run a pipeline. Re-running the same command after a crash resumes where it stopped."""
    from curate.api import Pipeline

    _logging(quiet)
    with _errors():
        pipe = Pipeline.from_yaml(pipeline, set=set, input=input or None, output=output)
        progress = None if quiet or not err.is_terminal else RichProgress(err)
        result = pipe.run(ray_address=ray_address, num_cpus=num_cpus, overwrite=overwrite, progress=progress, executor=executor, report=not no_report)
        if not quiet:
            _stats_table(result.stats)
            out.print(f"kept/ and removed/ are in [bold]{result.path}[/]; `curate explain {result.path} ID` tells what happened to a record.")
            _exports(result.stats)
            if not no_report and result.layout.report.exists():
                out.print(f"report: [bold]{result.layout.report}[/] (open it in a browser)")


@app.command()
def report(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A completed run directory."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="FILE", help="Where to write the page (default RUN_DIR/report.html, or RUN_DIR/report-against-NAME.html)."),
    against: str | None = typer.Option(None, "--against", metavar="OTHER_RUN", help="Compare with another run of the same input: records kept in one and removed in the other."),
    samples: int = typer.Option(5, "--samples", "-n", min=0, max=100, metavar="N", help="Removed records shown per reason."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Seed of the random samples (the same seed shows the same records)."),
) -> None:
    """Write one self-contained HTML page of a run: the funnel, each score's kept-vs-removed histogram with
    what other thresholds would keep, samples of every reason, reasoning data, input files, run facts."""
    import time

    from curate.report import write_report

    with _errors():
        started = time.perf_counter()
        path = write_report(run_dir, output, against=against, samples=samples, seed=seed)
        out.print(f"wrote [bold]{path}[/] ({path.stat().st_size / 1e6:.2f} MB in {time.perf_counter() - started:.1f} s)")


@app.command()
def stats(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print stats.json as it is (or the stage's entry, with --stage)."),
    stage: str | None = typer.Option(None, "--stage", metavar="NAME", help="One stage in detail: every rule's failures and each score's histogram."),
    samples: str | None = typer.Option(None, "--samples", metavar="REASON", help="Print random records removed for REASON (with a duplicate's kept partner)."),
    count: int = typer.Option(5, "--count", "-n", min=1, metavar="N", help="How many samples."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Seed of the random samples."),
) -> None:
    """Per stage: records in, out, removed by reason, and seconds."""
    from curate.results import open_run

    with _errors():
        result = open_run(run_dir)
        if samples is not None:
            _samples(result, samples, count, stage, seed, as_json)
        elif stage is not None:
            entry = result.stage_stats(stage)
            print(json.dumps(entry, indent=2)) if as_json else _stage_detail(result, entry)
        elif as_json:
            print(json.dumps(result.stats, indent=2))
        else:
            _stats_table(result.stats)
            _exports(result.stats)


@app.command()
def explain(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run directory."),
    record_id: str = typer.Argument(..., metavar="ID", help="The record's id."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
) -> None:
    """Where a record went and why: kept, or removed by which stage for which reason (and its duplicate)."""
    from curate.results import open_run

    with _errors():
        answer = open_run(run_dir).explain(record_id)
        if as_json:
            print(json.dumps(answer, indent=2, default=str))
            return
        _explain(answer)


@app.command()
def export(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A completed run directory."),
    format: str = typer.Option(..., "--format", "-f", metavar="FMT", help="verl | openrlhf | trl | sft | prm_trl | prm_openrlhf | prm_steps"),
    to: str = typer.Option(..., "--to", metavar="DIR", help="Where train.* and validation.* and export.json go."),
    validation: float | None = typer.Option(None, "--validation", min=0.0, metavar="X", help="Held-out share (below 1) or count (default 0.05); 0: none."),
    split_seed: int | None = typer.Option(None, "--split-seed", metavar="N", help="Seed of the train/validation split (default 0)."),
    select: str | None = typer.Option(None, "--select", metavar="HOW", help="sft: all_correct | shortest_correct | best:<trace field>."),
    max_per_problem: int | None = typer.Option(None, "--max-per-problem", min=1, metavar="N", help="sft: traces per problem."),
    reasoning: str | None = typer.Option(None, "--reasoning", metavar="WHERE", help="sft: think (<think>…</think>) | field (reasoning_content)."),
    data_source: str | None = typer.Option(None, "--data-source", metavar="NAME", help="verl data_source / OpenRLHF datasource."),
    include_removed: list[str] | None = typer.Option(None, "--include-removed", metavar="STAGE", help="Also export records this stage removed (repeatable)."),
    set: list[str] | None = typer.Option(None, "--set", "-s", metavar="PARAM=VALUE", help="Any other export parameter (prompt, answer_field, metadata, ...); VALUE is YAML."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export in DIR."),
) -> None:
    """Write a run's kept records as a trainer's dataset: verl or TRL Parquet, OpenRLHF JSONL, or SFT chat JSONL."""
    import yaml

    from curate import safe_yaml
    from curate.results import open_run

    _logging(False)
    with _errors():
        params: dict[str, Any] = {}
        for item in set or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set {item!r}: expected PARAM=VALUE")
            try:
                params[key.strip()] = safe_yaml.load(value, f"--set {item}")
            except yaml.YAMLError as problem:
                raise ConfigError(f"--set {item!r}: VALUE is not YAML: {str(problem).splitlines()[0]}") from None
        flags = {"validation": validation, "split_seed": split_seed, "select": select, "max_per_problem": max_per_problem,
                 "reasoning": reasoning, "data_source": data_source, "include_removed": include_removed or None}
        params.update({k: v for k, v in flags.items() if v is not None})
        summary = open_run(run_dir).export(format, to, overwrite=overwrite, **params)
        table = Table(title=f"{summary['format']} export of {summary['records']:,} records to {summary['to']}", title_justify="left")
        columns: _Columns = (("split", "left"), ("file", "left"), ("records", "right"), ("rows", "right"))
        for column, justify in columns:
            table.add_column(column, justify=justify)
        for split, entry in summary["files"].items():
            table.add_row(split, entry["path"], f"{entry['records']:,}", f"{entry['rows']:,}")
        out.print(table)
        if summary["left_out"]:
            out.print("left out: " + ", ".join(f"{reason} {count:,}" for reason, count in summary["left_out"].items()))


@app.command("train-classifier")
def train_classifier(
    output: str = typer.Option(..., "--output", "-o", metavar="MODEL", help="Where to save the model (.bin); metrics go to MODEL.json."),
    positives: list[str] = typer.Option([], "--positives", metavar="FILE", help="Files of positive examples (JSONL, JSON or Parquet)."),
    negatives: list[str] = typer.Option([], "--negatives", metavar="FILE", help="Files of negative examples."),
    data: list[str] = typer.Option([], "--data", metavar="FILE", help="Files with a label column (see --label-field)."),
    label_field: str | None = typer.Option(None, "--label-field", metavar="NAME", help="The label column of --data files."),
    field: str = typer.Option("text", "--field", metavar="NAME", help="The text field."),
    holdout: float = typer.Option(0.1, "--holdout", min=0.0, max=0.9, help="Share held out for precision/recall."),
    epoch: int = typer.Option(10, "--epoch", min=1),
    lr: float = typer.Option(0.5, "--lr", min=0.001),
    word_ngrams: int = typer.Option(2, "--word-ngrams", min=1, max=5),
    dim: int = typer.Option(64, "--dim", min=2),
    threads: int = typer.Option(1, "--threads", min=1, help="fastText threads (1 gives the same model every time)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a fastText quality classifier for the `classifier` stage; prints held-out precision and recall."""
    from curate.api import train_classifier as train

    with _errors():
        metrics = train(output, field=field, positives=positives, negatives=negatives, data=data, label_field=label_field,
                        holdout=holdout, epoch=epoch, lr=lr, word_ngrams=word_ngrams, dim=dim, threads=threads, seed=seed)
        table = Table(title=f"{output}: trained on {metrics['train']:,}, held out {metrics['held_out']:,}", title_justify="left")
        for column in ("label", "precision", "recall", "support"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for label, values in (metrics.get("held_out_metrics") or {}).items():
            table.add_row(label, *(f"{values[k]:.3f}" if values[k] is not None else "—" for k in ("precision", "recall")), f"{values['support']:,}")
        out.print(table)


@app.command("demo-data")
def demo_data(
    directory: str = typer.Argument(..., metavar="DIR", help="Where to write the sample corpus."),
    problems: int = typer.Option(2000, "--problems", min=10, metavar="N", help="Distinct problems before planting duplicates and junk."),
    seed: int = typer.Option(7, "--seed", metavar="N", help="Random seed; the same seed gives the same files."),
) -> None:
    """Write the demo's sample corpora: math word problems with planted duplicates, near-duplicates, junk and
    unverifiable problems; web text with planted low-quality documents."""
    from curate.demo import write_demo_data, write_web_data

    with _errors():
        summary = write_demo_data(directory, problems=problems, seed=seed)
        out.print(f"wrote {summary['records']:,} math problems to {directory} ({', '.join(f'{k}: {v}' for k, v in summary['planted'].items())})")
        web = write_web_data(directory, documents=max(30, problems // 8), seed=seed)
        out.print(f"wrote {web['records']:,} web documents to {directory}/web-0.jsonl ({', '.join(f'{k}: {v}' for k, v in web['planted'].items())})")


# ---------------------------------------------------------------- rendering


def _stats_table(stats: dict[str, Any]) -> None:
    table = Table(title=f"{stats.get('pipeline', '')}: {stats['input']:,} in, {stats['kept']:,} kept, {stats['removed']:,} removed", title_justify="left")
    columns: _Columns = (("stage", "left"), ("use", "left"), ("in", "right"), ("out", "right"), ("removed", "right"), ("by reason", "left"), ("seconds", "right"))
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=column != "by reason", min_width=22 if column == "by reason" else None)
    for stage in stats["stages"]:
        removed = sum(stage["removed"].values())
        reasons = "\n".join(f"{reason} {count:,}" for reason, count in stage["removed"].items())
        table.add_row(stage["name"], stage["use"], f"{stage['in']:,}", f"{stage['out']:,}", f"{removed:,}", reasons, f"{stage['seconds']:.2f}")
    out.print(table)
    for stage in stats["stages"]:
        rewrite = stage.get("rewrite")
        if rewrite and rewrite.get("chars_in"):
            out.print(
                f"{stage['name']}: its rewrite kept {rewrite['chars_out']:,} of {rewrite['chars_in']:,} characters "
                f"({rewrite['chars_out'] / rewrite['chars_in']:.0%}) and {rewrite['lines_out']:,} of {rewrite['lines_in']:,} lines "
                f"of the {stage['out']:,} records it kept ({rewrite['records_changed']:,} changed)"
            )


def _exports(stats: dict[str, Any]) -> None:
    for name, summary in (stats.get("exports") or {}).items():
        files = ", ".join(f"{entry['path']} ({entry['rows']:,} rows)" for entry in summary["files"].values())
        out.print(f"export [bold]{name}[/] ({summary['format']}): {summary['to']}: {files}")


def _stage_detail(result: Any, stage: dict[str, Any]) -> None:
    """The stage's own figures (verdicts, pairs, counters); its rules: records failing each (a record can
    fail several) beside those removed under it (the first it failed); each score's histogram, the
    records it kept apart from those it removed."""
    from curate.report import views

    out.print(f"[bold]{stage['name']}[/] ({stage['use']}): {stage['in']:,} in, {stage['out']:,} out, {sum(stage['removed'].values()):,} removed")
    figures = views.funnel({"stages": [stage]})[0].figures
    if figures:
        table = Table(title="what it counted", title_justify="left", show_header=False)
        table.add_column()
        table.add_column(justify="right")
        for key, value in _flatten(figures):
            table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
        out.print(table)
    failed = stage.get("failed")
    declared = stage.get("reasons") or []
    if declared:
        out.print(f"reasons it may remove for: {', '.join(declared)}")
    reasons = list(dict.fromkeys([*(stage.get("rules") or []), *(r for r in declared if "<" not in r), *stage["removed"], *(failed or {})]))
    if reasons:
        table = Table(title_justify="left")
        columns: _Columns = (("rule / reason", "left"), ("failed", "right"), ("removed under it", "right"), ("% of in", "right"))
        for column, justify in columns:
            table.add_column(column, justify=justify)
        for reason in reasons:
            fails = failed.get(reason, 0) if failed is not None else None
            removed = stage["removed"].get(reason, 0)
            share = (fails if fails is not None else removed) / stage["in"] if stage["in"] else 0.0
            table.add_row(reason, f"{fails:,}" if fails is not None else "—", f"{removed:,}", f"{share:.1%}")
        out.print(table)
    from curate.report.svg import bin_label

    scores = views.stage_scores(result, stage["name"], bins=12)
    for view in scores.views:
        histogram = view.histogram
        total = max(1, max((k + r + o for k, r, o in zip(histogram.kept, histogram.removed, histogram.other)), default=1))
        bounds = "; ".join(f"{b.reason}: {b.describe()}" for b in view.bounds)
        table = Table(title=f"{view.column}" + (f"  ({bounds})" if bounds else ""), title_justify="left", box=None, padding=(0, 1))
        bins: _Columns = (("bin", "left"), ("kept", "right"), ("removed by it", "right"), ("by other rules", "right"), ("", "left"))
        for name, justify in bins:
            table.add_column(name, justify=justify)
        for i, (kept, removed, other) in enumerate(zip(histogram.kept, histogram.removed, histogram.other)):
            bar = "[blue]" + "█" * round(30 * kept / total) + "[/][red]" + "█" * round(30 * removed / total) + "[/][yellow]" + "█" * round(30 * other / total) + "[/]"
            table.add_row(bin_label(histogram.edges, i, histogram.integer, histogram.centred), f"{kept:,}", f"{removed:,}", f"{other:,}", bar)
        if histogram.null_kept or histogram.null_removed or histogram.null_other:
            table.add_row("no score", f"{histogram.null_kept:,}", f"{histogram.null_removed:,}", f"{histogram.null_other:,}", "")
        if histogram.beyond:
            table.add_row("", "", "", "", "bounds beyond the data: " + ", ".join(f"{v:g}" for v in histogram.beyond))
        out.print(table)
    if scores.views:
        out.print(f"`curate report {result.path}` shows what other thresholds would keep")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def _samples(result: Any, reason: str, count: int, stage: str | None, seed: int, as_json: bool) -> None:
    from dataclasses import asdict

    from curate.report.samples import draw

    drawn = {key: group for key, group in draw(result, stage=stage, reason=reason, n=count, seed=seed).items() if group}
    if not drawn:
        known = sorted(result.stats.get("removed_by_reason", {}))
        raise ConfigError(f"no records removed for reason {reason!r}" + (f" by stage {stage!r}" if stage else "") + f" (reasons in this run: {', '.join(known) or 'none'})")
    picked = [s for group in drawn.values() for s in group][:count] if stage is None and len(drawn) > 1 else [s for group in drawn.values() for s in group]
    if as_json:
        print(json.dumps([asdict(s) for s in picked], indent=2, default=str))
        return
    for number, sample in enumerate(picked, 1):
        out.print(f"[bold]{number}.[/] {sample.id}  stage [bold]{sample.stage}[/], reason [bold]{sample.reason}[/]")
        for score in sample.scores:
            if score.bound:
                out.print(f"  [red]{score.column} = {score.value:g}[/] ({score.bound})")
        more = f"… ({sample.chars:,} characters)" if sample.chars > len(sample.text) else ""
        _record({sample.field: sample.text + more, **sample.fields})
        if sample.partner is not None:
            similarity = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sample.partner.similarity.items())
            out.print(f"  duplicate of [bold]{sample.partner.id}[/], which was {sample.partner.status}" + (f" ({similarity})" if similarity else ""))
            _record({sample.field: sample.partner.text})


def _explain(answer: dict[str, Any]) -> None:
    if answer["status"] == "kept":
        out.print(f"[bold green]kept[/]  {answer['id']}  ({answer['file']})")
    else:
        out.print(f"[bold red]removed[/]  {answer['id']}  by stage [bold]{answer['stage']}[/] ({answer['use']}), reason [bold]{answer['reason']}[/]  ({answer['file']})")
        leak = {k[len(answer["stage"]) + 1 :]: v for k, v in answer["record"].items() if str(k).startswith(f"{answer['stage']}_")}
        if answer.get("use") == "decontaminate" and leak.get("item") is not None:
            out.print(
                f"holds {leak['overlap']:.0%} of the n-grams of item [bold]{leak['item']}[/] of {leak['source']} "
                f"({leak['longest']} words in one run, {leak['numbers']:.0%} of its numbers); it shares: " + "; ".join(f"“{g}”" for g in leak.get("ngrams") or [])
            )
            out.print(f"the item: {leak['item_text'][:600]}", markup=False, highlight=False)
    _record(answer["record"])
    duplicate = answer.get("duplicate")
    if duplicate:
        status = duplicate.get("status")
        out.print(f"\nduplicate of [bold]{duplicate['id']}[/], which was {status}" + (f" ({duplicate['file']})" if duplicate.get("file") else ""))
        similarity = answer.get("similarity")
        if similarity:
            out.print("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in similarity.items()))
        if duplicate.get("record"):
            _record(duplicate["record"])
    for trace in answer.get("steps") or []:
        first = trace["first_error_step"]
        out.print(f"\nsample {trace['sample']} ({'correct' if trace['correct'] else 'wrong'}): " + ("every step good" if first is None else f"first bad step {first}"))
        table = Table(show_header=True, box=None, padding=(0, 2))
        for column in ("step", "label", "reached the answer", "their answers", "text"):
            table.add_column(column, overflow="fold")
        for step in trace["steps"]:
            score = "" if step["score"] is None else f"{step['score']:.0%}"
            answers = ", ".join(sorted(set(step["answers"] or [])))[:80]
            text = step["text"] if len(step["text"]) <= 300 else step["text"][:300] + "…"
            table.add_row(str(step["step"]), "good" if step["label"] else "bad", score, answers, text)
        out.print(table)


def _record(record: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in record.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        table.add_row(key, text if len(text) <= 600 else text[:600] + f"… ({len(text):,} chars)")
    out.print(table)


# ---------------------------------------------------------------- plumbing


def _logging(quiet: bool) -> None:
    handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("ray", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C's KeyboardInterrupt: the run stops its
    tasks and Ray and releases its directory on the way out, as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_WHY: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
_signalled: list[int] = []
_armed = False
_told = False
_stderr: int | None = None
"""Once a signal came: the real stderr, kept aside while fd 2 goes to /dev/null (what Ray's core
worker logs while it is torn down is noise: the signal is the news)."""


def _tell_stopped(signum: int) -> None:
    global _told
    if not _told:
        _told = True
        line = f"{_WHY.get(signum, 'stopped')}; run the same command again to resume\n".encode()
        try:
            os.write(_stderr if _stderr is not None else 2, line)
        except OSError:
            pass


def _mute_stderr() -> None:
    global _stderr
    if _stderr is None:
        sys.stderr.flush()
        _stderr = os.dup(2)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)


def _on_signal(signum: int, frame: Any) -> None:
    """The first signal stops the command cleanly (one line, exit 128 + signal); a second one, or one
    before the command started, exits at once. A run stopped either way resumes where it was."""
    first = not _signalled
    _signalled.append(signum)
    _mute_stderr()
    if first and _armed:
        raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)
    _tell_stopped(_signalled[0])
    os._exit(128 + _signalled[0])


def _install_signal_handlers() -> None:
    for signum in _WHY:
        signal.signal(signum, _on_signal)


class _errors:
    """One line on stderr, no traceback, for every error a user can act on (CURATE_DEBUG=1 shows it)."""

    def __enter__(self) -> None:
        global _armed
        _armed = True

    def __exit__(self, kind: Any, value: Any, tb: Any) -> Literal[False]:
        global _armed
        _armed = False
        if value is None or isinstance(value, (typer.Exit, SystemExit)):
            return False
        if _signalled or isinstance(value, KeyboardInterrupt):
            # whatever the signal made fail on its way out (a task, Ray's processes), the signal is the news
            signum = _signalled[0] if _signalled else signal.SIGINT
            _tell_stopped(signum)
            raise typer.Exit(128 + signum)
        if os.environ.get("CURATE_DEBUG"):
            return False
        if isinstance(value, CurateError):
            err.print(f"error: {value}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(value.exit_code)
        first = str(value).strip().splitlines()[0] if str(value).strip() else ""
        err.print(f"error: internal: {type(value).__name__}: {first} (CURATE_DEBUG=1 shows the traceback)", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def main() -> None:
    _install_signal_handlers()
    app(prog_name="curate")


if __name__ == "__main__":
    main()
