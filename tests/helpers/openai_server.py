"""An OpenAI-compatible chat-completions server for tests and benchmarks (a fixture, not a product feature).

It replays real model responses (or deterministic synthetic ones), injects faults and latency on demand and
counts attempts per sample key, so a client's retries, deduplication and concurrency can be checked against
ground truth. Stdlib only: asyncio streams, HTTP/1.1 keep-alive, Content-Length bodies, 127.0.0.1 only.

    python tests/helpers/openai_server.py --port 0 --config '{"latency": [0.2, 3.0]}'   # prints LISTENING <port>

    with start_server(faults={"429": 0.3}) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        ...
        server.stats()["keys"]

Settings (DEFAULTS; `--config`, `start_server(**config)` and `Server.configure(**config)` replace them key by key):
  model               name echoed when a request has none, and listed by GET /v1/models
  replay              JSONL paths: {question, response|code: [texts]} (MATH traces) or {question, <model>:
                      {solution}} (GSM8K); a request whose last user message contains a question is answered
                      with responses[index % len], index = seed + choice if `seed` is given, else a hash of the
                      choice's key. Other prompts get a synthetic chain of thought ending in \\boxed{N}.
  reasoning           "none" | "field" (reasoning_content = all but the last paragraph, content = the last)
                      | "think" (content = "<think>REASONING</think>\\n\\nANSWER")
  latency             seconds, or [lo, hi] drawn per attempt from hash(first key, attempt, latency_seed)
  faults              {kind: probability}, kinds FAULT_KINDS ("echo": a 502 quoting the request's headers); drawn from hash(first key, attempt, fault_seed),
                      at most max_faults_per_key faulted attempts per key. "length" is drawn per choice from
                      hash(key, fault_seed) without the attempt: a property of the response, so never capped.
  retry_after         Retry-After of 429 replies;  hang_seconds: how long "hang" waits before replying
  fail_keys           {key: kind}: every attempt that includes the key gets that fault (uncapped)
  status_always       int: every chat request gets this status (e.g. 401)
  api_key             when set, requests need `Authorization: Bearer <api_key>` (else 401)

Continuations: a request whose last message is the assistant's (a partial trace, as step-level
labelling sends with vLLM's continue_final_message) gets `continuation(...)`: the rest of a real trace
of the same problem from the step reached, or, after a prefix no real trace has, a wrong answer.
POST /v1/completions does the same for a prompt that holds the problem and then the partial trace.

Sample keys: header `X-Curate-Keys: k1,k2,...`, one per choice (400 if the count is not n); without it, the
blake2b of the body (suffixed /i when n > 1). Each key counts attempts (requests that included it, 401s too)
and ok (choices delivered in a well-formed 200). Gateway errors (401, status_always, 429) reply at once;
everything else waits the latency first. A "length" choice keeps its first 30%: with reasoning on, that cut
falls inside the reasoning (no answer, "<think>" unclosed). GET /_stats also reports client_closed (clients
that left while their request waited). GET /_stats, GET|POST /_config, POST /_reset are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from typing import Any

DEFAULTS: dict[str, Any] = {
    "model": "curate-mock",
    "replay": [],
    "reasoning": "none",
    "latency": 0,
    "latency_seed": 0,
    "faults": {},
    "fault_seed": 0,
    "max_faults_per_key": 2,
    "retry_after": "1",
    "hang_seconds": 60,
    "fail_keys": {},
    "status_always": None,
    "api_key": None,
}
FAULT_KINDS = ("429", "500", "503", "hang", "malformed", "disconnect", "echo", "length")
REASONING = ("none", "field", "think")
KEYS_HEADER = "x-curate-keys"
STARTUP_TIMEOUT = 30.0
QUIET = (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)  # the client left (or sent a head over 64 KiB)

log = logging.getLogger("openai_server")


def _unit(*parts: Any) -> float:
    """A uniform draw in [0, 1) that depends only on `parts`: the same request replays the same way."""
    return _hash(*parts) / 2**64


def _hash(*parts: Any) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _responses_of(record: dict[str, Any]) -> list[str]:
    """MATH traces hold 8 full chains of thought (ending in \\boxed{..}) in `response` (same texts as `code`);
    GSM8K holds one {solution, is_correct} per model."""
    for field in ("response", "code"):
        value = record.get(field)
        if isinstance(value, list) and value and all(isinstance(text, str) for text in value):
            return value
    return [v["solution"] for v in record.values() if isinstance(v, dict) and isinstance(v.get("solution"), str)]


def load_replay(paths: list[str]) -> dict[str, list[str]]:
    """question -> responses, over all files (a question in several files gets all their responses)."""
    table: dict[str, list[str]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    table.setdefault(record["question"], []).extend(_responses_of(record))
    return {question: texts for question, texts in table.items() if texts}


def synthetic(prompt: str, index: int) -> str:
    """A deterministic stand-in for a model's chain of thought, for prompts the replay files do not know."""
    h = _hash(index, prompt)
    a, b = h % 97 + 3, (h >> 16) % 89 + 2
    return (f"Let me think. The problem asks for a single number, so I will work it out step by step.\n\n"
            f"First, the quantities involved are {a} and {b}. Combining them gives {a} * {b} = {a * b}, "
            f"and adding {a} gives {a * b + a}.\n\nThe answer is \\boxed{{{a * b + a}}}.")


WRONG_ANSWER = "-987654321"
"""The final answer of a continuation of a prefix that no real trace has (a planted error): wrong for any problem."""


def continuation(prefix: str, responses: list[str], index: int) -> str:
    """The rest of a trace of the same problem after `prefix` (a partial assistant message, as step-level
    labelling sends): for a prefix of one of the problem's real traces, response `index` of the problem
    (correct or not) from the paragraph the prefix has reached; for any other prefix (a step with a
    planted error), the same with its final answer replaced by WRONG_ANSWER, since an error stays."""
    other = responses[index % len(responses)]
    done = len([p for p in prefix.split("\n\n") if p.strip()])
    paragraphs = other.split("\n\n")
    rest = "\n\n" + "\n\n".join(paragraphs[done:]) if done < len(paragraphs) else ""
    if not any(r.startswith(prefix) for r in responses):
        rest = _BOXED_ANSWER.sub(lambda m: "\\boxed{" + WRONG_ANSWER + "}", rest) if _BOXED_ANSWER.search(rest) else rest + "\n\nThe answer is \\boxed{" + WRONG_ANSWER + "}."
    return rest


_BOXED_ANSWER = re.compile(r"\\boxed\{(?:[^{}]|\{[^{}]*\})*\}")


@functools.lru_cache(maxsize=1 << 16)
def _choice(text: str, reasoning: str, truncated: bool) -> tuple[bytes, int]:
    """A choice's JSON after its index, and its token count; cached because replayed texts repeat."""
    if truncated:  # generation stopped early: for reasoning models, inside the reasoning
        text = text[: max(1, len(text) * 3 // 10)]
        thought, answer = text, ""
    else:
        thought, _, answer = text.rpartition("\n\n")
    message: dict[str, str] = {"role": "assistant", "content": text}
    if reasoning == "field":
        message.update(content=answer, reasoning_content=thought)
    elif reasoning == "think":
        message["content"] = f"<think>{thought}" if truncated else f"<think>{thought}</think>\n\n{answer}"
    finish = "length" if truncated else "stop"
    body = f'"message":{json.dumps(message)},"logprobs":null,"finish_reason":"{finish}"'
    return body.encode(), len(text) // 4 + 1


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _error_body(status: int, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": str(status)}}).encode()


def _http(status: int, body: bytes, extra: str = "", close: bool = False) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    if close:
        extra += "Connection: close\r\n"
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str], int]:
    request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked bodies are not supported: send Content-Length")
    return method, target, version, headers, int(headers.get("content-length") or 0)


class ChatServer:
    """The server's state and request handling; `connection` is the asyncio.start_server callback."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(DEFAULTS)
        self.replay: dict[str, list[str]] = {}
        self._matches: dict[str, list[str] | None] = {}
        self.in_flight = 0
        self.configure(config or {})
        self.reset()

    def configure(self, config: dict[str, Any]) -> None:
        """Validate first, then replace the given settings (so a bad /_config changes nothing)."""
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        new = {**self.config, **config}
        if new["reasoning"] not in REASONING:
            raise ValueError(f"reasoning must be one of {REASONING}, not {new['reasoning']!r}")
        for kind in [*new["faults"], *new["fail_keys"].values()]:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {FAULT_KINDS}")
        latency = new["latency"]
        lo, hi = (latency, latency) if isinstance(latency, (int, float)) else map(float, latency)
        cumulative, table = 0.0, []
        for kind in FAULT_KINDS[:-1]:  # attempt faults, in a fixed order: the draw must not depend on dict order
            if new["faults"].get(kind):
                cumulative += float(new["faults"][kind])
                table.append((cumulative, kind))
        if cumulative > 1 + 1e-9:
            raise ValueError(f"fault probabilities add up to {cumulative} > 1")
        replay = load_replay(list(new["replay"])) if "replay" in config else self.replay
        self.config, self.replay, self._latency, self._fault_table = new, replay, (float(lo), float(hi)), table
        self._length_p = float(new["faults"].get("length") or 0)
        if "replay" in config:
            self._matches.clear()
        self._questions = sorted(self.replay, key=len, reverse=True)  # the longest (most specific) match wins

    def reset(self) -> None:
        """Clear the counters; requests still in flight stay counted as in flight."""
        self.requests, self.max_in_flight, self.client_closed = 0, self.in_flight, 0
        self.by_status: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.keys: dict[str, list[int]] = {}  # key -> [attempts, ok, faulted attempts]
        self.auth = {"ok": 0, "rejected": 0}
        self._ids = 0

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_status": self.by_status, "faults": self.faults,
                "keys": {k: {"attempts": c[0], "ok": c[1]} for k, c in self.keys.items()},
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "auth": self.auth,
                "client_closed": self.client_closed}

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests are read and answered in order until either side closes."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                try:
                    method, target, version, headers, length = _parse_head(head)
                except ValueError as e:
                    writer.write(_http(400, _error_body(400, f"bad request: {e}", "invalid_request_error"), close=True))
                    break
                body = await reader.readexactly(length) if length else b""
                connection = headers.get("connection", "").lower()
                close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
                response = await self._route(method, target.partition("?")[0], headers, body, reader)
                if response is None or writer.is_closing():  # a "disconnect" fault, or the client left
                    break
                status, payload, extra = response
                writer.write(_http(status, payload, extra, close))
                if close:
                    break
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
        except QUIET:
            pass
        except Exception:  # a bug here: say so, but keep serving other connections
            log.exception("request handling failed")
        finally:
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader) -> tuple[int, bytes, str] | None:
        if path == "/v1/chat/completions" and method == "POST":
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                response = await self._chat(headers, body, reader)
            finally:
                self.in_flight -= 1
            if response is not None:
                self.by_status[str(response[0])] = self.by_status.get(str(response[0]), 0) + 1
            return response
        if path == "/v1/completions" and method == "POST":
            self.requests += 1
            response = self._text_completion(headers, body)
            self.by_status[str(response[0])] = self.by_status.get(str(response[0]), 0) + 1
            return response
        if path == "/v1/models" and method == "GET":
            self.requests += 1
            self.by_status["200"] = self.by_status.get("200", 0) + 1
            model = {"id": self.config["model"], "object": "model", "created": 0, "owned_by": "curate-tests"}
            return 200, json.dumps({"object": "list", "data": [model]}).encode(), ""
        if path == "/_stats":
            return 200, json.dumps(self.stats()).encode(), ""
        if path == "/_config":
            if method == "POST":
                try:
                    self.configure(json.loads(body or b"{}"))
                except (ValueError, TypeError, KeyError, OSError) as e:
                    return 400, _error_body(400, f"bad config: {e}", "invalid_request_error"), ""
            return 200, json.dumps(self.config).encode(), ""
        if path == "/_reset" and method == "POST":
            self.reset()
            return 200, b'{"ok":true}', ""
        return 404, _error_body(404, f"no route {method} {path}", "invalid_request_error"), ""

    def _error(self, status: int, message: str, kind: str, extra: str = "") -> tuple[int, bytes, str]:
        return status, _error_body(status, message, kind), extra

    async def _chat(self, headers: dict[str, str], body: bytes,
                    reader: asyncio.StreamReader) -> tuple[int, bytes, str] | None:
        config = self.config
        try:
            request = json.loads(body)
            n = int(request.get("n") or 1)
            if not 1 <= n <= 128 or not isinstance(request.get("messages"), list):
                raise ValueError("need 1 <= n <= 128 and a list of messages")
        except (ValueError, TypeError, AttributeError) as e:
            return self._error(400, f"invalid request: {e}", "invalid_request_error")
        header = headers.get(KEYS_HEADER)
        if header:
            keys = [key.strip() for key in header.split(",")]
            if len(keys) != n:
                return self._error(400, f"X-Curate-Keys has {len(keys)} keys for n={n}", "invalid_request_error")
        else:
            base = hashlib.blake2b(body, digest_size=16).hexdigest()
            keys = [base] if n == 1 else [f"{base}/{i}" for i in range(n)]
        counts = [self.keys.setdefault(key, [0, 0, 0]) for key in keys]
        attempt = counts[0][0]
        for count in counts:
            count[0] += 1

        if config["api_key"] and headers.get("authorization") != f"Bearer {config['api_key']}":
            self.auth["rejected"] += 1
            return self._error(401, "Incorrect API key provided.", "invalid_request_error")
        self.auth["ok"] += 1
        if config["status_always"]:
            status = int(config["status_always"])
            return self._error(status, f"status_always={status}", "server_error" if status >= 500 else "invalid_request_error")

        fault = self._draw_fault(keys, counts[0], attempt)
        if fault:
            self.faults[fault] = self.faults.get(fault, 0) + 1
        if fault == "429":
            return self._error(429, "Rate limit reached (injected).", "rate_limit_exceeded",
                               f"Retry-After: {config['retry_after']}\r\n")
        lo, hi = self._latency
        delay = float(config["hang_seconds"]) if fault == "hang" else lo + (hi - lo) * _unit(config["latency_seed"], keys[0], attempt)
        if delay > 0:
            await asyncio.sleep(delay)
            if reader.at_eof():  # the client gave up while we waited
                self.client_closed += 1
                return None
        if fault == "disconnect":
            return None
        if fault in ("500", "503"):
            return self._error(int(fault), f"Injected {fault} error.", "server_error")
        if fault == "echo":  # a proxy that quotes the request back in its error, credentials and all
            quoted = "; ".join(f"{k}: {v}" for k, v in headers.items())
            return self._error(502, f"Bad gateway. Request headers were: {quoted}", "server_error")
        payload = self._completion(request, keys, n)
        if fault == "malformed":
            return 200, payload[: len(payload) // 2], ""
        for count in counts:
            count[1] += 1
        return 200, payload, ""

    def _draw_fault(self, keys: list[str], count: list[int], attempt: int) -> str | None:
        fail_keys = self.config["fail_keys"]
        for key in keys:
            if fail_keys.get(key, "length") != "length":
                return fail_keys[key]
        if not self._fault_table or count[2] >= int(self.config["max_faults_per_key"]):
            return None
        u = _unit(self.config["fault_seed"], keys[0], attempt)
        for cumulative, kind in self._fault_table:
            if u < cumulative:
                count[2] += 1
                return kind
        return None

    def _match(self, prompt: str) -> list[str] | None:
        """The replayed responses whose question the prompt contains; cached, as samples repeat prompts."""
        if prompt in self._matches:
            return self._matches[prompt]
        found = self.replay.get(prompt) or next((self.replay[q] for q in self._questions if q in prompt), None)
        if len(self._matches) > 100_000:
            self._matches.clear()
        self._matches[prompt] = found
        return found

    def _text_completion(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        """/v1/completions, for continuations only: the prompt holds a problem and then a partial trace
        (found where one of the problem's real traces begins); no faults, no latency."""
        try:
            request = json.loads(body)
            prompt = str(request["prompt"])
        except (ValueError, TypeError, KeyError) as e:
            return self._error(400, f"invalid request: {e}", "invalid_request_error")
        key = headers.get(KEYS_HEADER) or hashlib.blake2b(body, digest_size=16).hexdigest()
        count = self.keys.setdefault(key, [0, 0, 0])
        count[0] += 1
        responses = self._match(prompt) or []
        starts = [prompt.find(r[:40]) for r in responses if r[:40] in prompt]
        seed = request.get("seed")
        index = seed if isinstance(seed, int) else _hash(key)
        text = continuation(prompt[min(starts):], responses, index) if starts else synthetic(prompt, index)
        count[1] += 1
        self._ids += 1
        usage = {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(text) // 4 + 1, "total_tokens": (len(prompt) + len(text)) // 4 + 2}
        return 200, json.dumps({"id": f"cmpl-mock{self._ids:x}", "object": "text_completion", "created": int(time.time()), "model": request.get("model") or self.config["model"],
                                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}], "usage": usage}).encode(), ""

    def _completion(self, request: dict[str, Any], keys: list[str], n: int) -> bytes:
        config = self.config
        messages = request.get("messages") or []
        prompt = next((_text_of(m.get("content")) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), "")
        responses = self._match(prompt)
        seed = request.get("seed")
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        prefix = _text_of(last.get("content")) if last.get("role") == "assistant" else None
        choices, completion_tokens = [], 0
        for i, key in enumerate(keys):
            index = seed + i if isinstance(seed, int) else _hash(key)
            if prefix is not None:  # continue the assistant's partial message
                text = continuation(prefix, responses or [synthetic(prompt, index)], index)
            else:
                text = responses[index % len(responses)] if responses else synthetic(prompt, index)
            truncated = config["fail_keys"].get(key) == "length" or (
                self._length_p > 0 and _unit(config["fault_seed"], key, "length") < self._length_p)
            if truncated:
                self.faults["length"] = self.faults.get("length", 0) + 1
            fragment, tokens = _choice(text, config["reasoning"], truncated)
            choices.append(b'{"index":%d,%s}' % (i, fragment))
            completion_tokens += tokens
        prompt_tokens = sum(len(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)) // 4 + 1
        self._ids += 1
        model = request.get("model") if isinstance(request.get("model"), str) else config["model"]
        head = f'{{"id":"chatcmpl-mock{self._ids:x}","object":"chat.completion","created":{int(time.time())},"model":{json.dumps(model)},"choices":['
        usage = f'],"usage":{{"prompt_tokens":{prompt_tokens},"completion_tokens":{completion_tokens},"total_tokens":{prompt_tokens + completion_tokens}}}}}'
        return head.encode() + b",".join(choices) + usage.encode()


async def serve(server: ChatServer, port: int = 0, ready=None) -> None:
    """Serve forever on 127.0.0.1:port; `ready(port)` is called once listening (default: print LISTENING)."""
    listener = await asyncio.start_server(server.connection, "127.0.0.1", port, backlog=4096)
    (ready or (lambda p: print(f"LISTENING {p}", flush=True)))(listener.sockets[0].getsockname()[1])
    async with listener:
        await listener.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed as LISTENING <port>)")
    parser.add_argument("--config", default="{}", help="JSON object of settings, see DEFAULTS")
    args = parser.parse_args(argv)
    try:
        import resource  # many concurrent connections need many file descriptors

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard))
    except (ImportError, ValueError, OSError):
        pass
    try:
        server = ChatServer(json.loads(args.config))
    except (ValueError, TypeError, KeyError, OSError) as e:
        sys.exit(f"openai_server: bad config: {e}")
    try:
        asyncio.run(serve(server, args.port))
    except KeyboardInterrupt:
        pass


class Server:
    """A running server subprocess (from start_server); a context manager that stops it on exit."""

    def __init__(self, process: subprocess.Popen, port: int, stderr) -> None:
        self.process, self.port, self._stderr = process, port, stderr
        self.pid = process.pid
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise ValueError(e.read().decode(errors="replace")) from None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stats")

    def configure(self, **config: Any) -> dict[str, Any]:
        """Replace the given settings at run time; returns the whole configuration."""
        return self._call("POST", "/_config", config)

    def reset(self) -> None:
        """Clear the counters (and so the attempt numbers that fault draws depend on)."""
        self._call("POST", "/_reset", {})

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_server(**config: Any) -> Server:
    """Start the server in its own process (this interpreter) and wait until it listens."""
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", "0", "--config", json.dumps(config)],
                               stdout=subprocess.PIPE, stderr=stderr)
    line, deadline = b"", time.monotonic() + STARTUP_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            if not selector.select(max(0.0, deadline - time.monotonic())):
                problem = f"did not start within {STARTUP_TIMEOUT:.0f} s"
                break
            chunk = os.read(process.stdout.fileno(), 256)
            if not chunk:
                problem = f"exited with code {process.wait()}"
                break
            line += chunk
        else:
            if line.startswith(b"LISTENING "):
                return Server(process, int(line.split()[1]), stderr)
            problem = f"printed {line!r} instead of LISTENING <port>"
    server = Server(process, 0, stderr)
    process.kill()
    error = f"openai test server {problem}; stderr:\n{server.stderr()}"
    server.close()
    raise RuntimeError(error)


if __name__ == "__main__":
    main()
