"""Compiled hot loops (numba). Each works on flat numpy arrays: Arrow string buffers in, arrays out.

Kept cheap to compile, since every machine compiles them once (cached on disk after that): arrays are
copied with loops, not slice assignment (`a[i:j] = b[k:l]`), which makes numba compile the formatting
of its shape-mismatch error with it, about 60 library functions and 2-5 s more per kernel module
(`benchmarks/first_run.py`); the loops run as fast or faster.
"""

import os
import tempfile
from typing import Any


def _cache_somewhere() -> None:
    """numba caches a module's kernels in `__pycache__` beside it, else in the user's cache directory
    (~/.cache/numba); where neither is writable (a read-only install run by an account without a
    home, as services and containers often are) it refuses to import a `cache=True` kernel at all.
    There, use a directory of this user's in the temporary directory instead: private (0700, ours,
    else a fresh one), and the same for every process of this user on the machine, Ray's workers
    included, so the kernels are still compiled once per machine. NUMBA_CACHE_DIR overrides all."""
    import numba
    from numba.core.caching import FunctionCache

    config: Any = numba.config  # its settings are set at import from the environment: no stubs
    if config.CACHE_DIR:
        return
    try:
        FunctionCache(_cache_somewhere)  # finds a writable place for this file's kernels, or raises
        return
    except RuntimeError:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"curate-numba-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        status = os.lstat(path)
        private = os.path.isdir(path) and not os.path.islink(path) and status.st_uid == uid and not status.st_mode & 0o077
    except OSError:
        private = False
    config.CACHE_DIR = path if private else tempfile.mkdtemp(prefix="curate-numba-")


_cache_somewhere()
