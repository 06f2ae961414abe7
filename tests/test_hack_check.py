"""`hack_check` against the loopback test server: direct guesses checked with the verifier; a problem
guessed correctly is `guessable`, one whose guesses could not be obtained is kept and counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.columns import DROP
from curate.stages.hack_check import GUESS_PROMPT, HackCheck
from tests.conftest import run_cli, write_jsonl
from tests.helpers.openai_server import start_server

PROBLEMS = [
    # (id, problem, answer, the guesses the "model" gives without reasoning)
    ("easy", "What is 3 + 4?", "7", ["\\boxed{7}", "\\boxed{8}"]),
    ("frac", "Simplify 2/4.", "\\frac{1}{2}", ["\\boxed{0.5}", "\\boxed{2}"]),  # correct only symbolically
    ("hard", "Find the 100th prime.", "541", ["\\boxed{523}", "\\boxed{547}"]),
    ("ramble", "How many primes below 20?", "8", ["Let me count: 2, 3, 5, 7, 11, 13, 17, 19."]),  # no answer in it
    ("bare", "How many legs does a spider have?", "8", ["8", "6"]),  # a bare reply is the guess itself
]


def replay_file(tmp_path: Path) -> Path:
    """Guesses keyed by the guess prompt itself (problem + instruction): only hack_check's prompts match."""
    path = tmp_path / "guesses.jsonl"
    write_jsonl(path, [{"question": GUESS_PROMPT.replace("{{problem}}", problem), "response": guesses} for _, problem, _, guesses in PROBLEMS])
    return path


def frame() -> pl.DataFrame:
    return pl.DataFrame({"id": [p[0] for p in PROBLEMS], "problem": [p[1] for p in PROBLEMS], "answer": [p[2] for p in PROBLEMS]})


def run_stage(stage: HackCheck, df: pl.DataFrame, run_dir: Path):
    async def go():
        state = await stage.open(stage.actors()[0], str(run_dir))
        try:
            return await stage.apply_async(state, df)
        finally:
            await stage.close(state)

    return asyncio.run(go())


def make(server, monkeypatch, **params) -> HackCheck:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    stage = HackCheck("hack", **{"model": "m", "n": 4, "seed": 0, "base_url": server.base_url, "backoff": 0.05, "backoff_max": 0.1, **params})
    stage.prepare()
    return stage


def test_guessed_problems_are_removed_as_guessable(tmp_path, monkeypatch):
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        out, counters = run_stage(make(server, monkeypatch), frame(), tmp_path / "run")
        requests = server.stats()["requests"]
    # seeds 0..3 replay guesses[i % 2]: each guess twice
    assert out["guessed"].to_list() == [2, 2, 0, None, 2]  # the rambling one gave no answer: unchecked, kept
    assert out[DROP].to_list() == ["guessable", "guessable", None, None, "guessable"]
    assert out["guesses"].to_list()[0] == ["7", "8", "7", "8"] and out["guesses"].to_list()[4] == ["8", "6", "8", "6"]
    assert out["guesses"].to_list()[3] == [None] * 4
    assert counters["guesses_checked"] == 16 and counters["guessed_correct"] == 6 and counters["unchecked"] == 1
    assert counters["samples"] == 20 and requests == 20


def test_max_guessed_and_the_request_sent(tmp_path, monkeypatch):
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        stage = make(server, monkeypatch, max_guessed=2)
        out, _ = run_stage(stage, frame(), tmp_path / "run")
    assert out[DROP].to_list() == [None] * 5  # two correct guesses of four are allowed
    request = stage._request(stage._messages({"problem": "What is 3 + 4?"}), 3)
    assert request["max_tokens"] == 64 and request["seed"] == 3 and request["n"] == 1
    assert request["messages"][-1]["content"].startswith("What is 3 + 4?\n\nGive only the final answer")


def test_a_record_whose_guesses_all_failed_is_kept_unchecked(tmp_path, monkeypatch):
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        stage = make(server, monkeypatch, max_retries=0)
        messages = stage._messages({"problem": PROBLEMS[0][1]})
        server.configure(fail_keys={stage._cache_key(messages, s): "500" for s in range(4)})
        out, counters = run_stage(stage, frame(), tmp_path / "run")
    assert out["guessed"].to_list() == [None, 2, 0, None, 2]
    assert out[DROP].to_list() == [None, "guessable", None, None, "guessable"]
    assert counters["unchecked"] == 2 and counters["failures"] == {"server_error": 4}


def test_truncated_guesses_and_missing_references_are_no_evidence(tmp_path, monkeypatch):
    """A reasoning model cut at max_tokens guesses nothing; a record without a reference cannot be checked."""
    with start_server(replay=[str(replay_file(tmp_path))], faults={"length": 1.0}) as server:
        out, counters = run_stage(make(server, monkeypatch), frame(), tmp_path / "run")
    assert out["guessed"].to_list() == [None] * 5 and out[DROP].to_list() == [None] * 5 and counters["unchecked"] == 5
    assert counters["truncated"] == 20
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        out, _ = run_stage(make(server, monkeypatch), frame().with_columns(answer=pl.lit(None, dtype=pl.String)), tmp_path / "run2")
    assert out["guessed"].to_list() == [None] * 5 and out[DROP].to_list() == [None] * 5


def test_reference_extracted_from_a_solution(tmp_path, monkeypatch):
    solutions = frame().with_columns(answer=pl.concat_str(pl.lit("We add them up.\n#### "), pl.col("answer")))
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        out, _ = run_stage(make(server, monkeypatch, reference_extract=True), solutions.head(1), tmp_path / "run")
    assert out["guessed"].to_list() == [2] and out[DROP].to_list() == ["guessable"]


def test_guesses_never_reach_traces_in_a_pipeline(tmp_path, ray_address):
    """In a pipeline: generate's samples reach traces/, the guesses do not; stats count guessable."""
    write_jsonl(tmp_path / "in.jsonl", frame().to_dicts())
    pipeline = tmp_path / "p.yaml"
    common = {"model": "m", "n": 4, "seed": 0, "backoff": 0.05, "backoff_max": 0.1, "max_concurrency": 8}
    pipeline.write_text(
        f"name: hack\ninput: {tmp_path / 'in.jsonl'}\noutput: {tmp_path / 'out'}\nstages:\n"
        f"  - {{name: generate, use: generate, {json.dumps(common)[1:-1]}}}\n"
        f"  - {{name: hack, use: hack_check, {json.dumps(common)[1:-1]}}}\n"
    )
    with start_server(replay=[str(replay_file(tmp_path))]) as server:
        result = run_cli("run", str(pipeline), env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test", "RAY_ADDRESS": ray_address})
        assert result.returncode == 0, result.stderr
        assert server.stats()["requests"] == 40
    run = curate.open_run(tmp_path / "out")
    assert run.removed().collect().sort("id")["reason"].to_list() == ["guessable", "guessable", "guessable"]
    traces = pl.read_parquet(tmp_path / "out" / "traces" / "*.parquet")
    assert traces.height == 20 and not traces["response"].str.contains("Give only").any()
    assert "\\boxed{7}" not in traces["response"].to_list()  # generate's samples are the synthetic chains of thought
    hack = next(s for s in run.stats["stages"] if s["name"] == "hack")
    assert hack["removed"] == {"guessable": 3} and hack["samples"] == 20 and hack["unchecked"] == 1
    assert hack["histograms"]["guessed"]["counts"][0] == 1 and hack["histograms"]["guessed"]["counts"][2] == 3 and hack["histograms"]["guessed"]["null"] == 1


def test_the_request_timeout_is_not_the_check_timeout():
    stage = HackCheck("hack", model="m")
    assert stage.params.timeout == 600 and stage.params.check_timeout == 5  # generate's request timeout; verify's per check


@pytest.mark.parametrize("bad", [{"extract": ["nope"]}, {"max_guessed": -1}, {"prompt": "  "}, {"check_timeout": 0}])
def test_bad_parameters_fail_before_any_work(bad):
    with pytest.raises(ValueError):
        HackCheck("hack", model="m", **bad)
