"""`generate`: sample `n` completions per record from any OpenAI-compatible endpoint.

The prompt is a template over the record's fields (`{{problem}}`; single braces, as in `\\boxed{}`, are
literal). Each sample is one request (n=1, seed + sample index when a seed is set): a sample is then
the unit of caching, retrying and accounting, and vLLM's and SGLang's prefix caches make the repeated
prompt cheap. Every sample is kept: a failure carries its error kind, a `length` stop is `truncated`.
The record gets `samples_ok` and `samples_failed`; its samples go to traces/, one row per (id, sample).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import resource
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import Field, field_validator

from curate.columns import DROP, TRACES
from curate.llm.endpoint import Endpoint, RetryPolicy, Sample
from curate.llm.prompts import DEFAULT_PROMPT, render_messages, template_fields
from curate.llm.sample_cache import SampleCache
from curate.stages.base import ServiceStage, StageParams

log = logging.getLogger("curate")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SAMPLE_FIELDS = {
    "sample": pl.Int32,
    "response": pl.String,
    "reasoning": pl.String,
    "finish_reason": pl.String,
    "truncated": pl.Boolean,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "latency": pl.Float64,
    "attempts": pl.Int32,
    "error": pl.String,
    "error_message": pl.String,
}
TRACE_TYPE = pl.List(pl.Struct(SAMPLE_FIELDS))
_CACHED = ("response", "reasoning", "finish_reason", "prompt_tokens", "completion_tokens", "latency", "attempts")


class GenerateParams(StageParams):
    model: str
    """The model name the endpoint serves (vLLM: the --served-model-name or the path)."""
    prompt: str = DEFAULT_PROMPT
    """The user message; `{{field}}` is replaced by the record's field."""
    system: str | None = None
    """An optional system message, also a template."""
    n: int = Field(8, ge=1, le=10_000)
    temperature: float | None = Field(1.0, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    """Sample i is requested with seed + i: reproducible where the endpoint honours seeds."""
    extra_body: dict[str, Any] = {}
    """Passed through as is, for the endpoint's own options (vLLM: top_k, min_p, repetition_penalty, ...)."""
    base_url: str | list[str] | None = None
    """Default: OPENAI_BASE_URL, else OpenAI's. A list drives several endpoints (replicas) at once."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the key; the key itself is never written anywhere."""
    max_concurrency: int = Field(64, ge=1)
    """Requests in flight per endpoint, at all times."""
    actors_per_endpoint: int = Field(1, ge=1)
    """Client processes per endpoint (the concurrency is split between them): for very fast endpoints."""
    timeout: float = Field(600.0, gt=0)
    """Seconds per request before it is abandoned and retried."""
    max_retries: int = Field(6, ge=0)
    backoff: float = Field(1.0, gt=0)
    """First retry's maximum delay in seconds; doubles each retry (full jitter), up to backoff_max."""
    backoff_max: float = Field(60.0, gt=0)
    max_retry_after: float = Field(300.0, gt=0)
    """The longest a server's Retry-After may make the client wait, in seconds; a longer one (a day,
    say) is cut to this, counted in the stats and reported once as a warning."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Per endpoint."""
    tokens_per_minute: float | None = Field(None, gt=0)
    """Per endpoint: prompt (estimated) + max_tokens reserved per request, the unused part given back."""
    cache: bool = True
    cache_dir: str | None = None
    """Default: OUT/cache, which --overwrite keeps. Point runs at one directory to share their samples."""

    @field_validator("prompt", "system")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        for url in [value] if isinstance(value, str) else value or []:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        if isinstance(value, list) and not value:
            raise ValueError("give at least one URL")
        return value


@dataclass
class SamplingState:
    """An actor's client: its endpoint, its cache, and its CPU clock at the start."""

    endpoint: Endpoint
    cache: SampleCache | None
    started_cpu: float


class Generate(ServiceStage):
    use = "generate"
    Params: ClassVar[type[GenerateParams]] = GenerateParams
    params: GenerateParams

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._api_key: str | None = None  # set by prepare; not a parameter, so never in a description, manifest or log
        self._urls: list[str] = []
        self._cache_dir: Path | None = None

    def reads(self) -> tuple[str, ...]:
        return self._template_fields()

    def _template_fields(self) -> tuple[str, ...]:
        return template_fields(self.params.prompt, self.params.system)

    def writes(self) -> tuple[str, ...]:
        return (TRACES, "samples_ok", "samples_failed")

    def reasons(self) -> tuple[str, ...]:
        return ("empty_prompt",)

    def provides(self) -> dict[str, Any]:
        return {"prompt": self.params.prompt, "system": self.params.system}

    def prepare(self) -> None:
        p = self.params
        urls = p.base_url if isinstance(p.base_url, list) else [p.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL]
        self._urls = [u.rstrip("/") for u in urls]
        key = os.environ.get(p.api_key_env)
        if not key:
            if any("api.openai.com" in u for u in self._urls):
                raise ValueError(f"the environment variable {p.api_key_env} (api_key_env) holding the API key is not set")
            log.info("stage %r: %s is not set; sending no key (vLLM, SGLang and llama.cpp need none unless started with one)", self.name, p.api_key_env)
        self._api_key = key or "EMPTY"
        # resolved here: the actors' working directory is Ray's, not the user's
        self._cache_dir = Path(p.cache_dir).expanduser().resolve() if p.cache_dir else None

    def actors(self) -> list[dict[str, Any]]:
        per_actor = math.ceil(self.params.max_concurrency / self.params.actors_per_endpoint)
        return [{"base_url": url, "max_concurrency": per_actor} for url in self._urls for _ in range(self.params.actors_per_endpoint)]

    def batch_records(self) -> int:
        per_actor = math.ceil(self.params.max_concurrency / self.params.actors_per_endpoint)
        return max(1, math.ceil(max(per_actor, 128) / self.params.n))

    async def open(self, actor: dict[str, Any], run_dir: str) -> SamplingState:
        p = self.params
        rpm = p.requests_per_minute / self.params.actors_per_endpoint if p.requests_per_minute else None
        tpm = p.tokens_per_minute / self.params.actors_per_endpoint if p.tokens_per_minute else None
        endpoint = Endpoint(
            actor["base_url"],
            self._api_key or "EMPTY",
            max_concurrency=actor["max_concurrency"],
            timeout=p.timeout,
            retry=RetryPolicy(p.max_retries, p.backoff, p.backoff_max, p.max_retry_after),
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
        )
        cache = SampleCache(self._cache_dir or Path(run_dir) / "cache") if p.cache else None
        return SamplingState(endpoint, cache, time.process_time())

    async def apply_async(self, state: SamplingState, df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        conversations, traces, counters = await self._sample_all(state, df)
        ok = [None if t is None else sum(x["error"] is None for x in t) for t in traces]
        out = df.with_columns(
            pl.Series(TRACES, traces, dtype=TRACE_TYPE),
            pl.Series("samples_ok", ok, dtype=pl.Int32),
            pl.Series("samples_failed", [None if t is None or o is None else len(t) - o for t, o in zip(traces, ok)], dtype=pl.Int32),
            pl.Series(DROP, [None if m is not None else "empty_prompt" for m in conversations], dtype=pl.String),
        )
        return out, counters

    async def _sample_all(self, state: SamplingState, df: pl.DataFrame) -> tuple[list[Any], list[list[dict[str, Any]] | None], dict[str, Any]]:
        """Every record's `n` samples (None for a record whose prompt is empty), from the cache or the
        endpoint, and what they cost."""
        p = self.params
        fields = self._template_fields()
        conversations = [self._messages(row) for row in df.select(fields).iter_rows(named=True)] if fields else [self._messages({})] * df.height
        keys = [[self._cache_key(m, s) for s in range(p.n)] if m is not None else [] for m in conversations]
        cached = state.cache.get_many([k for ks in keys for k in ks]) if state.cache is not None else {}

        async def one(messages: list[dict[str, str]], sample: int, key: str) -> Sample:
            if key in cached:
                fields: dict[str, Any] = {f: cached[key].get(f) for f in _CACHED}  # JSON as this stage stored it
                return Sample(**fields)
            result = await state.endpoint.complete(self._request(messages, sample), {"X-Curate-Keys": key}, self._token_estimate(messages))
            if result.error is None and state.cache is not None:
                state.cache.put(key, {f: getattr(result, f) for f in _CACHED})
            return result

        tasks = {(r, s): asyncio.ensure_future(one(m, s, keys[r][s])) for r, m in enumerate(conversations) if m is not None for s in range(p.n)}
        try:
            # no barrier: the endpoint's slots are shared by every batch in flight on this actor
            done = await asyncio.gather(*tasks.values())
        except BaseException:
            for task in tasks.values():
                task.cancel()
            raise
        samples = dict(zip(tasks, done))
        counters = _counters([sample for (r, s), sample in samples.items() if keys[r][s] not in cached])
        counters.update(
            samples=len(tasks),
            cache_hits=len(tasks) - sum(keys[r][s] not in cached for r, s in tasks),
            truncated=sum(sample.finish_reason == "length" for sample in done),
        )
        traces = [None if m is None else [{"sample": s, **_trace_fields(samples[(r, s)])} for s in range(p.n)] for r, m in enumerate(conversations)]
        return conversations, traces, counters

    async def close(self, state: SamplingState) -> dict[str, Any]:
        await state.endpoint.close()
        if state.cache is not None:
            state.cache.close()
        # per client process: summed over the actors (and, after a resume, over this session's only)
        return {
            "client_cpu_seconds": round(time.process_time() - state.started_cpu, 3),
            "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_in_flight": state.endpoint.peak_in_flight,
        }

    # ------------------------------------------------------------ helpers

    def _messages(self, row: dict[str, Any]) -> list[dict[str, str]] | None:
        return render_messages(self.params.prompt, self.params.system, row)

    def _sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_tokens": p.max_tokens, "seed": p.seed, "extra_body": p.extra_body}

    def _cache_key(self, messages: list[dict[str, str]], sample: int) -> str:
        """What determines a sample, and nothing else: the endpoint's address and the pipeline may change."""
        blob = json.dumps([self.params.model, messages, self._sampling(), sample], sort_keys=True, ensure_ascii=False)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()

    def _request(self, messages: list[dict[str, str]], sample: int) -> dict[str, Any]:
        p = self.params
        request: dict[str, Any] = {"model": p.model, "messages": messages, "n": 1}
        for name in ("temperature", "top_p", "max_tokens"):
            if getattr(p, name) is not None:
                request[name] = getattr(p, name)
        if p.seed is not None:
            request["seed"] = p.seed + sample
        if p.extra_body:
            request["extra_body"] = dict(p.extra_body)
        return request

    def _token_estimate(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"]) for m in messages) // 3 + 8 + (self.params.max_tokens or 4096)


def _trace_fields(sample: Sample) -> dict[str, Any]:
    fields = {name: getattr(sample, name) for name in SAMPLE_FIELDS if name not in ("sample", "truncated")}
    fields["truncated"] = sample.finish_reason == "length"
    return fields


def _counters(requested: list[Sample]) -> dict[str, Any]:
    """What the samples requested in this batch cost: attempts, retries by cause, failures by kind, tokens."""
    retries: Counter = Counter()
    for sample in requested:
        retries.update(sample.retries)
    counters = {
        "requests": sum(s.attempts for s in requested),
        "retries": dict(retries),
        "failures": dict(Counter(s.error for s in requested if s.error)),
        "prompt_tokens": sum(s.prompt_tokens or 0 for s in requested),
        "completion_tokens": sum(s.completion_tokens or 0 for s in requested),
    }
    cut = [s.retry_after_cut for s in requested if s.retry_after_cut]
    if cut:  # summed over batches by the ledger; peak_* by maximum
        counters["retry_after_cut"] = len(cut)
        counters["peak_retry_after_asked"] = max(cut)
    return counters


__all__ = ["DEFAULT_PROMPT", "SAMPLE_FIELDS", "TRACE_TYPE", "Generate", "GenerateParams"]
