"""Shared fixtures: one local Ray for the whole session (its address lets CLI subprocesses join it
instead of starting their own), and small writers for input files."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CURATE = str(Path(sys.executable).with_name("curate"))


@pytest.fixture(scope="session")
def ray_address() -> str:
    """Start the session's Ray (2 CPUs, like CI) and return its address."""
    import ray

    from curate.runner.ray_executor import connect, disconnect, join_environment

    started = connect(num_cpus=2)
    # the local Ray's token lives in memory only: CLI subprocesses that join it get it from here
    os.environ.update(join_environment())
    yield ray.get_runtime_context().gcs_address
    if started:
        disconnect()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real data not found: {SHARED} (clone the repository beside ../shared to run this test)")
    return SHARED


def write_jsonl(path: Path, records: list[Any]) -> Path:
    """Records are dicts (JSON-encoded) or raw lines (str or bytes, written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        if isinstance(record, bytes):
            lines.append(record)
        elif isinstance(record, str):
            lines.append(record.encode("utf-8"))
        else:
            lines.append(json.dumps(record).encode("utf-8"))
    data = b"\n".join(lines) + (b"\n" if lines else b"")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def pipeline(tmp_path: Path, stages: list[dict[str, Any]] | None = None, **input_options: Any) -> dict[str, Any]:
    """A pipeline dict over tmp_path/in/*, writing tmp_path/out."""
    input_options.setdefault("path", str(tmp_path / "in" / "*"))
    return {
        "name": "test",
        "input": input_options,
        "output": str(tmp_path / "out"),
        "stages": stages or [{"name": "exact", "use": "exact_dedup", "field": "text"}],
    }


def subprocess_env(**extra: str) -> dict[str, str]:
    """For a child process: tests/ importable (custom stages), and no inherited RAY_ADDRESS unless given."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CURATE, *args], capture_output=True, text=True, env=subprocess_env(**(env or {})), cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory) -> dict[str, Any]:
    """The demo's pipelines and threshold-moved re-runs (tests/helpers/report_runs.py), once per session."""
    from tests.helpers.report_runs import build_report_runs

    return build_report_runs(tmp_path_factory.mktemp("report"))
