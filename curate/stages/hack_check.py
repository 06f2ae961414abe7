"""`hack_check`: remove problems whose answer a model guesses without reasoning (Kimi k1.5 §2.1).

A problem the policy answers correctly with no chain of thought rewards guessing, not reasoning. The
stage asks the endpoint for `n` direct answers (same client, retries, limits and cache as `generate`),
checks each against the reference with the same verifier as `verify`, and writes the count of correct
guesses (`guessed`) and the guesses themselves; a record with more than `max_guessed` correct guesses
is removed as `guessable`. Guesses are not traces: they never reach traces/ or an SFT export.

A record none of whose guesses could be obtained (the endpoint failed every attempt) is kept with
`guessed` null and counted as `unchecked`: no evidence is not a reason to remove it. So is a record
whose guesses were all truncated (a reasoning model cut at `max_tokens`) or gave no answer, or that
has no reference.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import Field

from curate.answers.verifier import CORRECT, NO_ANSWER, VerifierPool
from curate.columns import DROP
from curate.stages.base import Threshold
from curate.stages.generate import Generate, GenerateParams, SamplingState
from curate.stages.verify import AnswerCheckParams, reference_answers

GUESS_PROMPT = "{{problem}}\n\nGive only the final answer within \\boxed{}. Do not explain or show any reasoning."


class HackCheckParams(GenerateParams, AnswerCheckParams):
    prompt: str = GUESS_PROMPT
    """Asks for the answer alone; `{{field}}` is replaced by the record's field."""
    n: int = Field(8, ge=1, le=10_000)
    """Guesses per problem (k1.5: 8)."""
    max_tokens: int | None = Field(64, ge=1)
    """A guess is short: a model that starts reasoning anyway is cut off, and a cut guess is no guess."""
    check_timeout: float = Field(5.0, gt=0)
    """Seconds per answer check, as `verify`'s timeout (`timeout` is the request's, as in `generate`)."""
    max_guessed: int = Field(0, ge=0)
    """A record with more correct guesses than this is `guessable` (k1.5: any correct guess)."""


@dataclass
class _GuessState(SamplingState):
    """Generate's client state, extended with the actor's verifier."""

    verifier: VerifierPool
    lock: asyncio.Lock  # one verifier per actor; its batches in flight take turns


class HackCheck(Generate):
    use = "hack_check"
    Params = HackCheckParams
    params: HackCheckParams

    def reads(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self._template_fields(), self.params.reference_field)))

    def writes(self) -> tuple[str, ...]:
        return ("guessed", "guesses")

    def reasons(self) -> tuple[str, ...]:
        return ("guessable", "empty_prompt")

    def provides(self) -> dict[str, Any]:
        return {}  # its prompt asks for a guess: no export should train on it

    def thresholds(self) -> list[Threshold]:
        return [Threshold("guessed", "guessable", max=self.params.max_guessed, setting="max_guessed")]

    def histograms(self) -> dict[str, list[float]]:
        return {"guessed": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}

    async def open(self, actor: dict[str, Any], run_dir: str) -> _GuessState:
        sampling = await super().open(actor, run_dir)
        return _GuessState(sampling.endpoint, sampling.cache, sampling.started_cpu, VerifierPool(self.params.check_timeout), asyncio.Lock())

    async def apply_async(self, state: SamplingState, df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        assert isinstance(state, _GuessState)  # this stage's `open` made it
        p = self.params
        conversations, samples, counters = await self._sample_all(state, df)
        references = reference_answers(df, p)
        guesses: list[list[str | None] | None] = []
        pending: list[tuple[int, int]] = []
        items: list[tuple[str | None, str]] = []
        for r, (record, reference) in enumerate(zip(samples, references)):
            if record is None:
                guesses.append(None)
                continue
            guesses.append([None] * len(record))
            usable = reference if reference is not None and reference.strip() else None
            for g, sample in enumerate(record):
                if sample["response"] and not sample["truncated"]:
                    pending.append((r, g))
                    items.append((usable, sample["response"]))
        async with state.lock:
            restarts = state.verifier.restarts
            found = await asyncio.to_thread(state.verifier.check_responses, items, p.extract, "guess")
        correct = [0] * df.height
        checked = [0] * df.height
        for (r, g), (answer, verdict) in zip(pending, found):
            row = guesses[r]
            assert row is not None  # pending holds only records with samples
            row[g] = answer
            if verdict not in (None, NO_ANSWER):
                correct[r] += verdict == CORRECT
                checked[r] += 1
        # a record is checked when at least one guess gave an answer to compare: every guess failed,
        # truncated (a reasoning model at max_tokens) or answerless, or no reference, is no evidence
        guessed: list[int | None] = [correct[r] if checked[r] else None for r in range(df.height)]
        reasons = [
            "empty_prompt" if conversations[r] is None else "guessable" if g is not None and g > p.max_guessed else None
            for r, g in enumerate(guessed)
        ]
        counters.update(
            guesses_checked=sum(checked),
            guessed_correct=sum(correct),
            unchecked=sum(g is None and c is not None for g, c in zip(guessed, conversations)),
            worker_restarts=state.verifier.restarts - restarts,
        )
        out = df.with_columns(
            pl.Series("guessed", guessed, dtype=pl.Int32),
            pl.Series("guesses", guesses, dtype=pl.List(pl.String)),
            pl.Series(DROP, reasons, dtype=pl.String),
        )
        return out, counters

    async def close(self, state: SamplingState) -> dict[str, Any]:
        assert isinstance(state, _GuessState)
        state.verifier.close()
        return await super().close(state)


__all__ = ["GUESS_PROMPT", "HackCheck", "HackCheckParams"]
