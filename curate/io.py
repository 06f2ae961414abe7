"""Reading input: finding files, cutting them into chunks, parsing and validating records; atomic writes.

Parsing takes a fast path (polars' NDJSON reader over a whole chunk) and checks what it cannot see:
polars turns `{"text": 5}` into "5", so text values that look like JSON scalars are re-checked with
pyarrow's typed reader. Anything odd sends the chunk down the slow path, one `json.loads` per line,
which names the exact line and reason. Records get `ORDER` = chunk << 36 | line (or row) within the
chunk, so sorting by it is input order, and a position can be turned back into `file:line`.
"""

from __future__ import annotations

import functools
import glob
import gzip
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.columns import ERROR, ORDER, ORDER_CHUNK_SHIFT, RAW, SOURCE
from curate.errors import InputError

_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl.gz",
    ".ndjson.gz": "jsonl.gz",
    ".jsonl.zst": "jsonl.zst",
    ".jsonl.zstd": "jsonl.zst",
    ".ndjson.zst": "jsonl.zst",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
}
_GLOB_CHARS = re.compile(r"[*?\[]")
_BOM = b"\xef\xbb\xbf"
# Text values polars may have produced from a JSON number, boolean, object or list (it turns them into
# text); only these need the typed re-check.
_COERCED_LIKE = r"(?s)^(?:[-+0-9.eE]+|true|false|[\[{].*)$"
# ...and for ids, which may be integers: anything but digits that looks like a JSON value
_ID_COERCED_LIKE = r"(?s)^(?:-?[0-9]*[.eE][-+0-9.eE]*|true|false|[\[{].*)$"
# Integers polars cannot hold (beyond Int128) come back as null: such chunks take the slow path, where
# they are kept exactly, as text.
_HUGE_INT = re.compile(rb"[0-9]{39,}")
# ...as a JSON number, that is, after `:`, `,` or `[` (a quoted number may match too: the slow path sorts it out)
_HUGE_NUMBER = r"[:,\[]\s*-?[0-9]{39,}"
_MAX_DEPTH = 64
_RESERVED_PREFIX = "__curate_"
POSITION_ID_PREFIX = "@input:"
"""A quarantined record's id is its position, `@input:relpath:line` (or `:row N`). Real ids may not
start with the prefix (such a record is bad input itself), so the two can never clash."""
# polars decodes a lone high surrogate escape to NUL instead of failing: such chunks take the slow path.
_LONE_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")


@dataclass(frozen=True)
class InputFile:
    path: str
    """Absolute path."""
    display: str
    """The path as the user sees it, for messages."""
    relpath: str
    """Relative to the common folder of all inputs; part of generated ids, so moving the folder keeps them."""
    format: str
    size: int
    mtime_ns: int
    newline: bytes = b"\n"
    """b"\r" for a file whose lines end in a bare CR (old Mac files): read as if they ended in LF."""


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


@dataclass
class ReadOptions:
    text_fields: list[str]
    id_field: str
    id_explicit: bool
    quarantine: bool
    rename: dict[str, str] = field(default_factory=dict)
    part_bytes: int = 64 << 20


@dataclass
class Batch:
    records: pl.DataFrame
    """Valid records: the input fields (ids as strings) and ORDER. A light read holds only some fields."""
    bad: pl.DataFrame | None
    """Quarantined records: id, ERROR, SOURCE, RAW, ORDER."""
    schema: dict[str, pl.DataType] | None = None
    """The records' full schema, when `records` is a light read."""


@dataclass
class ChunkRead:
    """What a whole chunk held: the number of lines (or rows) it owns, for turning positions into lines."""

    lines: int = 0


# ---------------------------------------------------------------- finding files


def infer_format(path: str) -> str | None:
    name = path.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    return None


def find_input_files(
    patterns: list[str], fmt: str | None = None, exclude: str | Path | None = None, skipped: list[dict[str, str]] | None = None
) -> list[InputFile]:
    """Expand paths, directories and globs, in the order given (each sorted); a pattern matching nothing fails.

    Files under `exclude` (the run directory) are never input: skipped by directories and globs,
    refused when named. Directory walks skip names starting with '.' or '_', and files whose format
    the extension does not tell (without input.format); each file a walk skips is added to `skipped`
    with why, for the run's stats and console.
    """
    excluded = Path(exclude).resolve() if exclude is not None else None
    found: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if _GLOB_CHARS.search(expanded):
            matches = sorted(p for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
        elif os.path.isdir(expanded):
            root = Path(expanded)
            matches = []
            for p in sorted(root.rglob("*")):
                if not p.is_file() or (excluded is not None and p.resolve().is_relative_to(excluded)):
                    continue
                hidden = [part for part in p.relative_to(root).parts if part.startswith((".", "_"))]
                if hidden:
                    why = f"hidden: {hidden[0]!r} starts with {hidden[0][0]!r}"
                elif not (fmt or infer_format(p.name)):
                    why = "unknown extension (set input.format to read it)"
                else:
                    matches.append(str(p))
                    continue
                if skipped is not None:
                    skipped.append({"path": str(p), "why": why})
        elif os.path.isfile(expanded):
            if excluded is not None and Path(expanded).resolve().is_relative_to(excluded):
                raise InputError(f"input: {pattern} is inside the run directory; choose another output")
            matches = [expanded]
        else:
            raise InputError(f"input: no such file or directory: {pattern}")
        if excluded is not None:
            matches = [m for m in matches if not Path(m).resolve().is_relative_to(excluded)]
        if not matches:
            raise InputError(f"input: no files match {pattern!r}")
        for match in matches:
            key = os.path.realpath(match)
            if key not in seen:
                seen.add(key)
                found.append(match)

    absolute = [os.path.abspath(p) for p in found]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute])
    files = []
    for shown, path in zip(found, absolute):
        file_format = fmt or infer_format(path)
        if file_format is None:
            known = ", ".join(sorted(set(_SUFFIXES)))
            raise InputError(f"{shown}: cannot tell the format from the extension (known: {known}); set input.format")
        try:
            stat = os.stat(path)
            newline = _line_terminator(path, file_format) if file_format != "parquet" else b"\n"
        except OSError as err:
            raise InputError(f"{shown}: cannot read: {err.strerror}") from None
        files.append(InputFile(path, _display(shown), os.path.relpath(path, root), file_format, stat.st_size, stat.st_mtime_ns, newline))
    return files


_SNIFF = 1 << 16


def _line_terminator(path: str, file_format: str) -> bytes:
    """b"\r" when the file's first 64 kB hold a carriage return and no line feed (lines ending in a bare
    CR), else b"\n" (LF; CRLF reads as LF, the CR being JSON whitespace)."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF)
    if file_format not in ("jsonl", "json") and head:
        try:
            if file_format == "jsonl.gz":
                import zlib

                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SNIFF)
            else:
                import zstandard

                head = zstandard.ZstdDecompressor().decompressobj().decompress(head)[:_SNIFF]
        except Exception:  # corrupt: the reader reports it with its line
            return b"\n"
    return b"\r" if b"\r" in head and b"\n" not in head else b"\n"


def _display(path: str) -> str:
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return relative if not relative.startswith("..") else absolute


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


def _row_group_span(meta: object, groups: range) -> tuple[int, int]:
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


# ---------------------------------------------------------------- reading a chunk


def read_chunk(chunk: Chunk, options: ReadOptions, summary: ChunkRead, light: bool = False) -> Iterator[Batch]:
    """Valid (and, when quarantining, bad) records of a chunk, in parts of about `options.part_bytes`.

    `light` (Parquet): validate from the id column and row-group statistics, reading text only where
    they cannot tell; the parts are the same as a full read's, which is what later reads do.
    """
    try:
        if chunk.file.format == "parquet":
            yield from _read_parquet(chunk, options, summary, light)
        elif chunk.file.format == "jsonl":
            yield from _read_jsonl_range(chunk, options, summary)
        elif chunk.file.format == "json":
            yield from _read_json_list(chunk, options, summary)
        else:
            yield from _read_jsonl_stream(chunk, options, summary)
    except OSError as err:
        raise InputError(f"{chunk.file.display}: cannot read: {err.strerror or err}") from None


def _order(chunk: Chunk, local: np.ndarray) -> pl.Series:
    return pl.Series(ORDER, (chunk.index << ORDER_CHUNK_SHIFT) + local.astype(np.int64), dtype=pl.Int64)


def _read_jsonl_range(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
    newline = chunk.file.newline
    begin, data = _read_aligned(chunk.file.path, chunk.start, chunk.stop, chunk.file.size, newline)
    if newline != b"\n":
        data = data.replace(newline, b"\n")  # same length: offsets hold; a raw CR cannot be inside a JSON string
    summary.lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    if begin == 0 and data.startswith(_BOM):
        data = b"   " + data[3:]  # keep byte offsets; JSON allows leading whitespace
    prefix_lines: list[int] = []

    def line_of(local_line: int) -> int:
        if not prefix_lines:  # only for bad records: count the lines before the chunk once
            prefix_lines.append(_count_newlines(chunk.file.path, begin, newline))
        return prefix_lines[0] + local_line + 1

    yield from _split_parts(_parse_jsonl(data, begin, 0, chunk, options, line_of), options)


def _read_json_list(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
    """A `.json` file holding one JSON list of records (as MATH's and AIME's are published), read whole
    by one task (use JSONL for big inputs). Each element is checked as a JSONL line would be, so a
    bad element is quarantined on its own; its position is the line where it starts in the file."""
    display = chunk.file.display
    with open(chunk.file.path, "rb") as handle:
        raw = handle.read(chunk.file.size)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(f"{display}:{line}: not UTF-8 text (byte {err.start:,})") from None
    decoder = json.JSONDecoder()
    at = _skip_space(text, 0)
    if at == len(text):
        summary.lines = 0
        return
    if text[at] != "[":
        raise InputError(f"{display}:{text.count(chr(10), 0, at) + 1}: a .json input must hold one JSON list of records (it starts with {text[at]!r}); for one record per line name the file .jsonl")
    elements: list[bytes] = []
    starts: list[int] = []
    at = _skip_space(text, at + 1)
    while at < len(text) and text[at] != "]":
        try:
            _, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as err:
            raise InputError(f"{display}:{err.lineno}:{err.colno}: not a JSON list: {err.msg}") from None
        except RecursionError:
            raise InputError(f"{display}:{text.count(chr(10), 0, at) + 1}: an element nested too deeply to read") from None
        starts.append(at)
        # the element's own text, on one line (a raw line break in JSON is always whitespace): checked
        # exactly as a JSONL line (duplicate keys, NaN, huge integers), and kept as input_raw if bad
        elements.append(text[at:end].replace("\r", " ").replace("\n", " ").encode("utf-8"))
        at = _skip_space(text, end)
        if at < len(text) and text[at] == ",":
            at = _skip_space(text, at + 1)
            if at < len(text) and text[at] == "]":
                raise InputError(f"{display}:{text.count(chr(10), 0, at) + 1}: not a JSON list: a ',' before the closing ']'")
        elif at < len(text) and text[at] != "]":
            line = text.count("\n", 0, at) + 1
            raise InputError(f"{display}:{line}: not a JSON list: expected ',' or ']' after an element")
    if at >= len(text):
        raise InputError(f"{display}: not a JSON list: it ends before its closing ']' (truncated?)")
    rest = _skip_space(text, at + 1)
    if rest != len(text):
        raise InputError(f"{display}:{text.count(chr(10), 0, rest) + 1}: text after the JSON list's closing ']'")
    summary.lines = len(elements)
    if not elements:
        return
    bom = len(_BOM) if raw.startswith(_BOM) else 0
    byte_starts = np.array(_byte_offsets(text, starts), dtype=np.int64) + bom
    newlines = np.cumsum(np.frombuffer(raw, dtype=np.uint8) == 10)
    element_lines = [int(newlines[b - 1]) + 1 if b > 0 else 1 for b in byte_starts]
    data = b"\n".join(elements) + b"\n"
    yield from _split_parts(_parse_jsonl(data, 0, 0, chunk, options, lambda i: element_lines[i], positions=byte_starts), options)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _byte_offsets(text: str, starts: list[int]) -> list[int]:
    """UTF-8 byte offsets of character offsets (increasing), without encoding the text once per element."""
    out, byte, previous = [], 0, 0
    for start in starts:
        byte += len(text[previous:start].encode("utf-8"))
        out.append(byte)
        previous = start
    return out


_STREAM_READ = 1 << 20


def _read_jsonl_stream(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
    """Compressed JSONL cannot be split: decompress as a stream, parse in parts. A truncated or corrupt
    archive is an input error that says after which line it broke; it never ends the file silently."""
    display = chunk.file.display
    offset = line = 0  # of the data parsed so far
    pending: list[bytes] = []
    pending_size = pending_lines = 0
    blocks = _decompressed_blocks(chunk.file)
    while True:
        try:
            block = next(blocks, b"")
        except _Corrupt as err:
            raise InputError(f"{display}: {err} after line {line + pending_lines}") from None
        if chunk.file.newline != b"\n":
            block = block.replace(chunk.file.newline, b"\n")
        if block:
            pending.append(block)
            pending_size += len(block)
            pending_lines += block.count(b"\n")
            if pending_size < options.part_bytes:
                continue
        data = b"".join(pending)
        cut = len(data) if not block else data.rfind(b"\n") + 1
        if cut == 0 and block:  # no line ends yet: read on
            continue
        data, rest = data[:cut], data[cut:]
        pending, pending_size, pending_lines = ([rest], len(rest), 0) if rest else ([], 0, 0)
        if data:
            if offset == 0 and data.startswith(_BOM):
                data = b"   " + data[3:]
            first = line
            yield from _parse_jsonl(data, offset, first, chunk, options, lambda i: i + 1)
            offset += len(data)
            line += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if not block:
            break
    summary.lines = line


class _Corrupt(Exception):
    pass


class _Bounded(io.RawIOBase):
    """A file read no further than `size` bytes: a compressed input's bytes as the run planned them."""

    def __init__(self, path: str, size: int):
        self.handle, self.left = open(path, "rb"), size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: max(0, self.left)]
        count = self.handle.readinto(view) or 0
        self.left -= count
        return count

    def close(self) -> None:
        self.handle.close()
        super().close()


def _decompressed_blocks(file: InputFile) -> Iterator[bytes]:
    if file.format == "jsonl.gz":
        import zlib

        with io.BufferedReader(_Bounded(file.path, file.size)) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            while True:
                try:
                    block = stream.read(_STREAM_READ)
                except EOFError:
                    raise _Corrupt("truncated gzip data (the archive ends early)") from None
                except (gzip.BadGzipFile, zlib.error) as err:
                    raise _Corrupt(f"corrupt gzip data ({err})") from None
                if not block:
                    return
                yield block
    import zstandard

    with io.BufferedReader(_Bounded(file.path, file.size)) as handle:
        decompressor = None
        while raw := handle.read(_STREAM_READ):
            while raw:
                if decompressor is None or decompressor.eof:  # a file may hold several frames
                    decompressor = zstandard.ZstdDecompressor().decompressobj()
                try:
                    block = decompressor.decompress(raw)
                except zstandard.ZstdError as err:
                    raise _Corrupt(f"corrupt zstd data ({err})") from None
                if block:
                    yield block
                raw = decompressor.unused_data if decompressor.eof else b""
        if decompressor is not None and not decompressor.eof:
            raise _Corrupt("truncated zstd data (the archive ends early)")


def _read_aligned(path: str, start: int, stop: int, size: int, newline: bytes = b"\n") -> tuple[int, bytes]:
    """The bytes of the lines that start in [start, stop), and the offset of the first; never a byte
    past `size`, the file's size when the run planned its reads (a line appended since is not read)."""
    with open(path, "rb") as handle:
        if start > 0:
            handle.seek(start - 1)
            if handle.read(1) != newline:
                _rest_of_line(handle, size, newline)
        begin = handle.tell()
        if begin >= stop:
            return begin, b""
        data = handle.read(stop - begin)
        if data and not data.endswith(newline) and handle.tell() < size:
            data += _rest_of_line(handle, size, newline)
        return begin, data


def _rest_of_line(handle: Any, size: int, newline: bytes) -> bytes:
    """From the handle's position to its next line end (included), within the first `size` bytes."""
    limit = max(0, size - handle.tell())
    if newline == b"\n":
        return handle.readline(limit)
    parts: list[bytes] = []
    while limit > 0:
        block = handle.read(min(1 << 16, limit))
        if not block:
            break
        end = block.find(newline)
        if end >= 0:
            handle.seek(end + 1 - len(block), os.SEEK_CUR)
            parts.append(block[: end + 1])
            break
        parts.append(block)
        limit -= len(block)
    return b"".join(parts)


def _count_newlines(path: str, stop: int, newline: bytes = b"\n") -> int:
    count = 0
    with open(path, "rb") as handle:
        while stop > 0:
            block = handle.read(min(stop, 16 << 20))
            if not block:
                break
            count += block.count(newline)
            stop -= len(block)
    return count


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    if len(data) and data.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _record_lines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indexes of the lines that are not blank (JSON whitespace only)."""
    if not len(starts):
        return starts
    view = np.frombuffer(data, dtype=np.uint8)
    nonempty = ends > starts
    first = np.zeros(len(starts), dtype=np.uint8)
    first[nonempty] = view[starts[nonempty]]
    record = first == ord("{")
    for i in np.flatnonzero(~record & nonempty):
        record[i] = bool(data[starts[i] : ends[i]].strip(b" \t\r"))
    return np.flatnonzero(record)


def _parse_jsonl(
    data: bytes, offset: int, first_line: int, chunk: Chunk, options: ReadOptions, line_of: Callable[[int], int], positions: np.ndarray | None = None
) -> Iterator[Batch]:
    """`positions`: each line's position in its file, where that is not `offset` plus its place in
    `data` (a JSON list's elements, re-encoded one per line)."""
    starts, ends = _line_bounds(data)
    lines = _record_lines(data, starts, ends)
    if not len(lines):
        return
    records = _parse_fast(data, len(lines), options)
    bad = None
    if records is None:
        records, lines, bad = _parse_slow(data, starts, ends, lines, first_line, chunk, options, line_of)
    if records.height:
        at = offset + starts[lines] if positions is None else positions[lines]
        records = _finish_records(records, chunk, first_line + lines, at, options)
    yield Batch(records, bad)


def _parse_fast(data: bytes, expected: int, options: ReadOptions) -> pl.DataFrame | None:
    """The whole block at once, or None when anything needs a closer look."""
    try:
        text = data.decode("utf-8")
        frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:  # any parse problem: the slow path finds and names it
        return None
    if (b"\\ud" in data or b"\\uD" in data) and _LONE_HIGH_SURROGATE.search(data):
        return None
    if frame.height != expected:
        return None
    if pl.Series([text]).str.contains(_HUGE_NUMBER).item():  # Rust regex: ~5x Python's here
        return None
    if _any_too_deep(data, text):
        return None
    frame = _rename(frame, options)
    suspect = False
    for name in options.text_fields:
        if name not in frame.columns or frame[name].dtype != pl.String or frame[name].null_count():
            return None
        suspect = suspect or bool(frame[name].str.contains(_COERCED_LIKE).any())
    if options.id_field in frame.columns:
        ids = frame[options.id_field]
        if not (ids.dtype == pl.String or ids.dtype.is_integer() or ids.dtype == pl.Null):
            return None
        if options.id_explicit and ids.null_count():
            return None
        if ids.dtype == pl.String and bool(ids.str.starts_with(POSITION_ID_PREFIX).any()):
            return None
        # polars writes 7.0 or 1e3 beside string ids as "7" or "1000": any id written as a number with
        # a fraction or an exponent sends the chunk to the line-by-line check, which refuses it
        if _float_id_pattern(options).search(data):
            return None
        # polars turns a float, boolean, list or object beside string ids into text: those need a look
        suspect = suspect or (ids.dtype == pl.String and bool(ids.str.contains(_ID_COERCED_LIKE).any()))
    elif options.id_explicit:
        return None
    if suspect and not _typed_fields_hold(data, options):
        return None
    return frame


@functools.lru_cache(maxsize=16)
def _float_id_literal(name: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(json.dumps(name).encode()) + rb"\s*:\s*-?[0-9]+(?:\.|[eE])")


def _float_id_pattern(options: ReadOptions) -> re.Pattern[bytes]:
    back = {target: source for source, target in options.rename.items()}
    return _float_id_literal(back.get(options.id_field, options.id_field))


def _typed_fields_hold(data: bytes, options: ReadOptions) -> bool:
    """pyarrow's typed reader rejects a number, boolean, list or object where a string is declared;
    polars would have turned it into text. Ids may be strings or integers."""
    import pyarrow as pa
    import pyarrow.json as pj

    back = {target: source for source, target in options.rename.items()}
    names = [back.get(name, name) for name in options.text_fields]
    parse = pj.ParseOptions(explicit_schema=pa.schema([(n, pa.string()) for n in names]), unexpected_field_behavior="ignore")
    read = pj.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20))
    try:
        pj.read_json(io.BytesIO(data), parse_options=parse, read_options=read)
    except Exception:
        return False
    id_name = back.get(options.id_field, options.id_field)
    for id_type in (pa.string(), pa.int64()):
        try:  # all string, or all integer (with nulls) is fine; a mix of the two is checked line by line
            parse = pj.ParseOptions(explicit_schema=pa.schema([(id_name, id_type)]), unexpected_field_behavior="ignore")
            pj.read_json(io.BytesIO(data), parse_options=parse, read_options=read)
            return True
        except Exception:
            continue
    return False


def _rename(frame: pl.DataFrame, options: ReadOptions) -> pl.DataFrame:
    if options.rename:
        mapping = {k: v for k, v in options.rename.items() if k in frame.columns}
        _check_rename(mapping, frame.columns)
        frame = frame.rename(mapping)
    _check_reserved(frame.columns)
    return frame


def _check_reserved(names: list[str]) -> None:
    reserved = [n for n in names if n.startswith(_RESERVED_PREFIX)]
    if reserved:
        raise InputError(f"input field {reserved[0]!r}: names starting with {_RESERVED_PREFIX!r} are curate's own; rename it with input.rename")


def _check_rename(mapping: dict[str, str], columns: list[str]) -> None:
    for source, target in mapping.items():
        if target in columns and target not in mapping:
            raise InputError(f"input.rename: {source!r} -> {target!r}, but the input already has a field {target!r}")


class _Reject(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _Reject(f"{name} is not valid JSON")


class _Float(float):
    """A JSON number with a fraction or an exponent, as written (for messages about ids)."""

    literal: str


def _float(literal: str) -> float:
    value = _Float(literal)
    if math.isinf(value):
        raise _Reject(f"the number {literal[:40]} is beyond the range of a 64-bit float")
    value.literal = literal
    return value


def _first_wins(pairs: list[tuple[str, object]]) -> dict:
    """Duplicate keys keep the first value, as polars does."""
    result: dict = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


_JSON_TYPE = {bool: "a boolean", int: "a number", float: "a number", _Float: "a number", list: "a list", dict: "an object", type(None): "null"}


def _check_record(raw: bytes, options: ReadOptions) -> str | None:
    """What is wrong with one line, or None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"invalid UTF-8 (byte {err.start + 1} of the line)"
    if raw.count(b"[") + raw.count(b"{") > _MAX_DEPTH and _json_depth(raw) > _MAX_DEPTH:
        return f"nested deeper than {_MAX_DEPTH} levels"
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_float, object_pairs_hook=_first_wins)
    except _Reject as err:
        return f"malformed JSON: {err}"
    except json.JSONDecodeError as err:
        return f"malformed JSON: {err.msg} (column {err.colno})"
    except RecursionError:  # not reached with _MAX_DEPTH far below Python's limit; kept as a guard
        return f"nested deeper than {_MAX_DEPTH} levels"
    if not isinstance(obj, dict):
        return f"not a JSON object (found {_JSON_TYPE.get(type(obj), type(obj).__name__)})"
    if "\\ud" in text.lower():
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "unpaired UTF-16 surrogate escape (not valid Unicode)"
    if options.rename:
        _check_rename({k: v for k, v in options.rename.items() if k in obj}, list(obj))
        obj = {options.rename.get(k, k): v for k, v in obj.items()}
    _check_reserved(list(obj))
    for name in options.text_fields:
        if name not in obj:
            return f"missing text field {name!r}"
        value = obj[name]
        if not isinstance(value, str):
            return f"field {name!r} is {_JSON_TYPE.get(type(value), type(value).__name__)}, expected a string"
    id_value = obj.get(options.id_field)
    if id_value is None:
        if options.id_explicit:
            return f"missing id field {options.id_field!r}"
    elif isinstance(id_value, _Float):  # 7.0 is not 7: one rule, whatever the neighbouring records
        return f"id field {options.id_field!r} is {id_value.literal}, a number with a fraction or an exponent; ids are strings or integers"
    elif isinstance(id_value, bool) or not isinstance(id_value, (str, int)):
        return f"id field {options.id_field!r} is {_JSON_TYPE.get(type(id_value), type(id_value).__name__)}, expected a string or an integer"
    elif isinstance(id_value, str) and id_value.startswith(POSITION_ID_PREFIX):
        return f"id {id_value[:60]!r}: ids starting with {POSITION_ID_PREFIX!r} are reserved for quarantined records"
    return None


def _json_depth(raw: bytes) -> int:
    """Nesting depth of a JSON text, brackets inside strings not counted; no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _any_too_deep(data: bytes, text: str) -> bool:
    """Only lines with more than _MAX_DEPTH opening brackets can be too deep: counted in Rust, then exact."""
    if data.count(b"[") + data.count(b"{") <= _MAX_DEPTH:
        return False
    lines = pl.Series([text]).str.split("\n").explode()
    many = lines.str.count_matches(r"[\[{]") > _MAX_DEPTH
    return any(_json_depth(line.encode("utf-8")) > _MAX_DEPTH for line in lines.filter(many).to_list())


def _huge_ints_as_text(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if not -(2**127) <= value < 2**127 else value
    if isinstance(value, dict):
        return {k: _huge_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_huge_ints_as_text(v) for v in value]
    return value


def _parse_slow(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    lines: np.ndarray,
    first_line: int,
    chunk: Chunk,
    options: ReadOptions,
    line_of: Callable[[int], int],
) -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame | None]:
    good: list[int] = []
    bad_lines: list[int] = []
    errors: list[str] = []
    for index in lines.tolist():
        problem = _check_record(data[starts[index] : ends[index]], options)
        if problem is None:
            good.append(index)
            continue
        if not options.quarantine:
            where = f"{chunk.file.display}:{line_of(first_line + index)}"
            raise InputError(f"{where}: {problem} (set input.on_error: quarantine to route bad records to removed/)")
        bad_lines.append(index)
        errors.append(problem)
    records = _frame_of_good_lines([data[starts[i] : ends[i]] for i in good], chunk, options, lambda: line_of(first_line + good[0]))
    bad = None
    if bad_lines:
        numbers = [str(line_of(first_line + i)) for i in bad_lines]
        raws = [data[starts[i] : ends[i]].decode("utf-8", errors="backslashreplace") for i in bad_lines]
        bad = bad_records(chunk, options, numbers, errors, raws, first_line + np.asarray(bad_lines, dtype=np.int64))
    return records, np.asarray(good, dtype=np.int64), bad


def _frame_of_good_lines(lines: list[bytes], chunk: Chunk, options: ReadOptions, first_line: Callable[[], int]) -> pl.DataFrame:
    """The valid lines of a chunk, combined by the same parser as the fast path, so that types come out
    the same whichever path a chunk took. Lines holding integers beyond Int128 are re-encoded first,
    with those integers as text (under the file's own field names: renaming comes after)."""
    if not lines:
        return pl.DataFrame()
    lines = [
        json.dumps(_huge_ints_as_text(json.loads(line, object_pairs_hook=_first_wins)), ensure_ascii=False).encode("utf-8")
        if _HUGE_INT.search(line)
        else line
        for line in lines
    ]
    try:
        return _rename(pl.read_ndjson(io.BytesIO(b"\n".join(lines)), infer_schema_length=None), options)
    except InputError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{chunk.file.display}: records from line {first_line()} on cannot be combined ({first})") from None


def bad_records(
    chunk: Chunk, options: ReadOptions, where: list[str], errors: list[str], raws: list[str], local: np.ndarray
) -> pl.DataFrame:
    """Quarantined records: the id is the position (`relpath:line`), the record itself is kept in RAW."""
    return pl.DataFrame(
        {
            options.id_field: [f"{POSITION_ID_PREFIX}{chunk.file.relpath}:{w}" for w in where],
            ERROR: errors,
            SOURCE: [f"{chunk.file.display}:{w}" for w in where],
            RAW: raws,
            ORDER: _order(chunk, local),
        },
        schema={options.id_field: pl.String, ERROR: pl.String, SOURCE: pl.String, RAW: pl.String, ORDER: pl.Int64},
    )


def _finish_records(frame: pl.DataFrame, chunk: Chunk, local: np.ndarray, positions: np.ndarray, options: ReadOptions) -> pl.DataFrame:
    """Ids as strings (generated where absent) and the input position."""
    id_field = options.id_field
    if id_field in frame.columns and frame[id_field].dtype != pl.String:
        frame = frame.with_columns(pl.col(id_field).cast(pl.String))
    missing = frame[id_field].is_null() if id_field in frame.columns else None
    if missing is None or missing.any():
        generated = generate_ids(frame, chunk.file.relpath, positions, options.text_fields)
        if missing is None:
            frame = frame.with_columns(pl.Series(id_field, generated, dtype=pl.String))
        else:
            frame = frame.with_columns(pl.when(missing).then(pl.Series(generated)).otherwise(pl.col(id_field)).alias(id_field))
    return frame.with_columns(_order(chunk, local))


def generate_ids(frame: pl.DataFrame, relpath: str, positions: np.ndarray, text_fields: list[str]) -> list[str]:
    """80-bit blake2b of (file relative path, position in the file, text fields): stable across runs and
    machines, and unique even for identical records at different positions."""
    prefix = relpath.encode("utf-8") + b"\0"
    texts = frame.select(pl.concat_str([pl.col(f) for f in text_fields], separator="\0")).to_series().to_list() if text_fields else [""] * frame.height
    return [
        hashlib.blake2b(prefix + str(position).encode() + b"\0" + text.encode("utf-8"), digest_size=10).hexdigest()
        for position, text in zip(positions.tolist(), texts)
    ]


def _read_parquet(chunk: Chunk, options: ReadOptions, summary: ChunkRead, light: bool = False) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(chunk.file.path)
        groups = list(range(chunk.start, chunk.stop))
        size = sum(parquet.metadata.row_group(g).total_byte_size for g in groups)
        parts = max(1, math.ceil(size / options.part_bytes))  # from metadata: light and full reads agree
        if light:
            columns = _light_columns(parquet, groups, options)
            if columns is not None:
                table = parquet.read_row_groups(groups, columns=columns)
                batch = _validate_parquet(chunk, options, _rename(pl.from_arrow(table), options), quiet=True)
                if batch is not None:
                    summary.lines = table.num_rows
                    batch.schema = _parquet_schema(parquet, options)
                    yield from _split_rows(batch, parts)
                    return
        table = parquet.read_row_groups(groups)
        frame = _rename(pl.from_arrow(table), options)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{chunk.file.display}: cannot read Parquet row groups {chunk.start}-{chunk.stop - 1}: {err}") from None
    summary.lines = frame.height
    if frame.height:
        yield from _split_rows(_validate_parquet(chunk, options, frame, quiet=False), parts)


def _light_columns(parquet: object, groups: list[int], options: ReadOptions) -> list[str] | None:
    """The columns a light read needs (the id, and text only where statistics leave a null possible),
    or None when a full read is needed anyway (a text field missing or not a string)."""
    import pyarrow as pa

    schema = parquet.schema_arrow
    back = {target: source for source, target in options.rename.items()}
    id_name = back.get(options.id_field, options.id_field)
    columns = [id_name] if id_name in schema.names else []
    generated = not columns or _may_have_nulls(parquet, groups, id_name)
    for text_field in options.text_fields:
        name = back.get(text_field, text_field)
        if name not in schema.names:
            return None
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
            return None
        if generated or _may_have_nulls(parquet, groups, name):
            columns.append(name)
    return columns or [schema.names[0]]


def _may_have_nulls(parquet: object, groups: list[int], name: str) -> bool:
    metadata = parquet.metadata
    for group in groups:
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.path_in_schema == name:
                statistics = column.statistics
                if statistics is None or not statistics.has_null_count or statistics.null_count:
                    return True
                break
        else:
            return True
    return False


def _parquet_schema(parquet: object, options: ReadOptions) -> dict[str, pl.DataType]:
    """The schema a full read of this file gives its records (renamed, text as strings, ids, ORDER)."""
    empty = _rename(pl.from_arrow(parquet.schema_arrow.empty_table()), options)
    for name in options.text_fields:
        if isinstance(empty.schema.get(name), (pl.Categorical, pl.Enum)):
            empty = empty.with_columns(pl.col(name).cast(pl.String))
    dummy = Chunk(0, InputFile("", "", "", "parquet", 0, 0))
    return dict(_finish_records(empty, dummy, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), options).schema)


def _validate_parquet(chunk: Chunk, options: ReadOptions, frame: pl.DataFrame, quiet: bool) -> Batch | None:
    """Records checked and finished; bad ones raised or quarantined. `quiet`: return None at the first
    problem instead (a light read then reads everything, to report or quarantine exactly)."""
    local = np.arange(frame.height, dtype=np.int64)
    checks: list[pl.Expr] = []
    for name in options.text_fields:
        dtype = frame.schema.get(name)
        if dtype is None:
            if quiet:  # not read: statistics said it has no null
                continue
            checks.append(pl.lit(f"missing text field {name!r}"))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)):
            frame = frame.with_columns(pl.col(name).cast(pl.String))
            checks.append(pl.when(pl.col(name).is_null()).then(pl.lit(f"field {name!r} is null")))
        elif dtype != pl.String:
            checks.append(pl.lit(f"field {name!r} is {dtype}, expected a string"))
        else:
            checks.append(pl.when(pl.col(name).is_null()).then(pl.lit(f"field {name!r} is null")))
    id_field = options.id_field
    id_dtype = frame.schema.get(id_field)
    if id_dtype is not None and not (id_dtype == pl.String or id_dtype.is_integer() or id_dtype == pl.Null):
        checks.append(pl.lit(f"id field {id_field!r} is {id_dtype}, expected a string or an integer"))
    elif options.id_explicit:
        missing = pl.lit(True) if id_dtype is None else pl.col(id_field).is_null()
        checks.append(pl.when(missing).then(pl.lit(f"missing id field {id_field!r}")))
    if id_dtype == pl.String:
        reserved = f"ids starting with {POSITION_ID_PREFIX!r} are reserved for quarantined records"
        checks.append(pl.when(pl.col(id_field).str.starts_with(POSITION_ID_PREFIX)).then(pl.lit(f"id field {id_field!r}: {reserved}")))
    problem = pl.coalesce([*checks, pl.lit(None, pl.String)]).alias("__curate_problem")
    problems = frame.with_columns(problem).get_column("__curate_problem")  # with_columns broadcasts literals

    bad_mask = problems.is_not_null()
    bad = None
    if bad_mask.any():
        if quiet:
            return None
        bad_rows = np.flatnonzero(bad_mask.to_numpy())
        where = [f"row {r}" for r in (chunk.first_row + bad_rows + 1).tolist()]
        errors = problems.filter(bad_mask).to_list()
        if not options.quarantine:
            raise InputError(f"{chunk.file.display}:{where[0]}: {errors[0]} (set input.on_error: quarantine to route bad records to removed/)")
        bad = bad_records(chunk, options, where, errors, rows_as_json(frame.filter(bad_mask)), bad_rows)
        frame, local = frame.filter(~bad_mask), local[~bad_mask.to_numpy()]
    if frame.height:
        frame = _finish_records(frame, chunk, local, chunk.first_row + local, options)
    return Batch(frame, bad)


def _split_rows(batch: Batch, parts: int) -> Iterator[Batch]:
    """A batch in `parts` parts of equal row counts (the bad records go with the first)."""
    step = max(1, math.ceil(batch.records.height / parts))
    for part in range(parts):
        yield Batch(batch.records.slice(part * step, step), batch.bad if part == 0 else None, batch.schema)


def rows_as_json(frame: pl.DataFrame) -> list[str]:
    """Each row as one JSON line, for `input_raw`. Binary values become base64 text; types NDJSON
    cannot hold go through Python instead (polars panics on some, printing Rust's backtrace)."""
    binary = [name for name, dtype in frame.schema.items() if dtype == pl.Binary]
    if binary:
        frame = frame.with_columns(pl.col(name).bin.encode("base64") for name in binary)
    if any(_holds_binary(dtype) for dtype in frame.schema.values()):
        return [json.dumps(row, ensure_ascii=False, default=_jsonable) for row in frame.iter_rows(named=True)]
    try:
        return frame.write_ndjson().splitlines()
    except Exception:
        return [json.dumps(row, ensure_ascii=False, default=_jsonable) for row in frame.iter_rows(named=True)]


def _holds_binary(dtype: pl.DataType) -> bool:
    if dtype == pl.Binary:
        return True
    inner = getattr(dtype, "inner", None)
    if inner is not None:
        return _holds_binary(inner)
    fields = getattr(dtype, "fields", None)
    return any(_holds_binary(f.dtype) for f in fields) if fields else False


def _jsonable(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(bytes(value)).decode()
    return str(value)


def _split_parts(batches: Iterator[Batch], options: ReadOptions) -> Iterator[Batch]:
    """Cap the size of what a task holds and writes at once."""
    for batch in batches:
        size = batch.records.estimated_size() if batch.records.height else 0
        parts = max(1, math.ceil(size / options.part_bytes))
        if parts == 1:
            yield batch
            continue
        step = math.ceil(batch.records.height / parts)
        for part in range(parts):
            yield Batch(batch.records.slice(part * step, step), batch.bad if part == 0 else None)


# ---------------------------------------------------------------- schemas


def union_schema(schemas: list[dict[str, pl.DataType]]) -> dict[str, pl.DataType]:
    """Every column of any schema, in order of first appearance, each with the common supertype."""
    return dict(pl.concat([pl.DataFrame(schema=s) for s in schemas], how="diagonal_relaxed").schema) if schemas else {}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The frame with exactly `schema`'s columns and types: missing ones null, the rest cast to it."""
    if dict(frame.schema) == schema:
        return frame
    return pl.concat([pl.DataFrame(schema=schema), frame], how="diagonal_relaxed").select(list(schema))


# ---------------------------------------------------------------- writing


def write_parquet(frame: pl.DataFrame, path: str | Path, *, compression: str = "zstd") -> None:
    """Write, then rename into place: a reader (or a resumed run) never sees half a file. zstd at
    level 1: 1.7x faster to write than the default level 3, files 14% larger (measured on Gutenberg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    level = 1 if compression == "zstd" else None
    try:
        frame.write_parquet(temporary, compression=compression, compression_level=level, statistics=True)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # a full disk, say; a kill's leftovers are swept by the next run
        raise


def write_public(data: pl.DataFrame | pa.Table, path: str | Path, schema: pa.Schema | None = None) -> None:
    """A file users read (kept/, removed/, traces/, exports): written atomically like `write_parquet`,
    with Arrow's plain `string` and `list` types rather than polars' `large_` ones, which datasets 2.x
    cannot load, and with `schema` (columns missing from the data null) when one is given. Costs the
    same as polars' own writer or less (benchmarks/output_files.py)."""
    # one chunk first: polars' to_arrow of a frame of many chunks (a concat's) costs more than the write
    table = data.rechunk().to_arrow() if isinstance(data, pl.DataFrame) else data
    target = plain_schema(schema if schema is not None else table.schema)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(temporary, target, compression="zstd", compression_level=1) as writer:
            for part in _bounded_slices(table):
                writer.write_table(conform_table(part, target))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, in its order: missing ones null, the rest cast."""
    if table.schema == schema:
        return table
    columns = [
        table.column(field.name).cast(field.type) if field.name in table.column_names else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def common_schema(schemas: list[pa.Schema], last: tuple[str, ...] = ()) -> pa.Schema:
    """Every column of any of `schemas`, in order of first appearance (those named in `last` at the end),
    each with a type every file's column casts to (one that is all null in a file takes the others').
    Raises TypeError naming the column when two files disagree (a string in one, a number in another)."""
    if not schemas:
        return pa.schema([])
    try:
        unified = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as err:
        raise TypeError(str(err).strip().splitlines()[0]) from None
    names = [n for n in unified.names if n not in last] + [n for n in last if n in unified.names]
    return plain_schema(pa.schema([unified.field(n) for n in names]))


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with plain `string` and `list` wherever it has `large_string`, `string_view` or `large_list`."""
    return pa.schema([field.with_type(_plain_type(field.type)) for field in schema], metadata=schema.metadata)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_large_list(kind) or pa.types.is_list(kind) or pa.types.is_list_view(kind) or pa.types.is_large_list_view(kind):
        return pa.list_(kind.value_field.with_type(_plain_type(kind.value_type)))
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(kind.value_field.with_type(_plain_type(kind.value_type)), kind.list_size)
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(_plain_type(kind.field(i).type)) for i in range(kind.num_fields)])
    return kind


_SLICE_BYTES = 1 << 28  # plain string and list offsets are 32-bit: no slice comes near 2 GiB


def _bounded_slices(table: pa.Table) -> Iterator[pa.Table]:
    """Slices of at most about 256 MiB (a shard of whole books can pass 2 GiB of text)."""
    rows = table.num_rows
    step = max(1, rows * _SLICE_BYTES // max(1, table.nbytes)) if rows else 1
    if step >= rows:
        yield table
        return
    for start in range(0, rows, step):
        yield table.slice(start, step)


def write_json(data: object, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
