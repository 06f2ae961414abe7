"""The local Ray a run starts is the run's alone, and goes away with it: no port on a non-loopback
address, no submission without the per-run token (which is written nowhere), one line and the usual
exit codes on SIGTERM / SIGINT / SIGHUP, and no Ray process left a few seconds after the driver dies,
even by kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import CURATE, run_cli, subprocess_env, write_jsonl

PIPELINE = """\
name: private
input:
  path: {input}
  chunk_bytes: 4000
output: {output}
stages:
  - name: slow
    use: tests.helpers.stages:Slow
    seconds: {seconds}
"""


def _own_ray_env(**extra: str) -> dict[str, str]:
    """A child that starts its own local Ray, knowing nothing of the test session's."""
    env = {k: v for k, v in subprocess_env(**extra).items() if not k.startswith("RAY_AUTH")}
    return env


def _start(tmp_path: Path, seconds: float, records: int = 3000, **env: str) -> tuple[subprocess.Popen, Path]:
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": f"record {i} " + "x" * (i % 50)} for i in range(records)])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE.format(input=tmp_path / "in.jsonl", output=tmp_path / "out", seconds=seconds))
    process = subprocess.Popen(
        [CURATE, "run", str(pipeline), "--num-cpus", "2", "--executor", "ray"],
        env=_own_ray_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    return process, pipeline


def _ray_processes(driver: int, wait_for_task: bool = True, timeout: float = 120) -> list[psutil.Process]:
    """The driver's Ray: once the GCS, the raylet, both agents and (optionally) a task worker are up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            below = psutil.Process(driver).children(recursive=True)
        except psutil.NoSuchProcess:
            break
        names = " ".join(p.name() for p in below if p.is_running())
        if all(n in names for n in ("gcs_server", "raylet", "DashboardAgent", "RuntimeEnvAgent")) and (not wait_for_task or "ray::_task" in names):
            return below
        time.sleep(0.2)
    raise AssertionError("the run's Ray did not come up")


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {process.name()}")
        except psutil.NoSuchProcess:
            pass
    return alive


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[str]:
    deadline = time.time() + seconds
    while time.time() < deadline and _alive(processes):
        time.sleep(0.1)
    return _alive(processes)


@pytest.mark.slow
def test_local_ray_is_private_and_dies_with_its_driver(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    driver, _ = _start(tmp_path, seconds=3.0, HOME=str(home))
    try:
        ray = _ray_processes(driver.pid)
        pids = {p.pid for p in ray} | {driver.pid}
        listening = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
        assert len(listening) >= 5, listening  # GCS, raylet, agents, workers, driver
        outside = [(c.laddr, c.pid) for c in listening if not (c.laddr.ip.startswith("127.") or c.laddr.ip in ("::1", "::ffff:127.0.0.1"))]
        assert not outside, f"Ray ports open beyond loopback: {outside}"

        gcs = next(p for p in ray if p.name() == "gcs_server")
        port = next(c.laddr.port for c in listening if c.pid == gcs.pid)
        token = dict(line.split("=", 1) for line in (Path(f"/proc/{gcs.pid}/environ").read_text(errors="replace").split("\0")) if "=" in line).get("RAY_AUTH_TOKEN")
        assert token and len(token) >= 32

        # a stranger on this machine, pointed at the GCS on loopback, without the token
        stranger = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{port}'); print('CONNECTED')"],
            env={**_own_ray_env(HOME=str(home)), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, capture_output=True, text=True, timeout=120,
        )
        assert stranger.returncode != 0 and "CONNECTED" not in stranger.stdout
        assert "InvalidAuthToken" in stranger.stderr or "AuthenticationError" in stranger.stderr, stranger.stderr[-2000:]

        # kill -9 the driver: the whole Ray goes within seconds (Ray's agents alone would take a minute)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert not _gone_within(ray, 5.0)
    finally:
        if driver.poll() is None:
            driver.kill()
    # the token was in memory only
    for folder in (home, tmp_path / "out"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    assert not (home / ".ray").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, word, group", [
    (signal.SIGTERM, 143, "terminated", False),
    (signal.SIGINT, 130, "interrupted", True),   # Ctrl-C: the terminal signals the whole foreground group
    (signal.SIGHUP, 129, "hung up", True),
])
def test_signal_stops_with_one_line_and_resumes(tmp_path, ray_address, signum, code, word, group):
    driver, pipeline = _start(tmp_path, seconds=0.5, records=1500)
    ray = _ray_processes(driver.pid)
    (os.killpg if group else os.kill)(driver.pid, signum)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [f"{word}; run the same command again to resume"], stderr
    assert not _gone_within(ray, 5.0)
    resumed = run_cli("run", str(pipeline), "--quiet", "--ray-address", ray_address)
    assert resumed.returncode == 0, resumed.stderr
    assert '"ledger": "balanced"' in (tmp_path / "out" / "stats.json").read_text()


def test_unreachable_ray_address_fails_fast(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE.format(input=tmp_path / "in.jsonl", output=tmp_path / "out", seconds=0))
    result = run_cli("run", str(pipeline), "--ray-address", "127.0.0.1:1", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --ray-address 127.0.0.1:1: nothing answers at that address (is Ray running there, and is the port open?)"


SCRIPT = """
import subprocess, sys, time
from curate.runner.ray_executor import connect, disconnect
mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # the notebook's own server, say
connect(num_cpus=1)
disconnect()
time.sleep(1.5)
print("ALIVE" if mine.poll() is None else "KILLED")
mine.kill()
"""


@pytest.mark.slow
def test_the_watchdog_leaves_the_drivers_other_children_alone(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=_own_ray_env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ALIVE", result.stderr[-2000:]


def test_a_connection_error_is_one_line_without_rays_traceback():
    """Ray's own reason for not joining can run on into a quoted traceback (seen where something other
    than a Ray head answers at the address): the error keeps the first sentence, with a hint."""
    from curate.runner.ray_executor import _connect_error

    quoted = ConnectionError("Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n  File ...\nRpcError: 404")
    message = _connect_error(quoted)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("Failed to connect to GCS.") and "not a Ray head" in message
    assert _connect_error(RuntimeError("")) == "RuntimeError"
    assert "RAY_AUTH_TOKEN" in _connect_error(ConnectionError("rpc failed: InvalidAuthToken"))
