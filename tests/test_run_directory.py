"""The run directory survives a kill at any instant: the driver is killed (SIGKILL, through the
runner's fault-injection points) at every phase boundary and inside publish and --overwrite's clear,
and the same command then finishes with the outputs of an uninterrupted run. --overwrite never
touches a directory curate did not make, the sample cache survives it, and nothing temporary stays."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import curate
from tests.conftest import run_cli, write_jsonl

PIPELINE = """\
name: lifecycle
input:
  path: {input}
  chunk_bytes: 3000
  on_error: quarantine
output: {output}
stages:
  - name: exact
    use: exact_dedup
    field: text
  - name: short
    use: filter
    keep: "length(text) > {minimum}"
    reason: too_short
"""


def _input(tmp_path: Path) -> Path:
    records: list = [{"id": f"r{i}", "text": f"record {i % 170} " + "x" * (i % 23)} for i in range(600)]
    records.insert(250, "{not json")
    return write_jsonl(tmp_path / "in" / "data.jsonl", records)


def _pipeline(tmp_path: Path, output: Path, minimum: int = 12, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(PIPELINE.format(input=tmp_path / "in" / "*.jsonl", output=output, minimum=minimum))
    return path


def _outcome(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, list]:
    run = curate.open_run(out)
    stages = [{k: v for k, v in s.items() if k != "seconds"} for s in run.stats["stages"]]
    removed = run.removed().collect().sort("id")
    return run.kept().collect(), removed, stages


def _clean(out: Path) -> None:
    """Nothing left of the interruption: no working, journal or temporary file."""
    names = {p.name for p in out.iterdir()}
    assert not names & {"_work", "_trash", "_clearing.json"}, names
    leftovers = [p for p in out.rglob("*") if p.name.endswith((".tmp", ".partial"))]
    assert not leftovers, leftovers


def _killed(result) -> None:
    assert result.returncode == -9, f"the fault point was not reached: {result.returncode} {result.stderr}"


@pytest.mark.slow
def test_kill_at_every_phase_and_inside_publish(tmp_path, ray_address):
    _input(tmp_path)
    reference = curate.run(_pipeline(tmp_path, tmp_path / "ref", name="ref.yaml"), ray_address=ray_address)
    expected = _outcome(reference.path)
    points = [f"phase:{p['phase']}" for p in reference.stats["phases"]]
    assert {"phase:ingest", "phase:ids", "phase:segment-0", "phase:exact.reduce", "phase:verify-kept"} <= set(points)
    points += ["publish:journal", "publish:moved", "publish:stats", "publish:manifest"]
    for number, point in enumerate(points):
        out = tmp_path / f"out{number}"
        pipeline = _pipeline(tmp_path, out, name=f"p{number}.yaml")
        _killed(run_cli("run", str(pipeline), "--quiet", "--ray-address", ray_address, env={"CURATE_FAULT": point}))
        if point == "publish:moved":  # what a kill inside a write leaves: temporary files
            (out / ".stats.json.4242.tmp").write_text("{")
        again = run_cli("run", str(pipeline), "--quiet", "--ray-address", ray_address)
        assert again.returncode == 0, f"{point}: {again.stderr}"
        kept, removed, stages = _outcome(out)
        assert kept.equals(expected[0]), point
        assert removed.equals(expected[1]), point
        assert stages == expected[2], point
        _clean(out)
        assert sorted(p.name for p in (out / "kept").iterdir()) == sorted(p.name for p in (reference.path / "kept").iterdir())
        assert len({str(pq.read_schema(p)) for p in (out / "removed").iterdir()}) == 1, point  # conformed, once


@pytest.mark.slow
@pytest.mark.parametrize("point, overwrite_again", [("clear:journal", True), ("clear:moved", False), ("clear:trash", True)])
def test_kill_inside_overwrite(tmp_path, ray_address, point, overwrite_again):
    _input(tmp_path)
    out = tmp_path / "out"
    first = run_cli("run", str(_pipeline(tmp_path, out)), "--quiet", "--ray-address", ray_address)
    assert first.returncode == 0, first.stderr
    (out / "cache").mkdir()
    (out / "cache" / "samples.sqlite").write_bytes(b"paid for")
    changed = _pipeline(tmp_path, out, minimum=20, name="changed.yaml")
    _killed(run_cli("run", str(changed), "--quiet", "--overwrite", "--ray-address", ray_address, env={"CURATE_FAULT": point}))
    # the directory is still curate's, whatever the kill left; the next run finishes the clear first
    args = ["run", str(changed), "--quiet", "--ray-address", ray_address] + (["--overwrite"] if overwrite_again else [])
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    reference = curate.run(_pipeline(tmp_path, tmp_path / "ref", minimum=20, name="ref.yaml"), ray_address=ray_address)
    kept, removed, stages = _outcome(out)
    expected = _outcome(reference.path)
    assert kept.equals(expected[0]) and removed.equals(expected[1]) and stages == expected[2]
    assert (out / "cache" / "samples.sqlite").read_bytes() == b"paid for"
    _clean(out)


def test_overwrite_never_touches_a_directory_curate_did_not_make(tmp_path, ray_address):
    _input(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"my": "manifest"}')
    (mine / "notes.txt").write_text("precious")
    (mine / "kept").mkdir()
    result = run_cli("run", str(_pipeline(tmp_path, mine)), "--overwrite", "--ray-address", ray_address)
    assert result.returncode == 2
    assert "not a run directory of this curate" in result.stderr and "delete it yourself" in result.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["kept", "manifest.json", "notes.txt"]
    assert (mine / "notes.txt").read_text() == "precious"


def test_failed_start_after_overwrite_keeps_the_directory_and_its_cache(tmp_path, ray_address):
    _input(tmp_path)
    out = tmp_path / "out"
    assert run_cli("run", str(_pipeline(tmp_path, out)), "--quiet", "--ray-address", ray_address).returncode == 0
    (out / "cache").mkdir()
    (out / "cache" / "samples.sqlite").write_bytes(b"paid for")
    write_jsonl(tmp_path / "bad" / "data.jsonl", [{"id": "a", "text": "fine"}, "{broken"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE.replace("  on_error: quarantine\n", "").format(input=tmp_path / "bad" / "data.jsonl", output=out, minimum=1))
    failed = run_cli("run", str(bad), "--overwrite", "--ray-address", ray_address)
    assert failed.returncode == 2 and "data.jsonl:2: malformed JSON" in failed.stderr
    assert (out / ".curate-run").exists() and (out / "cache" / "samples.sqlite").read_bytes() == b"paid for"
    # the next run takes the directory without --overwrite: nothing of a run is in it
    good = run_cli("run", str(_pipeline(tmp_path, out)), "--quiet", "--ray-address", ray_address)
    assert good.returncode == 0, good.stderr
    assert (out / "cache" / "samples.sqlite").read_bytes() == b"paid for"
    _clean(out)


def test_a_new_directory_that_fails_to_start_is_removed(tmp_path, ray_address):
    write_jsonl(tmp_path / "bad" / "data.jsonl", ["{broken"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE.replace("  on_error: quarantine\n", "").format(input=tmp_path / "bad" / "data.jsonl", output=tmp_path / "new", minimum=1))
    assert run_cli("run", str(bad), "--ray-address", ray_address).returncode == 2
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_resume_with_the_output_spelled_another_way(tmp_path, ray_address):
    _input(tmp_path)
    absolute = _pipeline(tmp_path, tmp_path / "out")
    _killed(run_cli("run", str(absolute), "--quiet", "--ray-address", ray_address, env={"CURATE_FAULT": "phase:segment-0"}))
    relative = run_cli("run", str(absolute), "--quiet", "--output", "out", "--ray-address", ray_address, cwd=tmp_path)
    assert relative.returncode == 0, relative.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["tasks"]["resumed"] > 0
