"""`difficulty`: a problem's pass rate over its verified samples (Kimi k1.5 §2.1: sample N, keep the
problems a policy sometimes solves). All-correct problems teach an RL policy nothing (`too_easy`),
none-correct ones give it no signal (`unsolved`).

In `majority` mode (problems without a reference), the most common extracted answer becomes a
pseudo-label when its share reaches `majority_threshold`, and samples are scored against it.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import polars as pl
from pydantic import Field

from curate.answers.verifier import normalise
from curate.columns import DROP, TRACES
from curate.stages.base import MapStage, StageParams, Threshold


class DifficultyParams(StageParams):
    mode: Literal["reference", "majority"] = "reference"
    """`reference`: the verdicts of `verify`. `majority`: agreement with the most common answer."""
    min_pass_rate: float | None = Field(None, ge=0, le=1)
    """Inclusive bounds; by default a problem is kept when 0 < pass_rate < 1."""
    max_pass_rate: float | None = Field(None, ge=0, le=1)
    keep_unsolved: bool = False
    keep_solved: bool = False
    majority_threshold: float = Field(0.5, gt=0, le=1)


class Difficulty(MapStage):
    use = "difficulty"
    Params = DifficultyParams
    params: DifficultyParams

    def reads(self) -> tuple[str, ...]:
        return (TRACES,)

    def writes(self) -> tuple[str, ...]:
        extra = ("pseudo_label",) if self.params.mode == "majority" else ()
        return ("pass_rate", "n_correct", "n_samples", *extra)

    def reasons(self) -> tuple[str, ...]:
        return ("too_easy", "too_hard", "unsolved", "no_verified_samples", "no_majority")

    def thresholds(self) -> list[Threshold]:
        p = self.params
        bounds = []
        if not p.keep_unsolved:
            bounds.append(Threshold("pass_rate", "unsolved", min=0, strict=True))
        if not p.keep_solved:
            bounds.append(Threshold("pass_rate", "too_easy", max=1.0, strict=True))
        if p.min_pass_rate is not None:
            bounds.append(Threshold("pass_rate", "too_hard", min=p.min_pass_rate, setting="min_pass_rate"))
        if p.max_pass_rate is not None:
            bounds.append(Threshold("pass_rate", "too_easy", max=p.max_pass_rate, setting="max_pass_rate"))
        return bounds

    def histograms(self) -> dict[str, list[float]]:
        return {"pass_rate": [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.0001]}

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        rates, correct, counted, labels, reasons = [], [], [], [], []
        for samples in df[TRACES].to_list():
            samples = samples or []
            if p.mode == "majority":
                answers = [normalise(s["extracted_answer"]) for s in samples if s.get("extracted_answer") and s.get("verdict") != "truncated"]
                top = Counter(answers).most_common(1)
                n = len(samples)
                share = top[0][1] / n if top and n else 0.0
                label = top[0][0] if top and share >= p.majority_threshold else None
                k = top[0][1] if label is not None else 0
                labels.append(label)
                missing = "no_majority" if label is None else None
            else:
                verdicts = [s.get("correct") for s in samples if s.get("correct") is not None]
                n, k = len(verdicts), sum(verdicts)
                missing = "no_verified_samples" if not n else None
            rate = k / n if n and not missing else None
            rates.append(rate)
            correct.append(k if not missing else None)
            counted.append(n)
            reasons.append(missing or self._reason(rate, k, n))
        columns = [
            pl.Series("pass_rate", rates, dtype=pl.Float64),
            pl.Series("n_correct", correct, dtype=pl.Int32),
            pl.Series("n_samples", counted, dtype=pl.Int32),
            pl.Series(DROP, reasons, dtype=pl.String),
        ]
        if p.mode == "majority":
            columns.append(pl.Series("pseudo_label", labels, dtype=pl.String))
        return df.with_columns(columns)

    def _reason(self, rate: float | None, correct: int, samples: int) -> str | None:
        p = self.params
        if rate is None:
            return None
        if correct == 0 and not p.keep_unsolved:
            return "unsolved"
        if correct == samples and not p.keep_solved:
            return "too_easy"
        if p.min_pass_rate is not None and rate < p.min_pass_rate:
            return "too_hard"
        if p.max_pass_rate is not None and rate > p.max_pass_rate:
            return "too_easy"
        return None


__all__ = ["Difficulty", "DifficultyParams"]
