"""Every pipeline in pipelines/ on the demo data, run on Ray and in this process: the run directories
must hold the same records, files, stats and exports (the executor changes where tasks run, nothing
else)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import curate
from curate.demo import demo_records, write_demo_data, write_web_data
from tests.conftest import ROOT, write_jsonl

PIPELINES = sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml"))
# what may differ between two runs of the same input: when and where they ran, what the client measured
TIMING = {
    "seconds", "samples_per_second", "requests_per_second", "finished", "started", "created", "command", "executor",
    "client_cpu_seconds", "client_peak_rss_mb", "peak_in_flight", "latency", "read_seconds", "write_seconds",
}


def _inputs(tmp_path: Path, name: str) -> tuple[str, list[str]]:
    data = tmp_path / "data"
    if name == "math-rl.yaml":
        overrides = [f"decontaminate.against=[{data / 'benchmark.jsonl'}]", "decontaminate.n=13"]
        return str(data / "problems-*"), overrides
    if name in ("web-quality.yaml", "near-dedup.yaml"):
        return str(data / "web-*"), []
    if name == "long-cot-sft.yaml":  # the demo problems' own solutions as the traces (short ones: no thought required)
        return str(data / "problems-*"), ["input.text_fields=[problem]", "format.response_field=solutions", "format.require_thought=false",
                                          "language.problem_field=problem", "sft.prompt='{{problem}}'"]
    return str(data / "problems-*"), []


def _without_timing(value: object, root: Path | None = None) -> object:
    """The value without TIMING's keys, and with the run directory's path (in exports' summaries) as <run>."""
    if isinstance(value, dict):
        return {k: _without_timing(v, root) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_without_timing(v, root) for v in value]
    if isinstance(value, str) and root is not None:
        return value.replace(str(root), "<run>")
    return value


def _files(root: Path) -> dict[str, object]:
    """Every output file of a run directory: Parquet by content, other files by text."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or relative.startswith(("_work", "cache/", ".")) or relative in ("manifest.json", "stats.json"):
            continue
        if path.suffix == ".parquet":
            found[relative] = _without_timing(pq.read_table(path).to_pylist(), root)
        elif relative == "report.html":  # holds the run's times, paths and executor: present is what matters here
            found[relative] = "<report>"
        elif path.suffix in (".json", ".jsonl", ".yaml", ".txt"):
            text = path.read_text()
            found[relative] = _without_timing(json.loads(text), root) if path.suffix == ".json" else text.replace(str(root), "<run>")
        else:
            found[relative] = path.read_bytes()
    return found


@pytest.mark.parametrize("name", PIPELINES)
def test_every_pipeline_the_same_in_process_and_on_ray(tmp_path, ray_address, monkeypatch, name):
    from tests.helpers.openai_server import start_server

    write_demo_data(tmp_path / "data", problems=300, seed=5)
    write_web_data(tmp_path / "data", documents=200, seed=5)
    records, _ = demo_records(300, 5)
    replay = write_jsonl(tmp_path / "replay.jsonl", [{"question": r["problem"], "response": r["solutions"]} for r in records if isinstance(r, dict) and isinstance(r.get("problem"), str) and r["problem"].strip()])
    source, overrides = _inputs(tmp_path, name)
    runs = {}
    with start_server(replay=[str(replay)]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        for executor in ("ray", "in-process"):
            runs[executor] = curate.run(
                ROOT / "pipelines" / name, input=source, output=tmp_path / executor, set=overrides,
                ray_address=ray_address if executor == "ray" else None, executor=executor,
            )
    ray_run, local_run = runs["ray"], runs["in-process"]
    assert ray_run.manifest["executor"]["executor"] == "ray" and local_run.manifest["executor"]["executor"] == "in-process"
    assert ray_run.stats["kept"] > 0 and ray_run.stats["removed"] > 0
    assert _without_timing(local_run.stats, local_run.path) == _without_timing(ray_run.stats, ray_run.path)
    manifests = [_without_timing(r.manifest, r.path) for r in (ray_run, local_run)]
    for manifest in manifests:
        manifest["pipeline"].pop("output")
    assert manifests[0] == manifests[1]
    ray_files, local_files = _files(tmp_path / "ray"), _files(tmp_path / "in-process")
    assert sorted(local_files) == sorted(ray_files)
    for relative in ray_files:
        assert local_files[relative] == ray_files[relative], f"{relative} differs"


def test_an_in_process_run_imports_no_ray(tmp_path):
    """The in-process executor is Ray-free: a small run pays neither Ray's import nor its start-up."""
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": f"record {i % 7}"} for i in range(30)])
    script = (
        "import sys, curate\n"
        f"run = curate.run({{'name': 'p', 'input': {str(tmp_path / 'in.jsonl')!r}, 'output': {str(tmp_path / 'out')!r}, "
        "'stages': [{'name': 'exact', 'use': 'exact_dedup', 'field': 'text'}]})\n"
        "print(run.manifest['executor']['executor'], run.stats['kept'], 'ray' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["in-process", "7", "False"]
