"""filter: keep the records for which a SQL boolean expression holds; remove the rest with a reason."""

from __future__ import annotations

import polars as pl
from pydantic import field_validator

from curate.columns import DROP
from curate.stages.base import MapStage, StageParams


class FilterParams(StageParams):
    keep: str
    """A SQL boolean expression over the record's fields, e.g. "length(trim(text)) >= 20"; null removes."""
    reason: str = "filtered"
    """The reason given to every record this stage removes."""

    @field_validator("keep")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            pl.sql_expr(value)
        except Exception as err:  # polars raises several types for bad SQL
            raise ValueError(f"not a valid SQL expression: {str(err).splitlines()[0]}") from None
        return value


class Filter(MapStage):
    use = "filter"
    Params = FilterParams
    params: FilterParams

    def reads(self) -> tuple[str, ...]:
        return tuple(pl.sql_expr(self.params.keep).meta.root_names())

    def reasons(self) -> tuple[str, ...]:
        return (self.params.reason,)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        keep = df.with_columns(pl.sql_expr(self.params.keep).alias(DROP)).get_column(DROP)  # broadcasts literals
        if keep.dtype != pl.Boolean:
            raise TypeError(f"keep expression {self.params.keep!r} gives {keep.dtype}, not a boolean")
        drop = pl.when(keep.fill_null(False)).then(None).otherwise(pl.lit(self.params.reason))
        return df.with_columns(drop.alias(DROP))
