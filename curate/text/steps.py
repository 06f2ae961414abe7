"""A solution cut into steps, for step-level labels (process rewards).

Steps are character spans of the text itself, so a step prefix is exactly what the model wrote up to
the end of a step (a continuation request sends it back verbatim):

    blank_lines  paragraphs (at blank lines), as chain-of-thought models write their steps; a paragraph
                 that is only a displayed formula belongs to the one before it
    numbered     "Step 3:", "3.", "3)" or "**Step 3**" at the start of a line opens a step; text before
                 the first is a step of its own
    sentences    at ., ! or ? followed by a space and a capital, a digit or a formula, outside `$...$`
                 (decimals and `e.g.` stay inside)
    auto         numbered when at least two numbered steps are found, else blank lines when there are
                 at least two paragraphs, else sentences

Beyond `max_steps`, neighbouring steps are merged into `max_steps` groups of as even a length (in
steps) as possible, keeping their order.
"""

from __future__ import annotations

import itertools
import re

SPLITS = ("auto", "blank_lines", "numbered", "sentences")

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n\s*")
_NUMBERED = re.compile(r"(?m)^[ \t]*(?:\*\*)?(?:Step\s+\d+|\d{1,2}[.)])(?=[\s:*])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\\$(])")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Fig|Eq)\.$")
_DISPLAY = re.compile(r"\s*(?:\\\[.*\\\]|\$\$.*\$\$)\s*", re.S)


def step_spans(text: str, split: str = "auto", max_steps: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) character spans of the steps of `text`: they cover it from its first to its
    last non-space character, in order, without overlapping."""
    if split not in SPLITS:
        raise ValueError(f"unknown step split {split!r} (known: {', '.join(SPLITS)})")
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    if start >= end:
        return []
    if split == "auto":
        numbered = _numbered(text, start, end)
        if len(numbered) >= 2 and _NUMBERED.search(text, start):
            spans = numbered
        else:
            paragraphs = _paragraphs(text, start, end)
            spans = paragraphs if len(paragraphs) >= 2 else _sentences(text, start, end)
    elif split == "numbered":
        spans = _numbered(text, start, end)
    elif split == "blank_lines":
        spans = _paragraphs(text, start, end)
    else:
        spans = _sentences(text, start, end)
    return _merged(spans, max_steps) if max_steps else spans


def steps(text: str, split: str = "auto", max_steps: int | None = None) -> list[str]:
    """The steps' texts, stripped."""
    return [text[a:b].strip() for a, b in step_spans(text, split, max_steps)]


def _cut(text: str, start: int, end: int, cuts: list[int]) -> list[tuple[int, int]]:
    """Spans between `cuts` (positions where a step starts), each ending at its last non-space."""
    bounds = [start, *(c for c in cuts if start < c < end), end]
    spans = []
    for a, b in itertools.pairwise(bounds):
        b = a + len(text[a:b].rstrip())
        if b > a:
            spans.append((a, b))
    return spans


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraphs, a paragraph that is only a displayed formula (`\\[ ... \\]`) joined to the one before:
    "we multiply:" and its equation are one step."""
    spans: list[tuple[int, int]] = []
    for a, b in _cut(text, start, end, [m.end() for m in _PARAGRAPH_BREAK.finditer(text, start, end)]):
        if spans and _DISPLAY.fullmatch(text, a, b):
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def _numbered(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return _cut(text, start, end, [m.start() + len(m.group()) - len(m.group().lstrip()) for m in _NUMBERED.finditer(text, start, end)])


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    inside = [(m.start(), m.end()) for m in _MATH.finditer(text, start, end)]
    cuts = []
    for m in _SENTENCE_END.finditer(text, start, end):
        if any(a < m.start() < b for a, b in inside) or _ABBREVIATION.search(text, max(start, m.start() - 6), m.start()):
            continue
        cuts.append(m.end())
    return _cut(text, start, end, cuts)


def _merged(spans: list[tuple[int, int]], max_steps: int) -> list[tuple[int, int]]:
    if len(spans) <= max_steps:
        return spans
    groups, extra = divmod(len(spans), max_steps)
    merged, i = [], 0
    for g in range(max_steps):
        size = groups + (1 if g < extra else 0)
        merged.append((spans[i][0], spans[i + size - 1][1]))
        i += size
    return merged


__all__ = ["SPLITS", "step_spans", "steps"]
