"""Inputs are pinned for the whole run: reads stop at the size the run planned, a file that grows,
shrinks or is rewritten while the run reads it stops the run with one line naming it, and a Parquet
chunk read again later must have the SHA-256 it had when the run first read it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pytest

import curate
from curate import faults
from curate.errors import InputError
from curate.io import ChunkRead, ReadOptions, find_input_files, plan_chunks, read_chunk
from tests.conftest import pipeline, write_jsonl


def _shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory, unless that climbs out of it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _records(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"r{i}", "text": f"record number {i}"} for i in range(start, start + n)]


def _read_all(path: Path) -> int:
    files = find_input_files([str(path)])
    options = ReadOptions(["text"], "id", False, False)
    chunks = plan_chunks(files, 1 << 20)
    with open(path, "ab") as handle:  # appended after planning: not part of this run's input
        handle.write(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in _records(500, 10_000))) if path.suffix == ".gz" else b"".join(json.dumps(r).encode() + b"\n" for r in _records(500, 10_000)))
    return sum(batch.records.height for chunk in chunks for batch in read_chunk(chunk, options, ChunkRead()))


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_reads_stop_at_the_planned_size(tmp_path, name):
    path = write_jsonl(tmp_path / name, _records(300))
    assert _read_all(path) == 300


def test_an_unterminated_last_line_does_not_pull_in_appended_bytes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}')  # no final newline
    files = find_input_files([str(path)])
    chunks = plan_chunks(files, 1 << 20)
    with open(path, "ab") as handle:
        handle.write(b'\n{"id": "c", "text": "three"}\n')
    records = [b.records for c in chunks for b in read_chunk(c, ReadOptions(["text"], "id", False, False), ChunkRead())]
    assert pl.concat(records)["id"].to_list() == ["a", "b"]


def _with_fault(monkeypatch, at: str, action) -> None:
    real = faults.point

    def point(name: str) -> None:
        if name == at:
            action()
        real(name)

    monkeypatch.setattr(faults, "point", point)


def test_lines_appended_during_ingest_stop_the_run(tmp_path, ray_address, monkeypatch):
    path = write_jsonl(tmp_path / "in" / "a.jsonl", _records(2000))
    with_more = path.read_bytes() + b"".join(json.dumps(r).encode() + b"\n" for r in _records(500, 2000))
    _with_fault(monkeypatch, "phase:ingest", lambda: path.write_bytes(with_more))
    with pytest.raises(InputError) as error:
        curate.run(pipeline(tmp_path, chunk_bytes=20_000), ray_address=ray_address)
    message = str(error.value)
    assert message.startswith(f"{_shown(path)}: changed during the run (") and "nothing was published" in message
    assert not (tmp_path / "out" / "kept").exists() and not (tmp_path / "out" / "stats.json").exists()


def _parquet(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "in" / "a.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts}).write_parquet(path, row_group_size=500)
    return path


@pytest.mark.parametrize("restore_mtime", [False, True])
def test_parquet_rewritten_with_the_same_rows_is_caught(tmp_path, ray_address, monkeypatch, restore_mtime):
    """After ingest, before the stages read it again: the same ids and row count, other text (and, to
    defeat any check by size and time, the same size and modification time)."""
    path = _parquet(tmp_path, [f"document {i:05d} original" for i in range(3000)])
    before = os.stat(path)

    def rewrite() -> None:
        _parquet(tmp_path, [f"document {i:05d} replaced" for i in range(3000)])
        if restore_mtime:
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    _with_fault(monkeypatch, "phase:ids", rewrite)
    stages = [{"name": "short", "use": "filter", "keep": "length(text) > 3"}]
    with pytest.raises(InputError) as error:
        curate.run(pipeline(tmp_path, stages, path=str(path)), ray_address=ray_address)
    assert str(error.value).startswith(f"{_shown(path)}: changed during the run (row groups")
    assert not (tmp_path / "out" / "kept").exists()


def test_the_manifest_holds_the_sha256_of_each_input(tmp_path, ray_address):
    path = _parquet(tmp_path, [f"document {i}" for i in range(1200)])
    jsonl = write_jsonl(tmp_path / "in" / "b.jsonl", _records(50, 5000))
    run = curate.run(pipeline(tmp_path, [{"name": "short", "use": "filter", "keep": "length(text) > 3"}], path=[str(path), str(jsonl)]), ray_address=ray_address)
    digests = {Path(entry["path"]).name: entry["sha256"] for entry in run.manifest["inputs"]}
    assert digests == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, jsonl)}
