"""Reaps the local Ray a curate process started, however that process ends (kill -9 included).

Ray's own processes notice a dead driver late: after `kill -9` of `curate run` the GCS and raylet go
within a second or two, but the dashboard and runtime-env agents live on for about a minute (measured:
63 and 73 s), and they do the same after a normal `ray.shutdown()`. This small process, started
beside Ray in a session of its own, waits on a pipe that only the driver holds, and meanwhile notes
Ray's processes once a second (pid and start time, so a reused pid is never taken for one of them):
the driver's children that carry the run's marker in their environment (`CURATE_RAY_OWNER=<random>`,
set only while Ray starts: the GCS and the raylet), and everything below them (the agents, the
workers and what they start). Other children of the driver (a notebook's own servers, say) are not
Ray's and are left alone. When the pipe closes (the driver stopped Ray, or died) it kills what it
noted that is still alive, what those started since, and any process still carrying the marker —
never the driver itself. Linux only (it reads /proc); elsewhere it does nothing.

    python -m curate.runner.watchdog OWNER DRIVER_PID     # stdin: the driver's end of the pipe
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

OWNER_ENV = "CURATE_RAY_OWNER"
POLL_SECONDS = 1.0


def started(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[0] != b"Z" else None


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found


def descendants(roots: list[int]) -> dict[int, int]:
    """pid -> start time of every live process below `roots` (the roots excluded)."""
    seen: dict[int, int] = {}
    todo = [c for r in roots for c in children(r)]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        start = started(pid)
        if start is None:
            continue
        seen[pid] = start
        todo += children(pid)
    return seen


def carries(pid: int, needle: bytes) -> bool:
    """Whether the process's environment holds `needle` (readable for this user's processes only;
    a process that retitles itself overwrites its environment, so this is true of fresh ones)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return needle in handle.read().split(b"\0")
    except OSError:
        return False


def marked(owner: str, exclude: set[int]) -> list[int]:
    """Every process that still carries the marker."""
    needle = f"{OWNER_ENV}={owner}".encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [int(e) for e in entries if e.isdigit() and int(e) not in exclude and carries(int(e), needle)]


def reap(owner: str, noted: dict[int, int], exclude: set[int], rounds: int = 40) -> int:
    """SIGKILL the noted processes still alive, their descendants and the marked ones, until none is left."""
    killed = 0
    for _ in range(rounds):
        alive = [pid for pid, start in noted.items() if started(pid) == start]
        targets = set(alive) | set(descendants(alive)) | set(marked(owner, exclude))
        targets -= exclude
        if not targets:
            break
        for pid in targets:
            noted.setdefault(pid, started(pid) or 0)
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
    return killed


def main(owner: str, driver: int) -> None:
    me = os.getpid()
    noted: dict[int, int] = {}
    # The terminal's Ctrl-C and hang-up reach the whole foreground group: the driver handles them and
    # closes the pipe; this process must outlive it to clean up. A SIGTERM aimed at it reaps at once.
    for quiet in (signal.SIGINT, signal.SIGHUP):
        signal.signal(quiet, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: (reap(owner, noted, {driver, me}), os._exit(0)))
    stdin = sys.stdin.buffer.fileno()
    needle = f"{OWNER_ENV}={owner}".encode()
    roots: dict[int, int] = {}
    while True:
        for pid in children(driver):
            if pid not in roots and carries(pid, needle) and (start := started(pid)) is not None:
                roots[pid] = start
        noted.update(roots)
        noted.update(descendants([pid for pid, start in roots.items() if started(pid) == start]))
        ready, _, _ = select.select([stdin], [], [], POLL_SECONDS)
        if ready and not os.read(stdin, 65536):
            break
    reap(owner, noted, {driver, me})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
