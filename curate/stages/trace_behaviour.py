"""`trace_behaviour`: how a sample reasons, as counts an SFT selection can prefer (not a filter
unless `min_verifications` is set). Kimi k0-math's traces re-check each step and re-verify the final
answer; a corpus that keeps such traces teaches that habit.

Scores on each sample, counted in its thought (in the whole response for a trace without one):

    reflections     "wait", "hmm", "hold on", "on second thought", "actually," ...
    verifications   "let me check", "verify", "double-check", "plug it back", "sanity check", ...
    alternatives    "alternatively", "another approach", "a different method", ...
    checks_answer   the last quarter of the thought states the final answer (the solution's last
                    `\\boxed{}`) and checks something: the trace re-derives or verifies its answer
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.stages.base import Threshold
from curate.stages.trace_format import BOXED
from curate.stages.traces import ISSUE, TraceParams, TraceStage

REFLECTION = r"\b(?:wait|hmm+|hold on|on second thought|actually,|hang on|oops|i made a mistake|that's not right|that can't be right)\b"
VERIFICATION = (
    r"\b(?:let me (?:double[- ]?)?(?:check|verify|confirm)|let's (?:double[- ]?)?(?:check|verify|confirm)|double[- ]check|verif(?:y|ying|ied|ication)"
    r"|sanity check|plug(?:ging)? (?:it |this |these |that |them )?back|substitut(?:e|ing) (?:it |this |these |them )?back|check(?:ing)? (?:the|my|this|our) (?:answer|result|solution|work))\b"
)
ALTERNATIVE = r"\b(?:alternatively|another (?:approach|way|method)|(?:a )?different (?:approach|way|method)|other approach|let me try (?:another|a different))\b"


class TraceBehaviourParams(TraceParams):
    min_verifications: int = Field(0, ge=0)
    """A sample with fewer verification markers fails (`no_self_verification`); 0: a score only."""


class TraceBehaviour(TraceStage):
    use = "trace_behaviour"
    kind = "behaviour"
    Params = TraceBehaviourParams
    params: TraceBehaviourParams

    def sample_scores(self) -> dict[str, pl.DataType]:
        return {"reflections": pl.Int32(), "verifications": pl.Int32(), "alternatives": pl.Int32(), "checks_answer": pl.Boolean()}

    def reasons(self) -> tuple[str, ...]:
        return ("no_self_verification",)

    def summaries(self) -> dict[str, pl.Expr]:
        return {"verifications_max": pl.col("verifications").max()}

    def thresholds(self) -> list[Threshold]:
        m = self.params.min_verifications
        return [Threshold("verifications_max", "no_self_verification", min=m, setting="min_verifications")] if m else []

    def histograms(self) -> dict[str, list[float]]:
        return {"verifications_max": [0, 1, 2, 3, 5, 10, 20, 50, 1e9]}

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        text = pl.when(pl.col("thought_open")).then(pl.col("thought").fill_null("")).otherwise(pl.col("solution").fill_null("")).str.to_lowercase()
        answer = pl.col("solution").fill_null("").str.extract_all(BOXED).list.last().str.extract(BOXED, 1).str.strip_chars()
        scored = samples.with_columns(text.alias("__text"), answer.alias("__answer"))
        tail = pl.col("__text").str.slice(-(pl.col("__text").str.len_chars() // 4).cast(pl.Int64))
        scored = scored.with_columns(
            pl.col("__text").str.count_matches(REFLECTION).cast(pl.Int32).alias("reflections"),
            pl.col("__text").str.count_matches(VERIFICATION).cast(pl.Int32).alias("verifications"),
            pl.col("__text").str.count_matches(ALTERNATIVE).cast(pl.Int32).alias("alternatives"),
            ((pl.col("__answer").str.len_chars() > 0) & tail.str.contains(pl.col("__answer").str.to_lowercase(), literal=True)
             & tail.str.contains(VERIFICATION)).fill_null(False).alias("checks_answer"),
        )
        m = self.params.min_verifications
        issue = pl.when(pl.lit(m > 0) & (pl.col("verifications") < m)).then(pl.lit("no_self_verification"))
        return scored.drop("__text", "__answer").with_columns(issue.alias(ISSUE))


__all__ = ["ALTERNATIVE", "REFLECTION", "VERIFICATION", "TraceBehaviour", "TraceBehaviourParams"]
