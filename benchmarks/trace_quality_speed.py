"""Trace-quality stages' throughput, beside a plain-Python implementation of the same detectors.

    .venv/bin/python benchmarks/trace_quality_speed.py [--repeats 3]

Texts: the 3,289 Sky-T1 and 40 DeepSeek-R1-Distill traces of ../shared/data (48 MB). curate: the five
trace stages as pipelines/long-cot-sft.yaml sets them (trace_format, trace_repetition, trace_language,
trace_length, trace_behaviour), each stage's `apply` on the whole set in turn, in one process with
polars on one thread (POLARS_MAX_THREADS=1: per core). Baseline: `reference_scores`, the same
detectors in plain Python (re, str, collections.Counter; fastText's batch predict on the same
paragraphs), one trace at a time, as a filtering script would. tests/test_trace_quality.py holds the
two to the same scores on real traces. Figures are MB of trace text per CPU-second, medians of the
repeats, each in a fresh process; `--tokenizer` adds trace_length's token counts (a local
tokenizer.json) as a separate line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import ENV, ROOT
from benchmarks.trace_defects import LONG_COT, STAGES

COLUMNS = ("format", "boxed_answers", "ends_mid_sentence", "tail_repeats", "tail_ngrams", "repeated_paragraphs", "top_ngram_repeats",
           "repeated_ngrams", "repetition_detectors", "foreign_share", "foreign_paragraphs", "thought_chars", "solution_chars",
           "reflections", "verifications", "alternatives", "checks_answer", "quality_issues")


def traces() -> pl.DataFrame:
    frames = [pl.read_ndjson(LONG_COT / name, infer_schema_length=None).select("question", "response") for name in ("sky_t1_math.jsonl", "r1_distill_thought_anchors.jsonl")]
    return pl.concat(frames)


def stage_scores(rows: pl.DataFrame, tokenizer: str | None = None) -> pl.DataFrame:
    """curate's stages on `rows` (question, response): one row of scores per trace."""
    from curate.columns import DROP, TRACES
    from curate.stages import stage_type

    frame = rows
    for entry in STAGES:
        settings = {k: v for k, v in entry.items() if k not in ("name", "use")}
        if entry["use"] == "trace_length" and tokenizer:
            settings["tokenizer"] = tokenizer
        stage = stage_type(entry["use"])(entry["name"], **settings)
        stage.prepare()
        stage.warm_up()
        out = stage.apply(frame)
        frame = (out[0] if isinstance(out, tuple) else out).drop(DROP)
    return frame.select(pl.col(TRACES).list.first().struct.unnest()).select(COLUMNS)


# ---------------------------------------------------------------- the same detectors in plain Python

SKY = ("<|begin_of_thought|>", "<|end_of_thought|>", "<|begin_of_solution|>", "<|end_of_solution|>")
BOXED = re.compile(r"\\(?:boxed|fbox)\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
ANSWERED = re.compile(r"(?i)\\(?:boxed|fbox)\{|final answer|answer is|answers? ?:")
WORD = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]+")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _split(text: str) -> dict[str, Any]:
    if "<think>" in text or "</think>" in text:
        opened, closed = "<think>" in text, "</think>" in text
        body = text.split("<think>", 1)[1] if opened else text
        return {"format": "think", "thought": body.split("</think>", 1)[0].strip(), "solution": text.split("</think>", 1)[1].strip() if closed else "",
                "thought_open": True, "thought_closed": closed, "solution_closed": None}
    if SKY[0] in text or SKY[2] in text:
        opened, closed, has_solution = SKY[0] in text, SKY[1] in text, SKY[2] in text
        body = text.split(SKY[0], 1)[1] if opened else ""
        thought = body.split(SKY[1], 1)[0].split(SKY[2], 1)[0].strip() if opened else None
        solution = text.split(SKY[2], 1)[1].split(SKY[3], 1)[0].strip() if has_solution else ""
        return {"format": "sky", "thought": thought, "solution": solution, "thought_open": opened, "thought_closed": closed,
                "solution_closed": (SKY[3] in text) if has_solution else None}
    return {"format": "plain", "thought": None, "solution": text, "thought_open": False, "thought_closed": False, "solution_closed": None}


def _mid_sentence(solution: str) -> bool:
    return _ends_mid(solution) and not ANSWERED.search(solution[-300:])


def _format(text: str, parts: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    solution, thought = parts["solution"], parts["thought"] or ""
    boxed = len({re.sub(r"\s+", "", m.group(0)) for m in BOXED.finditer(solution)})
    mid = _mid_sentence(solution)
    open_thought = parts["thought_open"] and not parts["thought_closed"]
    tail = text[-300:]
    goes_on = solution.strip() != "" or (bool(re.search(r"\\(?:boxed|fbox)\{", tail)) and not _ends_mid(tail))
    truncated = (open_thought and not goes_on) or (parts["thought_closed"] and solution.strip() == "") or parts["solution_closed"] is False \
        or (parts["solution_closed"] is None and mid and solution.strip() != "")
    issue = ("truncated" if truncated else "unclosed_thought" if open_thought else "no_thought" if not parts["thought_open"]
             else "empty_thought" if parts["thought_open"] and len(thought.strip()) < 1
             else "answer_outside_solution" if boxed == 0 and re.search(r"\\(?:boxed|fbox)\{", thought) else None)
    return {"format": parts["format"], "boxed_answers": boxed, "ends_mid_sentence": mid}, issue


def _ends_mid(text: str) -> bool:
    end = text.rstrip()
    return bool(end) and (end[-1].isalpha() or end[-1].isdecimal() or end[-1] in ",;:(=+-\\")


def _words(text: str) -> list[tuple[str, int]]:
    """Words (ASCII lowercased) with the character where each starts."""
    return [(m.group().translate(ASCII_LOWER), m.start()) for m in WORD.finditer(text)]


def _ngram_stats(text: str, n: int = 10, tail: int | None = None) -> tuple[int, float]:
    """(the most frequent n-gram's count, the share of n-grams that repeat), over the n-grams starting
    in the last `tail` characters."""
    words = _words(text)
    grams = [tuple(w for w, _ in words[i : i + n]) for i in range(len(words) - n + 1) if tail is None or words[i][1] >= len(text) - tail]
    if not grams:
        return 0, 0.0
    counts = Counter(grams)
    return max(counts.values()), (len(grams) - len(counts)) / len(grams)


def _tail_repeats(text: str) -> float:
    lines = [s for s in (line.strip() for line in text[-12000:].split("\n")) if len(s) >= 10][-30:]
    if len(lines) < 3:
        return 0.0
    counts = Counter(lines)
    late = lines[len(lines) - len(lines) // 3 :]
    late_counts = Counter(late)
    share = sum(counts[line] > 1 for line in lines) / len(lines)
    late_share = sum(late_counts[line] > 1 for line in late) / len(late) if late else float("nan")
    return max(share, late_share) if late else share


def _repeated_paragraphs(text: str) -> float:
    paragraphs = [p.strip() for p in text.split("\n\n")]
    total = sum(len(p.encode()) for p in paragraphs)
    seen: set[str] = set()
    repeated = 0
    for p in paragraphs:
        if len(p.encode()) < 20:
            continue
        if p in seen:
            repeated += len(p.encode())
        seen.add(p)
    return repeated / total if total else 0.0


def _repetition(text: str, thought: str) -> tuple[dict[str, Any], str | None]:
    top, repeated = _ngram_stats(text)
    tails = [_ngram_stats(text, tail=2000)[1]] + [_ngram_stats(thought, tail=size)[1] for size in (500, 2000, 8000, 32000)]
    scores = {"tail_repeats": max(_tail_repeats(text), _tail_repeats(thought)), "tail_ngrams": max(tails), "repeated_paragraphs": _repeated_paragraphs(text),
              "top_ngram_repeats": top, "repeated_ngrams": repeated}
    fired = (scores["tail_repeats"] > 0.5) + (scores["tail_ngrams"] > 0.5) + (scores["repeated_paragraphs"] > 0.35) + (top > 20) + (repeated > 0.4)
    scores["repetition_detectors"] = fired
    return scores, "repetition" if fired >= 2 else None


def _script(code: int) -> int:
    if code < 0x250:
        return 0 if code >= 0xC0 and code not in (0xD7, 0xF7) else -1
    for script, ranges in ((0, ((0x1E00, 0x1F00),)), (2, ((0x400, 0x530),)), (4, ((0x590, 0x600),)), (3, ((0x600, 0x700), (0x750, 0x780))),
                           (5, ((0x900, 0xE00),)), (6, ((0xE00, 0xE80),)),
                           (1, ((0x3040, 0x3100), (0x3400, 0x4DC0), (0x4E00, 0xA000), (0xAC00, 0xD7B0), (0xF900, 0xFB00)))):
        if any(lo <= code < hi for lo, hi in ranges):
            return script
    return -1


def _paragraph_letters(text: str) -> list[tuple[str, list[int], int, int, int]]:
    """(paragraph, letters per script, words, long words, English function words), paragraphs cut
    where a non-space follows two or more newlines; ASCII words outside LaTeX commands and formulas."""
    from curate.stages.trace_language import ENGLISH_FUNCTION_WORDS

    function_words = {w for w in ENGLISH_FUNCTION_WORDS if w.isalpha()}
    out = []
    # a paragraph starts at a non-space character that follows two or more newlines (spaces between)
    starts = [0] + [m.end() for m in re.finditer(r"\n(?:[ \r\t]*\n)+[ \r\t]*(?=[^\n \r\t])", text)]
    for start, end in zip(starts, starts[1:] + [len(text)]):
        paragraph = text[start:end]
        letters = [0] * 7
        words = long_words = common = 0
        math = backslash = False
        i = 0
        while i < len(paragraph):
            c = paragraph[i]
            if c.isascii() and c.isalpha():
                j = i
                while j < len(paragraph) and paragraph[j].isascii() and paragraph[j].isalpha():
                    j += 1
                if not backslash and not math:
                    letters[0] += j - i
                    words += 1
                    long_words += j - i >= 4
                    common += paragraph[i:j].lower() in function_words
                backslash = False
                i = j
                continue
            if c.isascii():
                if c == "$" and not backslash:
                    if paragraph[i + 1 : i + 2] == "$":
                        i += 1
                    math = not math
                elif backslash and c in "([":
                    math = True
                elif backslash and c in ")]":
                    math = False
                backslash = c == "\\" and not backslash
                i += 1
                continue
            backslash = False
            script = _script(ord(c))
            if script >= 0 and not math:
                letters[script] += 1
            i += 1
        out.append((paragraph, letters, words, long_words, common))
    return out


def _language(question: str, text: str, model: Any) -> dict[str, Any]:
    from curate.stages.language import _MATH
    from curate.text import fasttext_models

    problem = re.sub(_MATH, " ", question or "")
    label = fasttext_models.predict(model, fasttext_models.one_line(pl.Series([problem])), k=1)[0][0]
    reference = label[0] if label and len(re.findall(r"[^\W\d_]+", problem)) >= 5 else "en"
    problem_letters = [sum(x) for x in zip(*(p[1] for p in _paragraph_letters(question or "")))] or [0] * 7
    from curate.stages.trace_language import _SCRIPT_LANGUAGE

    ref_script = max(range(7), key=lambda s: (problem_letters[s], -s)) if sum(problem_letters) else _SCRIPT_LANGUAGE.get(reference, 0)
    foreign_letters = all_letters = 0
    foreign = 0
    for paragraph, letters, words, long_words, common in _paragraph_letters(text):
        total = sum(letters)
        all_letters += total
        dominant = max(range(7), key=lambda s: (letters[s], -s))
        if total + 3 * letters[1] < 20:
            continue
        if dominant != ref_script and 2 * letters[dominant] >= total:
            foreign_letters += total
            foreign += 1
            continue
        if long_words >= 8 and (reference != "en" or common < 0.12 * words):
            found, probability = fasttext_models.predict(model, fasttext_models.one_line(pl.Series([re.sub(_MATH, " ", paragraph)])), k=1)
            if found[0] and found[0][0] != reference and probability[0][0] >= 0.7:
                foreign_letters += total
                foreign += 1
    return {"foreign_share": foreign_letters / all_letters if all_letters else 0.0, "foreign_paragraphs": foreign}


def _behaviour(parts: dict[str, Any]) -> dict[str, Any]:
    from curate.stages.trace_behaviour import ALTERNATIVE, REFLECTION, VERIFICATION

    text = (parts["thought"] or "" if parts["thought_open"] else parts["solution"]).lower()
    found = list(BOXED.finditer(parts["solution"]))
    answer = found[-1].group(1).strip() if found else ""
    tail = text[-(len(text) // 4):]
    return {"reflections": len(re.findall(REFLECTION, text)), "verifications": len(re.findall(VERIFICATION, text)), "alternatives": len(re.findall(ALTERNATIVE, text)),
            "checks_answer": bool(answer) and answer.lower() in tail and bool(re.search(VERIFICATION, tail))}


def reference_scores(rows: pl.DataFrame) -> pl.DataFrame:
    """The same scores, one trace at a time in plain Python."""
    from curate.text import fasttext_models

    model = fasttext_models.load(str(fasttext_models.lid176_path()))
    out = []
    for question, text in rows.select("question", "response").iter_rows():
        text = text or ""
        parts = _split(text)
        row, issue = _format(text, parts)
        issues = [issue] if issue else []
        repetition, issue = _repetition(text, parts["thought"] or "")
        issues += [issue] if issue else []
        language = _language(question, text, model)
        issues += ["mixed_language"] if language["foreign_share"] > 0 else []
        row.update(repetition, **language, thought_chars=len(parts["thought"] or ""), solution_chars=len(parts["solution"]), **_behaviour(parts), quality_issues=issues)
        out.append(row)
    return pl.DataFrame(out).select(COLUMNS).cast({"boxed_answers": pl.Int32, "top_ngram_repeats": pl.Int32, "repetition_detectors": pl.Int8, "foreign_paragraphs": pl.Int32,
                                                   "thought_chars": pl.Int64, "solution_chars": pl.Int64, "reflections": pl.Int32, "verifications": pl.Int32, "alternatives": pl.Int32})


# ---------------------------------------------------------------- measuring

def _child(which: str, tokenizer: str | None) -> dict[str, float]:
    import time

    rows = traces()
    megabytes = rows["response"].str.len_bytes().sum() / 1e6
    if which == "curate":
        stage_scores(rows.head(20), tokenizer)  # compiled kernels loaded, models read
    started = time.process_time()
    if which == "curate":
        stage_scores(rows, tokenizer)
    else:
        reference_scores(rows)
    return {"megabytes": megabytes, "cpu_seconds": time.process_time() - started}


def _measure(which: str, tokenizer: str | None) -> dict[str, float]:
    env = {**ENV, "POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = f"import json, benchmarks.trace_quality_speed as b; print(json.dumps(b._child({which!r}, {tokenizer!r})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_tokenizer() -> Path:
    """A byte-level BPE tokenizer (as Qwen's and Llama 3's) trained on the traces themselves, saved as a
    tokenizer.json: a realistic vocabulary, built here, nothing downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from benchmarks._common import DATA

    path = DATA / "trace_tokenizer.json"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.train_from_iterator(traces()["response"].to_list(), trainers.BpeTrainer(vocab_size=32000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tokenizer.save(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokenizer", help="a local tokenizer.json, or `build` (a byte-level BPE of 32,000 tokens trained here on the traces): also measure trace_length with token counts")
    args = parser.parse_args()
    if args.tokenizer == "build":
        args.tokenizer = str(build_tokenizer())
    runs = [("curate", None), ("plain Python", None)] + ([("curate + tokens", args.tokenizer)] if args.tokenizer else [])
    results: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(args.repeats):  # interleaved: a noisy machine slows both alike
        for name, tokenizer in runs:
            r = _measure("curate" if name.startswith("curate") else "plain", tokenizer)
            results[name].append(r["megabytes"] / r["cpu_seconds"])
            megabytes = r["megabytes"]
    print(f"trace text: {megabytes:.1f} MB (Sky-T1 + R1-Distill), 5 trace stages; MB per CPU-second, median of {args.repeats}")
    base = statistics.median(results["plain Python"])
    for name, values in results.items():
        print(f"  {name:16s} {statistics.median(values):7.1f} MB/s per core   ({statistics.median(values) / base:5.1f}x plain Python)   runs: {', '.join(f'{v:.1f}' for v in values)}")
    if os.environ.get("CURATE_BENCH_JSON"):
        print(json.dumps(results))


if __name__ == "__main__":
    main()
