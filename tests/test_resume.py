"""Kill -9 a run in the middle and run the same command again: completed work is not redone, and the
outputs equal an uninterrupted run's."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import curate
from curate.columns import ORDER_CHUNK_SHIFT
from tests.conftest import CURATE, subprocess_env, write_jsonl

PIPELINE = """\
name: resumable
input:
  path: {input}
  chunk_bytes: 8000
output: {output}
stages:
  - name: slow
    use: tests.helpers.stages:Slow
    seconds: {seconds}
  - name: exact
    use: exact_dedup
    field: text
  - name: short
    use: filter
    keep: "length(text) > 12"
"""


def write(tmp_path, name, output, seconds):
    path = tmp_path / name
    path.write_text(PIPELINE.format(input=tmp_path / "in.jsonl", output=output, seconds=seconds))
    return path


def chunks_logged(path: Path) -> set[int]:
    return {int(line) >> ORDER_CHUNK_SHIFT for line in path.read_text().split()} if path.exists() else set()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["ray", "in-process"])
def test_kill_9_then_resume(tmp_path, ray_address, executor):
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": f"record {i % 3100} " + "x" * (i % 40)} for i in range(4000)])
    out = tmp_path / "out"
    pipeline = write(tmp_path, "p.yaml", out, 0.4)
    env = subprocess_env(SLOW_LOG=str(tmp_path / "log1"))

    # run 1: its own local Ray (or none), killed with SIGKILL (the whole process group) in the middle of the stages
    command = [CURATE, "run", str(pipeline), "--quiet", "--num-cpus", "2", "--executor", executor]
    first = subprocess.Popen(command, env=env, start_new_session=True)
    markers = out / "_work" / "done" / "segment-0"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(markers.glob("*.json"))) < 8:
        assert first.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_at_kill = {int(p.stem.split("-")[0]) for p in markers.glob("*.json")}
    total_chunks = json.loads((out / "_work" / "plan.json").read_text())["chunks"]
    assert 8 <= len(done_at_kill) < total_chunks, "the kill did not land in the middle of the stages"
    assert not (out / "stats.json").exists() and not (out / "kept").exists()

    # run 2: the same command resumes
    env["SLOW_LOG"] = str(tmp_path / "log2")
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    redone = chunks_logged(tmp_path / "log2") & done_at_kill
    assert not redone, f"shards completed before the kill were processed again: {sorted(redone)}"
    assert chunks_logged(tmp_path / "log1") | chunks_logged(tmp_path / "log2") >= set(range(total_chunks))
    resumed = curate.open_run(out)
    assert resumed.stats["tasks"]["resumed"] >= total_chunks + len(done_at_kill)  # all reads, plus the shards done

    # the same outputs as an uninterrupted run
    reference = curate.run(write(tmp_path, "ref.yaml", tmp_path / "ref", 0.4), ray_address=ray_address)
    assert resumed.kept().collect().equals(reference.kept().collect())
    assert resumed.removed().collect().sort("id").equals(reference.removed().collect().sort("id"))
    strip = lambda stats: [{k: v for k, v in s.items() if k != "seconds"} for s in stats["stages"]]
    assert strip(resumed.stats) == strip(reference.stats)
    assert [p.name for p in sorted((out / "kept").iterdir())] == [p.name for p in sorted((tmp_path / "ref" / "kept").iterdir())]
    assert not (out / "_work").exists()
