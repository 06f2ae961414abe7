"""minhash_dedup: remove near-duplicates found by MinHash LSH; keep one record per cluster.

keys: per record, its signature cut into LSH band keys (and, to verify, its shingle set). decide:
records sharing a band key are linked to the best of them (a star per bucket); optionally each link is
kept only if the true Jaccard of the two shingle sets reaches the threshold; connected components of
the links are clusters, and every record but the cluster's best is removed as `near_duplicate`, with
`duplicate_of` the kept one. "Best" is the keep policy: first in input order, longest, or the largest
value of a column, ties to the first.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.answers.verifier import normalise
from curate.columns import DROP, DROP_DUPLICATE_OF, ID, KEY, ORDER
from curate.engine import Dataset, Engine
from curate.graph import EDGE_SCHEMA, both_ways, connected_components
from curate.stages.base import WARM_UP_TEXTS, GroupStage, StageParams
from curate.text.minhash import MinHasher, band_keys, optimal_bands_rows
from curate.text.normalize import NUMBER, Normalize

REASON = "near_duplicate"
_PRIORITY = "__curate_priority"


class MinHashDedupParams(StageParams):
    field: str = "text"
    """The text field compared."""
    tokenize: Literal["words", "chars"] = "words"
    """Shingles of words (split at whitespace) or of characters."""
    ngram: int = Field(5, ge=1, le=64)
    """Tokens per shingle. A text with fewer tokens is one shingle of all of them."""
    normalize: Normalize = Normalize()
    """As for exact_dedup: NFKC, case folding, whitespace."""
    num_perm: int = Field(128, ge=2, le=4096)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    """The Jaccard similarity from which two records are duplicates."""
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    """LSH bands x rows; by default chosen from the threshold to minimise false positives and negatives."""
    seed: int = Field(1, ge=0, lt=2**32)
    keep: str = "first"
    """first (input order), longest, or max:<column> (e.g. a quality score); ties go to the first."""
    verify_jaccard: bool = False
    """Link two candidates only if the true Jaccard of their shingle sets reaches the threshold."""
    apart_numbers: bool = False
    """Never link two records whose texts hold different numbers (as multisets): for math problems,
    `f(-7)` and `f(3)` are two problems however alike their words."""
    apart_field: str | None = None
    """Never link two records whose values of this field differ (the reference answer, say), compared
    as verify compares answers before math-verify (`\\dfrac{1}{2}` and `$\\frac{1}{2}$` are equal)."""
    write_clusters: bool = False
    """Also write OUT/clusters/: cluster (the kept record's id) -> member ids."""

    @field_validator("keep")
    @classmethod
    def _keep_policy(cls, value: str) -> str:
        if value in ("first", "longest") or (value.startswith("max:") and len(value) > 4):
            return value
        raise ValueError("use first, longest, or max:<column>")

    @model_validator(mode="after")
    def _bands_and_rows(self) -> MinHashDedupParams:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class MinHashDedup(GroupStage):
    use = "minhash_dedup"
    keys_per_record = True
    Params = MinHashDedupParams
    params: MinHashDedupParams

    @property
    def hasher(self) -> MinHasher:
        p = self.params
        return MinHasher(p.tokenize, p.ngram, p.normalize, p.num_perm, p.seed)

    @property
    def bands_rows(self) -> tuple[int, int]:
        if self.params.bands is not None and self.params.rows is not None:
            return self.params.bands, self.params.rows
        return optimal_bands_rows(self.params.threshold, self.params.num_perm)

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def reads(self) -> tuple[str, ...]:
        column = self.params.keep[4:] if self.params.keep.startswith("max:") else None
        extra = [c for c in (column, self.params.apart_field) if c and c != self.params.field]
        return (self.params.field, *dict.fromkeys(extra))

    def reasons(self) -> tuple[str, ...]:
        return (REASON,)

    def describe(self) -> dict[str, Any]:
        bands, rows = self.bands_rows
        return {**super().describe(), "bands": bands, "rows": rows}

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        if self.params.keep.startswith("max:"):
            column = self.params.keep[4:]
            if column in schema and not schema[column].is_numeric():
                raise ValueError(f"keep: max:{column} needs a numeric column, not {schema[column]}")

    def warm_up(self) -> None:
        texts = pl.Series(WARM_UP_TEXTS)
        signatures, _ = self.hasher.signatures(texts)
        band_keys(signatures, *self.bands_rows)
        if self.params.verify_jaccard:
            self.hasher.shingle_sets(texts)

    # ------------------------------------------------------------ per shard

    def keys(self, df: pl.DataFrame) -> dict[str, pl.DataFrame]:
        text = df[self.params.field]
        signatures, shingles = self.hasher.signatures(text)
        signed = shingles > 0  # a record without a single token can only be an exact duplicate
        bands, rows = self.bands_rows
        keys = band_keys(signatures[signed], bands, rows)
        guard = self._guard(df)
        if guard is not None:  # records told apart never share a bucket, so are never linked
            keys = keys ^ (guard[signed][:, None] * np.uint64(0x9E3779B97F4A7C15))
        records = df.filter(pl.Series(signed)).select(ORDER, ID, self._priority(df).filter(pl.Series(signed)).alias(_PRIORITY))
        repeat = np.repeat(np.arange(records.height), bands)
        out = {
            "keys": pl.DataFrame({KEY: keys.ravel()}).hstack(records[repeat] if records.height else records.clear()),
        }
        if self.params.verify_jaccard:
            sets = self.hasher.shingle_sets(text.filter(pl.Series(signed)))
            out["sets"] = records.select(pl.col(ORDER).hash().alias(KEY), ORDER).with_columns(sets)
        return out

    def _guard(self, df: pl.DataFrame) -> np.ndarray | None:
        """Per record, a hash of what must be equal for two records to be duplicates, or None."""
        p = self.params
        parts = []
        if p.apart_numbers:
            parts.append(df[p.field].str.extract_all(NUMBER).list.sort().list.join(" "))
        if p.apart_field:  # compared as verify's exact-match fast path compares answers (`\\dfrac` = `\\frac`, no `$`)
            values = df[p.apart_field].cast(pl.String).to_list()
            parts.append(pl.Series([normalise(v) if v is not None else "\0" for v in values], dtype=pl.String))
        if not parts:
            return None
        return pl.DataFrame({f"part{i}": part for i, part in enumerate(parts)}).hash_rows(seed=7).to_numpy().astype(np.uint64)

    def _priority(self, df: pl.DataFrame) -> pl.Series:
        """Smaller is kept: 0 for first, minus the length, or minus the column's value (null: last)."""
        keep = self.params.keep
        if keep == "first":
            return pl.Series(_PRIORITY, np.zeros(df.height))
        if keep == "longest":
            return (-df[self.params.field].str.len_chars().cast(pl.Float64)).alias(_PRIORITY)
        return (-df[keep[4:]].cast(pl.Float64)).fill_null(float("inf")).fill_nan(float("inf")).alias(_PRIORITY)

    # ------------------------------------------------------------ across shards

    def decide(self, engine: Engine, keys: dict[str, Dataset]) -> Dataset:
        verify = self.params.verify_jaccard
        edges, counters = engine.reduce("buckets", [keys["keys"]], partial(bucket_edges, both=not verify), by="u")
        engine.report(candidate_pairs=int(counters.get("pairs", 0)))
        if verify:
            left, _ = engine.reduce("verify-left", [edges, keys["sets"]], attach_set, by="v")
            edges, counters = engine.reduce("verify", [left, keys["sets"]], partial(verified, threshold=self.params.threshold), by="u")
            engine.report(verified_pairs=int(counters.get("kept", 0)), rejected_pairs=int(counters.get("rejected", 0)))
        members = connected_components(engine, edges)
        if verify:  # clusters chain: a member linked through others may be far from the one kept
            rooted, _ = engine.reduce("check-root", [members, keys["sets"]], attach_root_set, by="u")
            members, counters = engine.reduce("check", [rooted, keys["sets"]], partial(close_to_root, threshold=self.params.threshold), by="v")
            engine.report(kept_far_from_representative=int(counters.get("far", 0)))
        decisions, counters = engine.reduce("decisions", [members], to_decisions)
        engine.report(clusters=int(counters.get("clusters", 0)))
        if self.params.write_clusters:
            engine.reduce("clusters", [members], to_clusters, publish="clusters")
        return decisions

    def explain_pair(self, record: dict[str, Any], duplicate: dict[str, Any]) -> dict[str, float]:
        estimated, true = self.hasher.similarity(record[self.params.field], duplicate[self.params.field])
        return {"estimated_jaccard": round(estimated, 4), "true_jaccard": round(true, 4), "threshold": self.params.threshold}


# ---------------------------------------------------------------- engine steps (module level: picklable)


def bucket_edges(bands: pl.DataFrame, both: bool) -> tuple[pl.DataFrame, dict[str, int]]:
    """Records sharing a band key, each linked to the best of them (u: record, v: best)."""
    shared = bands.filter(pl.len().over(KEY) > 1)
    if not shared.height:
        return pl.DataFrame(schema=EDGE_SCHEMA), {"pairs": 0}
    best = shared.sort([_PRIORITY, ORDER]).group_by(KEY).agg(
        pl.col(ORDER).first().alias("v"), pl.col(_PRIORITY).first().alias("pv"), pl.col(ID).first().alias("iv")
    )
    edges = (
        shared.join(best, on=KEY)
        .filter(pl.col(ORDER) != pl.col("v"))
        .select(pl.col(ORDER).alias("u"), pl.col(_PRIORITY).alias("pu"), pl.col(ID).alias("iu"), "v", "pv", "iv")
        .unique(["u", "v"])
    )
    return (both_ways(edges) if both else edges), {"pairs": edges.height}


def attach_set(edges: pl.DataFrame, sets: pl.DataFrame) -> pl.DataFrame:
    """Partition of u: each edge gets u's shingle set."""
    if not edges.height:  # no candidate pair landed here (an empty input has no columns)
        return pl.DataFrame(schema=EDGE_SCHEMA)
    return edges.join(sets.select(pl.col(ORDER).alias("u"), pl.col("shingles").alias("su")), on="u", how="inner")


def verified(edges: pl.DataFrame, sets: pl.DataFrame, threshold: float) -> tuple[pl.DataFrame, dict[str, int]]:
    """Partition of v: the true Jaccard of each edge's two sets; the links that reach the threshold, both ways."""
    if not edges.height:
        return pl.DataFrame(schema=EDGE_SCHEMA), {"kept": 0, "rejected": 0}
    joined = edges.join(sets.select(pl.col(ORDER).alias("v"), pl.col("shingles").alias("sv")), on="v", how="inner")
    common = pl.col("su").list.set_intersection(pl.col("sv")).list.len()
    union = pl.col("su").list.len() + pl.col("sv").list.len() - common
    scored = joined.with_columns((common / union).alias("jaccard"))
    kept = scored.filter(pl.col("jaccard") >= threshold)
    return both_ways(kept), {"kept": kept.height, "rejected": scored.height - kept.height}


def attach_root_set(members: pl.DataFrame, sets: pl.DataFrame) -> pl.DataFrame:
    """Partition of the root v: each member gets its root's shingle set."""
    if not members.height:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    return members.join(sets.select(pl.col(ORDER).alias("v"), pl.col("shingles").alias("sv")), on="v", how="inner")


def close_to_root(members: pl.DataFrame, sets: pl.DataFrame, threshold: float) -> tuple[pl.DataFrame, dict[str, int]]:
    """Partition of u: the members whose true Jaccard to their root reaches the threshold; the others stay kept."""
    if not members.height:
        return pl.DataFrame(schema=EDGE_SCHEMA), {"far": 0}
    joined = members.join(sets.select(pl.col(ORDER).alias("u"), pl.col("shingles").alias("su")), on="u", how="inner")
    common = pl.col("su").list.set_intersection(pl.col("sv")).list.len()
    close = joined.filter(common / (pl.col("su").list.len() + pl.col("sv").list.len() - common) >= threshold)
    return close.drop("su", "sv"), {"far": joined.height - close.height}


def to_decisions(members: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    decisions = members.select(pl.col("u").alias(ORDER), pl.lit(REASON).alias(DROP), pl.col("iv").alias(DROP_DUPLICATE_OF))
    return decisions, {"clusters": members["v"].n_unique()}


def to_clusters(members: pl.DataFrame) -> pl.DataFrame:
    """cluster (the kept record's id), id, kept (whether this member is the one kept)."""
    roots = members.select(pl.col("iv").alias("cluster"), pl.col("iv").alias("id"), pl.lit(True).alias("kept")).unique()
    leaves = members.select(pl.col("iv").alias("cluster"), pl.col("iu").alias("id"), pl.lit(False).alias("kept"))
    return pl.concat([roots, leaves]).sort("cluster", "kept", "id", descending=[False, True, False])
