"""exact_dedup: remove records whose normalised field equals that of an earlier record (input order)."""

from __future__ import annotations

import polars as pl

from curate.columns import DROP, DROP_DUPLICATE_OF, ID, KEY, ORDER
from curate.stages.base import GroupStage, StageParams
from curate.text.normalize import Normalize, normalized_hashes

_SECOND_HASH = "hash2"
# Two independently seeded 64-bit hashes: a false duplicate needs both to collide (~n^2 / 2^129).
_SEEDS = (0x5EED_0001, 0x5EED_0002)


class ExactDedupParams(StageParams):
    field: str = "text"
    """The text field compared."""
    normalize: Normalize = Normalize()
    """NFKC, case folding and whitespace collapsing before hashing; each can be turned off."""


class ExactDedup(GroupStage):
    use = "exact_dedup"
    keys_per_record = True
    Params = ExactDedupParams
    params: ExactDedupParams

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def reasons(self) -> tuple[str, ...]:
        return ("exact_duplicate",)

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        first, second = normalized_hashes(df[self.params.field], self.params.normalize, _SEEDS)
        return pl.DataFrame({KEY: first, _SECOND_HASH: second, ORDER: df[ORDER], ID: df[ID]})

    def reduce(self, keys: pl.DataFrame) -> pl.DataFrame:
        group = [KEY, _SECOND_HASH]
        return (
            keys.sort(ORDER)
            .with_columns(
                pl.col(ID).first().over(group).alias(DROP_DUPLICATE_OF),
                (pl.int_range(pl.len()).over(group) > 0).alias("_later"),
            )
            .filter(pl.col("_later"))
            .select(ORDER, pl.lit("exact_duplicate").alias(DROP), DROP_DUPLICATE_OF)
        )
