"""`verify`: each sample's final answer checked against the record's reference answer with math-verify.

Verdicts go on the samples themselves (`extracted_answer`, `correct`, `verdict`), in traces/, so that
`difficulty` and the exports read them and a user can re-score without re-verifying. A truncated
sample is `truncated` and not correct, whatever it wrote before the cut; a sample whose generation
failed has no verdict. The checks run in a killable worker process (`curate/answers/verifier.py`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator

from curate.answers.verifier import CORRECT, EXTRACTORS, NO_ANSWER, TRUNCATED, known_extractors, reference_answer, shared_checkers
from curate.columns import TRACES
from curate.stages.base import MapStage, StageParams
from curate.stages.traces import check_response_field, samples_of
from curate.text.reasoning import split_traces

VERDICT_FIELDS = {"extracted_answer": pl.String, "correct": pl.Boolean, "verdict": pl.String}


class AnswerCheckParams(StageParams):
    """How answers are found and checked against a record's reference: shared by `verify` and `hack_check`."""

    reference_field: str = "answer"
    """The reference answer: `42`, `\\frac{1}{2}`, `\\boxed{x}`; a bare answer is read in math mode."""
    reference_extract: bool = False
    """Extract the answer from the reference first (a GSM8K solution ending in `#### 18`)."""
    extract: list[str] = list(EXTRACTORS)
    """Where the final answer is, tried in order: last `\\boxed{}`/`\\fbox{}`, "final answer is",
    GSM8K `#### x`, a last `A: x`."""

    @field_validator("extract")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return known_extractors(value)


def reference_answers(df: pl.DataFrame, p: AnswerCheckParams) -> list[str | None]:
    """Each record's reference, extracted from a worked solution when `reference_extract` is set."""
    references = df[p.reference_field].cast(pl.String).to_list()
    if p.reference_extract:
        references = [reference_answer(r, p.extract) for r in references]
    return references


class VerifyParams(AnswerCheckParams):
    response_field: str | None = None
    """Verify a field of the input (a string, or a list of strings: one sample each) instead of the
    samples of the preceding generate stage."""
    trace_format: Literal["auto", "think", "sky", "field", "plain"] = "auto"
    """How a sample's thought is told from its solution (see curate/text/reasoning.py): the answer is
    taken from the solution, so a long trace cut off inside its thought is `truncated`, whatever numbers
    its thinking wrote; `plain` checks the whole response, as before there were thinking models."""
    timeout: float = Field(5.0, gt=0)
    """Seconds per sample, finding its answer and checking it: past it the verdict is `timeout`; a
    worker that overruns it by a second is killed and replaced."""


class Verify(MapStage):
    use = "verify"
    Params = VerifyParams
    params: VerifyParams

    def reads(self) -> tuple[str, ...]:
        return (self.params.reference_field, self.params.response_field or TRACES)

    def writes(self) -> tuple[str, ...]:
        return (TRACES,) if self.params.response_field else ()

    def provides(self) -> dict[str, Any]:
        return {"answer_field": self.params.reference_field, "verdicts": True}

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        check_response_field(schema, self.params.response_field)

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        p = self.params
        traces = samples_of(df, p.response_field) if p.response_field else df[TRACES]
        references = reference_answers(df, p)
        rows = traces.to_list()
        flat = [sample for samples in rows for sample in samples or []]
        parts = split_traces(pl.Series([x.get("response") for x in flat], dtype=pl.String),
                             pl.Series([x.get("reasoning") for x in flat], dtype=pl.String), p.trace_format)
        solutions = iter(zip(parts["solution"].to_list(), (parts["thought_open"] & ~parts["thought_closed"]).to_list()))
        verdicts: list[list[dict[str, Any]] | None] = []
        pending: list[tuple[int, int]] = []
        items: list[tuple[str | None, str]] = []
        for r, (samples, reference) in enumerate(zip(rows, references)):
            if samples is None:
                verdicts.append(None)
                continue
            out = []
            for s, sample in enumerate(samples):
                response = sample.get("response")
                solution, cut_in_thought = next(solutions)
                verdict: str | None = None  # never generated (an error): no evidence either way
                if response:
                    truncated = sample.get("finish_reason") == "length" or cut_in_thought
                    response = solution  # the whole response where there is no thought block
                    checkable = reference is not None and str(reference).strip() and not truncated
                    pending.append((r, s))
                    # a truncated sample's answer is still shown, but it is never checked
                    items.append((str(reference) if checkable else None, response))
                    verdict = TRUNCATED if truncated else ""
                elif not sample.get("error"):
                    verdict = TRUNCATED if sample.get("finish_reason") == "length" else NO_ANSWER
                out.append({**sample, "extracted_answer": None, "verdict": verdict})
            verdicts.append(out)
        with shared_checkers(p.timeout).checkout() as pool:
            restarts = pool.restarts
            found = pool.check_responses(items, p.extract)
            restarts = pool.restarts - restarts
        checked = 0
        for (r, s), (answer, verdict) in zip(pending, found):
            row = verdicts[r]
            assert row is not None  # pending holds only records with samples
            sample = row[s]
            sample["extracted_answer"] = answer
            if sample["verdict"] != TRUNCATED:
                # no reference: an answer but no verdict; no answer: no_answer whatever the reference
                sample["verdict"] = verdict
                checked += verdict not in (None, NO_ANSWER)
        counted: Counter = Counter()
        for samples in verdicts:
            for sample in samples or []:
                sample["correct"] = None if sample["verdict"] is None else sample["verdict"] == CORRECT
                counted[sample["verdict"] or "none"] += 1
        listed = traces.dtype
        assert isinstance(listed, pl.List) and isinstance(listed.inner, pl.Struct)  # samples: generate's TRACE_TYPE, or samples_of's
        dtype = pl.List(pl.Struct({**dict(listed.inner.to_schema()), **VERDICT_FIELDS}))
        counters = {"verdicts": dict(counted), "checked": checked, "worker_restarts": restarts}
        return df.with_columns(pl.Series(TRACES, verdicts, dtype=dtype)), counters


__all__ = ["AnswerCheckParams", "Verify", "VerifyParams", "reference_answers"]
