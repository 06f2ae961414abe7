"""Stages used by tests through `use: tests.helpers.stages:NAME` (a custom stage type from YAML)."""

from __future__ import annotations

import os
import time

import polars as pl

from curate.columns import DROP, ORDER
from curate.stages.base import MapStage, StageParams


class SlowParams(StageParams):
    seconds: float = 0.2


class Slow(MapStage):
    """Sleeps per batch and logs which shard it saw to $SLOW_LOG: shows whether work was redone."""

    Params = SlowParams
    params: SlowParams

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        time.sleep(self.params.seconds)
        log = os.environ.get("SLOW_LOG")
        if log and df.height:
            with open(log, "a") as handle:
                handle.write(f"{df[ORDER][0]}\n")
        return df


class Shout(MapStage):
    """Adds a column: upper-cased text; drops records whose text has 'drop'."""

    use = "shout"

    def writes(self) -> tuple[str, ...]:
        return ("shout",)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(
            pl.col("text").str.to_uppercase().alias("shout"),
            pl.when(pl.col("text").str.contains("drop")).then(pl.lit("has_drop")).otherwise(None).alias(DROP),
        )


class LosesRows(MapStage):
    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.head(max(0, df.height - 1))


class UndeclaredColumn(MapStage):
    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(pl.lit(1).alias("surprise"))


class Crashes(MapStage):
    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        raise ValueError("boom")


class WordCount(MapStage):
    """Scores only: the number of words, in `n_words`."""

    def writes(self) -> tuple[str, ...]:
        return ("n_words",)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(pl.col("text").str.count_matches(r"\S+").cast(pl.Int64).alias("n_words"))
