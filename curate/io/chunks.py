"""Planning reads: input files cut into `Chunk`s (byte ranges of JSONL, row groups of Parquet, whole
compressed files) from the files alone, record counts estimated before reading, and the digests that
pin what was read: each file's SHA-256, each Parquet chunk's row-group bytes, and the check that no
input changed during the run."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from curate.errors import InputError
from curate.io.discovery import InputFile

if TYPE_CHECKING:
    import pyarrow.parquet as pq


@dataclass(frozen=True)
class Chunk:
    """A unit of reading: a byte range of a JSONL file, row groups of a Parquet file, or a whole compressed file."""

    index: int
    file: InputFile
    start: int = 0
    stop: int = -1
    first_row: int = 0
    """Parquet: the file row of the chunk's first row."""
    rows: int = -1
    """Parquet: the chunk's number of rows (-1 where unknown before reading)."""
    span: tuple[int, int] = (0, 0)
    """Parquet: the bytes of the file its row groups occupy, whose hash pins what later reads see."""


def plan_chunks(files: list[InputFile], target_bytes: int) -> list[Chunk]:
    """Cut files into chunks of about `target_bytes`; depends only on the files, never on the cluster."""
    chunks: list[Chunk] = []
    for file in files:
        if file.format == "jsonl":
            pieces = max(1, math.ceil(file.size / target_bytes))
            step = math.ceil(file.size / pieces) if file.size else 0
            for piece in range(pieces):
                start, stop = piece * step, min(file.size, (piece + 1) * step)
                chunks.append(Chunk(len(chunks), file, start, stop if piece < pieces - 1 else file.size))
        elif file.format == "parquet":
            if file.size:  # an empty file has no footer; it holds no records
                chunks += _parquet_chunks(file, target_bytes, len(chunks))
        else:
            chunks.append(Chunk(len(chunks), file))
    return chunks


def _parquet_chunks(file: InputFile, target_bytes: int, first_index: int) -> list[Chunk]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(file.path).metadata
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ...
        raise InputError(f"{file.display}: not a readable Parquet file: {err}") from None
    chunks: list[Chunk] = []
    group_start, size, row, first_row = 0, 0, 0, 0
    for group in range(meta.num_row_groups):
        size += meta.row_group(group).total_byte_size
        row += meta.row_group(group).num_rows
        if size >= target_bytes or group == meta.num_row_groups - 1:
            span = _row_group_span(meta, range(group_start, group + 1))
            chunks.append(Chunk(first_index + len(chunks), file, group_start, group + 1, first_row, row - first_row, span))
            group_start, size, first_row = group + 1, 0, row
    return chunks or [Chunk(first_index, file, 0, 0, 0)]


def _row_group_span(meta: pq.FileMetaData, groups: range) -> tuple[int, int]:
    """[first, last) byte of the column chunks of these row groups (dictionary pages included)."""
    starts, stops = [], []
    for group in groups:
        row_group = meta.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            start = column.data_page_offset
            if column.has_dictionary_page and column.dictionary_page_offset:
                start = min(start, column.dictionary_page_offset)
            starts.append(start)
            stops.append(start + column.total_compressed_size)
    return (min(starts), max(stops)) if starts else (0, 0)


def estimated_records(chunks: list[Chunk]) -> int:
    """Before reading: Parquet row counts are known; JSONL is taken at 50 bytes a record (compressed, 5x)."""
    total = 0
    for chunk in chunks:
        if chunk.rows >= 0:
            total += chunk.rows
        elif chunk.file.format == "jsonl":
            total += (chunk.stop - chunk.start) // 50
        else:
            total += chunk.file.size * 5 // 50
    return total


@dataclass
class DigestSpec:
    file: InputFile
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Parquet: chunk index -> the byte span of its row groups."""


def digest_file(spec: DigestSpec) -> dict[str, object]:
    """The SHA-256 of the file's bytes as planned (its size when the run began), for the manifest
    (`sha256sum` gives the same), and of each Parquet chunk's row groups, which every later read of
    that chunk must find again; in one pass."""
    whole = hashlib.sha256()
    spans = sorted((start, stop, index) for index, (start, stop) in spec.spans.items() if stop > start)
    parts = {index: hashlib.sha256() for _, _, index in spans}
    offset, remaining = 0, spec.file.size
    with open(spec.file.path, "rb") as handle:
        while remaining > 0:
            block = handle.read(min(8 << 20, remaining))
            if not block:
                raise InputError(f"{spec.file.display}: changed during the run (now shorter than its {spec.file.size:,} bytes at the start); run again with --overwrite")
            whole.update(block)
            end = offset + len(block)
            for start, stop, index in spans:
                if start < end and stop > offset:
                    parts[index].update(block[max(start, offset) - offset : min(stop, end) - offset])
            offset, remaining = end, remaining - len(block)
    return {"sha256": whole.hexdigest(), "chunks": {str(index): digest.hexdigest() for index, digest in parts.items()}}


def chunk_digest(chunk: Chunk) -> str:
    """SHA-256 of a Parquet chunk's row-group bytes as they are now."""
    digest = hashlib.sha256()
    start, stop = chunk.span
    with open(chunk.file.path, "rb") as handle:
        handle.seek(start)
        remaining = stop - start
        while remaining > 0 and (block := handle.read(min(8 << 20, remaining))):
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def check_unchanged(files: list[InputFile]) -> None:
    """Each input still has the size and modification time it had when the run planned its reads: an
    append, a truncation or a rewrite during the run stops it, naming the file."""
    for file in files:
        try:
            now = os.stat(file.path)
        except OSError as err:
            raise InputError(f"{file.display}: changed during the run (it is gone: {err.strerror}); the run stopped before publishing anything") from None
        if now.st_size != file.size or now.st_mtime_ns != file.mtime_ns:
            what = f"{file.size:,} -> {now.st_size:,} bytes" if now.st_size != file.size else "rewritten in place, same size"
            raise InputError(f"{file.display}: changed during the run ({what}); nothing was published; run again with --overwrite to read it as it is now")
