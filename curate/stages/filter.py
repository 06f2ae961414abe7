"""filter: keep the records for which a SQL boolean expression holds; remove the rest with a reason."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
from pydantic import field_validator

from curate.columns import DROP
from curate.stages.base import MapStage, StageParams

# A filter sees one batch at a time, so an expression over several records (an aggregate, a window,
# a row number) would give different answers for different batch sizes: refused.
_ACROSS_RECORDS = re.compile(
    r"(?<!\.list)(?<!\.arr)(?<!\.str)(?<!\.dt)(?<!\.bin)(?<!\.struct)"  # list.max() etc. work within one record
    r"\.(?:mean|sum|min|max|count|std|var|median|quantile|first|last|n_unique|over|rank|shift|diff|implode|mode|unique"
    r"|sort|sort_by|arg_min|arg_max|arg_sort|head|tail|reverse|gather|cum_\w+|rolling\w*|ewm_\w+|pct_change|null_count|len"
    r"|covariance|pearson_correlation|spearman_rank_correlation|any|all|any_ignore_nulls|all_ignore_nulls|product)\("
    r"|\b(?:len|int_range|cov|corr)\("
)
# Values for the check that an expression looks at one record at a time (see Filter.check_schema).
_SAMPLES: dict[pl.DataType, list[Any]] = {
    pl.String(): ["", "a", "bb ccc", "Ünïcode 12", "x" * 40, "  padded ", "7", "zz top"],
    pl.Boolean(): [True, False, True, True, False, None, False, True],
}


class FilterParams(StageParams):
    keep: str
    """A SQL boolean expression over one record's fields, e.g. "length(trim(text)) >= 20"; null removes."""
    reason: str = "filtered"
    """The reason given to every record this stage removes."""

    @field_validator("keep")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            expression = pl.sql_expr(value)
        except Exception as err:  # polars raises several types for bad SQL
            raise ValueError(f"not a valid SQL expression: {str(err).splitlines()[0]}") from None
        if _ACROSS_RECORDS.search(str(expression)):
            raise ValueError("must look at one record at a time: aggregates (avg, count, max, ...), windows (OVER) and row numbers depend on how records are batched")
        return value


class Filter(MapStage):
    use = "filter"
    Params = FilterParams
    params: FilterParams

    def reads(self) -> tuple[str, ...]:
        return tuple(pl.sql_expr(self.params.keep).meta.root_names())

    def reasons(self) -> tuple[str, ...]:
        return (self.params.reason,)

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        """A boolean, and the same answer for a record alone as among others; columns that earlier
        stages write have no known type yet, and are checked when the first batch runs."""
        if not set(self.reads()) <= set(schema):
            return
        expression = pl.sql_expr(self.params.keep).alias(DROP)
        dtype = pl.DataFrame(schema=schema).with_columns(expression).schema[DROP]
        if dtype not in (pl.Boolean, pl.Null):
            raise ValueError(f"keep expression {self.params.keep!r} gives {dtype}, not a boolean")
        sample = _sample(schema, self.reads())
        together = sample.with_columns(expression)[DROP].to_list()
        alone = [sample.slice(i, 1).with_columns(expression)[DROP][0] for i in range(sample.height)]
        if together != alone:
            raise ValueError(f"keep expression {self.params.keep!r} depends on other records (an aggregate or a window?): it must look at one record at a time")

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        keep = df.with_columns(pl.sql_expr(self.params.keep).alias(DROP)).get_column(DROP)  # broadcasts literals
        if keep.dtype not in (pl.Boolean, pl.Null):
            raise TypeError(f"keep expression {self.params.keep!r} gives {keep.dtype}, not a boolean")
        drop = pl.when(keep.fill_null(False)).then(None).otherwise(pl.lit(self.params.reason))
        return df.with_columns(drop.alias(DROP))


def _sample(schema: dict[str, pl.DataType], columns: tuple[str, ...]) -> pl.DataFrame:
    """Eight varied rows for the columns an expression reads; types without samples are null."""
    data = {}
    for column in columns:
        dtype = schema[column]
        if dtype in _SAMPLES:
            data[column] = pl.Series(column, _SAMPLES[dtype], dtype=dtype)
        elif dtype.is_numeric():
            data[column] = pl.Series(column, [0, 3, -2, 7, 1, 100, 5, 2]).cast(dtype, strict=False)
        else:
            data[column] = pl.Series(column, [None] * 8, dtype=dtype)
    return pl.DataFrame(data)
