"""`curate report` at scale: the HTML report of a finished 1 M-record run, beside the naive way to build one
(load every record of kept/ and removed/ with polars) and beside `curate stats` on the same run.

    .venv/bin/python benchmarks/report_scale.py [--records 1000000] [--repeats 3] [--rebuild] [--keep]

Targets: `curate report RUN -o report.html` on a 1,000,000-record run in <= 30 s wall and <= 2 GiB peak
RSS, and an HTML file under 5 MB.

The corpus (built once, cached under benchmarks/_data/report_scale/corpus-N/; `--rebuild` builds it and
the run again): exactly N records (id, text, source = the author) cut from the Gutenberg books of
../shared/data (never copied here; a book filed twice is read once). Each book is split into paragraphs
at blank lines, each paragraph unwrapped onto one line; consecutive paragraphs make a document of a
random 40-110 words (a paragraph is cut at a word when it would overshoot by more than 15 words, so
documents are 40-125 words; a book's last words short of 40 are dropped). The books are cycled through
if they give too few documents (each further pass cuts them at other places). Planted, at random
places: 3% exact copies of a document, 3% near copies (one word replaced by a word of the corpus, two
from 90 words up: word-5-gram Jaccard about 0.77-0.88), and 1% very short records (real short
paragraphs of the books: chapter headings, signatures, one-line replies). The records are in book
order, the planted ones interleaved, in 8 Parquet files of N/8 records each, so that the per-input-file
breakdown has something to show (the files hold different books and authors).

The run (built once, cached likewise in run-N/, not what is measured): `curate run --executor ray` of
exact_dedup, a `filter` (length(trim(text)) >= 80, reason too_short), minhash_dedup (word 5-grams,
128 permutations, threshold 0.8, as pipelines/near-dedup.yaml), filter_set gopher-quality and
filter_set gopher-repetition (filters/*.yaml, datatrove's defaults). Its wall time and stats are
printed.

Measured, each command in a fresh process, interleaved over `--repeats` rounds (medians reported):
(a) `curate report RUN -o OUT.html`: wall time of the whole command (interpreter start included), peak
RSS summed over its process tree (PeakRss, sampled every 50 ms, minus the small measuring process
itself), and the HTML's size (MB = 10^6 bytes); (b) the baseline, a Python process that reads every
record of kept/ and removed/ with polars (pl.read_parquet of all files, all columns), measured the same
way; (c) `curate stats RUN`, measured the same way. When `curate report` does not exist yet, (a) says so
and (b) and (c) are still measured. The HTML is deleted afterwards unless `--keep`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DATA, ENV, ROOT, PeakRss, in_child

CURATE = str(Path(sys.executable).with_name("curate"))
SHARED = ROOT.parent / "shared" / "data"
HOME = DATA / "report_scale"
RECIPE_VERSION = 1  # bump when the corpus recipe changes: cached corpora are then rebuilt
FILES = 8
EXACT, NEAR, SHORT = 0.03, 0.03, 0.01
WORDS = (40, 110)  # a document's target length; a paragraph may overshoot it by up to OVERSHOOT words
OVERSHOOT = 15
SHORT_WORDS, SHORT_CHARS = 12, 80  # a short record: a paragraph of at most 12 words and under 80 characters
TARGETS = {"seconds": 30.0, "rss_mib": 2048.0, "html_mb": 5.0}
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

PIPELINE = """\
# benchmarks/report_scale.py: the run that `curate report` is measured on (written by the benchmark)
name: report-scale
input:
  path: {corpus}/*.parquet
  text_fields: [text]
output: {run}
stages:
  - name: exact
    use: exact_dedup
    field: text
  - name: too_short
    use: filter
    keep: "length(trim(text)) >= 80"
    reason: too_short
  - name: near
    use: minhash_dedup
    field: text
    threshold: 0.8
    num_perm: 128
  - name: gopher_quality
    use: filter_set
    path: gopher-quality
  - name: gopher_repetition
    use: filter_set
    path: gopher-repetition
"""


# ------------------------------------------------------------------------------------------- the corpus


def near_copy(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    """The text with one word replaced (two from 90 words up), never a word holding a paragraph break."""
    tokens = text.split(" ")
    places = [i for i, token in enumerate(tokens) if "\n" not in token]
    for i in rng.sample(places, min(len(places), 1 if len(tokens) < 90 else 2)):
        word = tokens[i]
        while word == tokens[i]:
            word = rng.choice(vocabulary)
        tokens[i] = word
    return " ".join(tokens)


def build_corpus(out: Path, records: int, seed: int) -> dict:
    """Write out/part-0000K.parquet (id, text, source) and out/recipe.json (last: it marks a complete corpus)."""
    import polars as pl

    rng = random.Random(seed)
    n_exact, n_near, n_short = round(records * EXACT), round(records * NEAR), round(records * SHORT)
    n_base = records - n_exact - n_near - n_short
    books = sorted((SHARED / "gutenberg").glob("books-*.parquet"))
    if not books:
        raise SystemExit(f"no Gutenberg books under {SHARED / 'gutenberg'} (see its README.md)")
    ids: list[str] = []
    sources: list[str] = []
    texts: list[str] = []
    shorts: list[tuple[str, str]] = []  # (author, paragraph)
    passes, books_used, duplicate_books = 0, 0, 0
    while len(texts) < n_base:
        seen: set[bytes] = set()
        for path in books:
            for book, author, text in pl.read_parquet(path, columns=["id", "author", "text"]).iter_rows():
                digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
                if digest in seen:  # a book filed twice: read once
                    duplicate_books += passes == 0
                    continue
                seen.add(digest)
                books_used += passes == 0
                lines: list[str] = []
                count, target, number = 0, rng.randint(*WORDS), 0
                for paragraph in _PARAGRAPH_BREAK.split(text):
                    words = paragraph.split()
                    if not words:
                        continue
                    if passes == 0 and len(words) <= SHORT_WORDS and len(" ".join(words)) < SHORT_CHARS:
                        shorts.append((author, " ".join(words)))
                    while words:
                        need = target - count
                        piece, words = (words, []) if len(words) <= need + OVERSHOOT else (words[:need], words[need:])
                        lines.append(" ".join(piece))
                        count += len(piece)
                        if count >= target:
                            ids.append(f"{book}-d{number:05d}" if passes == 0 else f"{book}-r{passes}-d{number:05d}")
                            sources.append(author)
                            texts.append("\n".join(lines))
                            lines, count, target, number = [], 0, rng.randint(*WORDS), number + 1
                            if len(texts) == n_base:
                                break
                    if len(texts) == n_base:
                        break
                if len(texts) == n_base:
                    break
            if len(texts) == n_base:
                break
        passes += 1

    vocabulary = sorted({w for t in texts[:5000] for w in t.split() if w.isalpha() and w.islower()})
    originals = rng.sample(range(n_base), n_exact + n_near)
    at = [float(i) for i in range(n_base)]
    for number, i in enumerate(originals):
        exact = number < n_exact
        ids.append(f"{ids[i]}-{'exact' if exact else 'near'}")
        sources.append(sources[i])
        texts.append(texts[i] if exact else near_copy(texts[i], rng, vocabulary))
        at.append(rng.uniform(0, n_base))
    for number in range(n_short):
        author, paragraph = rng.choice(shorts)
        ids.append(f"short-{number:07d}")
        sources.append(author)
        texts.append(paragraph)
        at.append(rng.uniform(0, n_base))
    frame = pl.DataFrame({"id": ids, "text": texts, "source": sources, "_at": at}).sort("_at").drop("_at")
    del ids, texts, sources, at
    assert frame.height == records and frame["id"].n_unique() == records
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bounds = [round(k * records / FILES) for k in range(FILES + 1)]
    for k in range(FILES):
        frame.slice(bounds[k], bounds[k + 1] - bounds[k]).write_parquet(out / f"part-{k:05d}.parquet", row_group_size=50_000)
    words = frame["text"].str.split(" ").list.len()  # paragraph breaks are newlines: this undercounts a little
    recipe = {
        "version": RECIPE_VERSION, "records": records, "seed": seed, "base_documents": n_base, "exact_copies": n_exact,
        "near_copies": n_near, "short_records": n_short, "short_pool": len(shorts), "books": books_used,
        "books_filed_twice_skipped": duplicate_books, "passes_over_books": passes, "files": FILES,
        "text_mb": round(int(frame["text"].str.len_bytes().sum()) / 1e6, 1), "median_words": words.median(),
        "authors": frame["source"].n_unique(), "parquet_mb": round(sum(p.stat().st_size for p in out.glob("*.parquet")) / 1e6, 1),
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    return recipe


def corpus(records: int, seed: int, rebuild: bool) -> tuple[Path, dict]:
    out = HOME / f"corpus-{records}"
    recipe_file = out / "recipe.json"
    if not rebuild and recipe_file.exists():
        recipe = json.loads(recipe_file.read_text())
        if recipe.get("version") == RECIPE_VERSION and recipe.get("seed") == seed:
            return out, recipe
    started = time.perf_counter()
    in_child(Path(__file__), "build", str(out), str(records), str(seed))  # this process stays small
    print(f"built the corpus of {records:,} records in {time.perf_counter() - started:.0f} s: {out}", file=sys.stderr)
    return out, json.loads(recipe_file.read_text())


# ---------------------------------------------------------------------------------------------- the run


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(records: int, source: Path, recipe: dict, rebuild: bool) -> Path:
    """The finished run over the corpus (built when missing, when the pipeline or corpus changed, or with --rebuild)."""
    out = HOME / f"run-{records}"
    pipeline = HOME / f"pipeline-{records}.yaml"
    stamp = HOME / f"run-{records}.json"  # written after a successful run: what it was built from, and how long it took
    text = PIPELINE.format(corpus=source, run=out)
    key = hashlib.sha256((text + json.dumps(recipe, sort_keys=True)).encode()).hexdigest()
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    if rebuild or done.get("key") != key or not (out / "stats.json").exists():
        stamp.unlink(missing_ok=True)
        pipeline.write_text(text)
        print(f"running {pipeline} (curate run --executor ray) ...", file=sys.stderr)
        started = time.perf_counter()
        finished = subprocess.run([CURATE, "run", str(pipeline), "--output", str(out), "--overwrite", "--executor", "ray", "--quiet"], env=ENV, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        (HOME / f"run-{records}.log").write_text(finished.stdout + finished.stderr)
        if finished.returncode:
            raise SystemExit(f"curate run failed (exit {finished.returncode}):\n{finished.stderr[-3000:]}")
        done = {"key": key, "seconds": seconds, "when": time.strftime("%Y-%m-%d %H:%M")}
        stamp.write_text(json.dumps(done))
    stats = json.loads((out / "stats.json").read_text())
    shown = subprocess.run([CURATE, "stats", str(out)], env=ENV, capture_output=True, text=True)
    files = {part: len(list((out / part).glob("*.parquet"))) for part in ("kept", "removed")}
    print(f"\n## The run (not measured): {pipeline.name}, built {done['when']} in {done['seconds']:.0f} s wall (curate run --executor ray, 2 CPUs)\n")
    print(f"{out}: {disk_bytes(out) / 2**20:,.0f} MiB on disk, {files['kept']} kept/ and {files['removed']} removed/ files;"
          f" input {stats['input']:,}, kept {stats['kept']:,} ({stats['kept'] / stats['input']:.1%}), removed {stats['removed']:,}\n")
    print(shown.stdout.rstrip())
    return out


# ---------------------------------------------------------------------------------------- the children


def measure(command: list[str]) -> dict:
    """Run `command` in a fresh process: wall seconds, and peak RSS over its process tree (this small process's own RSS taken off)."""
    import psutil

    own = psutil.Process().memory_info().rss
    rss = PeakRss()
    started = time.perf_counter()
    finished = subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = rss.finish()
    return {"seconds": seconds, "peak_rss": max(0, peak - own), "returncode": finished.returncode, "stdout": finished.stdout[-2000:], "stderr": finished.stderr[-3000:]}


def load_everything(run_dir: str) -> dict:
    """The baseline: every record of kept/ and removed/, all columns, in memory at once."""
    import polars as pl

    started = time.perf_counter()
    kept = pl.read_parquet(sorted(Path(run_dir, "kept").glob("*.parquet")))
    removed = pl.read_parquet(sorted(Path(run_dir, "removed").glob("*.parquet")))
    return {"seconds": time.perf_counter() - started, "rows": kept.height + removed.height, "bytes": kept.estimated_size() + removed.estimated_size()}


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "build":
            print(json.dumps(build_corpus(Path(rest[0]), int(rest[1]), int(rest[2]))))
        elif kind == "measure":
            print(json.dumps(measure(rest)))
        elif kind == "load":
            print(json.dumps(load_everything(rest[0])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build the corpus and the run again")
    parser.add_argument("--keep", action="store_true", help="keep the HTML report (benchmarks/_data/report_scale/report-N.html)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.records < 1000:
        parser.error("--records: at least 1000")

    HOME.mkdir(parents=True, exist_ok=True)
    source, recipe = corpus(args.records, args.seed, args.rebuild)
    print(f"\n## The corpus: {source}\n\n{json.dumps(recipe)}")
    run_dir = run(args.records, source, recipe, args.rebuild)
    html = HOME / f"report-{args.records}.html"

    report_name, baseline_name, stats_name = "(a) curate report RUN -o OUT.html", "(b) baseline: pl.read_parquet of all of kept/ and removed/", "(c) curate stats RUN"
    commands = {
        report_name: [CURATE, "report", str(run_dir), "-o", str(html)],
        baseline_name: [sys.executable, str(Path(__file__).resolve()), "--child", "load", str(run_dir)],
        stats_name: [CURATE, "stats", str(run_dir)],
    }
    results: dict[str, list[dict]] = {name: [] for name in commands}
    missing: str | None = None  # why (a) was not measured
    for repeat in range(args.repeats):  # interleaved, so that noise on the shared machine hits every case alike
        for name, command in commands.items():
            if name == report_name and missing:
                continue
            html.unlink(missing_ok=True)
            result = in_child(Path(__file__), "measure", *command)
            if result["returncode"]:
                if name == report_name:
                    no_command = "No such command" in result["stderr"]
                    missing = "`curate report` does not exist yet (No such command)" if no_command else f"`curate report` failed, exit {result['returncode']}"
                    print(f"(a) {missing}:\n{result['stderr'].strip()}", file=sys.stderr)
                    continue
                raise SystemExit(f"{name} failed (exit {result['returncode']}):\n{result['stderr']}")
            if name == report_name:
                if not html.exists():
                    raise SystemExit(f"`curate report` exited 0 but wrote no {html}")
                result["html_bytes"] = html.stat().st_size
            if name == baseline_name:
                result.update({f"child_{k}": v for k, v in json.loads(result["stdout"].strip().splitlines()[-1]).items()})
            results[name].append(result)
            print(f"  round {repeat + 1}: {name}: {result['seconds']:.2f} s, {result['peak_rss'] / 2**20:,.0f} MiB", file=sys.stderr)
    if not args.keep:
        html.unlink(missing_ok=True)

    stats = json.loads((run_dir / "stats.json").read_text())
    print(f"\n## `curate report` on a run of {stats['input']:,} records ({stats['kept']:,} kept, {stats['removed']:,} removed),"
          f" 2 CPUs, median of {args.repeats}, each command a fresh process, {time.strftime('%Y-%m-%d')}\n")
    print("| measurement | median s | peak RSS MiB | HTML MB | target (<= 30 s, <= 2 GiB, < 5 MB) |")
    print("|---|---:|---:|---:|---|")
    for name, rows in results.items():
        if not rows:
            print(f"| {name} | — | — | — | not measured: {missing} |")
            continue
        seconds = statistics.median(r["seconds"] for r in rows)
        mib = statistics.median(r["peak_rss"] for r in rows) / 2**20
        mb = statistics.median(r["html_bytes"] for r in rows) / 1e6 if name == report_name else None
        misses = [f"{what} {value:,.1f} > {bound:,.0f}" for what, value, bound in (("wall s", seconds, TARGETS["seconds"]), ("RSS MiB", mib, TARGETS["rss_mib"])) if value > bound]
        if mb is not None and mb >= TARGETS["html_mb"]:
            misses.append(f"HTML {mb:.1f} MB >= 5")
        if name == report_name:
            verdict = "**met**" if not misses else "**missed**: " + ", ".join(misses)
            if args.records != 1_000_000:
                verdict += f" (the targets are for 1,000,000 records; this is {args.records:,})"
        else:
            verdict = "baseline: " + ("within the budget" if not misses else "over the budget: " + ", ".join(misses))
        print(f"| {name} | {seconds:.2f} | {mib:,.0f} | {mb:.2f} |" if mb is not None else f"| {name} | {seconds:.2f} | {mib:,.0f} | — |", verdict, "|")
    if results[baseline_name]:
        rows = results[baseline_name]
        print(f"\nThe baseline read {rows[0]['child_rows']:,} records ({statistics.median(r['child_bytes'] for r in rows) / 2**20:,.0f} MiB in polars)"
              f" in {statistics.median(r['child_seconds'] for r in rows):.2f} s of its {statistics.median(r['seconds'] for r in rows):.2f} s;"
              " wall times include interpreter start and imports on every side.")
    demo_reports(args.repeats)


def demo_reports(repeats: int) -> None:
    """`curate report` of each `make demo` run (target: <= 2 s each, the command's whole wall time),
    beside `curate stats` of the same run, interleaved, medians."""
    demos = [ROOT / "demo" / name for name in ("run", "math-rl", "web-quality")]
    if not all((d / "manifest.json").exists() for d in demos):
        print("\nThe demo runs are missing: `make demo` makes them; their reports are not measured.")
        return
    html = HOME / "demo-report.html"
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[str, int] = {}
    for _ in range(repeats):
        for demo in demos:
            for kind, command in (("report", [CURATE, "report", str(demo), "-o", str(html)]), ("stats", [CURATE, "stats", str(demo)])):
                result = in_child(Path(__file__), "measure", *command)
                if result["returncode"]:
                    raise SystemExit(f"{' '.join(command)} failed (exit {result['returncode']}):\n{result['stderr']}")
                times.setdefault((demo.name, kind), []).append(result["seconds"])
                if kind == "report":
                    sizes[demo.name] = html.stat().st_size
    html.unlink(missing_ok=True)
    print(f"\n## `curate report` of the demo runs (median of {repeats}, whole command, fresh process)\n")
    print("| run | records | `curate report` s | HTML MB | `curate stats` s | target <= 2 s |")
    print("|---|---:|---:|---:|---:|---|")
    for demo in demos:
        report = statistics.median(times[(demo.name, "report")])
        stats = statistics.median(times[(demo.name, "stats")])
        records = json.loads((demo / "stats.json").read_text())["input"]
        print(f"| demo/{demo.name} | {records:,} | {report:.2f} | {sizes[demo.name] / 1e6:.2f} | {stats:.2f} | {'met' if report <= 2 else 'missed'} |")


if __name__ == "__main__":
    main()
