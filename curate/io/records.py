"""What reading a chunk takes and gives, for every reader: `ReadOptions`, `Batch` (valid and
quarantined records) and `ChunkRead` (what the whole chunk held); and the rules on field names every
reader applies: input.rename, and names starting with `__curate_`, which are curate's own."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from curate.errors import InputError

_RESERVED_PREFIX = "__curate_"


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


def rename(frame: pl.DataFrame, options: ReadOptions) -> pl.DataFrame:
    if options.rename:
        mapping = {k: v for k, v in options.rename.items() if k in frame.columns}
        check_rename(mapping, frame.columns)
        frame = frame.rename(mapping)
    check_reserved(frame.columns)
    return frame


def check_reserved(names: list[str]) -> None:
    reserved = [n for n in names if n.startswith(_RESERVED_PREFIX)]
    if reserved:
        raise InputError(f"input field {reserved[0]!r}: names starting with {_RESERVED_PREFIX!r} are curate's own; rename it with input.rename")


def check_rename(mapping: dict[str, str], columns: list[str]) -> None:
    for source, target in mapping.items():
        if target in columns and target not in mapping:
            raise InputError(f"input.rename: {source!r} -> {target!r}, but the input already has a field {target!r}")
