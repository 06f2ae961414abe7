"""Final-answer extraction and symbolic answer checking with math-verify, in worker processes that can be killed.

Everything a response can make slow runs in a worker process of our own, under one deadline per
item: finding the final answer in the response, parsing it and the reference, and comparing them.
The worker times each item itself (`setitimer`, fractional seconds fine) with math-verify's own
alarms turned off (they only work in a main thread, with whole seconds, and report an overrun as a
plain `False`); an item that overruns is `timeout`. The parent also holds every item to `timeout` +
1 s: a worker that overruns that (a computation deep in C, a crash) is killed and replaced, and the
item is `timeout`. A new worker signals when its imports are done, so its start-up never counts
against an item. Model output is only ever parsed, never evaluated.

Extraction is linear in the response (no regex backtracks over a long trace). Cheap paths come first,
in the calling process: the answer of a response up to 64 kB is found there (at most a millisecond of
linear work), and an answer that equals the reference after light normalisation is correct without
sympy or a round trip to the worker; a longer response is searched in the worker, under the sample's
deadline. The reference is parsed once per distinct reference (per worker).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Verdicts, as the traces' `verdict` column names them.
CORRECT, WRONG, NO_ANSWER, UNPARSABLE, TIMEOUT, TRUNCATED = "correct", "wrong", "no_answer", "unparsable", "timeout", "truncated"
EXTRACTORS = ("boxed", "final_answer", "gsm8k", "answer_line")
SHORT_REPLY = 40
"""Characters: in `guess` mode, a bare reply this short with no marked answer is the answer itself ("42")."""
START_TIMEOUT = 120.0
"""Seconds a new worker may take to import math-verify and sympy (not charged to any item)."""
LOCAL_EXTRACT = 64 << 10
"""Characters: the answer of a response up to this long is found in the calling process (linear, about
a millisecond at most); a longer one's, in the worker under the sample's deadline."""

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
_FINAL = re.compile(r"final answer\s*(?:is|:)[:\s]*(.+)", re.IGNORECASE)
_GSM8K = re.compile(r"^[ \t]*####[ \t]*(.*)$", re.MULTILINE)


def known_extractors(methods: list[str]) -> list[str]:
    """A stage parameter's check: at least one method, each a known one."""
    unknown = [m for m in methods if m not in EXTRACTORS]
    if unknown or not methods:
        raise ValueError(f"extract methods are {list(EXTRACTORS)}; got {methods}")
    return methods


def extract_answer(text: str | None, methods: Iterable[str] = EXTRACTORS) -> str | None:
    """The final answer of a response, by the first method (in the given order) that finds one.
    Linear in the length of `text` for every method."""
    if not text:
        return None
    for method in methods:
        found = _EXTRACT[method](text)
        if found:
            return found
    return None


def guess_answer(text: str | None, methods: Iterable[str] = EXTRACTORS) -> str | None:
    """A direct answer (hack_check): by the extract methods, else a short bare reply is the answer."""
    found = extract_answer(text, methods)
    if found is None and text and 0 < len(text.strip()) <= SHORT_REPLY:
        return text.strip().rstrip(".")
    return found


def _last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox) whose braces close and hold something: braces
    matched once, in one pass from the first \\boxed, however many there are."""
    opens = [m.end() for m in _BOXED.finditer(text)]
    if not opens:
        return None
    closing: dict[int, int] = {}
    stack: list[int] = []
    for brace in _BRACE.finditer(text, opens[0] - 1):
        if brace.group() == "{":
            stack.append(brace.start())
        elif stack:
            closing[stack.pop()] = brace.start()
    for start in reversed(opens):
        end = closing.get(start - 1)
        if end is not None and text[start:end].strip():
            return text[start:end].strip()
    return None


def _final_answer(text: str) -> str | None:
    matches = _FINAL.findall(text)
    if not matches:
        return None
    answer = matches[-1].strip()
    inner = _last_boxed(answer)
    if inner:
        return inner
    answer = re.sub(r"^\$+|\$+\.?$", "", answer.split("\n")[0]).strip().rstrip(".").strip()
    return answer or None


def _gsm8k(text: str) -> str | None:
    matches = _GSM8K.findall(text)
    for match in reversed(matches):
        if match.strip():
            return match.replace(",", "").strip()
    return None


def _answer_line(text: str) -> str | None:
    """After the last `A:` that starts the text or follows whitespace, to the end of its line."""
    at = text.rfind("A:")
    if at < 0 or (at > 0 and not text[at - 1].isspace()):
        return None
    return text[at + 2 :].strip().split("\n")[0].strip() or None


_EXTRACT = {"boxed": _last_boxed, "final_answer": _final_answer, "gsm8k": _gsm8k, "answer_line": _answer_line}

_NOISE = re.compile(r"\\\$|\\left|\\right|\\!|\\,|\\;|\\ |\s|\$|\\displaystyle|\^\{?\\circ\}?|\\text\{\s*\}")


def normalise(answer: str) -> str:
    """For the exact-match fast path only: equal here means equal; different means ask math-verify."""
    text = _NOISE.sub("", answer).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.rstrip(".")


def as_latex(answer: str) -> str:
    """math-verify reads a bare answer badly (`\\dfrac{1}{9}` -> nothing, `4a-2` -> 4): give it math mode."""
    if "\\boxed" in answer or ("$" in answer and "\\$" not in answer):
        return answer
    return f"\\boxed{{{answer}}}"


# ---------------------------------------------------------------- the worker side


class _Overrun(BaseException):
    """Raised by the item's timer: a BaseException, so no `except Exception` inside math-verify or
    sympy can swallow it."""


def _on_timer(signum: int, frame: Any) -> None:
    raise _Overrun()


def _compare(reference: str, answer: str, parsed: dict[str, Any]) -> str:
    from math_verify import parse, verify

    if normalise(reference) == normalise(answer):
        return CORRECT
    if reference not in parsed:
        if len(parsed) > 4096:
            parsed.clear()
        parsed[reference] = parse(as_latex(reference), parsing_timeout=None)
    target = parsed[reference]
    if not target:
        return UNPARSABLE
    mine = parse(as_latex(answer), parsing_timeout=None)
    if not mine:
        return UNPARSABLE
    return CORRECT if verify(target, mine, timeout_seconds=None) else WRONG


def _found(text: str | None, mode: str, methods: list[str]) -> str | None:
    """The answer in `text`; `mode` says what `text` is: `response` (extract the answer), `guess`
    (extract, or a short bare reply) or `answer` (already the answer)."""
    return text if mode == "answer" else guess_answer(text, methods) if mode == "guess" else extract_answer(text, methods)


def _item(reference: str | None, text: str | None, mode: str, methods: list[str], parsed: dict[str, Any]) -> tuple[str | None, str | None]:
    """(answer, verdict) of one item. No reference: the answer alone, verdict None."""
    answer = _found(text, mode, methods)
    if not answer:
        return None, NO_ANSWER
    if reference is None:
        return answer, None
    return answer, _compare(reference, answer, parsed)


def _serve() -> None:
    """A worker (`python -m curate.verifier --serve`): says `ready` once math-verify is imported, then
    takes one JSON batch per line ({timeout, extract, items: [[reference, text, mode], ...]}) and
    answers one JSON [answer, verdict] line per item as each is done."""
    import math_verify.grader
    import math_verify.parser

    # our timer bounds every item; math-verify's alarms stay off, so its warning about that is moot
    math_verify.grader.TIMEOUT_WARNING_SHOWN = math_verify.parser.TIMEOUT_WARNING_SHOWN = True
    signal.signal(signal.SIGALRM, _on_timer)
    parsed: dict[str, Any] = {}
    _compare("1", "2", parsed)  # sympy and the LaTeX parser loaded now, not in the first item's time
    parsed.clear()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        batch = json.loads(line)
        timeout, methods = float(batch["timeout"]), batch["extract"]
        for reference, text, mode in batch["items"]:
            try:
                try:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                    answer, verdict = _item(reference, text, mode, methods, parsed)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _Overrun:  # also when it fires between the item's end and the timer's reset
                answer, verdict = None, TIMEOUT
            except Exception:
                answer, verdict = None, UNPARSABLE
            sys.stdout.write(json.dumps([answer, verdict], ensure_ascii=False) + "\n")
            sys.stdout.flush()


# ---------------------------------------------------------------- the parent side


class VerifierError(RuntimeError):
    """The answer checker could not start (math-verify missing or broken in this environment)."""


class VerifierPool:
    """One worker process and its replacement when it must be killed. A plain subprocess, not
    multiprocessing: spawning from a Ray worker would re-run Ray's worker script as __main__."""

    def __init__(self, timeout: float = 5, grace: float = 1.0):
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(timeout)
        self.deadline = self.timeout + grace
        self.process: subprocess.Popen | None = None
        self.buffer = b""
        self.restarts = 0
        self._stderr: Any = None

    def check(self, items: list[tuple[str, str]]) -> list[str]:
        """Verdicts for (reference, answer) pairs whose answers are already extracted."""
        return [verdict or NO_ANSWER for _, verdict in self.check_responses(items, mode="answer")]

    def check_responses(
        self, items: list[tuple[str | None, str | None]], methods: Iterable[str] = EXTRACTORS, mode: str = "response"
    ) -> list[tuple[str | None, str | None]]:
        """(answer, verdict) for (reference, response) pairs: the answer found in the response (`guess`
        mode: or a short bare reply), checked against the reference; no reference, no verdict."""
        methods = list(methods)
        results: list[tuple[str | None, str | None] | None] = [None] * len(items)
        remote: list[int] = []
        sent: list[tuple[str | None, str | None, str]] = []
        for i, (reference, text) in enumerate(items):
            if text is not None and len(text) > LOCAL_EXTRACT:
                remote.append(i)
                sent.append((reference, text, mode))
                continue
            answer = _found(text, mode, methods)
            if not answer:
                results[i] = (None, NO_ANSWER)
            elif reference is None:
                results[i] = (answer, None)
            elif normalise(reference) == normalise(answer):
                results[i] = (answer, CORRECT)
            else:
                remote.append(i)
                sent.append((reference, answer, "answer"))
        for i, result in zip(remote, self._in_worker(sent, methods)):
            results[i] = result
        return results  # type: ignore[return-value]

    def _in_worker(self, items: list[tuple[str | None, str | None, str]], methods: list[str]) -> list[tuple[str | None, str | None]]:
        results: list[tuple[str | None, str | None]] = []
        while len(results) < len(items):
            if self.process is None or self.process.poll() is not None:
                if self.process is not None:  # died between items (killed from outside): no item's fault
                    self._kill()
                    self.restarts += 1
                self._start()
            pending = items[len(results) :]
            batch = {"timeout": self.timeout, "extract": methods, "items": pending}
            try:
                self.process.stdin.write(json.dumps(batch, ensure_ascii=False).encode() + b"\n")
                self.process.stdin.flush()
            except OSError:
                self._kill()
                self.restarts += 1
                continue
            for _ in pending:
                line = self._line(self.deadline)
                if line is None:  # hung past its deadline, or died on this item: replaced; the rest go to the new one
                    self._kill()
                    self.restarts += 1
                    results.append((None, TIMEOUT))
                    break
                answer, verdict = json.loads(line)
                results.append((answer, verdict))
        return results

    def _line(self, limit: float) -> str | None:
        ends = time.monotonic() + limit
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = ends - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def _start(self) -> None:
        self.buffer = b""
        self._stderr = tempfile.TemporaryFile()
        # the worker needs none of Ray's credentials that a Ray worker's environment holds
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "OPENAI_API_KEY")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")] if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "curate.verifier", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        if self._line(START_TIMEOUT) != "ready":
            self._stderr.seek(0)
            lines = [line for line in self._stderr.read().decode(errors="replace").splitlines() if line.strip()]
            self._kill()
            raise VerifierError(f"the answer checker (math-verify) did not start: {lines[-1] if lines else 'no output within ' + str(int(START_TIMEOUT)) + ' s'}")

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None

    def close(self) -> None:
        self._kill()


_POOL: VerifierPool | None = None


def shared_pool(timeout: float) -> VerifierPool:
    """One pool per process (a Ray worker keeps its verifier between tasks: no start-up per batch)."""
    global _POOL
    if _POOL is None or _POOL.timeout != float(timeout):
        if _POOL is not None:
            _POOL.close()
        _POOL = VerifierPool(timeout)
    return _POOL


__all__ = [
    "CORRECT", "EXTRACTORS", "NO_ANSWER", "TIMEOUT", "TRUNCATED", "UNPARSABLE", "WRONG", "VerifierError", "VerifierPool",
    "as_latex", "extract_answer", "guess_answer", "known_extractors", "normalise", "shared_pool",
]


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve()
