"""Finding input: paths, directories and globs expanded into `InputFile`s, each with its format (from
the extension, or input.format), size, modification time and line terminator, and the path as the user
sees it, for messages."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

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
            directory = Path(expanded)
            matches = []
            for p in sorted(directory.rglob("*")):
                if not p.is_file() or (excluded is not None and p.resolve().is_relative_to(excluded)):
                    continue
                hidden = [part for part in p.relative_to(directory).parts if part.startswith((".", "_"))]
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
