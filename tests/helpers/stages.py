"""Stages used by tests through `use: tests.helpers.stages:NAME` (a custom stage type from YAML)."""

from __future__ import annotations

import os
import time

import polars as pl

from curate.columns import DROP, DROP_DUPLICATE_OF, ID, KEY, ORDER
from curate.stages.base import GroupStage, MapStage, StageParams


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

    def reasons(self) -> tuple[str, ...]:
        return ("has_drop",)

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


class OnePerAnswer(GroupStage):
    """The README's group-stage example: keep the first record (in input order) of each answer."""

    def reads(self) -> tuple[str, ...]:
        return ("answer",)

    def reasons(self) -> tuple[str, ...]:
        return ("same_answer",)

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.select(pl.col("answer").hash().alias(KEY), ORDER, ID)

    def reduce(self, keys: pl.DataFrame) -> pl.DataFrame:
        ranked = keys.sort(ORDER).with_columns(pl.col(ID).first().over(KEY).alias(DROP_DUPLICATE_OF), pl.int_range(pl.len()).over(KEY).alias("rank"))
        later = ranked.filter(pl.col("rank") > 0)
        return later.select(ORDER, pl.lit("same_answer").alias(DROP), DROP_DUPLICATE_OF)


class ForgetsReason(OnePerAnswer):
    """Returns decisions without DROP: the run must say so, naming the stage, where decide returns."""

    def reduce(self, keys: pl.DataFrame) -> pl.DataFrame:
        return super().reduce(keys).drop(DROP)


class UndeclaredReason(MapStage):
    def reasons(self) -> tuple[str, ...]:
        return ("too_long",)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(pl.lit("too_short").alias(DROP))


class ManyReasons(MapStage):
    """Removes every record for a reason of its own (`bucket:<n>`), and scores it: a report's worst case."""

    def writes(self) -> tuple[str, ...]:
        return ("many_score",)

    def reasons(self) -> tuple[str, ...]:
        return ("bucket:<n>",)

    def histograms(self) -> dict[str, list[float]]:
        return {"many_score": [0.0, 0.5, 1.0]}

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        order = pl.col(ORDER).cast(pl.Int64)
        return df.with_columns((order % 997 / 997).alias("many_score"), (pl.lit("bucket:") + (order % 3000).cast(pl.String)).alias(DROP))
