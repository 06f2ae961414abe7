"""Fault injection for tests: `CURATE_FAULT=publish:moved` kills this process (SIGKILL, as `kill -9`
would) the first time the runner reaches that point. Several points may be given, comma-separated.
Nothing happens when the variable is unset; the points are listed in the README (Reliability).
`active(name)` asks for a fault that changes behaviour instead (the verifier's `verifier:raw-percent`)."""

from __future__ import annotations

import os
import signal

_ENV = "CURATE_FAULT"


def active(name: str) -> bool:
    """A fault that changes behaviour rather than killing (named in CURATE_FAULT too)."""
    wanted = os.environ.get(_ENV)
    return bool(wanted and name in wanted.split(","))


def point(name: str) -> None:
    wanted = os.environ.get(_ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["active", "point"]
