"""Final-answer extraction and symbolic answer checking with math-verify, in worker processes that can be killed.

math-verify bounds its own work with `signal.alarm`, which only works in a process's main thread and
with whole seconds: called from a thread it raises at once, and a fractional timeout makes every call
fail silently. So each check runs in the main thread of a worker process of our own (its alarms
work), and the parent also gives every item a hard deadline: a worker that overruns it (a sympy
computation deep in C, a crash) is killed and replaced, and the item's verdict is `timeout`. Model
output is only ever parsed, never evaluated.

Cheap paths first: the reference is parsed once per distinct reference (per worker), and an answer
that equals the reference after light normalisation is correct without sympy.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Verdicts, as the traces' `verdict` column names them.
CORRECT, WRONG, NO_ANSWER, UNPARSABLE, TIMEOUT, TRUNCATED = "correct", "wrong", "no_answer", "unparsable", "timeout", "truncated"
EXTRACTORS = ("boxed", "final_answer", "gsm8k", "answer_line")

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_FINAL = re.compile(r"final answer\s*(?:is|:)\s*[:\s]*(.+)", re.IGNORECASE)
_GSM8K = re.compile(r"^\s*####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_LINE = re.compile(r"(?:^|\n)\s*A:\s*(.+?)\s*$", re.DOTALL)


def known_extractors(methods: list[str]) -> list[str]:
    """A stage parameter's check: at least one method, each a known one."""
    unknown = [m for m in methods if m not in EXTRACTORS]
    if unknown or not methods:
        raise ValueError(f"extract methods are {list(EXTRACTORS)}; got {methods}")
    return methods


def extract_answer(text: str | None, methods: Iterable[str] = EXTRACTORS) -> str | None:
    """The final answer of a response, by the first method (in the given order) that finds one."""
    if not text:
        return None
    for method in methods:
        found = _EXTRACT[method](text)
        if found:
            return found
    return None


def _last_boxed(text: str) -> str | None:
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0 and text[start : i - 1].strip():
            return text[start : i - 1].strip()
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
    return matches[-1].replace(",", "").strip() if matches else None


def _answer_line(text: str) -> str | None:
    match = _ANSWER_LINE.search(text[text.rfind("A:") - 1 :] if "A:" in text else "")
    return match.group(1).split("\n")[0].strip() or None if match else None


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


def _check(gold: str, answer: str, timeout: int, parsed: dict[str, Any]) -> str:
    from math_verify import parse, verify

    if gold not in parsed:
        if len(parsed) > 4096:
            parsed.clear()
        parsed[gold] = parse(as_latex(gold), parsing_timeout=timeout)
    target = parsed[gold]
    if not target:
        return UNPARSABLE
    mine = parse(as_latex(answer), parsing_timeout=timeout)
    if not mine:
        return UNPARSABLE
    return CORRECT if verify(target, mine, timeout_seconds=timeout) else WRONG


def _serve(timeout: int) -> None:
    """A worker (`python -m curate.verifier --serve T`): a JSON batch of [reference, answer] per line in,
    one verdict per line out as each is done."""
    import math_verify  # noqa: F401  (imported before the first item: its import is not the item's time)

    parsed: dict[str, Any] = {}
    for line in sys.stdin:
        for gold, answer in json.loads(line):
            try:
                verdict = _check(gold, answer, timeout, parsed)
            except TimeoutError:
                verdict = TIMEOUT
            except Exception:
                verdict = UNPARSABLE
            sys.stdout.write(verdict + "\n")
            sys.stdout.flush()


# ---------------------------------------------------------------- the parent side


class VerifierPool:
    """One worker process and its replacement when it must be killed. A plain subprocess, not
    multiprocessing: spawning from a Ray worker would re-run Ray's worker script as __main__."""

    def __init__(self, timeout: int = 5, grace: float = 1.0):
        self.timeout = max(1, int(timeout))
        self.deadline = self.timeout + grace
        self.process: subprocess.Popen | None = None
        self.buffer = b""
        self.restarts = 0

    def check(self, items: list[tuple[str, str]]) -> list[str]:
        """Verdicts for (reference, answer) pairs: equal after normalisation is correct at once; the
        rest go to the worker."""
        verdicts: list[str | None] = [CORRECT if normalise(gold) == normalise(answer) else None for gold, answer in items]
        todo = [i for i, v in enumerate(verdicts) if v is None]
        for i, verdict in zip(todo, self._in_worker([items[i] for i in todo])):
            verdicts[i] = verdict
        return verdicts  # type: ignore[return-value]

    def _in_worker(self, items: list[tuple[str, str]]) -> list[str]:
        verdicts: list[str] = []
        while len(verdicts) < len(items):
            fresh = self.process is None
            if fresh:
                self._start()
            pending = items[len(verdicts) :]
            try:
                self.process.stdin.write(json.dumps(pending, ensure_ascii=False).encode() + b"\n")
                self.process.stdin.flush()
            except OSError:
                self._kill()
                self.restarts += 1
                continue
            for _ in pending:
                line = self._line(self.deadline + (120 if fresh else 0))  # a new worker first imports sympy
                fresh = False
                if line is None:  # hung past its deadline, or died on this item: replaced; the rest go to the new one
                    self._kill()
                    self.restarts += 1
                    verdicts.append(TIMEOUT)
                    break
                verdicts.append(line)
        return verdicts

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
        self.process = subprocess.Popen(
            # math-verify's own alarms (a parse, then a comparison) share the item's budget
            [sys.executable, "-m", "curate.verifier", "--serve", str(max(1, self.timeout // 2))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")] if p)},
        )

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self.process = None

    def close(self) -> None:
        self._kill()


_POOL: VerifierPool | None = None


def shared_pool(timeout: int) -> VerifierPool:
    """One pool per process (a Ray worker keeps its verifier between tasks: no start-up per batch)."""
    global _POOL
    if _POOL is None or _POOL.timeout != max(1, int(timeout)):
        if _POOL is not None:
            _POOL.close()
        _POOL = VerifierPool(timeout)
    return _POOL


__all__ = ["CORRECT", "EXTRACTORS", "NO_ANSWER", "TIMEOUT", "TRUNCATED", "UNPARSABLE", "WRONG", "VerifierPool", "as_latex", "extract_answer", "known_extractors", "normalise", "shared_pool"]


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve(int(sys.argv[2]))
