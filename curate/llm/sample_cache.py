"""A persistent cache of completed samples, so that no request is ever paid for twice.

Each sample is committed the moment its response arrives, keyed by a hash of what determines it
(model, messages, sampling parameters, sample index). A run killed with `kill -9` loses at most the
requests in flight; its re-run, or any later run asking for the same samples, reads them from here.

A cache is a directory of SQLite files in WAL mode, one per host (SQLite's locking is safe between
processes of one host, not across network mounts): a process writes its host's file and reads every
file in the directory, so the actors of a cluster share one cache on a shared mount.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

_SCHEMA = "CREATE TABLE IF NOT EXISTS samples (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_BATCH = 500  # keys per SELECT: below SQLite's bound-parameter limit


class SampleCache:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{_host()}.sqlite"
        self._own = _open(self.path)
        self._others: dict[Path, sqlite3.Connection] = {}

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached samples among `keys`, from every host's file."""
        found: dict[str, dict[str, Any]] = {}
        for connection in [self._own, *self._other_files()]:
            wanted = [k for k in keys if k not in found]
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                try:
                    rows = connection.execute(f"SELECT key, value FROM samples WHERE key IN ({marks})", batch).fetchall()
                except sqlite3.OperationalError:  # another host's file, still being created
                    break
                found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Committed before returning: WAL mode, so a crash of this process keeps it."""
        with self._own:
            self._own.execute("INSERT OR REPLACE INTO samples (key, value) VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False)))

    def close(self) -> None:
        for connection in [self._own, *self._others.values()]:
            connection.close()
        self._others.clear()

    def _other_files(self) -> list[sqlite3.Connection]:
        for path in sorted(self.directory.glob("*.sqlite")):
            if path != self.path and path not in self._others:
                self._others[path] = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        return list(self._others.values())


def _open(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; fsync only at checkpoints
    connection.execute(_SCHEMA)
    connection.isolation_level = ""  # type: ignore[assignment]  # `with connection:` commits; typeshed omits "", the documented default
    return connection


def _host() -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) or "host"


__all__ = ["SampleCache"]
