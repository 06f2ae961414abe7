"""keep_top: keep the records with the highest values of a score column (the top `percent` of the
input), e.g. a classifier's quality score; remove the rest with reason `below_top_percent`.

A corpus-wide quantile, computed without gathering the scores: per-partition counts, then a histogram
over the score range, then the distinct values inside the one bin where the cut falls, each summed on
the driver. The cut is exact: the k-th highest score, k = ceil(percent x records). Records tied with it
are all kept, so slightly more than k may stay; records without a score (null, NaN) go first.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import polars as pl
from pydantic import Field

from curate.columns import DROP, DROP_DUPLICATE_OF, KEY, ORDER
from curate.engine import Dataset, Engine
from curate.stages.base import GroupStage, StageParams

REASON = "below_top_percent"
_SCORE = "__curate_score"
_BINS = 4096


class KeepTopParams(StageParams):
    column: str
    """A numeric score column that an earlier stage wrote (or an input field)."""
    percent: float = Field(gt=0.0, le=100.0)
    """Share of the stage's input to keep."""


class KeepTop(GroupStage):
    use = "keep_top"
    Params = KeepTopParams
    params: KeepTopParams

    def reads(self) -> tuple[str, ...]:
        return (self.params.column,)

    def reasons(self) -> tuple[str, ...]:
        return (REASON,)

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        column = self.params.column
        if column in schema and not schema[column].is_numeric():
            raise ValueError(f"column {column!r} must be numeric, not {schema[column]}")

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        score = pl.col(self.params.column).cast(pl.Float64)
        return df.select(pl.col(ORDER).hash().alias(KEY), ORDER, pl.when(score.is_nan()).then(None).otherwise(score).alias(_SCORE))

    def decide(self, engine: Engine, keys: dict[str, Dataset]) -> Dataset:
        scores = keys["keys"]
        summary, _ = engine.reduce("summary", [scores], summarize, partitions=1, by="one")
        totals = engine.collect(summary)
        records = int(totals["records"].sum()) if totals.height else 0
        scored = int(totals["scored"].sum()) if totals.height else 0
        keep = math.ceil(records * self.params.percent / 100)
        if scored == 0 or keep >= records:
            cut = -math.inf if keep >= records and scored == records else None
        else:
            low, high = totals["low"].min(), totals["high"].max()
            assert isinstance(low, float) and isinstance(high, float)  # Float64 columns, and some record is scored
            histogram, _ = engine.reduce("histogram", [scores], partial(bin_counts, low=low, high=high), partitions=1, by="one")
            counts = engine.collect(histogram).group_by("bin").agg(pl.col("n").sum())
            dense = np.zeros(_BINS, dtype=np.int64)
            dense[counts["bin"].to_numpy()] = counts["n"].to_numpy()
            above = np.cumsum(dense[::-1])[::-1]  # records at or above each bin
            target = min(keep, scored)
            cut_bin = int(np.nonzero(above >= target)[0].max())
            higher = int(above[cut_bin + 1]) if cut_bin + 1 < _BINS else 0
            values, _ = engine.reduce("cut-bin", [scores], partial(values_in_bin, low=low, high=high, target=cut_bin), partitions=1, by="one")
            distinct = engine.collect(values).group_by(_SCORE).agg(pl.col("n").sum()).sort(_SCORE, descending=True)
            reached = distinct.with_columns((pl.col("n").cum_sum() + higher).alias("kept")).filter(pl.col("kept") >= target)
            cut = float(reached[_SCORE][0])
        engine.report(keep_target=keep, **({"cut": cut} if cut is not None and math.isfinite(cut) else {}))
        decisions, _ = engine.reduce("decisions", [scores], partial(below, cut=cut))
        return decisions


def _bin(score: pl.Expr, low: float, high: float) -> pl.Expr:
    width = (high - low) / _BINS if high > low else 1.0
    return ((score - low) / width).floor().clip(0, _BINS - 1).cast(pl.Int64)


def summarize(scores: pl.DataFrame) -> pl.DataFrame:
    valid = scores[_SCORE].drop_nulls()
    return pl.DataFrame({"one": [0], "records": [scores.height], "scored": [len(valid)], "low": [valid.min() if len(valid) else None], "high": [valid.max() if len(valid) else None]},
                        schema={"one": pl.Int64, "records": pl.Int64, "scored": pl.Int64, "low": pl.Float64, "high": pl.Float64})


def bin_counts(scores: pl.DataFrame, low: float, high: float) -> pl.DataFrame:
    return scores.drop_nulls(_SCORE).group_by(_bin(pl.col(_SCORE), low, high).alias("bin")).agg(pl.len().cast(pl.Int64).alias("n")).with_columns(pl.lit(0).alias("one"))


def values_in_bin(scores: pl.DataFrame, low: float, high: float, target: int) -> pl.DataFrame:
    inside = scores.drop_nulls(_SCORE).filter(_bin(pl.col(_SCORE), low, high) == target)
    return inside.group_by(_SCORE).agg(pl.len().cast(pl.Int64).alias("n")).with_columns(pl.lit(0).alias("one"))


def below(scores: pl.DataFrame, cut: float | None) -> pl.DataFrame:
    """The records to remove: below the cut, or without a score."""
    score = pl.col(_SCORE)
    drop = score.is_null() if cut is None else (score.is_null() | (score < cut))
    return scores.filter(drop).select(ORDER, pl.lit(REASON).alias(DROP), pl.lit(None, pl.String).alias(DROP_DUPLICATE_OF))
