"""Reading Parquet chunks: a chunk's row groups checked as columns (text fields strings and not null,
ids strings or integers), bad rows raised or quarantined, in parts of equal row counts; and the light
read, which checks from the id column and row-group statistics, reading text only where they cannot
tell."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

from curate.errors import InputError
from curate.io.chunks import Chunk
from curate.io.discovery import InputFile
from curate.io.ids import POSITION_ID_PREFIX, bad_records, finish_records, rows_as_json
from curate.io.records import Batch, ChunkRead, ReadOptions, rename


def read_parquet(chunk: Chunk, options: ReadOptions, summary: ChunkRead, light: bool = False) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(chunk.file.path)
        groups = list(range(chunk.start, chunk.stop))
        size = sum(parquet.metadata.row_group(g).total_byte_size for g in groups)
        parts = max(1, math.ceil(size / options.part_bytes))  # from metadata: light and full reads agree
        if light:
            columns = _light_columns(parquet, groups, options)
            if columns is not None:
                read = _row_groups(parquet, chunk, groups, columns)
                batch = _validate_parquet(chunk, options, rename(read, options), quiet=True)
                if batch is not None:
                    summary.lines = read.height
                    batch.schema = _parquet_schema(parquet, options)
                    yield from _split_rows(batch, parts)
                    return
        frame = rename(_row_groups(parquet, chunk, groups), options)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{chunk.file.display}: cannot read Parquet row groups {chunk.start}-{chunk.stop - 1}: {err}") from None
    summary.lines = frame.height
    batch = _validate_parquet(chunk, options, frame, quiet=False) if frame.height else None
    if batch is not None:  # (a full read returns a batch, or raises)
        yield from _split_rows(batch, parts)


def _light_columns(parquet: pq.ParquetFile, groups: list[int], options: ReadOptions) -> list[str] | None:
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


def _may_have_nulls(parquet: pq.ParquetFile, groups: list[int], name: str) -> bool:
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


def _parquet_schema(parquet: pq.ParquetFile, options: ReadOptions) -> dict[str, pl.DataType]:
    """The schema a full read of this file gives its records (renamed, text as strings, ids, ORDER)."""
    empty = rename(_frame(parquet.schema_arrow.empty_table()), options)
    for name in options.text_fields:
        if isinstance(empty.schema.get(name), (pl.Categorical, pl.Enum)):
            empty = empty.with_columns(pl.col(name).cast(pl.String))
    dummy = Chunk(0, InputFile("", "", "", "parquet", 0, 0))
    return dict(finish_records(empty, dummy, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), options).schema)


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
        frame = finish_records(frame, chunk, local, chunk.first_row + local, options)
    return Batch(frame, bad)


def _split_rows(batch: Batch, parts: int) -> Iterator[Batch]:
    """A batch in `parts` parts of equal row counts (the bad records go with the first)."""
    step = max(1, math.ceil(batch.records.height / parts))
    for part in range(parts):
        yield Batch(batch.records.slice(part * step, step), batch.bad if part == 0 else None, batch.schema)


def _row_groups(parquet: pq.ParquetFile, chunk: Chunk, groups: list[int], columns: list[str] | None = None) -> pl.DataFrame:
    """The chunk's row groups (`columns` of them), read by polars: a third to a quarter of the CPU of
    pyarrow's reader and the conversion after it (benchmarks/near_dedup_scale.py reads each shard
    several times). Where polars would give other types than pyarrow's reader (the schema a run
    promises its records, `_parquet_schema`), or cannot read the file, pyarrow reads it as before."""
    expected = _frame(parquet.schema_arrow.empty_table())
    if columns is not None:
        expected = expected.select(columns)
    rows = sum(parquet.metadata.row_group(g).num_rows for g in groups)
    try:
        scan = pl.scan_parquet(chunk.file.path)
        frame = (scan.select(columns) if columns is not None else scan).slice(chunk.first_row, rows).collect()
    except Exception:  # polars refuses what pyarrow reads (some nested or legacy types): pyarrow's way
        frame = None
    if frame is not None and frame.height == rows and frame.schema == expected.schema:
        return frame
    return _frame(parquet.read_row_groups(groups, columns=columns))


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a table, not a column
    return frame
