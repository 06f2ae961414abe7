"""Shared by the benchmark scripts: peak memory of a process tree, and running a measurement in a
fresh child process (a fresh Ray each time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
ROOT = HERE.parent
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}


class PeakRss:
    """Sum of RSS over this process and every descendant (driver, GCS, raylet, workers), sampled
    every 50 ms in a thread."""

    def __init__(self) -> None:
        import psutil

        self.root = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        while not self.stop.is_set():
            total = 0
            for process in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def in_child(script: Path, *args: str, timeout: float = 7200) -> dict:
    """Run `script --child ARGS` in a fresh process; it prints one JSON line last."""
    done = subprocess.run([sys.executable, str(script), "--child", *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise SystemExit(f"{script.name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


DATATROVE_VENV = DATA / "datatrove-venv"


def datatrove_python() -> str:
    """The baseline's interpreter: $DATATROVE_PYTHON, or a virtualenv made here on first use from
    benchmarks/datatrove-requirements.txt (pinned; from the package registry)."""
    if os.environ.get("DATATROVE_PYTHON"):
        return os.environ["DATATROVE_PYTHON"]
    python = DATATROVE_VENV / "bin" / "python"
    stamp = DATATROVE_VENV / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DATATROVE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(HERE / "datatrove-requirements.txt")], check=True)
        stamp.touch()
    return str(python)
