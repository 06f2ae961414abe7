"""`curate report`, the views behind it, `curate stats`' stage figures and samples, and `Run`'s notebook
views, checked against the run directories themselves: every figure recomputed here another way, and
each what-if prediction against a real re-run with that threshold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import zstandard

import curate
from curate.demo import write_web_data
from curate.report import MAX_BYTES, views, write_report
from curate.report.samples import diff, draw
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def runs(report_runs) -> dict[str, curate.Run]:
    return report_runs


def _stage(run: curate.Run, name: str) -> dict:
    return next(s for s in run.stats["stages"] if s["name"] == name)


def test_curate_run_writes_a_self_contained_report(runs):
    for name in ("demo", "web", "math"):
        page = (runs[name].path / "report.html").read_text()
        assert 10_000 < len(page.encode()) < MAX_BYTES
        # nothing that a browser would fetch: no external script, style, font or image
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
        assert "@import" not in page and "url(" not in page
        for stage in runs[name].stats["stages"]:
            if stage["name"] != "input" or stage["removed"]:
                assert f'id="stage-{stage["name"]}"' in page
            for reason in stage["removed"]:
                assert f'data-reason="{reason}"' in page, (name, reason)
    assert not (runs["web_b"].path / "report.html").exists()  # report=False


def test_what_if_predicts_a_re_run_with_that_threshold(runs):
    """The what-if counts from run A's stored scores equal the stage's output in run B, re-run with the threshold moved."""
    c4 = views.stage_scores(runs["web"], "c4")
    sentences = next(v for v in c4.views if v.column.endswith("c4_sentences"))
    what = sentences.what_if[0]
    assert what.bound == "min" and what.current == 5 and what.setting == "thresholds.too_few_sentences.min"
    assert what.kept[what.values.index(5)] == _stage(runs["web"], "c4")["out"]
    assert what.kept[what.values.index(0)] == _stage(runs["web_b"], "c4")["out"] != _stage(runs["web"], "c4")["out"]
    contamination = views.stage_scores(runs["math"], "decontaminate")
    overlap = contamination.views[0].what_if[0]
    assert overlap.setting == "min_overlap" and overlap.kept[overlap.values.index(0.5)] == _stage(runs["math"], "decontaminate")["out"]
    at = min(v for v in overlap.values if v >= 0.1)  # kept = overlap < x: the same for every x up to the next value the score takes
    assert overlap.kept[overlap.values.index(at)] == _stage(runs["math_b"], "decontaminate")["out"]


def test_rule_counts_and_histograms_agree_with_the_records(runs):
    run = runs["web"]
    scores = views.stage_scores(run, "gopher_repetition")
    stage = _stage(run, "gopher_repetition")
    assert scores.rules is not None and scores.rules.recomputed_removed == scores.rules.removed == sum(stage["removed"].values())
    for reason, alone, first in zip(scores.rules.reasons, scores.rules.standalone, scores.rules.sequential):
        assert alone == stage["failed"].get(reason, 0) and first == stage["removed"].get(reason, 0)
    overlap = scores.rules.overlap
    assert all(overlap[i][i] == scores.rules.standalone[i] for i in range(len(overlap)))
    assert all(overlap[i][j] == overlap[j][i] <= min(overlap[i][i], overlap[j][j]) for i in range(len(overlap)) for j in range(len(overlap)))
    # kept vs removed, by this stage, recounted from the files
    reached = pl.concat([pl.read_parquet(p) for p in sorted((run.path / "kept").glob("*.parquet"))], how="diagonal_relaxed").height
    removed_later = sum(sum(s["removed"].values()) for s in run.stats["stages"][[s["name"] for s in run.stats["stages"]].index("gopher_repetition"):])
    assert scores.records == reached + removed_later == stage["in"]
    for view in scores.views:
        h = view.histogram
        assert sum(h.kept) + h.null_kept == stage["out"]
        assert sum(h.removed) + sum(h.other) + h.null_removed + h.null_other == sum(stage["removed"].values())
        own = [r for r in stage["removed"] if any(b.matches(r) for b in view.bounds)]
        assert sum(h.removed) + h.null_removed == sum(stage["removed"][r] for r in own)  # red: removed under this score's own rule


def test_integer_scores_get_integer_bins(runs):
    math = views.stage_scores(runs["math"], "math")
    labels = next(v for v in math.views if v.column == "math_option_labels")
    assert labels.histogram.integer and all(b - a == 1 for a, b in zip(labels.histogram.edges, labels.histogram.edges[1:]))
    assert labels.histogram.edges[0] == -0.5
    assert not next(v for v in views.stage_scores(runs["web"], "lang").views).histogram.integer


def test_samples_are_seeded_random_and_are_what_the_run_removed(runs):
    run = runs["demo"]
    first = draw(run, n=3, seed=1)
    assert first.keys() == {(s["name"], r) for s in run.stats["stages"] for r in s["removed"]}
    again = draw(run, n=3, seed=1)
    other = draw(run, n=3, seed=2)
    ids = {k: [s.id for s in v] for k, v in first.items()}
    assert ids == {k: [s.id for s in v] for k, v in again.items()}
    assert ids != {k: [s.id for s in v] for k, v in other.items()}
    removed = run.removed().collect()
    truth = {(row["stage"], row["reason"]): set() for row in removed.iter_rows(named=True)}
    for row in removed.iter_rows(named=True):
        truth[(row["stage"], row["reason"])].add(row["id"])
    for key, picked in ids.items():
        assert set(picked) <= truth[key] and len(picked) == min(3, len(truth[key]))
    # the first 5 rows are not what a random draw of the exact duplicates gives
    duplicates = [s for s in draw(run, stage="exact", n=30, seed=0)[("exact", "exact_duplicate")]]
    assert [s.id for s in duplicates] != removed.filter(pl.col("stage") == "exact")["id"].head(len(duplicates)).to_list()
    by_id = {row["id"]: row for row in pl.concat([run.kept().collect(), removed], how="diagonal_relaxed").iter_rows(named=True)}
    for sample in duplicates:
        assert sample.partner is not None and sample.partner.id == by_id[sample.id]["duplicate_of"]
        assert sample.partner.text == by_id[sample.partner.id]["problem"]
        assert "".join(s.text for s in sample.partner.record_segments) == sample.text
        assert "".join(s.text for s in sample.partner.partner_segments) == sample.partner.text


def test_samples_show_the_score_and_the_benchmark_match(runs):
    drawn = draw(runs["math"], n=5, seed=0)
    multiple_choice = drawn[("math", "multiple_choice")]
    assert all(any(s.bound and s.column == "math_option_labels" and s.value > 2 for s in sample.scores) for sample in multiple_choice)
    leaked = drawn[("decontaminate", "contaminated:benchmark.jsonl")]
    assert leaked and all(s.contamination and s.contamination.item_text and s.contamination.ngrams for s in leaked)
    near = drawn[("near", "near_duplicate")]
    assert all(s.partner and s.partner.similarity["true_jaccard"] >= 0.75 for s in near)


def test_diff_marks_the_changed_words():
    mine, theirs = diff("Ava has 12 red apples.", "Ben has 12 apples.")
    assert [(s.text, s.changed) for s in mine] == [("Ava", True), (" has 12 ", False), ("red ", True), ("apples.", False)]
    assert [(s.text, s.changed) for s in theirs] == [("Ben", True), (" has 12 apples.", False)]


def test_per_input_file_counts(runs):
    run = runs["demo"]
    files = views.input_files(run)
    assert files is not None and len(files) == 2
    kept_ids = set(run.kept().collect()["id"])
    for row in files:
        path = Path(row.path)
        raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read() if path.suffix == ".zst" else path.read_bytes()
        lines = [line for line in raw.decode().splitlines() if line.strip()]
        ids = set()
        for line in lines:
            try:
                ids.add(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                pass
        assert row.records == len(lines)
        assert row.kept == len(ids & kept_ids)
    assert sum(f.records for f in files) == run.stats["input"]
    totals: dict[str, int] = {}
    for f in files:
        for key, n in f.removed.items():
            totals[key.split(": ", 1)[1]] = totals.get(key.split(": ", 1)[1], 0) + n
    assert totals == run.stats["removed_by_reason"]


def test_reasoning_views(runs):
    r = views.reasoning(runs["math"])
    verify = _stage(runs["math"], "verify")
    assert r is not None and r.samples == sum(verify["verdicts"].values()) and r.verdicts == verify["verdicts"]
    assert r.finish_reasons and sum(r.finish_reasons.values()) == r.samples
    assert r.length is not None and sum(r.length.kept) == r.verdicts.get("correct", 0)
    assert r.generation["generate"]["requests"] >= r.samples
    page = (runs["math"].path / "report.html").read_text()
    assert 'id="reasoning"' in page and 'data-verdict="correct"' in page and "Generation: generate" in page


def test_compare_two_runs(runs, tmp_path):
    a, b = runs["web"], runs["web_b"]
    path = write_report(a, against=b, samples=2)
    assert path == a.path / "report-against-web_b.html"
    page = path.read_text()
    def fates(run: curate.Run) -> dict[str, str]:
        found = dict.fromkeys(run.kept().collect()["id"], "kept")
        found.update({row["id"]: f"{row['stage']}: {row['reason']}" for row in run.removed().collect().iter_rows(named=True)})
        return found

    here, there = fates(a), fates(b)
    moved: dict[tuple[str, str], int] = {}
    for record, fate in here.items():
        if there[record] != fate:
            moved[(fate, there[record])] = moved.get((fate, there[record]), 0) + 1
    assert moved and any(k[0] == "c4: too_few_sentences" for k in moved)
    rows = re.findall(r'data-here="([^"]*)" data-there="([^"]*)"><td>[^<]*</td><td>[^<]*</td><td class="n" data-v="(\d+)">', page)
    assert {(h, t): int(n) for h, t, n in rows} == moved
    assert "thresholds" in page and 'id="comparison"' in page
    # runs of other input are refused in one line
    other = tmp_path / "other"
    write_web_data(other, documents=40, seed=9)
    c = curate.run(ROOT / "pipelines" / "web-quality.yaml", input=str(other / "web-*"), output=tmp_path / "c", executor="in-process", report=False)
    result = run_cli("report", str(a.path), "--against", str(c.path))
    assert result.returncode == 2 and "other input" in result.stderr and "Traceback" not in result.stderr


def test_report_of_a_run_made_before_the_manifest_recorded_thresholds(runs, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(runs["web"].path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for key in ("thresholds", "scores", "chunk_files"):
        manifest.pop(key)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    old = curate.open_run(copy)
    assert views.stage_scores(old, "c4").views  # the stage rebuilt from its description
    assert views.input_files(old) is not None  # one input file: its chunks are all its own
    page = write_report(old).read_text()
    assert 'id="stage-c4"' in page


def test_cli_report_stats_and_samples(runs, tmp_path):
    run = runs["math"]
    result = run_cli("report", str(run.path), "-o", str(tmp_path / "r.html"), "--samples", "2", "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and (tmp_path / "r.html").stat().st_size > 10_000
    verify = run_cli("stats", str(run.path), "--stage", "verify")
    assert verify.returncode == 0 and "verdicts.correct" in verify.stdout and "checked" in verify.stdout
    math = run_cli("stats", str(run.path), "--stage", "math")
    assert "math_option_labels" in math.stdout and "kept" in math.stdout and "removed" in math.stdout
    samples = run_cli("stats", str(run.path), "--samples", "near_duplicate", "-n", "3", "--seed", "5", "--json")
    picked = json.loads(samples.stdout)
    assert len(picked) == 3 and all(p["partner"]["id"] for p in picked)
    again = json.loads(run_cli("stats", str(run.path), "--samples", "near_duplicate", "-n", "3", "--seed", "5", "--json").stdout)
    other = json.loads(run_cli("stats", str(run.path), "--samples", "near_duplicate", "-n", "3", "--seed", "6", "--json").stdout)
    assert [p["id"] for p in picked] == [p["id"] for p in again] != [p["id"] for p in other]
    text = run_cli("stats", str(run.path), "--samples", "near_duplicate", "-n", "1")
    assert "duplicate of" in text.stdout
    # bad input: one line each, exit 2, nothing left behind
    missing = run_cli("report", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and missing.stderr == f"error: {tmp_path / 'nothing'}: no such directory\n"
    foreign = run_cli("report", str(tmp_path))
    assert foreign.returncode == 2 and "not a completed curate run directory" in foreign.stderr and foreign.stderr.count("\n") == 1
    into_directory = run_cli("report", str(run.path), "-o", str(tmp_path))
    assert into_directory.returncode == 2 and "is a directory" in into_directory.stderr
    unwritable = run_cli("report", str(run.path), "-o", "/proc/curate-report.html")
    assert unwritable.returncode == 2 and "cannot write the report" in unwritable.stderr and "Traceback" not in unwritable.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    unknown = run_cli("stats", str(run.path), "--stage", "nope")
    assert unknown.returncode == 2 and "no stage 'nope'" in unknown.stderr


def test_run_notebook_views(runs):
    run = runs["math"]
    text = repr(run)
    assert "math-rl" in text and f"{run.stats['kept']:,} kept" in text
    traces = run.traces().collect()
    assert traces.height == sum(_stage(run, "verify")["verdicts"].values()) and set(traces["status"]) == {"kept", "difficulty"}
    samples = run.samples("near", n=2, seed=1)
    assert samples.height == 2 and samples["partner_id"].is_not_null().all()
    assert run.samples("math", "proof", n=50).height == run.stats["removed_by_reason"]["proof"]
    with pytest.raises(curate.CurateError, match="write_clusters"):
        run.clusters()
    with pytest.raises(curate.CurateError, match="no traces/"):
        runs["web"].traces()
    assert run.scores("difficulty").views[0].column == "pass_rate"


def test_the_page_stays_small_for_thousands_of_reasons_and_long_texts(tmp_path):
    """Every record removed for one of 3,000 reasons, each record 20 kB long, from 400 input files: the
    page lists the most frequent reasons and files, samples 40 reasons, cuts texts, and stays under 5 MB."""
    from tests.conftest import write_jsonl

    for f in range(400):
        write_jsonl(tmp_path / "in" / f"part-{f:03d}.jsonl", [{"id": f"{f}-{i}", "text": f"record {f}-{i} " + "word " * 4000} for i in range(15)])
    run = curate.run({"name": "many", "input": {"path": str(tmp_path / "in")}, "output": str(tmp_path / "out"),
                      "stages": [{"name": "many", "use": "tests.helpers.stages:ManyReasons"}]}, executor="in-process")
    page = (run.path / "report.html").read_text()
    assert len(run.stats["removed_by_reason"]) == 3000 and len(views.input_files(run) or []) == 400
    assert len(page.encode()) < MAX_BYTES
    assert "2,950 more reasons" in page and "100 more files" in page
    assert len(set(re.findall(r'class="sample" data-reason="([^"]+)"', page))) == 40
