"""`step_labels`: step-level labels for process rewards, by Math-Shepherd's estimation.

Each chosen trace (a verified sample, from `generate` and `verify`, or a field `verify` read) is cut
into steps (`curate/text/steps.py`, in its solution part: `curate/text/reasoning.py`). A step is
labelled by completing the trace `n` times from the end of that step, through the same client as
`generate` (retries, rate limits, concurrency, the sample cache), and checking each completion's
final answer with `verify`'s checker: the step is good (hard label) when any completion reaches the
reference, and its soft label is the share that do. The last step's label is the trace's own verdict.

`search: full` samples from every step (Math-Shepherd: n requests per step of every trace).
`search: binary` (OmegaPRM's insight) labels a correct trace's steps good without a request (the
trace itself reaches the answer from each of them) and finds a wrong trace's first bad step by binary
search over its prefixes: the steps before it are good, it and those after it bad; about log2(steps)
probes instead of one per step. Both assume, as the hard estimate does, that once a prefix cannot be
completed to the answer no longer one can.

Continuations are chat requests whose last message is the partial assistant message, with
`continue_final_message: true, add_generation_prompt: false` in the body (vLLM's and SGLang's chat
API continue that message instead of starting a new turn; `continuation_body` replaces those two
keys for a server that names them otherwise), or, with `continuation: completion`, requests to a
completions endpoint whose prompt is `completion_template` (the model's chat template written out)
followed by the partial trace.

Written on each chosen sample (in traces/): `step_starts` and `step_ends` (where each step starts
and ends in the response, in characters), `step_labels` (hard), `step_scores` (soft; null for a step binary search never sampled),
`first_error_step` (0-based; null when every step is good), `step_answers` (per step, the answers the
completions reached) and `step_requests`. A trace that could not be labelled (no reference, a single
step, or every completion of a probe failed) is counted in the stats by why; its problem is kept.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.answers.verifier import CORRECT, NO_ANSWER, VerifierPool
from curate.columns import TRACES
from curate.llm.endpoint import Sample
from curate.llm.prompts import render_messages, template_fields
from curate.stages.generate import _CACHED, Generate, GenerateParams, SamplingState, _counters
from curate.stages.verify import AnswerCheckParams, reference_answers
from curate.text.reasoning import solution_of
from curate.text.steps import step_spans

STEP_FIELDS: dict[str, Any] = {
    "step_starts": pl.List(pl.Int32),
    "step_ends": pl.List(pl.Int32),
    "step_labels": pl.List(pl.Boolean),
    "step_scores": pl.List(pl.Float64),
    "first_error_step": pl.Int32,
    "step_answers": pl.List(pl.List(pl.String)),
    "step_requests": pl.Int32,
}


class StepLabelsParams(GenerateParams, AnswerCheckParams):
    n: int = Field(8, ge=1, le=256)
    """Completions per step (Math-Shepherd's N)."""
    search: Literal["full", "binary"] = "full"
    split: Literal["auto", "blank_lines", "numbered", "sentences"] = "auto"
    """How a solution is cut into steps (curate/text/steps.py)."""
    max_steps: int = Field(12, ge=2, le=200)
    """Steps beyond this are merged with their neighbours."""
    label: Literal["all", "correct", "wrong"] = "all"
    """Which verified samples of a problem to label."""
    max_traces: int | None = Field(2, ge=1)
    """Samples labelled per problem (the first by sample number among those `label` picks); none: all."""
    trace_format: Literal["auto", "think", "sky", "field", "plain"] = "auto"
    continuation: Literal["chat", "completion"] = "chat"
    """`chat`: the prompt's messages and the partial assistant message, which the server continues
    (`continuation_body`); `completion`: a completions endpoint (/v1/completions) given
    `completion_template` rendered for the record, then the partial trace, as one text."""
    continuation_body: dict[str, Any] = {"continue_final_message": True, "add_generation_prompt": False}
    """Added to each chat continuation's body (with `extra_body`)."""
    completion_template: str | None = None
    """With `continuation: completion`, the text before the assistant's reply, the model's chat template
    written out over the record's fields: `<|im_start|>user\n{{problem}}<|im_end|>\n<|im_start|>assistant\n`."""

    @model_validator(mode="after")
    def _completion_needs_a_template(self) -> StepLabelsParams:
        if self.continuation == "completion" and not (self.completion_template and template_fields(self.completion_template)):
            raise ValueError("continuation: completion needs a completion_template that uses the problem's field, as in {{problem}}")
        return self
    check_timeout: float = Field(5.0, gt=0)
    """Seconds per answer check, as `verify`'s timeout."""


@dataclass
class _LabelState(SamplingState):
    verifier: VerifierPool
    lock: asyncio.Lock
    in_flight: dict[str, asyncio.Future]
    """Requests under way by cache key: traces of one problem often share their first steps, and a
    continuation asked for twice is sent once."""


@dataclass
class _Trace:
    """One trace being labelled."""

    record: int
    sample: int
    response: str
    correct: bool
    starts: list[int]
    ends: list[int]
    """Where each step starts and ends in the response (characters)."""
    reference: str
    labels: list[bool | None]
    scores: list[float | None]
    answers: list[list[str] | None]
    requests: int = 0
    failed: bool = False


class StepLabels(Generate):
    use = "step_labels"
    Params = StepLabelsParams
    params: StepLabelsParams

    def reads(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self._template_fields(), self.params.reference_field, TRACES)))

    def _template_fields(self) -> tuple[str, ...]:
        p = self.params
        return template_fields(p.completion_template) if p.continuation == "completion" else template_fields(p.prompt, p.system)

    def _messages(self, row: dict[str, Any]) -> list[dict[str, str]] | None:
        p = self.params
        if p.continuation == "completion":
            assert p.completion_template is not None  # the params' validator
            rendered = render_messages(p.completion_template, None, row)
            return None if rendered is None else [{"role": "text", "content": rendered[-1]["content"]}]
        return super()._messages(row)

    def writes(self) -> tuple[str, ...]:
        return ("labelled_traces",)

    def reasons(self) -> tuple[str, ...]:
        return ()

    def needs(self) -> tuple[str, ...]:
        return ("verdicts",)

    def provides(self) -> dict[str, Any]:
        return {"step_labels": True}

    def batch_records(self) -> int:
        return max(1, self.params.max_concurrency // max(1, self.params.n))

    async def open(self, actor: dict[str, Any], run_dir: str) -> _LabelState:
        sampling = await super().open(actor, run_dir)
        return _LabelState(sampling.endpoint, sampling.cache, sampling.started_cpu, VerifierPool(self.params.check_timeout), asyncio.Lock(), {})

    async def close(self, state: SamplingState) -> dict[str, Any]:
        assert isinstance(state, _LabelState)
        state.verifier.close()
        return await super().close(state)

    async def apply_async(self, state: SamplingState, df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        assert isinstance(state, _LabelState)
        p = self.params
        conversations = [self._messages(row) for row in df.select(self._template_fields()).iter_rows(named=True)]
        references = reference_answers(df, p)
        rows = df[TRACES].to_list()
        unlabelled: Counter = Counter()  # traces left without labels, by why
        traces: list[_Trace] = []
        for r, (samples, reference) in enumerate(zip(rows, references)):
            if reference is None or not str(reference).strip():
                unlabelled["no_reference"] += min(len(samples or []), p.max_traces or len(samples or []))
                continue
            verified = [s for s in samples or [] if s.get("correct") is not None]
            unlabelled["no_verdict"] += len(samples or []) - len(verified)
            chosen = [s for s in verified if p.label == "all" or s["correct"] == (p.label == "correct")]
            for sample in chosen[: p.max_traces] if p.max_traces else chosen:
                trace = self._trace(r, sample, reference, conversations[r], unlabelled)
                if trace is not None:
                    traces.append(trace)
        sent: list[Sample] = []
        await asyncio.gather(*(self._label(state, conversations[t.record] or [], t, sent) for t in traces))
        for trace in traces:
            if trace.failed:
                unlabelled["requests_failed"] += 1
        by_sample = {(t.record, t.sample): t for t in traces if not t.failed}
        out_rows: list[list[dict[str, Any]] | None] = []
        for r, samples in enumerate(rows):
            if samples is None:
                out_rows.append(None)
                continue
            out_rows.append([{**s, **_fields(by_sample.get((r, s["sample"])))} for s in samples])
        listed = df[TRACES].dtype
        assert isinstance(listed, pl.List) and isinstance(listed.inner, pl.Struct)
        dtype = pl.List(pl.Struct({**{k: v for k, v in listed.inner.to_schema().items() if k not in STEP_FIELDS}, **STEP_FIELDS}))
        labelled = [sum((r, s["sample"]) in by_sample for s in samples or []) for r, samples in enumerate(rows)]
        counters = _counters(sent)
        counters.update(
            traces_labelled=len(by_sample),
            steps_labelled=sum(len(t.ends) for t in by_sample.values()),
            step_requests=sum(t.requests for t in traces),
            first_errors=sum(any(label is False for label in t.labels) for t in by_sample.values()),
            unlabelled={k: v for k, v in unlabelled.items() if v},
        )
        out = df.with_columns(pl.Series(TRACES, out_rows, dtype=dtype), pl.Series("labelled_traces", labelled, dtype=pl.Int32))
        return out, counters

    def _trace(self, record: int, sample: dict[str, Any], reference: str, conversation: Any, unlabelled: Counter) -> _Trace | None:
        p = self.params
        response = sample.get("response") or ""
        if conversation is None:
            unlabelled["empty_prompt"] += 1
            return None
        solution, cut = solution_of(response, sample.get("reasoning"), p.trace_format)
        if cut or sample.get("verdict") == "truncated":
            unlabelled["truncated"] += 1
            return None
        offset = response.find(solution) if solution else -1
        spans = step_spans(solution, p.split, p.max_steps) if offset >= 0 and not cut else []
        if len(spans) < 2:
            unlabelled["fewer_than_two_steps"] += 1
            return None
        starts, ends = [offset + start for start, _ in spans], [offset + end for _, end in spans]
        k = len(ends)
        correct = bool(sample["correct"])
        labels: list[bool | None] = [None] * (k - 1) + [correct]
        return _Trace(record, int(sample["sample"]), response, correct, starts, ends, str(reference), labels, [None] * (k - 1) + [1.0 if correct else 0.0], [None] * k)

    async def _label(self, state: _LabelState, conversation: list[dict[str, str]], trace: _Trace, sent: list[Sample]) -> None:
        k = len(trace.ends)
        if self.params.search == "full":
            probes = await asyncio.gather(*(self._probe(state, conversation, trace, step, sent) for step in range(k - 1)))
            if any(score is None for score in probes):
                trace.failed = True
                return
            return
        if trace.correct:  # the trace reaches the answer from each of its steps
            trace.labels = [True] * k
            return
        good, bad = -1, k - 1  # step `good` can still be completed to the answer (-1: the empty prefix), `bad` cannot
        while bad - good > 1:
            middle = (good + bad) // 2
            score = await self._probe(state, conversation, trace, middle, sent)
            if score is None:
                trace.failed = True
                return
            if score > 0:
                good = middle
            else:
                bad = middle
        trace.labels = [step < bad for step in range(k)]

    async def _probe(self, state: _LabelState, conversation: list[dict[str, str]], trace: _Trace, step: int, sent: list[Sample]) -> float | None:
        """`n` completions from the end of `step`: the share reaching the reference (None: all failed)."""
        p = self.params
        prefix = trace.response[: trace.ends[step]]
        if p.continuation == "completion":  # one text: the template written out, then the partial trace
            messages = [{"role": "text", "content": conversation[0]["content"] + prefix}]
        else:
            messages = [*conversation, {"role": "assistant", "content": prefix}]
        keys = [self._cache_key(messages, s) for s in range(p.n)]
        cached = state.cache.get_many(keys) if state.cache is not None else {}

        sent_here = 0

        async def one(s: int, key: str) -> Sample:
            nonlocal sent_here
            if key in cached:
                fields: dict[str, Any] = {f: cached[key].get(f) for f in _CACHED}  # JSON as generate stores it
                return Sample(**fields)
            if key in state.in_flight:
                return await asyncio.shield(state.in_flight[key])
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            state.in_flight[key] = future
            try:
                request = self._request(messages, s)
                if p.continuation == "completion":
                    request["prompt"] = request.pop("messages")[0]["content"]
                else:
                    request["extra_body"] = {**request.get("extra_body", {}), **p.continuation_body}
                result = await state.endpoint.complete(request, {"X-Curate-Keys": key}, self._token_estimate(messages))
                sent_here += 1
                sent.append(result)
                if result.error is None and state.cache is not None:
                    state.cache.put(key, {f: getattr(result, f) for f in _CACHED})
                future.set_result(result)
                return result
            except BaseException as error:
                future.set_exception(error)
                raise
            finally:
                del state.in_flight[key]

        results = await asyncio.gather(*(one(s, key) for s, key in enumerate(keys)))
        trace.requests += sent_here
        texts = [prefix + (r.response or "") for r in results if r.error is None and r.finish_reason != "length"]
        if not any(r.error is None for r in results):
            return None
        items = [(trace.reference, solution_of(text, None, p.trace_format)[0]) for text in texts]
        async with state.lock:
            found = await asyncio.to_thread(state.verifier.check_responses, items, p.extract)
        correct = sum(verdict == CORRECT for _, verdict in found)
        score = correct / len(results)
        trace.scores[step] = score
        trace.labels[step] = correct > 0
        trace.answers[step] = [answer or "" for answer, verdict in found if verdict != NO_ANSWER]
        return score


def _fields(trace: _Trace | None) -> dict[str, Any]:
    if trace is None:
        return dict.fromkeys(STEP_FIELDS)
    first = next((i for i, label in enumerate(trace.labels) if label is False), None)
    return {"step_starts": trace.starts, "step_ends": trace.ends, "step_labels": trace.labels, "step_scores": trace.scores, "first_error_step": first,
            "step_answers": trace.answers, "step_requests": trace.requests}


__all__ = ["STEP_FIELDS", "StepLabels", "StepLabelsParams"]
