"""Step-level labels (`step_labels`, issue 18): steps cut from solutions, and Math-Shepherd labels
found against the loopback server, which continues a prefix of a real trace with the rest of a real
trace of the same problem, and a prefix no real trace has with a wrong answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.columns import TRACES
from curate.text.steps import step_spans, steps
from tests.conftest import write_jsonl

QWEN = "math/traces/qwen25math_math_cot_100x8.jsonl"


# ------------------------------------------------------------------ steps


@pytest.mark.parametrize(
    "text, split, expected",
    [
        ("Let x be it.\n\nThen 2x = 6.\n\nSo x = 3.", "auto", ["Let x be it.", "Then 2x = 6.", "So x = 3."]),
        ("We multiply:\n\n\\[\n2 \\cdot 3 = 6\n\\]\n\nSo 6.", "blank_lines", ["We multiply:\n\n\\[\n2 \\cdot 3 = 6\n\\]", "So 6."]),
        ("Intro.\n1. Add.\n2. Multiply: 3.5 * 2 = 7.\n**Step 3:** done.", "auto", ["Intro.", "1. Add.", "2. Multiply: 3.5 * 2 = 7.", "**Step 3:** done."]),
        ("First x = 3.5 is wrong, e.g. here. Then $a. B$ holds. So 4.", "sentences", ["First x = 3.5 is wrong, e.g. here.", "Then $a. B$ holds.", "So 4."]),
        ("   ", "auto", []),
    ],
)
def test_steps(text, split, expected):
    assert steps(text, split) == expected


def test_steps_cover_the_text_and_merge_beyond_max_steps():
    text = "\n\n".join(f"Step text number {i}." for i in range(10))
    spans = step_spans(text, "blank_lines")
    assert len(spans) == 10 and spans[0][0] == 0 and spans[-1][1] == len(text)
    merged = step_spans(text, "blank_lines", max_steps=4)
    assert len(merged) == 4 and [b - a > 0 for a, b in merged] == [True] * 4
    assert merged[0] == (spans[0][0], spans[2][1]) and merged[-1] == (spans[8][0], spans[9][1])  # 3, 3, 2, 2
    with pytest.raises(ValueError, match="unknown step split"):
        step_spans(text, "paragraphs")


# ------------------------------------------------------------------ labels against the loopback server


def _solved_problem(shared_data: Path) -> tuple[str, str, str]:
    """A real Qwen trace of a problem all 8 of whose samples the grader marks correct, with 5+ steps."""
    for line in (shared_data / QWEN).read_text().splitlines():
        row = json.loads(line)
        if all(row["score"]) and len(steps(row["response"][0])) >= 5 and re.search(r"\d", row["response"][0]):
            return row["question"], row["gt"], row["response"][0]
    raise AssertionError("no problem found")


def _plant(response: str, step: int) -> str:
    """An arithmetic error in `step` (its first number changed), carried to a wrong final answer."""
    spans = step_spans(response)
    a, b = spans[step]
    changed = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), response[a:b], count=1)
    planted = response[:a] + changed + response[b:]
    return re.sub(r"\\boxed\{[^{}]*\}", r"\\boxed{-987654321}", planted)


def _prefix(response: str, step: int) -> str:
    return response[: step_spans(response, "auto", 12)[step][1]]


def _label(tmp_path: Path, server, question: str, answer: str, responses: list[str], search: str, name: str, **settings) -> curate.Run:
    source = write_jsonl(tmp_path / f"{name}.jsonl", [{"id": "p0", "problem": question, "answer": answer, "responses": responses}])
    stages = [
        {"name": "verify", "use": "verify", "response_field": "responses"},
        {"name": "steps", "use": "step_labels", "model": "m", "base_url": server.base_url, "n": 4, "search": search, "max_steps": 12, "max_traces": None, **settings},
    ]
    return curate.run({"name": "t", "input": str(source), "output": str(tmp_path / name), "stages": stages}, executor="in-process", overwrite=True)


@pytest.mark.parametrize("search", ["full", "binary"])
def test_a_planted_error_is_the_first_bad_step(tmp_path, shared_data, monkeypatch, search):
    """Chat continuations (the partial assistant message)."""
    from tests.helpers.openai_server import start_server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    question, answer, response = _solved_problem(shared_data)
    count = len(step_spans(response, "auto", 12))
    planted = [_plant(response, k) for k in (1, count // 2, count - 2)]
    with start_server(replay=[str(shared_data / QWEN)]) as server:
        run = _label(tmp_path, server, question, answer, [response, *planted], search, search)
        requests = server.stats()
    traces = run.traces().collect().sort("sample")
    assert traces["correct"].to_list() == [True, False, False, False]
    assert traces["first_error_step"].to_list() == [None, 1, count // 2, count - 2]
    assert traces["step_labels"][0].to_list() == [True] * count
    assert traces["step_labels"][2].to_list() == [k < count // 2 for k in range(count)]
    stats = run.stage_stats("steps")
    assert stats["traces_labelled"] == 4 and stats["first_errors"] == 3
    prefixes = {_prefix(r, k) for r in [response, *planted] for k in range(count - 1)}  # traces share their first steps
    full = len(prefixes) * 4  # every step but the last, 4 completions, each distinct prefix once
    if search == "full":
        assert stats["step_requests"] == full
        scores = traces["step_scores"][2].to_list()
        assert scores[: count // 2] == [1.0] * (count // 2) and scores[count // 2 : -1] == [0.0] * (count - 1 - count // 2)
    else:
        assert 0 < stats["step_requests"] < full  # the correct trace costs nothing, the others log2(steps) probes
    assert requests["keys"] and max(counts["attempts"] for counts in requests["keys"].values()) == 1


def test_completion_endpoint_continuations(tmp_path, shared_data, monkeypatch):
    """`continuation: completion`: the template written out, then the partial trace, to /v1/completions."""
    from pydantic import ValidationError

    from curate.stages.step_labels import StepLabels
    from tests.helpers.openai_server import start_server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    question, answer, response = _solved_problem(shared_data)
    count = len(step_spans(response, "auto", 12))
    template = "<|im_start|>user\n{{problem}}<|im_end|>\n<|im_start|>assistant\n"
    with start_server(replay=[str(shared_data / QWEN)]) as server:
        run = _label(tmp_path, server, question, answer, [response, _plant(response, 3)], "full", "completion", continuation="completion", completion_template=template)
        assert server.stats()["by_status"] == {"200": (count - 1) * 4 + (count - 1 - 3) * 4}  # shared first steps asked once
    assert run.traces().collect().sort("sample")["first_error_step"].to_list() == [None, 3]
    with pytest.raises(ValidationError, match="needs a completion_template"):
        StepLabels("s", model="m", continuation="completion")


def test_labels_are_cached_and_traces_without_a_reference_counted(tmp_path, shared_data, monkeypatch):
    from tests.helpers.openai_server import start_server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    question, answer, response = _solved_problem(shared_data)
    planted = _plant(response, 2)
    source = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "p0", "problem": question, "answer": answer, "responses": [planted]},
        {"id": "p1", "problem": question, "answer": None, "responses": [planted]},
    ])
    stages = [
        {"name": "verify", "use": "verify", "response_field": "responses"},
        {"name": "steps", "use": "step_labels", "model": "m", "n": 4, "search": "full", "cache_dir": str(tmp_path / "cache")},
    ]
    with start_server(replay=[str(shared_data / QWEN)]) as server:
        for stage in stages[1:]:
            stage["base_url"] = server.base_url
        first = curate.run({"name": "t", "input": str(source), "output": str(tmp_path / "a"), "stages": stages}, executor="in-process")
        sent = sum(counts["attempts"] for counts in server.stats()["keys"].values())
        second = curate.run({"name": "t", "input": str(source), "output": str(tmp_path / "b"), "stages": stages}, executor="in-process")
        assert sum(counts["attempts"] for counts in server.stats()["keys"].values()) == sent  # every continuation from the cache
    for run in (first, second):
        stats = run.stage_stats("steps")
        assert stats["traces_labelled"] == 1 and stats["unlabelled"] == {"no_reference": 1}
        assert run.kept().collect().height == 2  # no label is no reason to remove a problem
    assert second.stage_stats("steps")["step_requests"] == 0
    labels = [run.traces().collect().filter(pl.col("id") == "p0")["step_labels"].to_list() for run in (first, second)]
    assert labels[0] == labels[1]
    assert TRACES  # the column the labels live in


def test_prm_exports_in_trl_and_openrlhf_formats(tmp_path, shared_data, monkeypatch):
    from tests.helpers.openai_server import start_server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    question, answer, response = _solved_problem(shared_data)
    count = len(step_spans(response, "auto", 12))
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "p0", "problem": question, "answer": answer, "responses": [response, _plant(response, 2)]}])
    with start_server(replay=[str(shared_data / QWEN)]) as server:
        stages = [
            {"name": "verify", "use": "verify", "response_field": "responses"},
            {"name": "steps", "use": "step_labels", "model": "m", "base_url": server.base_url, "n": 4, "search": "binary"},
            *[{"name": f, "use": "export", "format": f, "validation": 0} for f in ("prm_trl", "prm_openrlhf", "prm_steps")],
        ]
        run = curate.run({"name": "t", "input": str(source), "output": str(tmp_path / "run"), "stages": stages}, executor="in-process")
    exports = run.path / "exports"
    import pyarrow.parquet as pq

    schema = pq.read_schema(exports / "prm_trl" / "train.parquet")  # plain Arrow types: HF datasets 2.x loads them
    assert [str(schema.field(c).type) for c in ("prompt", "completions", "labels")] == ["string", "list<element: string>", "list<element: bool>"]
    trl = pl.read_parquet(exports / "prm_trl" / "train.parquet")
    assert trl.columns[:3] == ["prompt", "completions", "labels"] and trl.height == 2
    assert question in trl["prompt"][0] and trl["completions"][0].len() == count
    assert trl["labels"].to_list() == [[True] * count, [k < 2 for k in range(count)]]
    assert "".join(trl["completions"][0].to_list()).replace(" ", "").replace("\n", "") in response.replace(" ", "").replace("\n", "")
    rows = [json.loads(line) for line in (exports / "prm_openrlhf" / "train.jsonl").read_text().splitlines()]
    assert rows[1]["value"] == ["+", "+"] + ["-"] * (count - 2) and rows[1]["input"].count(" ки") == count
    steps_rows = [json.loads(line) for line in (exports / "prm_steps" / "train.jsonl").read_text().splitlines()]
    assert len(steps_rows) == 2 * count and {r["step"] for r in steps_rows} == set(range(count))
    planted = [r for r in steps_rows if r["sample"] == 1]
    assert [r["label"] for r in planted] == [k < 2 for k in range(count)]
    probed = [r for r in planted if r["answers"]]  # binary search's probes: the answers their completions reached
    assert probed and all((set(r["answers"]) == {"-987654321"}) == (r["step"] >= 2) for r in probed)


def test_explain_shows_the_steps_and_the_completions_behind_them(tmp_path, shared_data, monkeypatch):
    from typer.testing import CliRunner

    from curate.cli import app
    from tests.helpers.openai_server import start_server

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    question, answer, response = _solved_problem(shared_data)
    with start_server(replay=[str(shared_data / QWEN)]) as server:
        run = _label(tmp_path, server, question, answer, [_plant(response, 2)], "full", "explain")
    explained = run.explain("p0")["steps"][0]
    assert explained["first_error_step"] == 2 and [s["label"] for s in explained["steps"]][:3] == [True, True, False]
    assert explained["steps"][2]["answers"] == ["-987654321"] * 4 and explained["steps"][2]["score"] == 0.0
    shown = CliRunner().invoke(app, ["explain", str(run.path), "p0"])
    assert shown.exit_code == 0 and "first bad step 2" in shown.output and "-987654321" in shown.output


@pytest.mark.slow
def test_kill_9_during_labelling_then_resume_requests_nothing_completed(tmp_path, shared_data):
    """A run killed (SIGKILL, the whole process group) in the middle of labelling, then started again:
    no continuation that was completed and cached is requested a second time, and the labels equal an
    uninterrupted run's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import subprocess_env
    from tests.helpers.openai_server import start_server
    from tests.test_generate import _cached, _cached_keys

    rows = [json.loads(line) for line in (shared_data / QWEN).read_text().splitlines()][:60]
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": f"q{i}", "problem": r["question"], "answer": r["gt"], "responses": r["response"]} for i, r in enumerate(rows)])
    curate_bin = str(Path(sys.executable).parent / "curate")
    with start_server(replay=[str(shared_data / QWEN)], latency=[0.05, 0.3]) as server:
        def pipeline(out: Path) -> Path:
            path = tmp_path / f"{out.name}.yaml"
            path.write_text(
                f"name: steps\ninput: {source}\noutput: {out}\nstages:\n"
                "  - {name: verify, use: verify, response_field: responses}\n"
                f"  - {{name: steps, use: step_labels, model: m, base_url: '{server.base_url}', n: 4, search: full, max_traces: 1, max_concurrency: 8}}\n"
            )
            return path

        out = tmp_path / "out"
        env = subprocess_env(OPENAI_API_KEY="sk-test")
        first = subprocess.Popen([curate_bin, "run", str(pipeline(out)), "--quiet", "--executor", "in-process"], env=env, start_new_session=True)
        deadline = time.time() + 240
        while time.time() < deadline and _cached(out / "cache") < 80:
            assert first.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        completed = _cached_keys(out / "cache")
        before = server.stats()["keys"]
        assert len(completed) >= 80
        second = subprocess.run([curate_bin, "run", str(pipeline(out)), "--quiet", "--executor", "in-process"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        after = server.stats()["keys"]
        asked_again = [k for k in completed if after[k]["attempts"] != before[k]["attempts"]]
        assert not asked_again, f"{len(asked_again)} completed continuations were requested again"
        assert len(completed) < len(after), "the kill did not land in the middle of labelling"
        reference = subprocess.run([curate_bin, "run", str(pipeline(tmp_path / "ref")), "--quiet", "--executor", "in-process"], env=env, capture_output=True, text=True, timeout=300)
        assert reference.returncode == 0, reference.stderr
    columns = ["id", "sample", "step_labels", "step_scores", "first_error_step"]
    resumed = pl.read_parquet(out / "traces" / "*.parquet").select(columns).sort("id", "sample")
    uninterrupted = pl.read_parquet(tmp_path / "ref" / "traces" / "*.parquet").select(columns).sort("id", "sample")
    assert resumed.filter(pl.col("step_labels").is_not_null()).height >= 50 and resumed.equals(uninterrupted)
