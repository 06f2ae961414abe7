"""`trace_repetition`: a sample stuck in a loop, by detectors that must agree (as open-instruct's
`filter_thinking_repetitions.py`: one detector alone flags too many good long traces, which restate
equations and re-check steps on purpose).

Five detectors, each a score on the sample; two look at the end of the thought and of the trace
(where a model that loops stays until max_tokens), three at the whole trace:

    tail_repeats         share of the last lines that repeat another of them
    tail_ngrams          share of repeated word n-grams among those starting in the last characters
    repeated_paragraphs  share of the trace's characters in paragraphs that repeat an earlier one word for word
    top_ngram_repeats    how many times the trace's most frequent word n-gram occurs
    repeated_ngrams      share of the trace's word n-grams that repeat (all but one of each kind)

`repetition_detectors` counts those past their bounds; a sample with `min_detectors` or more is
`repetition`. The bounds were set on the real traces (README, "Long chain-of-thought"): a real loop
(`Wait, no, for n=4, the number is 6.` forty times) passes all five, and 97% of loops planted in
clean traces pass two; of the 684 complete correct traces none passes two (at 0.2 and 0.3 for the
whole-trace shares, two systematic case analyses did: "For k = 1, (x-1)^1 is positive" nine times).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from curate.kernels import traces as kernel
from curate.stages.base import WARM_UP_TEXTS, Threshold
from curate.stages.traces import ISSUE, OWNER, TEXT, TraceParams, TraceStage
from curate.text.normalize import arrow_buffers

DETECTORS = ("tail_repeats", "tail_ngrams", "repeated_paragraphs", "top_ngram_repeats", "repeated_ngrams")


class TraceRepetitionParams(TraceParams):
    min_detectors: int = Field(2, ge=1, le=len(DETECTORS))
    """A sample is `repetition` when at least this many detectors pass their bounds."""
    max_repeated_paragraphs: float = Field(0.35, ge=0, le=1)
    tail_lines: int = Field(30, ge=2)
    """The last lines looked at for a loop (lines of at least `min_line_chars` characters)."""
    min_line_chars: int = Field(10, ge=1)
    """Shorter lines (`\\]`, `= 6`) repeat in any long derivation and are not looked at."""
    max_tail_repeats: float = Field(0.5, ge=0, le=1)
    tail_chars: int = Field(2000, ge=100)
    """The end of the trace that `tail_ngrams` looks at; of the thought: 1, 4 and 16 times it."""
    max_tail_ngrams: float = Field(0.5, ge=0, le=1)
    ngram: int = Field(10, ge=2)
    """Words per n-gram for the two n-gram detectors."""
    max_top_ngram_repeats: int = Field(20, ge=2)
    max_repeated_ngrams: float = Field(0.4, ge=0, le=1)


class TraceRepetition(TraceStage):
    use = "trace_repetition"
    kind = "repetition"
    Params = TraceRepetitionParams
    params: TraceRepetitionParams

    def sample_scores(self) -> dict[str, pl.DataType]:
        return {"tail_repeats": pl.Float64(), "tail_ngrams": pl.Float64(), "repeated_paragraphs": pl.Float64(), "top_ngram_repeats": pl.Int32(),
                "repeated_ngrams": pl.Float64(), "repetition_detectors": pl.Int8()}

    def reasons(self) -> tuple[str, ...]:
        return ("repetition",)

    def summaries(self) -> dict[str, pl.Expr]:
        return {"repetition_detectors_min": pl.col("repetition_detectors").min()}

    def thresholds(self) -> list[Threshold]:
        return [Threshold("repetition_detectors_min", "repetition", max=self.params.min_detectors, strict=True, setting="min_detectors")]

    def histograms(self) -> dict[str, list[float]]:
        return {"repetition_detectors_min": [0, 1, 2, 3, 4, 5, 6]}

    def warm_up(self) -> None:
        _ngrams(pl.Series(WARM_UP_TEXTS), self.params.ngram, [10])

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        owners = pl.int_range(samples.height, dtype=pl.Int64, eager=True)
        text = samples[TEXT]
        thought = samples["thought"].fill_null("")
        top, repeated, text_tail = _ngrams(text, p.ngram, [p.tail_chars])
        _, _, thought_tails = _ngrams(thought, p.ngram, [p.tail_chars // 4, p.tail_chars, 4 * p.tail_chars, 16 * p.tail_chars])
        scores = pl.DataFrame({
            "tail_repeats": np.maximum(_tail_repeats(text, owners, p), _tail_repeats(thought, owners, p)),
            "tail_ngrams": np.maximum(text_tail.max(axis=1), thought_tails.max(axis=1)),
            "repeated_paragraphs": _repeated_paragraphs(text, owners),
            "top_ngram_repeats": top,
            "repeated_ngrams": repeated,
        })
        detectors = (
            (pl.col("tail_repeats") > p.max_tail_repeats).cast(pl.Int8)
            + (pl.col("tail_ngrams") > p.max_tail_ngrams).cast(pl.Int8)
            + (pl.col("repeated_paragraphs") > p.max_repeated_paragraphs).cast(pl.Int8)
            + (pl.col("top_ngram_repeats") > p.max_top_ngram_repeats).cast(pl.Int8)
            + (pl.col("repeated_ngrams") > p.max_repeated_ngrams).cast(pl.Int8)
        )
        scores = scores.with_columns(detectors.alias("repetition_detectors"))
        issue = pl.when(pl.col("repetition_detectors") >= p.min_detectors).then(pl.lit("repetition"))
        return pl.concat([samples, scores], how="horizontal").with_columns(issue.alias(ISSUE))


def _ngrams(text: pl.Series, n: int, tails: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text: the count of its most frequent word n-gram, the share of its n-grams that repeat, and
    that share among the n-grams starting in each of its last `tails` characters (columns). The tails
    of the thought are 1/4, 1, 4 and 16 times `tail_chars`: six copies of a line fill a short tail, a
    loop of three paragraphs again and again a long one."""
    top, repeated = np.zeros(len(text), np.int32), np.zeros(len(text), np.float64)
    shares = np.zeros((len(text), len(tails)), np.float64)
    if len(text):
        kernel.ngram_repeats(*arrow_buffers(text), n, np.array(tails, np.int64), top, repeated, shares)
    return top, repeated, shares


def _repeated_paragraphs(text: pl.Series, owners: pl.Series) -> np.ndarray:
    """Per text, the share of its characters in paragraphs (of 20 characters or more) that repeat an earlier one."""
    paragraphs = (
        pl.DataFrame({OWNER: owners, "p": text.str.split("\n\n")})
        .explode("p")
        .with_columns(pl.col("p").str.strip_chars())
        .with_columns(pl.col("p").str.len_bytes().alias("size"))
    )
    total = paragraphs.group_by(OWNER).agg(pl.col("size").sum())
    repeats = (
        paragraphs.filter(pl.col("size") >= 20)
        .filter(~pl.struct(OWNER, "p").is_first_distinct())
        .group_by(OWNER).agg(pl.col("size").sum().alias("repeated"))
    )
    shares = total.join(repeats, on=OWNER, how="left").select(OWNER, (pl.col("repeated").fill_null(0) / pl.col("size")).fill_nan(0.0).alias("share"))
    return _aligned(shares, owners)


def _tail_repeats(text: pl.Series, owners: pl.Series, p: TraceRepetitionParams) -> np.ndarray:
    """Per text, the highest share, over its last `tail_lines` lines and its last third of them, of lines
    that repeat another line of that window (fewer than 3 lines: 0)."""
    lines = (
        pl.DataFrame({OWNER: owners, "line": text.str.slice(-400 * p.tail_lines).str.split("\n")})
        .with_columns(pl.col("line").list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element().str.len_chars() >= p.min_line_chars)).list.tail(p.tail_lines))
        .filter(pl.col("line").list.len() >= 3)
        .with_columns(pl.col("line").list.len().alias("lines"))
        .explode("line")
        .with_columns(pl.int_range(pl.len()).over(OWNER).alias("at"))
        .with_columns(
            pl.struct(OWNER, "line").is_duplicated().alias("repeats"),
            (pl.col("at") >= pl.col("lines") - pl.col("lines") // 3).alias("late"),
        )
        .with_columns(pl.struct(OWNER, "line", "late").is_duplicated().and_(pl.col("late")).alias("late_repeats"))
        .group_by(OWNER).agg(pl.max_horizontal(pl.col("repeats").mean(), pl.col("late_repeats").sum() / pl.col("late").sum()).alias("share"))
    )
    return _aligned(lines, owners)


def _aligned(frame: pl.DataFrame, owners: pl.Series) -> np.ndarray:
    out = np.zeros(len(owners), np.float64)
    out[frame[OWNER].to_numpy()] = frame["share"].to_numpy()
    return out


__all__ = ["DETECTORS", "TraceRepetition", "TraceRepetitionParams"]
