"""One OpenAI-compatible endpoint, driven hard and politely: many requests in flight, retries, rate limits.

Why not `asyncio.gather` over batches: a batch lasts as long as its slowest request, and the endpoint
idles meanwhile. Here every request holds one of `max_concurrency` slots only while it is on the wire,
and the next waiting request takes the slot the moment it frees. Backoff sleeps outside the slot.

Faults: 429, 5xx, 408/409, timeouts, dropped connections and unreadable bodies are retried with
exponential backoff and full jitter, never sooner than the server's `Retry-After` (a 429 pauses every
new request of this client until then, not just the one). Other 4xx fail the sample at once (a prompt
longer than the context, say). A rejected key or an unknown model stops the run: every request would
fail the same way.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import openai

from curate.errors import StageError

# Error kinds, as the traces' `error` column and the stats name them.
RATE_LIMIT, SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED, BAD_REQUEST = "rate_limit", "server_error", "timeout", "connection", "malformed", "bad_request"
_RETRIED_STATUS = {408, 409}


@dataclass
class Sample:
    """One completion (or its failure): what a trace row records."""

    response: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency: float | None = None
    error: str | None = None
    error_message: str | None = None
    attempts: int = 0
    retries: Counter = field(default_factory=Counter)
    """Causes of the attempts that were retried: counted per sample, so the stats survive a resume."""
    retry_after_cut: float = 0.0
    """The longest Retry-After this sample's server asked for beyond max_retry_after (0: none)."""


class TokenBucket:
    """At most `per_minute` per minute, smoothly: one second's allowance of burst, refilled continuously.
    A take larger than the burst waits for a full bucket and leaves a debt, so any 60-second window
    holds at most the limit plus one second's allowance, however large the requests (tokens)."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = time.monotonic()

    async def take(self, amount: float) -> None:
        while True:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now
            if self.level >= min(amount, self.capacity):
                self.level -= amount
                return
            await asyncio.sleep((min(amount, self.capacity) - self.level) / self.rate)

    def give_back(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


@dataclass
class RetryPolicy:
    max_retries: int = 6
    backoff: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    """The longest wait a server's Retry-After may impose; a longer one is cut to it (and counted)."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS's study: fewest total calls under contention), floored by the server's
        Retry-After (itself capped)."""
        jittered = random.uniform(0, min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))
        return max(jittered, min(retry_after or 0.0, self.max_retry_after))


_BEARER = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_HEADER = re.compile(r"""(?i)(["']?(?:(?:proxy-)?authorization|(?:x-)?api[-_]?key)["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;}\]]+""")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]+@")


def redact(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """An error message as it may be stored and shown: without the key, whatever echoed it (an
    endpoint or a proxy that quotes the request back), nor any Authorization header, bearer token,
    api-key parameter, OpenAI-style key or password in a URL."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _HEADER.sub(r"\1[redacted]", text)
    text = _BEARER.sub(r"\1\2[redacted]", text)
    text = _OPENAI_KEY.sub("sk-[redacted]", text)
    return _URL_CREDENTIALS.sub(r"\1[redacted]@", text)


class Endpoint:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_concurrency: int,
        timeout: float,
        retry: RetryPolicy,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ):
        # the client's own retries are off: they would sleep inside our slot and hide the causes from the stats
        limits = openai.DefaultAsyncHttpxClient(limits=_limits(max_concurrency))
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout, http_client=limits)
        self.base_url = base_url
        self.secrets = (api_key,) if api_key and api_key != "EMPTY" else ()
        self.slots = asyncio.Semaphore(max_concurrency)
        self.retry = retry
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.paused_until = 0.0
        self.in_flight = 0
        self.peak_in_flight = 0

    async def complete(self, request: dict[str, Any], headers: dict[str, str], token_estimate: int) -> Sample:
        """One sample, retried until it succeeds or its retries run out; the failure is returned, not raised."""
        attempt, cut = 0, 0.0
        retries: Counter[str] = Counter()
        retry_after: float | None
        while True:
            attempt += 1
            wait = self.paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.requests:
                await self.requests.take(1)
            if self.tokens:
                await self.tokens.take(token_estimate)
            async with self.slots:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                started = time.perf_counter()
                try:
                    if "prompt" in request:  # a completions endpoint: raw text in, raw text out
                        response = await self.client.completions.create(**request, extra_headers=headers)
                        sample = _text_sample(response)
                    else:
                        response = await self.client.chat.completions.create(**request, extra_headers=headers)
                        sample = _sample(response)
                    kind, message, retry_after = (None, None, None) if sample is not None else (MALFORMED, "the response has no choice", None)
                except openai.APIStatusError as err:
                    kind, message, retry_after = _status_error(err, self.base_url, request.get("model"))
                except openai.APITimeoutError:
                    kind, message, retry_after = TIMEOUT, "no response within the timeout", None
                except openai.APIConnectionError as err:
                    kind, message, retry_after = CONNECTION, _first_line(err), None
                except (openai.APIResponseValidationError, ValueError, TypeError, KeyError, AttributeError) as err:
                    kind, message, retry_after = MALFORMED, f"unreadable response: {_first_line(err)}", None
                finally:
                    self.in_flight -= 1
                latency = time.perf_counter() - started
            if kind is None:
                assert sample is not None  # no error kind: the response had a choice
                if self.tokens:
                    self.tokens.give_back(max(0, token_estimate - (sample.prompt_tokens or 0) - (sample.completion_tokens or 0)))
                sample.latency, sample.attempts, sample.retries, sample.retry_after_cut = latency, attempt, retries, cut
                return sample
            message = redact(message, self.secrets)
            if retry_after and retry_after > self.retry.max_retry_after:
                cut = max(cut, retry_after)
                retry_after = self.retry.max_retry_after
            if kind == RATE_LIMIT and retry_after:
                self.paused_until = max(self.paused_until, time.monotonic() + retry_after)
            if kind == BAD_REQUEST or attempt > self.retry.max_retries:
                return Sample(error=kind, error_message=message, attempts=attempt, retries=retries, retry_after_cut=cut)
            retries[kind] += 1
            await asyncio.sleep(self.retry.delay(attempt, retry_after))

    async def close(self) -> None:
        await self.client.close()


def split_reasoning(content: str | None, reasoning: str | None) -> tuple[str | None, str | None]:
    """(answer, reasoning): the endpoint's separate reasoning field, else a `<think>…</think>` block
    (also when the chat template opened it, so only `</think>` is in the text; or when a truncated
    response never closed it). The answer never repeats the reasoning."""
    if reasoning or content is None:
        return content, reasoning or None
    closing = content.find("</think>")
    opening = content.find("<think>")
    if closing >= 0:
        start = opening + len("<think>") if 0 <= opening < closing else 0
        return content[closing + len("</think>") :].lstrip(), content[start:closing].strip()
    if opening >= 0:
        return "", content[opening + len("<think>") :].strip()
    return content, None


def _sample(response: Any) -> Sample | None:
    choices = getattr(response, "choices", None)
    if not choices:
        return None
    choice = choices[0]
    message = choice.message
    extra = getattr(message, "model_extra", None) or {}
    # vLLM and SGLang: reasoning_content (newer vLLM: reasoning); the content may be null when truncated
    reasoning = extra.get("reasoning_content") or extra.get("reasoning") or getattr(message, "reasoning_content", None)
    if message.content is None and not reasoning and choice.finish_reason != "length":
        return None
    answer, reasoning = split_reasoning(message.content, reasoning if isinstance(reasoning, str) else None)
    usage = getattr(response, "usage", None)
    return Sample(
        response=answer if answer is not None else "",
        reasoning=reasoning,
        finish_reason=choice.finish_reason,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


def _text_sample(response: Any) -> Sample | None:
    """A completions endpoint's first choice (no chat template: the text goes on from the prompt)."""
    choices = getattr(response, "choices", None)
    if not choices or getattr(choices[0], "text", None) is None:
        return None
    usage = getattr(response, "usage", None)
    return Sample(response=choices[0].text, finish_reason=choices[0].finish_reason, prompt_tokens=getattr(usage, "prompt_tokens", None),
                  completion_tokens=getattr(usage, "completion_tokens", None))


def _status_error(err: openai.APIStatusError, base_url: str, model: Any) -> tuple[str, str, float | None]:
    status = err.status_code
    message = f"HTTP {status}: {_first_line(err)}"
    if status in (401, 403):
        raise StageError(f"endpoint {base_url} rejected the API key (HTTP {status}); set the key's environment variable (api_key_env)")
    if status == 404:
        raise StageError(f"endpoint {base_url}: HTTP 404 for model {model!r}: check base_url (it ends in /v1) and model")
    if status == 429:
        return RATE_LIMIT, message, _retry_after(err.response)
    if status >= 500 or status in _RETRIED_STATUS:
        return SERVER_ERROR, message, _retry_after(err.response)
    return BAD_REQUEST, message, None


def _retry_after(response: Any) -> float | None:
    """Seconds from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`; None if absent or unreadable."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        if re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            return float(value)
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def _limits(max_concurrency: int) -> Any:
    import httpx2 as httpx  # openai's transport

    return httpx.Limits(max_connections=max_concurrency + 16, max_keepalive_connections=max_concurrency + 16)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


__all__ = ["Endpoint", "RetryPolicy", "Sample", "TokenBucket", "redact", "split_reasoning"]
