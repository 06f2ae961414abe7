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
DATA = Path(os.environ.get("CURATE_BENCH_DATA") or HERE / "_data")
"""Corpora and outputs (git-ignored); a baseline checkout's children are pointed back here."""
ROOT = HERE.parent
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}


class PeakRss:
    """Sum of RSS over this process and every descendant (driver, GCS, raylet, workers), sampled
    every 50 ms in a thread; and the CPU-seconds they all spent from the start to `finish` (each
    process's last sample less its first: a process that ends between samples loses < 50 ms)."""

    def __init__(self) -> None:
        import psutil

        self.root = psutil.Process()
        self.peak = 0
        self.first_cpu: dict[int, float] = {}
        self.last_cpu: dict[int, float] = {}
        self.stop = threading.Event()
        self._sample_once(first=True)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample_once(self, first: bool = False) -> None:
        import psutil

        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
                times = process.cpu_times()
                spent = times.user + times.system
            except psutil.Error:
                continue
            if first:
                self.first_cpu[process.pid] = spent
            else:
                self.first_cpu.setdefault(process.pid, 0.0)
            self.last_cpu[process.pid] = spent
        self.peak = max(self.peak, total)

    def _sample(self) -> None:
        while not self.stop.is_set():
            self._sample_once()
            time.sleep(0.05)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join()
        self._sample_once()
        return self.peak

    @property
    def cpu_seconds(self) -> float:
        """CPU-seconds of the whole process tree between the start and `finish`."""
        return sum(self.last_cpu[pid] - self.first_cpu.get(pid, 0.0) for pid in self.last_cpu)


def in_child(script: Path, *args: str, timeout: float = 7200, root: Path = ROOT) -> dict:
    """Run `script --child ARGS` in a fresh process; it prints one JSON line last. With `root` (a
    `checkout`), the script runs there, on that revision's curate."""
    env = {**ENV, "PYTHONPATH": str(root), "CURATE_BENCH_DATA": str(DATA)}
    # in `root`: Ray's workers put the driver's working directory first on their path
    done = subprocess.run([sys.executable, str(root / "benchmarks" / script.name), "--child", *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise SystemExit(f"{script.name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def checkout(revision: str) -> Path:
    """The project at `revision` in a git worktree under DATA, with today's benchmarks/ copied over
    its own: a before/after measured side by side in one run, the same script on both."""
    import shutil

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision], capture_output=True, text=True, check=True).stdout.strip()
    path = DATA / f"checkout-{commit}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit], check=True, capture_output=True)
    for script in HERE.glob("*.py"):
        shutil.copy(script, path / "benchmarks" / script.name)
    return path


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
