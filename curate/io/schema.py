"""Schemas across chunks, shards and files: polars' (`union_schema`, `conform`) for the records a run
works on, Arrow's (`common_schema`, `plain_schema`, `conform_table`) for the files users read, with plain
`string` and `list` types rather than `large_` ones."""

from __future__ import annotations

import polars as pl
import pyarrow as pa


def union_schema(schemas: list[dict[str, pl.DataType]]) -> dict[str, pl.DataType]:
    """Every column of any schema, in order of first appearance, each with the common supertype."""
    return dict(pl.concat([pl.DataFrame(schema=s) for s in schemas], how="diagonal_relaxed").schema) if schemas else {}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The frame with exactly `schema`'s columns and types: missing ones null, the rest cast to it."""
    if dict(frame.schema) == schema:
        return frame
    return pl.concat([pl.DataFrame(schema=schema), frame], how="diagonal_relaxed").select(list(schema))


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, in its order: missing ones null, the rest cast."""
    if table.schema == schema:
        return table
    columns = [
        _cast(table.column(field.name), field.type) if field.name in table.column_names else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _cast(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """Cast only when the type differs: pyarrow 26 corrupts a list-of-null column cast to its own type
    (its offsets then overrun the values), which an all-null list field of the input has."""
    return column if column.type == to else column.cast(to)


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
