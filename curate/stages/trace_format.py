"""`trace_format`: a sample whose trace is not a whole thought followed by a solution.

Each sample gets one failure, the first that applies: `truncated` (the endpoint stopped it at
max_tokens, it ends inside its thought or right after it, its solution block was never closed, or a
trace without a closing tag ends mid-sentence), `unclosed_thought` (the thought's closing tag is missing but the trace
goes on to an answer), `no_thought` (with `require_thought`), `empty_thought`,
`answer_outside_solution` (a `\\boxed{}` answer in the thought, none in the solution) and, with
`max_answers`, `several_answers`. Scores on each sample: `format` (the format found),
`boxed_answers` (distinct `\\boxed{}` answers in the solution), `ends_mid_sentence`.

On the 1,014 complete Sky-T1 long-CoT traces, 2% of the correct ones box several answers — nearly all
multi-part problems (a frequency and a wavelength) — so `several_answers` is a score unless
`max_answers` is set (NeMo-Skills drops them all).
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.stages.base import Threshold
from curate.stages.traces import ISSUE, TraceParams, TraceStage

BOXED = r"\\(?:boxed|fbox)\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}"
"""A `\\boxed{}` answer with up to two levels of braces inside."""
_MID_SENTENCE = r"(?:[\p{L}\d,;:(=+\-]|\\)\s*\z"
"""A solution that stops on a letter, a digit, a comma, an operator or an open bracket stopped mid-sentence..."""
_ANSWERED = r"(?i)\\(?:boxed|fbox)\{|final answer|answer is|answers? ?:"
"""... unless it has just given its answer (`**Final Answer:** 3 bushels` ends on a letter)."""


class TraceFormatParams(TraceParams):
    require_thought: bool = False
    """A sample with no thought block fails (`no_thought`): set it for thinking models' traces, where a
    trace without one lost its tags; short chain-of-thought corpora have none."""
    min_thought_chars: int = Field(1, ge=0)
    """A thought block shorter than this (after stripping spaces) is `empty_thought`."""
    max_answers: int | None = Field(None, ge=1)
    """More distinct `\\boxed{}` answers than this in the solution is `several_answers`; none: a score only."""


class TraceFormat(TraceStage):
    use = "trace_format"
    kind = "format"
    Params = TraceFormatParams
    params: TraceFormatParams

    def sample_scores(self) -> dict[str, pl.DataType]:
        return {"format": pl.String(), "boxed_answers": pl.Int32(), "ends_mid_sentence": pl.Boolean()}

    def reasons(self) -> tuple[str, ...]:
        return ("truncated", "unclosed_thought", "no_thought", "empty_thought", "answer_outside_solution", "several_answers")

    def summaries(self) -> dict[str, pl.Expr]:
        return {"boxed_answers_min": pl.col("boxed_answers").min()}

    def thresholds(self) -> list[Threshold]:
        m = self.params.max_answers
        return [] if m is None else [Threshold("boxed_answers_min", "several_answers", max=m, setting="max_answers")]

    def histograms(self) -> dict[str, list[float]]:
        return {"boxed_answers_min": [0, 1, 2, 3, 4, 5]}

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        solution = pl.col("solution").fill_null("")
        thought = pl.col("thought")
        has_thought = pl.col("thought_open")
        boxed = solution.str.extract_all(BOXED).list.eval(pl.element().str.replace_all(r"\s+", "")).list.unique().list.len().cast(pl.Int32)
        boxed_in_thought = thought.fill_null("").str.contains(r"\\(?:boxed|fbox)\{")
        # the tail of a trace with no closing tag of its own (think, field and plain solutions)
        mid_sentence = solution.str.contains(_MID_SENTENCE) & ~solution.str.slice(-300).str.contains(_ANSWERED)
        open_thought = has_thought & ~pl.col("thought_closed")
        tail = pl.col("response").fill_null("").str.slice(-300)
        goes_on = (solution.str.strip_chars() != "") | (tail.str.contains(r"\\(?:boxed|fbox)\{") & ~tail.str.contains(_MID_SENTENCE))
        finish = pl.col("finish_reason") if "finish_reason" in samples.columns else pl.lit(None, dtype=pl.String)
        truncated = (
            (finish == "length").fill_null(False)
            | (open_thought & ~goes_on)
            | (pl.col("thought_closed") & (solution.str.strip_chars() == ""))  # thought, then nothing
            | (pl.col("solution_closed") == False).fill_null(False)  # noqa: E712 (polars: a null is not false)
            | (pl.col("solution_closed").is_null() & mid_sentence & (solution.str.strip_chars() != ""))
        )
        issue = (
            pl.when(truncated).then(pl.lit("truncated"))
            .when(open_thought).then(pl.lit("unclosed_thought"))
            .when(pl.lit(p.require_thought) & ~has_thought).then(pl.lit("no_thought"))
            .when(has_thought & (thought.fill_null("").str.strip_chars().str.len_chars() < p.min_thought_chars)).then(pl.lit("empty_thought"))
            .when((boxed == 0) & boxed_in_thought).then(pl.lit("answer_outside_solution"))
            .when(pl.lit(p.max_answers is not None) & (boxed > (p.max_answers or 0))).then(pl.lit("several_answers"))
        )
        return samples.with_columns(pl.col("format"), boxed.alias("boxed_answers"), mid_sentence.alias("ends_mid_sentence"), issue.alias(ISSUE))


__all__ = ["BOXED", "TraceFormat", "TraceFormatParams"]
