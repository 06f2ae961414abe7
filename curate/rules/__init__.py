"""Scores for rule-based filters, as polars expressions over whole batches.

A score is a function `(text: pl.Expr, **args) -> pl.Expr` registered under a name; filter sets
(filters/*.yaml) name scores and put thresholds on them. Scores are numbers (booleans are 0/1), null
where they are undefined (the mean word length of a text without words): a rule never fails on null.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

Score = Callable[..., pl.Expr]
SCORES: dict[str, Score] = {}
Rewrite = Callable[[pl.Expr], pl.Expr]
REWRITES: dict[str, Rewrite] = {}


def score(name: str) -> Callable[[Score], Score]:
    def register(fn: Score) -> Score:
        if name in SCORES:
            raise ValueError(f"score {name!r} registered twice")
        SCORES[name] = fn
        return fn

    return register


def rewrite(name: str) -> Callable[[Rewrite], Rewrite]:
    def register(fn: Rewrite) -> Rewrite:
        if name in REWRITES:
            raise ValueError(f"rewrite {name!r} registered twice")
        REWRITES[name] = fn
        return fn

    return register


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null where the denominator is 0."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator).otherwise(None)


def _load() -> None:
    from curate.rules import heuristic, math  # noqa: F401  (register their scores)


_load()

__all__ = ["REWRITES", "SCORES", "Rewrite", "Score", "ratio", "rewrite", "score"]
