"""classifier: score each record with a fastText model and keep those whose score reaches a threshold.

The score, `<stage>_score`, is the model's probability for `label` (e.g. the positive class of a model
from `curate train-classifier`); it stays on every record, so a stricter threshold can be applied later.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.columns import DROP
from curate.stages.base import MapStage, StageParams, Threshold
from curate.text import fasttext_models


class ClassifierParams(StageParams):
    model: str
    """A fastText model file (.bin or .ftz)."""
    field: str = "text"
    label: str = "positive"
    """The label whose probability is the score (without `__label__`)."""
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Remove records scoring below it; without it, the stage only scores."""
    reason: str = "low_quality"


class Classifier(MapStage):
    use = "classifier"
    Params = ClassifierParams
    params: ClassifierParams

    def prepare(self) -> None:
        model = fasttext_models.load(self.params.model)
        labels = [label.removeprefix("__label__") for label in model.get_labels()]
        if self.params.label not in labels:
            raise ValueError(f"label {self.params.label!r} is not one of the model's: {', '.join(labels)}")

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def writes(self) -> tuple[str, ...]:
        return (f"{self.name}_score",)

    def reasons(self) -> tuple[str, ...]:
        return (self.params.reason,) if self.params.threshold is not None else ()

    def thresholds(self) -> list[Threshold]:
        threshold = self.params.threshold
        return [Threshold(f"{self.name}_score", self.params.reason, min=threshold, setting="threshold")] if threshold is not None else []

    def histograms(self) -> dict[str, list[float]]:
        return {f"{self.name}_score": [round(0.1 * i, 1) for i in range(11)]}

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        model = fasttext_models.load(self.params.model)
        score = pl.Series(f"{self.name}_score", fasttext_models.label_probability(model, fasttext_models.one_line(df[self.params.field]), self.params.label))
        out = df.with_columns(score)
        if self.params.threshold is None:
            return out
        return out.with_columns(pl.when(score < self.params.threshold).then(pl.lit(self.params.reason)).alias(DROP))
