"""Reading JSONL chunks, handed to `parse` as lines: a byte range of a plain file (whole lines, never
past the size the run planned), a compressed file as a stream (gzip or zstd; a truncated or corrupt
archive is an input error), and a `.json` file holding one list of records. Bare-CR lines read as LF, a
leading BOM as whitespace; each line keeps its position in the file, for messages and ids."""

from __future__ import annotations

import gzip
import io
import json
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from curate.errors import InputError
from curate.io.chunks import Chunk
from curate.io.discovery import InputFile
from curate.io.parse import parse_jsonl
from curate.io.records import Batch, ChunkRead, ReadOptions

_BOM = b"\xef\xbb\xbf"


def read_jsonl_range(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
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

    yield from _split_parts(parse_jsonl(data, begin, 0, chunk, options, line_of), options)


def read_json_list(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
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
    yield from _split_parts(parse_jsonl(data, 0, 0, chunk, options, lambda i: element_lines[i], positions=byte_starts), options)


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


def read_jsonl_stream(chunk: Chunk, options: ReadOptions, summary: ChunkRead) -> Iterator[Batch]:
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
            yield from parse_jsonl(data, offset, first, chunk, options, lambda i: i + 1)
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

        with io.BufferedReader(_Bounded(file.path, file.size)) as compressed, gzip.GzipFile(fileobj=compressed, mode="rb") as stream:  # type: ignore[type-var]  # typeshed wants a RawIOBase with readinto typed its way
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

    with io.BufferedReader(_Bounded(file.path, file.size)) as handle:  # type: ignore[type-var]  # as above
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
