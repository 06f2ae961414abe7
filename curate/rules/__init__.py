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


def _registrar(registry: dict, kind: str) -> Callable[[str], Callable]:
    def named(name: str) -> Callable:
        def register(fn: Callable) -> Callable:
            if name in registry:
                raise ValueError(f"{kind} {name!r} registered twice")
            registry[name] = fn
            return fn

        return register

    return named


score: Callable[[str], Callable[[Score], Score]] = _registrar(SCORES, "score")
"""@score("name") registers a score for filter sets."""
rewrite: Callable[[str], Callable[[Rewrite], Rewrite]] = _registrar(REWRITES, "rewrite")
"""@rewrite("name") registers a text rewrite (C4's kept lines) for filter sets."""


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null where the denominator is 0."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator).otherwise(None)


def _load() -> None:
    from curate.rules import heuristic, math  # noqa: F401  (register their scores)


_load()

__all__ = ["REWRITES", "SCORES", "Rewrite", "Score", "ratio", "rewrite", "score"]
