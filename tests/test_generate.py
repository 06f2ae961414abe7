"""`generate` against a real HTTP server on loopback (tests/helpers/openai_server.py) that replays real
model responses and injects faults: every fault survived, no sample lost or duplicated, nothing
requested twice after a crash, the key never written anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.columns import DROP, TRACES
from curate.errors import StageError
from curate.llm.endpoint import split_reasoning
from curate.stages.generate import DEFAULT_PROMPT, Generate
from tests.conftest import CURATE, run_cli, subprocess_env, write_jsonl
from tests.helpers.openai_server import start_server

MATH_TRACES = "math/traces/qwen25math_math_cot_100x8.jsonl"


def questions(shared_data: Path, count: int) -> list[str]:
    with open(shared_data / MATH_TRACES) as f:
        return [json.loads(line)["question"] for line, _ in zip(f, range(count))]


def stage(server, monkeypatch, **params) -> Generate:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    params = {"model": "m", "n": 4, "seed": 7, "base_url": server.base_url, "backoff": 0.05, "backoff_max": 0.2, **params}
    generate = Generate("generate", **params)
    generate.prepare()
    return generate


def run_stage(generate: Generate, frame: pl.DataFrame, run_dir: Path) -> tuple[pl.DataFrame, dict, dict]:
    """The stage as its actor runs it, without Ray: open, one batch, close."""

    async def go():
        state = await generate.open(generate.actors()[0], str(run_dir))
        try:
            out, counters = await generate.apply_async(state, frame)
        finally:
            closing = await generate.close(state)
        return out, counters, closing

    return asyncio.run(go())


def samples_of(out: pl.DataFrame) -> pl.DataFrame:
    return out.select("id", TRACES).explode(TRACES).unnest(TRACES)


# ---------------------------------------------------------------- prompts and responses


def test_template_fields_braces_and_empty_prompts(tmp_path, monkeypatch):
    with start_server() as server:
        generate = stage(server, monkeypatch, system="You solve {{subject}} problems.", n=1)
        assert generate.reads() == ("problem", "subject")
        frame = pl.DataFrame({"id": ["a", "b", "c"], "problem": ["What is $\\frac{1}{2}$?", "  ", "x"], "subject": ["algebra", "algebra", None]})
        out, counters, _ = run_stage(generate, frame, tmp_path)
    messages = generate._messages({"problem": "What is $\\frac{1}{2}$?", "subject": "algebra"})
    assert messages == [
        {"role": "system", "content": "You solve algebra problems."},
        {"role": "user", "content": "What is $\\frac{1}{2}$?\n\nPlease reason step by step, and put your final answer within \\boxed{}."},
    ]
    assert DEFAULT_PROMPT.endswith("within \\boxed{}.")
    assert out[DROP].to_list() == [None, "empty_prompt", "empty_prompt"]
    assert out["samples_ok"].to_list() == [1, None, None]
    assert counters["samples"] == 1


@pytest.mark.parametrize(
    "content, reasoning, expected",
    [
        ("The answer is 4.", None, ("The answer is 4.", None)),
        ("<think>2+2=4</think>\n\nThe answer is 4.", None, ("The answer is 4.", "2+2=4")),
        ("2+2=4</think>The answer is 4.", None, ("The answer is 4.", "2+2=4")),  # the template opened <think>
        ("<think>2+2 is", None, ("", "2+2 is")),  # truncated inside its reasoning
        ("The answer is 4.", "2+2=4", ("The answer is 4.", "2+2=4")),  # reasoning_content wins
        (None, "2+2", (None, "2+2")),
    ],
)
def test_split_reasoning(content, reasoning, expected):
    assert split_reasoning(content, reasoning) == expected


@pytest.mark.parametrize("mode", ["field", "think"])
def test_reasoning_from_field_or_think_block(tmp_path, monkeypatch, shared_data, mode):
    with start_server(replay=[str(shared_data / MATH_TRACES)], reasoning=mode) as server:
        generate = stage(server, monkeypatch, n=2)
        out, _, _ = run_stage(generate, pl.DataFrame({"id": ["q"], "problem": questions(shared_data, 1)}), tmp_path)
    rows = samples_of(out)
    assert rows["reasoning"].null_count() == 0 and all(len(r) > 100 for r in rows["reasoning"])
    assert all("\\boxed{420}" in r and "<think>" not in r for r in rows["response"])


def test_replays_real_responses_with_seeded_samples(tmp_path, monkeypatch, shared_data):
    with open(shared_data / MATH_TRACES) as f:
        first = json.loads(f.readline())
    with start_server(replay=[str(shared_data / MATH_TRACES)]) as server:
        generate = stage(server, monkeypatch, n=8, seed=0)
        out, counters, _ = run_stage(generate, pl.DataFrame({"id": ["q0"], "problem": [first["question"]]}), tmp_path)
    rows = samples_of(out).sort("sample")
    responses = first["code"] if "code" in first else first["response"]
    assert rows["response"].to_list() == [r.strip() for r in responses] or rows["response"].to_list() == responses
    assert rows["prompt_tokens"].min() > 0 and rows["completion_tokens"].min() > 0
    assert counters["prompt_tokens"] == rows["prompt_tokens"].sum()


# ---------------------------------------------------------------- faults


def test_every_fault_survived_no_sample_lost_or_duplicated(tmp_path, monkeypatch):
    faults = {"429": 0.1, "500": 0.1, "503": 0.05, "malformed": 0.05, "disconnect": 0.05, "hang": 0.05, "length": 0.1}
    with start_server(latency=[0, 0.05], faults=faults, retry_after="0.1", hang_seconds=30) as server:
        generate = stage(server, monkeypatch, n=4, timeout=1.0, max_concurrency=32)
        frame = pl.DataFrame({"id": [f"r{i}" for i in range(60)], "problem": [f"What is {i} + {i}?" for i in range(60)]})
        out, counters, closing = run_stage(generate, frame, tmp_path)
        served = server.stats()
    rows = samples_of(out)
    assert rows.height == 240 and rows.select("id", "sample").n_unique() == 240
    assert rows["error"].null_count() == 240, rows.filter(pl.col("error").is_not_null())
    assert out["samples_ok"].to_list() == [4] * 60 and out["samples_failed"].to_list() == [0] * 60
    # every sample delivered exactly once by the server, and every fault it injected was retried
    assert all(counts["ok"] == 1 for counts in served["keys"].values()) and len(served["keys"]) == 240
    injected = served["faults"]
    assert injected.get("429") and injected.get("500") and injected.get("hang") and injected.get("malformed") and injected.get("disconnect")
    retries = counters["retries"]
    assert retries["rate_limit"] == injected["429"]
    assert retries["server_error"] == injected.get("500", 0) + injected.get("503", 0)
    assert retries["timeout"] == injected["hang"]
    assert retries.get("malformed", 0) + retries.get("connection", 0) == injected["malformed"] + injected["disconnect"]
    assert counters["requests"] == served["requests"] == 240 + sum(retries.values())
    # a length stop is kept, flagged
    assert 0 < rows["truncated"].sum() == counters["truncated"] <= injected["length"]  # the server also counts replies nobody read
    assert set(rows.filter("truncated")["finish_reason"]) == {"length"}
    assert closing["peak_in_flight"] <= 32


def test_a_sample_that_keeps_failing_is_recorded_with_its_error(tmp_path, monkeypatch):
    frame = pl.DataFrame({"id": ["a", "b"], "problem": ["1+1?", "2+2?"]})
    with start_server() as server:
        generate = stage(server, monkeypatch, n=3, max_retries=2)
        doomed = generate._cache_key(generate._messages({"problem": "2+2?"}), 1)
        server.configure(fail_keys={doomed: "500"})
        out, counters, _ = run_stage(generate, frame, tmp_path)
        served = server.stats()
    rows = samples_of(out)
    assert rows.height == 6
    failed = rows.filter(pl.col("error").is_not_null())
    assert failed.select("id", "sample", "error", "attempts", "response").rows() == [("b", 1, "server_error", 3, None)]
    assert failed["error_message"][0].startswith("HTTP 500")
    assert out["samples_ok"].to_list() == [3, 2] and out["samples_failed"].to_list() == [0, 1]
    assert served["keys"][doomed]["attempts"] == 3
    assert counters["failures"] == {"server_error": 1} and counters["retries"] == {"server_error": 2}


def test_retry_after_is_honoured(tmp_path, monkeypatch):
    with start_server(faults={"429": 1.0}, max_faults_per_key=1, retry_after="1") as server:
        generate = stage(server, monkeypatch, n=1, backoff=0.01)
        started = time.monotonic()
        out, counters, _ = run_stage(generate, pl.DataFrame({"id": ["a"], "problem": ["1+1?"]}), tmp_path)
        elapsed = time.monotonic() - started
    assert counters["retries"] == {"rate_limit": 1} and samples_of(out)["error"][0] is None
    assert elapsed >= 1.0  # backoff alone would have waited at most 0.01 s


def test_error_messages_never_hold_the_key(tmp_path, monkeypatch):
    """A proxy that quotes the request back (Authorization header and all) in its error body."""
    frame = pl.DataFrame({"id": ["a"], "problem": ["1+1?"]})
    secret = "sk-proj-0123456789abcdefSECRET"
    with start_server(api_key=secret) as server:
        generate = stage(server, monkeypatch, n=2, max_retries=1)
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        generate.prepare()
        doomed = generate._cache_key(generate._messages({"problem": "1+1?"}), 0)
        server.configure(fail_keys={doomed: "echo"})
        out, _, _ = run_stage(generate, frame, tmp_path)
    failed = samples_of(out).filter(pl.col("error").is_not_null())
    message = failed["error_message"][0]
    assert message.startswith("HTTP 502") and "Request headers were" in message
    assert secret not in message and "0123456789abcdef" not in message and "authorization: [redacted]" in message.lower()


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer abc.def-ghi_123", "Authorization: [redacted]"),
    ("{'authorization': 'Bearer xyzxyzxyz'}", "{'authorization': '[redacted]'}"),
    ("got header x-api-key=k3y-v4lu3!", "got header x-api-key=[redacted]"),
    ('"api_key": "abcd1234"', '"api_key": "[redacted]"'),
    ("token sk-abcdefghijklmnop rejected", "token [redacted] rejected"),
    ("key sk-abcdefghijklmnop rejected", "key sk-[redacted] rejected"),
    ("https://user:hunter22@proxy.example/v1 refused", "https://[redacted]@proxy.example/v1 refused"),
    ("the plain secret my-own-key-value appears", "the plain secret [redacted] appears"),
])
def test_redact(text, expected):
    from curate.llm.endpoint import redact

    assert redact(text, ("my-own-key-value",)) == expected


def test_a_day_long_retry_after_is_cut_to_max_retry_after(tmp_path, monkeypatch):
    with start_server(faults={"429": 1.0}, max_faults_per_key=1, retry_after="86400") as server:
        generate = stage(server, monkeypatch, n=1, backoff=0.01, max_retry_after=0.2)
        out, counters, _ = run_stage(generate, pl.DataFrame({"id": ["a"], "problem": ["1+1?"]}), tmp_path)
    assert samples_of(out)["error"][0] is None
    assert counters["retry_after_cut"] == 1 and counters["peak_retry_after_asked"] == 86400


def test_rejected_key_stops_with_one_line(tmp_path, monkeypatch):
    with start_server(api_key="sk-right") as server:
        generate = stage(server, monkeypatch, n=1)
        with pytest.raises(StageError, match=r"rejected the API key \(HTTP 401\)"):
            run_stage(generate, pl.DataFrame({"id": ["a"], "problem": ["1+1?"]}), tmp_path)


# ---------------------------------------------------------------- concurrency and limits


def test_requests_in_flight_stay_at_the_cap(tmp_path, monkeypatch):
    with start_server(latency=0.3) as server:
        generate = stage(server, monkeypatch, n=8, max_concurrency=12)
        frame = pl.DataFrame({"id": [f"r{i}" for i in range(12)], "problem": [f"p{i}" for i in range(12)]})
        out, _, closing = run_stage(generate, frame, tmp_path)
        served = server.stats()
    assert served["max_in_flight"] == 12 == closing["peak_in_flight"]
    assert samples_of(out).height == 96


def test_requests_per_minute_limit(tmp_path, monkeypatch):
    with start_server() as server:
        generate = stage(server, monkeypatch, n=10, requests_per_minute=600)  # 10 per second, a burst of 10
        started = time.monotonic()
        run_stage(generate, pl.DataFrame({"id": ["a", "b", "c"], "problem": ["x", "y", "z"]}), tmp_path)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.9  # 30 requests: 10 at once, then 20 at 10/s


def test_tokens_per_minute_limit(tmp_path, monkeypatch):
    with start_server() as server:
        # each request reserves about 1,000 tokens (max_tokens); 60,000 per minute is one request per second
        generate = stage(server, monkeypatch, n=3, max_tokens=1000, tokens_per_minute=60_000)
        started = time.monotonic()
        run_stage(generate, pl.DataFrame({"id": ["a"], "problem": ["x"]}), tmp_path)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.0  # the first request fits the one-second burst; then about one per second, less what was unused


# ---------------------------------------------------------------- the cache


def test_cache_answers_repeated_samples(tmp_path, monkeypatch):
    frame = pl.DataFrame({"id": ["a", "b"], "problem": ["1+1?", "2+2?"]})
    with start_server(latency=[0, 0.02]) as server:
        generate = stage(server, monkeypatch, n=4)
        first, _, _ = run_stage(generate, frame, tmp_path)
        again, counters, _ = run_stage(generate, frame, tmp_path)
        served = server.stats()
        # a different sampling parameter is a different sample
        hotter = stage(server, monkeypatch, n=4, temperature=0.5)
        _, hotter_counters, _ = run_stage(hotter, frame, tmp_path)
    assert served["requests"] == 8 and counters["cache_hits"] == 8 and counters["requests"] == 0
    assert samples_of(first).drop("latency").equals(samples_of(again).drop("latency"))
    assert hotter_counters["cache_hits"] == 0
    assert {p.name for p in (tmp_path / "cache").iterdir()} >= {next((tmp_path / "cache").glob("*.sqlite")).name}


# ---------------------------------------------------------------- through the runner


def write_pipeline(tmp_path: Path, output: Path, extra_stages: str = "", **params) -> Path:
    settings = {"model": "replay", "n": 4, "seed": 0, "max_concurrency": 16, "backoff": 0.05, "backoff_max": 0.5, "timeout": 5, **params}
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in settings.items())
    path = tmp_path / f"{output.name}.yaml"
    path.write_text(f"name: gen\ninput: {tmp_path / 'in.jsonl'}\noutput: {output}\nstages:\n  - name: generate\n    use: generate\n{lines}\n{extra_stages}")
    return path


def test_pipeline_writes_traces_and_stats_and_never_the_key(tmp_path, shared_data, ray_address):
    secret = "sk-never-written-0123456789"
    problems = questions(shared_data, 30)
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"q{i}", "problem": p} for i, p in enumerate(problems)] + [{"id": "blank", "problem": ""}])
    with start_server(replay=[str(shared_data / MATH_TRACES)], api_key=secret, faults={"429": 0.05, "500": 0.05, "length": 0.1}, retry_after="0.1") as server:
        out = tmp_path / "out"
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": secret, "RAY_ADDRESS": ray_address}
        result = run_cli("run", str(write_pipeline(tmp_path, out)), env=env)
        assert result.returncode == 0, result.stderr
        served = server.stats()
    assert served["auth"]["rejected"] == 0
    run = curate.open_run(out)
    traces = pl.read_parquet(out / "traces" / "*.parquet")
    assert traces.columns == ["id", "sample", "response", "reasoning", "finish_reason", "truncated", "prompt_tokens", "completion_tokens", "latency", "attempts", "error", "error_message"]
    assert traces.height == 120 and traces.select("id", "sample").n_unique() == 120 and traces["error"].null_count() == 120
    kept = run.kept().collect()
    assert kept.columns == ["id", "problem", "samples_ok", "samples_failed"] and kept.height == 30
    assert run.removed().collect()["reason"].to_list() == ["empty_prompt"]
    stats = run.stats["stages"][1]
    assert stats["samples"] == 120 and stats["requests"] == served["requests"] and stats["truncated"] == traces["truncated"].sum()
    assert stats["retries"].get("rate_limit", 0) == served["faults"].get("429", 0)
    for path in out.rglob("*"):  # the run directory, the cache included
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr
    assert secret not in (out / "manifest.json").read_text()


def test_rejected_key_stops_the_run_with_one_line(tmp_path, ray_address):
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "problem": "1+1?"}])
    with start_server(api_key="sk-right") as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-wrong", "RAY_ADDRESS": ray_address}
        result = run_cli("run", str(write_pipeline(tmp_path, tmp_path / "out")), env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "rejected the API key (HTTP 401)" in lines[0], result.stderr
    assert "sk-wrong" not in result.stderr + result.stdout


@pytest.mark.slow
def test_kill_9_then_resume_requests_nothing_completed(tmp_path, shared_data, ray_address):
    problems = questions(shared_data, 100)
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"q{i}", "problem": p} for i, p in enumerate(problems)])
    with start_server(replay=[str(shared_data / MATH_TRACES)], latency=[0.05, 0.4], faults={"500": 0.05}) as server:
        out = tmp_path / "out"
        pipeline = write_pipeline(tmp_path, out, max_concurrency=8)
        env = subprocess_env(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test")
        first = subprocess.Popen([CURATE, "run", str(pipeline), "--quiet", "--num-cpus", "2", "--executor", "ray"], env=env, start_new_session=True)
        cache = out / "cache"
        deadline = time.time() + 240
        while time.time() < deadline and _cached(cache) < 120:
            assert first.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        completed = _cached_keys(cache)
        assert 120 <= len(completed) < 400, "the kill did not land in the middle of generation"
        before = server.stats()["keys"]
        assert all(before[k]["ok"] == 1 for k in completed)

        second = subprocess.run([CURATE, "run", str(pipeline), "--quiet", "--num-cpus", "2", "--executor", "ray"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        after = server.stats()["keys"]
        asked_again = [k for k in completed if after[k]["attempts"] != before[k]["attempts"]]
        assert not asked_again, f"{len(asked_again)} completed samples were requested again"
        assert all(counts["ok"] >= 1 for counts in after.values()) and len(after) == 400

        # the same traces as an uninterrupted run (which, with its own cache, asks for everything again)
        reference = tmp_path / "ref"
        result = run_cli("run", str(write_pipeline(tmp_path, reference, max_concurrency=8)), env={**env, "RAY_ADDRESS": ray_address})
        assert result.returncode == 0, result.stderr
    columns = ["id", "sample", "response", "finish_reason", "prompt_tokens", "completion_tokens", "error"]
    resumed = pl.read_parquet(out / "traces" / "*.parquet").select(columns).sort("id", "sample")
    uninterrupted = pl.read_parquet(reference / "traces" / "*.parquet").select(columns).sort("id", "sample")
    assert resumed.height == 400 and resumed.equals(uninterrupted)
    assert curate.open_run(out).kept().collect().sort("id").equals(curate.open_run(reference).kept().collect().sort("id"))


def test_shared_cache_a_downstream_change_requests_nothing(tmp_path, ray_address):
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "problem": f"What is {i} * 3?"} for i in range(20)])
    with start_server() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "RAY_ADDRESS": ray_address}
        shared = str(tmp_path / "shared-cache")
        first = run_cli("run", str(write_pipeline(tmp_path, tmp_path / "a", cache_dir=shared)), env=env)
        assert first.returncode == 0, first.stderr
        requests = server.stats()["requests"]
        downstream = "  - name: some\n    use: filter\n    keep: samples_ok >= 1\n"
        second = run_cli("run", str(write_pipeline(tmp_path, tmp_path / "b", downstream, cache_dir=shared)), env=env)
        assert second.returncode == 0, second.stderr
        assert server.stats()["requests"] == requests == 80
    stats = curate.open_run(tmp_path / "b").stats["stages"][1]
    assert stats["cache_hits"] == 80 and stats["requests"] == 0


def _cached(cache: Path) -> int:
    try:
        return len(_cached_keys(cache))
    except sqlite3.Error:
        return 0


def _cached_keys(cache: Path) -> set[str]:
    keys: set[str] = set()
    for path in cache.glob("*.sqlite"):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            keys.update(k for (k,) in connection.execute("SELECT key FROM samples"))
    return keys
