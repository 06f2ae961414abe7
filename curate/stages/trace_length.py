"""`trace_length`: how long each sample's thought and solution are, in characters and, with a
`tokenizer`, in its tokens; a sample far longer than the other samples of its problem (a loop, a
rambling detour) is a `length_outlier`, one beyond an absolute bound `too_long`.

Scores on each sample: `thought_chars`, `solution_chars`, `thought_tokens`, `solution_tokens` (null
without a tokenizer) and `length_ratio`, its length over the median of its problem's samples (null
for a problem with fewer than `min_samples` samples: one or two samples say nothing about what is
usual). Lengths are tokens when there is a tokenizer, else characters.

The tokenizer is a local `tokenizer.json` (the Hugging Face tokenizers format every open model ships):
nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import Field, model_validator

from curate.stages.base import Threshold
from curate.stages.traces import ISSUE, OWNER, TraceParams, TraceStage


class TraceLengthParams(TraceParams):
    tokenizer: str | None = None
    """A local tokenizer.json: lengths in its tokens (special tokens not added)."""
    max_ratio: float | None = Field(4.0, gt=1)
    """A sample longer than this many times its problem's median sample is a `length_outlier`."""
    min_samples: int = Field(4, ge=2)
    """The median needs this many samples of the problem with text."""
    max_tokens: int | None = Field(None, ge=1)
    """Thought and solution together above this many tokens is `too_long` (needs `tokenizer`)."""
    max_chars: int | None = Field(None, ge=1)
    """Thought and solution together above this many characters is `too_long`."""

    @model_validator(mode="after")
    def _tokens_need_a_tokenizer(self) -> TraceLengthParams:
        if self.max_tokens is not None and not self.tokenizer:
            raise ValueError("max_tokens counts tokens: name a tokenizer (a local tokenizer.json), or bound max_chars instead")
        return self


class TraceLength(TraceStage):
    use = "trace_length"
    kind = "length"
    Params = TraceLengthParams
    params: TraceLengthParams

    def __init__(self, name: str, params: Any = None, **kwargs: Any):
        super().__init__(name, params, **kwargs)
        self._tokenizer: Any = None

    def prepare(self) -> None:
        if self.params.tokenizer:
            self._load()

    def _load(self) -> Any:
        if self._tokenizer is None and self.params.tokenizer:
            from tokenizers import Tokenizer

            try:
                self._tokenizer = Tokenizer.from_file(self.params.tokenizer)
            except Exception as error:  # tokenizers raises its own Exception types
                raise ValueError(f"tokenizer {self.params.tokenizer}: not a tokenizer.json it can read ({str(error).splitlines()[0][:200]})") from None
        return self._tokenizer

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tokenizer": None}  # each worker loads it from the file

    def sample_scores(self) -> dict[str, pl.DataType]:
        return {"thought_chars": pl.Int64(), "solution_chars": pl.Int64(), "thought_tokens": pl.Int64(), "solution_tokens": pl.Int64(),
                "length_ratio": pl.Float64()}

    def reasons(self) -> tuple[str, ...]:
        return ("length_outlier", "too_long")

    def summaries(self) -> dict[str, pl.Expr]:
        return {"length_ratio_min": pl.col("length_ratio").min(), "trace_chars_min": (pl.col("thought_chars") + pl.col("solution_chars")).min(),
                "trace_tokens_min": (pl.col("thought_tokens") + pl.col("solution_tokens")).min()}

    def thresholds(self) -> list[Threshold]:
        p = self.params
        bounds = []
        if p.max_ratio is not None:
            bounds.append(Threshold("length_ratio_min", "length_outlier", max=p.max_ratio, setting="max_ratio"))
        if p.max_tokens is not None:
            bounds.append(Threshold("trace_tokens_min", "too_long", max=p.max_tokens, setting="max_tokens"))
        if p.max_chars is not None:
            bounds.append(Threshold("trace_chars_min", "too_long", max=p.max_chars, setting="max_chars"))
        return bounds

    def histograms(self) -> dict[str, list[float]]:
        return {"length_ratio_min": [0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 1e9]}

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        chars = samples.select(
            pl.col("thought").fill_null("").str.len_chars().cast(pl.Int64).alias("thought_chars"),
            pl.col("solution").fill_null("").str.len_chars().cast(pl.Int64).alias("solution_chars"),
        )
        tokenizer = self._load()
        if tokenizer is not None:
            thought = [len(e.ids) for e in tokenizer.encode_batch_fast(samples["thought"].fill_null("").to_list(), add_special_tokens=False)]
            solution = [len(e.ids) for e in tokenizer.encode_batch_fast(samples["solution"].fill_null("").to_list(), add_special_tokens=False)]
            tokens = pl.DataFrame({"thought_tokens": thought, "solution_tokens": solution}, schema={"thought_tokens": pl.Int64, "solution_tokens": pl.Int64})
            length = pl.col("thought_tokens") + pl.col("solution_tokens")
        else:
            tokens = pl.DataFrame({"thought_tokens": [None] * samples.height, "solution_tokens": [None] * samples.height},
                                  schema={"thought_tokens": pl.Int64, "solution_tokens": pl.Int64})
            length = pl.col("thought_chars") + pl.col("solution_chars")
        scored = pl.concat([samples, chars, tokens], how="horizontal").with_columns(length.alias("__length"))
        has_text = pl.col("__length") > 0
        usable = has_text.sum().over(OWNER)
        median = pl.col("__length").filter(has_text).median().over(OWNER)
        ratio = pl.when(has_text & (usable >= p.min_samples) & (median > 0)).then(pl.col("__length") / median)
        scored = scored.with_columns(ratio.cast(pl.Float64).alias("length_ratio"))
        too_long = pl.lit(False)
        if p.max_tokens is not None:
            too_long = too_long | (pl.col("thought_tokens") + pl.col("solution_tokens") > p.max_tokens).fill_null(False)
        if p.max_chars is not None:
            too_long = too_long | (pl.col("thought_chars") + pl.col("solution_chars") > p.max_chars)
        issue = (
            pl.when(too_long).then(pl.lit("too_long"))
            .when(pl.lit(p.max_ratio is not None) & (pl.col("length_ratio") > (p.max_ratio or 0)).fill_null(False)).then(pl.lit("length_outlier"))
        )
        return scored.with_columns(issue.alias(ISSUE))


__all__ = ["TraceLength", "TraceLengthParams"]
