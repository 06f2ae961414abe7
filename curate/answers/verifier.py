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
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curate import faults

# Verdicts, as the traces' `verdict` column names them.
CORRECT, WRONG, NO_ANSWER, UNPARSABLE, TIMEOUT, TRUNCATED = "correct", "wrong", "no_answer", "unparsable", "timeout", "truncated"
EXTRACTORS = ("boxed", "final_answer", "gsm8k", "answer_line", "answer_is")
SHORT_REPLY = 40
"""Characters: in `guess` mode, a bare reply this short with no marked answer is the answer itself ("42")."""
START_TIMEOUT = 120.0
"""Seconds a new worker may take to import math-verify and sympy (not charged to any item)."""
LOCAL_EXTRACT = 64 << 10
"""Characters: the answer of a response up to this long is found in the calling process (linear, about
a millisecond at most); a longer one's, in the worker under the sample's deadline."""

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
_FINAL = re.compile(r"final answers?\**(?:[ \t]+for[^:\n]{0,60}?)?\**[ \t]*(?:is|are|:|\n)[:*\s]*(.+)", re.IGNORECASE)
"""`The final answer is x`, `Final answer: x`, `**Final Answer**` then x on a later line, `the final answers
are: ...`, `**Final answer for Subproblem 1:** x`."""
_ANSWER_IS = re.compile(r"\bthe answer is[:\s]*(.+)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")
"""Where the sentence holding an answer ends: `0.5. But in my earlier balancing, ...` gives 0.5."""
_MARKUP = re.compile(r"^(?:\*+|\$+|\s)+|(?:\*+|\$+|[.,;\s])+$")
_GSM8K = re.compile(r"^[ \t]*####[ \t]*(.*)$", re.MULTILINE)


def known_extractors(methods: list[str]) -> list[str]:
    """A stage parameter's check: at least one method, each a known one."""
    unknown = [m for m in methods if m not in EXTRACTORS]
    if unknown or not methods:
        raise ValueError(f"extract methods are {list(EXTRACTORS)}; got {methods}")
    return methods


def reference_order(methods: Iterable[str] = EXTRACTORS) -> list[str]:
    """The methods for a worked reference solution: GSM8K's `#### x` first, being the dataset's own
    marker of the answer (one GSM8K train solution also says "the final answer is 15 gallons * ...")."""
    methods = list(methods)
    return (["gsm8k"] if "gsm8k" in methods else []) + [m for m in methods if m != "gsm8k"]


def reference_answer(solution: str | None, methods: Iterable[str] = EXTRACTORS) -> str | None:
    """The final answer of a worked reference solution (`reference_order`): what verify's
    `reference_extract` and filter_set's `answer_extract` both judge."""
    return extract_answer(solution, reference_order(methods)) if solution else None


def extract_answer(text: str | None, methods: Iterable[str] = EXTRACTORS) -> str | None:
    """The final answer of a response, by the first method (in the given order) that finds one.
    Linear in the length of `text` for every method."""
    if not text:
        return None
    for method in methods:
        found = _EXTRACT[method](text)
        if found:
            found = _MARKUP.sub("", found)  # **700°C** -> 700°C; a trailing full stop
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
    answer = re.sub(r"^\$+|\$+\.?$", "", _SENTENCE_END.split(answer.split("\n")[0], maxsplit=1)[0]).strip().rstrip(".").strip()
    return answer or None


def _answer_is(text: str) -> str | None:
    """After the last `the answer is` (prose: "So the answer is 7."), to the end of its line."""
    matches = _ANSWER_IS.findall(text)
    if not matches:
        return None
    answer = matches[-1].strip()
    return _last_boxed(answer) or _SENTENCE_END.split(answer.split("\n")[0], maxsplit=1)[0].strip() or None


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


_EXTRACT = {"boxed": _last_boxed, "final_answer": _final_answer, "gsm8k": _gsm8k, "answer_line": _answer_line, "answer_is": _answer_is}

_NOISE = re.compile(r"\\\$|\\left|\\right|\\!|\\,|\\;|\\ |\s|\$|\\displaystyle|\^\{?\\circ\}?|°|\\text\{\s*\}")


_WORDS = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\{([^{}]*)\}")
_NAMES = re.compile(r"(?:^|(?<=,))[A-Za-z][A-Za-z0-9_{}]*=(?=-?\d)")


def normalise(answer: str) -> str:
    """For the exact-match fast path only: equal here means equal; different means ask math-verify.
    `\\text{SRMC} = \\text{LRMC}` reads as SRMC=LRMC, and `a = -2, b = -2` as the values -2,-2."""
    text = _WORDS.sub(r"\1", answer)
    text = _NOISE.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return _NAMES.sub("", text).rstrip(".")


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


_PERCENT = re.compile(r"^\s*\$?\s*(.*?)\s*\\?%\s*\$?\s*$", re.DOTALL)


def _percent_free(text: str) -> str | None:
    """`25` for `25\\%` or `25%` (a percentage as the whole answer), else None."""
    match = _PERCENT.match(text)
    return match.group(1) if match and match.group(1) and not match.group(1).endswith("\\") else None


_NUMBER = re.compile(r"^\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)\s*\$?\s*$")
_WITH_UNIT = re.compile(
    r"^\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)\s*"  # the number
    r"(?:(?:\^\{?\\(?:text|mathrm)\{(?:st|nd|rd|th)\}\}?)?\s*\\(?:text|mathrm|mbox)\{\s*[A-Za-zÅ°][^{}]*\}"  # \text{ cm}, 12^{\mathrm{th}}\text{ grade}
    r"|(?:\^\{?\\circ\}?|°)\s*[A-Za-z]?"  # 700°C, 90^\circ
    r"|\s+[A-Za-zÅ]{2,}[A-Za-z .]*)"  # a word after a space: 3 bushels, 4 up quarks (never 5x)
    r"\s*\$?\s*$"
)


def _unit_free(reference: str, answer: str) -> str | None:
    """The number of an answer that is a number and a unit or a word (`700°C`, `3 bushels`,
    `12^{\text{th}}\text{ grade}`) when the reference is a bare number: the unit is the question's."""
    if not _NUMBER.match(reference):
        return None
    match = _WITH_UNIT.match(answer)
    return match.group(1) if match else None


def _compare(reference: str, answer: str, parsed: dict[str, Any]) -> str:
    """The verdict of math-verify, with percentages read the same whatever parser it has.

    math-verify's LaTeX parser comes from latex2sympy2_extended's ANTLR grammar, compiled for the
    installed antlr4-python3-runtime: with 4.13 `25\\%` is 25/100 and math-verify takes it for 25 or
    0.25; with 4.9.3 (the version omegaconf and hydra pin, so the one inside verl) it fails to parse
    and `25\\%` against `1/4` is wrong. So a percentage is compared here, not parsed: its number
    against the other answer, and if that fails, its number over 100 (4.13's reading, everywhere)."""
    if normalise(reference) == normalise(answer):
        return CORRECT
    ref_number, answer_number = _percent_free(reference), _percent_free(answer)
    if faults.active("verifier:raw-percent"):  # tests: see the environment guard catch the difference
        ref_number = answer_number = None
    if ref_number is None and answer_number is None:
        verdict = _math_verify(reference, answer, parsed)
        number = _unit_free(reference, answer) if verdict != CORRECT else None
        return _math_verify(reference, number, parsed) if number is not None else verdict
    verdict = _math_verify(ref_number or reference, answer_number or answer, parsed)
    if verdict == CORRECT or (ref_number is not None and answer_number is not None):
        return verdict
    if ref_number is not None:
        return _math_verify(f"\\frac{{{ref_number}}}{{100}}", answer, parsed)
    return _math_verify(reference, f"\\frac{{{answer_number}}}{{100}}", parsed)


def _math_verify(reference: str, answer: str, parsed: dict[str, Any]) -> str:
    import math_verify.grader
    import math_verify.parser
    from math_verify import parse, verify

    # our timer bounds every item; math-verify's alarms stay off, so its warning about that is moot
    math_verify.grader.TIMEOUT_WARNING_SHOWN = math_verify.parser.TIMEOUT_WARNING_SHOWN = True

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


# (reference, answer, verdict) that curate's checker gives with every environment it is tested with
# (antlr4-python3-runtime 4.13.2 here, 4.9.3 in the trainers' environment of `make test-clients`):
# each worker checks them before it takes any work, so a parser that reads answers differently stops
# the run (or the reward) with one line instead of changing verdicts quietly.
CANARIES = (
    ("25\\%", "\\frac{1}{4}", CORRECT), ("198\\%", "198", CORRECT), ("198\\%", "1.98", CORRECT), ("12%", "0.12", CORRECT),
    ("17.5", "17.5\\%", CORRECT), ("0.5", "\\frac{1}{2}", CORRECT), ("10{,}000", "10000", CORRECT), ("\\frac{3}{4}", "0.75", CORRECT),
    ("x^2+1", "1+x^2", CORRECT), ("(1,2)", "(1, 2)", CORRECT), ("[0,1)", "[0, 1)", CORRECT), ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2", CORRECT),
    ("3", "4", WRONG), ("90^\\circ", "90", CORRECT), ("\\{1,2\\}", "\\{2,1\\}", CORRECT), ("2\\pi", "6.283185307", CORRECT),
    ("x=3", "3", CORRECT), ("1/3", "0.333", WRONG), ("-\\frac{7}{2}", "-3.5", CORRECT), ("6\\sqrt{3}", "\\sqrt{108}", CORRECT),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", CORRECT),
)


def environment_problem() -> str | None:
    """None when every canary gets its verdict; else one line saying which did not, with versions."""
    parsed: dict[str, Any] = {}
    for reference, answer, expected in CANARIES:
        got = _compare(reference, answer, parsed)
        if got != expected:
            from importlib import metadata

            versions = []
            for package in ("math-verify", "latex2sympy2_extended", "antlr4-python3-runtime", "sympy"):
                try:
                    versions.append(f"{package} {metadata.version(package)}")
                except metadata.PackageNotFoundError:
                    versions.append(f"{package} missing")
            return (
                f"the answer checker reads answers differently in this environment: {answer!r} against {reference!r} is "
                f"{got}, where curate's tests say {expected} ({', '.join(versions)}); its verdicts would differ from "
                "curate's pass rates: install the versions of curate's own environment (pip install 'antlr4-python3-runtime==4.13.2' "
                "where nothing pins another), or report these versions"
            )
    return None


def _serve() -> None:
    """A worker (`python -m curate.answers.verifier --serve`): says `ready` once math-verify is imported, then
    takes one JSON batch per line ({timeout, extract, items: [[reference, text, mode], ...]}) and
    answers one JSON [answer, verdict] line per item as each is done."""
    signal.signal(signal.SIGALRM, _on_timer)
    parsed: dict[str, Any] = {}
    problem = environment_problem()  # also loads sympy and the LaTeX parser now, not in the first item's time
    sys.stdout.write(f"error {json.dumps(problem)}\n" if problem else "ready\n")
    sys.stdout.flush()
    if problem:
        return
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
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.restarts = 0
        self._stderr: Any = None

    def check(self, items: Sequence[tuple[str, str]]) -> list[str]:
        """Verdicts for (reference, answer) pairs whose answers are already extracted."""
        return [verdict or NO_ANSWER for _, verdict in self.check_responses(items, mode="answer")]

    def check_responses(
        self, items: Sequence[tuple[str | None, str | None]], methods: Iterable[str] = EXTRACTORS, mode: str = "response"
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
        done = [result for result in results if result is not None]
        assert len(done) == len(items)  # every item answered, here or by the worker
        return done

    def _in_worker(self, items: list[tuple[str | None, str | None, str]], methods: list[str]) -> list[tuple[str | None, str | None]]:
        results: list[tuple[str | None, str | None]] = []
        while len(results) < len(items):
            if self.process is None or self.process.poll() is not None:
                if self.process is not None:  # died between items (killed from outside): no item's fault
                    self._kill()
                    self.restarts += 1
                self._start()
            assert self.process is not None and self.process.stdin is not None  # _start raises otherwise
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
        assert self.process is not None and self.process.stdout is not None
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
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")] if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "curate.answers.verifier", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        first = self._line(START_TIMEOUT)
        if first is not None and first.startswith("error "):
            self._kill()
            raise VerifierError(json.loads(first[len("error ") :]))
        if first != "ready":
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
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None

    def close(self) -> None:
        self._kill()


class Checkers:
    """The verifier workers of one process, for any number of threads: each call takes a worker no
    other thread is using (starting another while all are busy, up to `max_workers`), so threads
    never read each other's answers, and check in parallel. A forked child starts with none of its
    parent's (they answer the parent), and asyncio code calls it through a thread (`acheck_responses`)."""

    def __init__(self, timeout: float, max_workers: int | None = None):
        self.timeout = float(timeout)
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self._idle: list[VerifierPool] = []
        self._started = 0
        self._free = threading.Condition()

    @contextmanager
    def checkout(self) -> Iterator[VerifierPool]:
        with self._free:
            while not self._idle and self._started >= self.max_workers:
                self._free.wait()
            if self._idle:
                pool = self._idle.pop()
            else:
                self._started += 1
                pool = VerifierPool(self.timeout)
        try:
            yield pool
        finally:
            with self._free:
                self._idle.append(pool)
                self._free.notify()

    def check_responses(self, items: Sequence[tuple[str | None, str | None]], methods: Iterable[str] = EXTRACTORS, mode: str = "response") -> list[tuple[str | None, str | None]]:
        with self.checkout() as pool:
            return pool.check_responses(items, methods, mode)

    async def acheck_responses(self, items: Sequence[tuple[str | None, str | None]], methods: Iterable[str] = EXTRACTORS, mode: str = "response") -> list[tuple[str | None, str | None]]:
        import asyncio

        return await asyncio.to_thread(self.check_responses, items, list(methods), mode)

    @property
    def restarts(self) -> int:
        return sum(pool.restarts for pool in self._idle)

    def close(self) -> None:
        with self._free:
            for pool in self._idle:
                pool.close()
            self._idle.clear()
            self._started = 0


_CHECKERS: dict[float, Checkers] = {}
_CHECKERS_LOCK = threading.Lock()


def shared_checkers(timeout: float) -> Checkers:
    """One set of workers per process and timeout (a Ray worker keeps its verifiers between tasks:
    no start-up per batch; a trainer's threads share them)."""
    with _CHECKERS_LOCK:
        checkers = _CHECKERS.get(float(timeout))
        if checkers is None:
            checkers = _CHECKERS[float(timeout)] = Checkers(timeout)
        return checkers


def _forget_after_fork() -> None:
    """In a forked child the workers (and the lock's state) are the parent's: forget them, unclosed,
    and build new ones on first use."""
    global _CHECKERS_LOCK
    _CHECKERS.clear()
    _CHECKERS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = [
    "CORRECT",
    "EXTRACTORS",
    "NO_ANSWER",
    "TIMEOUT",
    "TRUNCATED",
    "UNPARSABLE",
    "WRONG",
    "Checkers",
    "VerifierError",
    "VerifierPool",
    "as_latex",
    "extract_answer",
    "guess_answer",
    "known_extractors",
    "normalise",
    "shared_checkers",
]


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve()
