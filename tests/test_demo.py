"""The demo corpus and pipeline: deterministic data, and every planted problem removed for its reason."""

import json
import re
import unicodedata

import polars as pl
import pytest

import curate
from curate.demo import demo_records, write_demo_data
from tests.conftest import ROOT


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def test_demo_data_is_deterministic(tmp_path):
    first = write_demo_data(tmp_path / "a", problems=300, seed=3)
    second = write_demo_data(tmp_path / "b", problems=300, seed=3)
    assert first == second
    for name in ("problems-0.jsonl", "problems-1.jsonl.zst"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert write_demo_data(tmp_path / "c", problems=300, seed=4) != first or (tmp_path / "c" / "problems-0.jsonl").read_bytes() != (tmp_path / "a" / "problems-0.jsonl").read_bytes()


def test_demo_pipeline_removes_what_was_planted(tmp_path, ray_address):
    summary = write_demo_data(tmp_path / "data", problems=600, seed=11)
    run = curate.run(ROOT / "pipelines" / "demo.yaml", input=str(tmp_path / "data" / "problems-*"), output=tmp_path / "run", ray_address=ray_address)

    # the expected outcome, computed independently from the generated records in input order
    records, planted = demo_records(600, 11)
    seen, expected = set(), {"bad_input": 0, "exact_duplicate": 0, "too_short": 0, "no_answer": 0}
    for record in records:
        if isinstance(record, str) or not isinstance(record.get("problem"), str):
            expected["bad_input"] += 1
            continue
        key = normalise(record["problem"])
        if key in seen:
            expected["exact_duplicate"] += 1
        elif len(record["problem"].strip()) < 20:
            seen.add(key)
            expected["too_short"] += 1
        elif not record["answer"].strip():
            seen.add(key)
            expected["no_answer"] += 1
        else:
            seen.add(key)
    assert run.stats["removed_by_reason"] == expected
    assert expected["exact_duplicate"] >= planted["exact_duplicates"]
    assert run.stats["input"] == summary["records"] == len(records)
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["ledger"] == "balanced"


@pytest.mark.parametrize("endpoint", [False, True], ids=["no-endpoint", "endpoint"])
def test_math_rl_pipeline_on_the_demo_data(tmp_path, ray_address, monkeypatch, endpoint):
    """pipelines/math-rl.yaml as `make demo` runs it: the planted unverifiable problems and the
    problems leaked into the demo benchmark are removed, each under its reason; samples (from the
    loopback test server replaying the demo's own solutions, or the solutions themselves) are verified,
    all-correct and none-correct problems removed, and the rest exported for verl and as SFT data."""
    import pyarrow.parquet as pq

    from tests.conftest import write_jsonl
    from tests.helpers.openai_server import start_server

    summary = write_demo_data(tmp_path / "data", problems=600, seed=11)
    records, _ = demo_records(600, 11)
    replay = write_jsonl(tmp_path / "replay.jsonl", [{"question": r["problem"], "response": r["solutions"]} for r in records if isinstance(r, dict) and isinstance(r.get("problem"), str) and r["problem"].strip()])
    overrides = [f"decontaminate.against=[{tmp_path / 'data' / 'benchmark.jsonl'}]", "decontaminate.n=13"]
    with start_server(replay=[str(replay)]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        run = curate.run(
            ROOT / "pipelines" / "math-rl.yaml",
            input=str(tmp_path / "data" / "problems-*"),
            output=tmp_path / "rl",
            set=overrides + ([] if endpoint else ["generate.enabled=false", "verify.response_field=solutions"]),
            ray_address=ray_address,
        )
        requests = server.stats()["requests"]
    kept_ids = run.kept().collect()["id"]
    traces = pl.read_parquet(tmp_path / "rl" / "traces" / "*.parquet")
    verified = {s["name"]: s for s in run.stats["stages"]}["verify"]
    if endpoint:
        assert traces.height == 8 * verified["in"] == requests and set(kept_ids) <= set(traces["id"])
        assert traces["response"].str.contains("boxed").all()
    else:
        assert requests == 0 and traces.height == 4 * verified["in"]
    by_reason = run.stats["removed_by_reason"]
    planted = summary["planted"]
    assert by_reason["multiple_choice"] == planted["multiple_choice"] and by_reason["proof"] == planted["proof"]
    assert by_reason.get("yes_no", 0) + by_reason.get("yes_no_answer", 0) == planted["yes_no"]
    assert by_reason["contaminated:benchmark.jsonl"] >= planted["benchmark_problems"] - 2  # some leaked ones go earlier, as duplicates
    assert by_reason["too_easy"] > 0 and by_reason["unsolved"] > 0 and len(kept_ids) > 100
    kept = run.kept().collect()
    assert not kept["problem"].str.starts_with("Prove that").any() and run.stats["ledger"] == "balanced"
    assert ((kept["pass_rate"] > 0) & (kept["pass_rate"] < 1)).all()
    # the RL set for verl and the SFT set, written where the run says
    exports = run.stats["exports"]
    verl = pl.concat([pl.read_parquet(tmp_path / "rl" / "exports" / "rl" / f"{s}.parquet") for s in ("train", "validation")])
    assert exports["rl"]["to"] == str(tmp_path / "rl" / "exports" / "rl") and verl.height == len(kept_ids)
    assert pq.read_schema(tmp_path / "rl" / "exports" / "rl" / "train.parquet").names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    sft = (tmp_path / "rl" / "exports" / "sft" / "train.jsonl").read_text().splitlines()
    assert sft and exports["sft"]["files"]["train"]["rows"] == len(sft)


def test_web_quality_pipeline_on_the_demo_web_text(tmp_path, ray_address):
    """pipelines/web-quality.yaml as `make demo` runs it: every planted low-quality document goes, the prose stays."""
    from curate.demo import web_records, write_web_data

    write_web_data(tmp_path / "data", documents=120, seed=5)
    run = curate.run(ROOT / "pipelines" / "web-quality.yaml", input=str(tmp_path / "data" / "web-*"), output=tmp_path / "web", ray_address=ray_address)
    records, planted = web_records(120, 5)
    kept = set(run.kept().collect()["id"])
    assert kept == {r["id"] for r in records if r["planted"] == "prose"}
    assert run.stats["removed"] == sum(planted.values()) and run.stats["removed_by_reason"]["language:fr"] == planted["french"]
