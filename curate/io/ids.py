"""Who a record is and where it came from: ids as strings, generated from the file, the position and the
text where the input has none; `ORDER` = chunk << 36 | line (or row) within the chunk, so sorting by it
is input order, and a position can be turned back into `file:line`; and quarantined records, whose id
is their position (`POSITION_ID_PREFIX`) and which keep the record itself as JSON text (`rows_as_json`)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl

from curate.columns import ERROR, ORDER, ORDER_CHUNK_SHIFT, RAW, SOURCE
from curate.io.chunks import Chunk
from curate.io.records import ReadOptions

POSITION_ID_PREFIX = "@input:"
"""A quarantined record's id is its position, `@input:relpath:line` (or `:row N`). Real ids may not
start with the prefix (such a record is bad input itself), so the two can never clash."""


def _order(chunk: Chunk, local: np.ndarray) -> pl.Series:
    return pl.Series(ORDER, (chunk.index << ORDER_CHUNK_SHIFT) + local.astype(np.int64), dtype=pl.Int64)


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


def finish_records(frame: pl.DataFrame, chunk: Chunk, local: np.ndarray, positions: np.ndarray, options: ReadOptions) -> pl.DataFrame:
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
