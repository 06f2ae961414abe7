"""spaCy 3.8's English tokenizer and sentencizer (`spacy.blank("en")`), one whitespace-free chunk at a time.

datatrove's Gopher and FineWeb filters count spaCy tokens, and C4 counts spaCy sentences. On prose the
Gopher alpha-word ratio sits right at its threshold, so a regex approximation of the tokenizer decides
about 2% of documents differently; these are spaCy's own rules instead (curate/rules/spacy_en.json,
dumped from spaCy, MIT licence), without importing spaCy.

spaCy cuts text at whitespace and tokenizes each chunk on its own, so a batch needs each distinct
chunk once (`tokens` remembers them). For one chunk:
1. a chunk that is a tokenizer exception ("don't", "Mr.", ":)") becomes the exception's tokens;
2. otherwise prefixes (first matching pattern, in list order) and suffixes (the longest) come off in
   turns, stopping early when what is left is an exception;
3. the middle is one token if it is a URL, or is cut at infixes ("well-known", "end.Next");
4. exceptions made of several pieces (emoticons, "10a.m.") are joined back when the pieces came out
   of one chunk (spaCy's special matcher; across chunks it only joins contrived input like ": )").
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

_RULES = json.loads((Path(__file__).with_name("spacy_en.json")).read_text(encoding="utf-8"))
EXCEPTIONS: dict[str, tuple[str, ...]] = {key: tuple(value) for key, value in _RULES["special_cases"].items()}
# Every prefix pattern is anchored at the start and the first one in list order wins: `match` is
# spaCy's `search` without scanning the rest of the chunk.
_PREFIX = re.compile(_RULES["prefix_regex"])
_SUFFIX = re.compile(_RULES["suffix_regex"])
_INFIX = re.compile(_RULES["infix_regex"])
_URL = re.compile(_RULES["url_match_regex"])
SENTENCE_PUNCT = frozenset(_RULES["sentencizer_punct_chars"])
DATATROVE_PUNCTUATION = frozenset(_RULES["datatrove_punctuation"]) | frozenset(_RULES["datatrove_terminal_punctuation"])
"""datatrove's PUNCTUATION_SET: a token made only of these is a symbol, not a word, for Gopher."""
TERMINAL_PUNCTUATION = tuple(_RULES["datatrove_terminal_punctuation"])
"""datatrove's TERMINAL_PUNCTUATION (159 characters; `.`, `!`, `?` in ASCII) for FineWeb's line ends."""

_ICON = re.compile(_RULES["icon_class"])
_ONE_CHAR_SUFFIXES = frozenset(_RULES["suffix_chars"]) - {".", "…"}
"""Characters that are suffixes on their own, whatever precedes them, and end no longer suffix
("……", "'s" and runs of dots do; so do units and currencies, but after a digit and in a letter or $)."""
_LONGEST_SUFFIX = 6
"""No suffix pattern matches more than 6 characters, except runs of dots ("word....")."""
_MAY_HAVE_INFIX = re.compile("[.…+\\-*^,–—~:<>=/]|" + _RULES["icon_class"])
"""Characters without which no infix pattern can match: a cheap test before the costly one."""


def _prefix_length(text: str) -> int:
    if text and text[0].isalpha() and "$" not in text[1:3]:  # only "US$", "C$", "A$" start with a letter
        return 0
    found = _PREFIX.match(text)
    return found.end() if found else 0


def _suffix_length(text: str) -> int:
    """Length of the longest suffix: spaCy searches left to right, so the earliest start wins."""
    if not text:
        return 0
    last = text[-1]
    if last in _ONE_CHAR_SUFFIXES or _ICON.match(last):
        return 1
    if last.isalpha() and text[-2:-1] not in ("'", "’") and not any("0" <= c <= "9" for c in text[-7:]):
        return 0  # suffixes ending in a letter are units after a digit ("10km") and 's
    dots = len(text) - len(text.rstrip("."))
    start = max(0, min(len(text) - _LONGEST_SUFFIX, len(text) - dots))
    found = _SUFFIX.search(text, start)
    return found.end() - found.start() if found else 0


def _infix_split(text: str) -> list[str]:
    pieces, start = [], 0
    for found in _INFIX.finditer(text):
        if found.start() == 0:  # spaCy ignores an infix at the very start
            continue
        if found.start() != start:
            pieces.append(text[start : found.start()])
        if found.end() != found.start():
            pieces.append(found.group())
        start = found.end()
    if text[start:]:
        pieces.append(text[start:])
    return pieces


def _affix_split(chunk: str, exceptions: dict[str, tuple[str, ...]]) -> list[str]:
    if chunk in exceptions:
        return list(exceptions[chunk])
    prefixes: list[str] = []
    suffixes: list[str] = []
    rest = chunk
    while rest and rest not in exceptions:
        before = len(rest)
        pre = _prefix_length(rest)
        if pre and rest[pre:] in exceptions:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
            break
        suf = _suffix_length(rest[pre:])  # searched after the prefix, taken from the end
        if suf and rest[:-suf] in exceptions:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
            break
        if pre and suf and pre + suf <= len(rest):
            prefixes.append(rest[:pre])
            suffixes.append(rest[-suf:])
            rest = rest[pre:-suf]
        elif pre:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
        elif suf:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
        if len(rest) == before:
            break
    middle: list[str] = []
    if rest:
        if rest in exceptions:
            middle = list(exceptions[rest])
        elif "." in rest and _URL.match(rest):  # every URL the pattern accepts has a dotted host
            middle = [rest]
        elif not rest.isalnum() and _MAY_HAVE_INFIX.search(rest):
            middle = _infix_split(rest)
        else:
            middle = [rest]
    return prefixes + middle + suffixes[::-1]


# Exceptions whose text spaCy's affix rules would cut ("10a.m.", ":-)", "'s"): the special matcher
# finds them again as token sequences, keyed here by those pieces.
_PIECES: dict[tuple[str, ...], str] = {}
for _key in _RULES["special_cases_checked_by_special_matcher"]:
    _PIECES[tuple(_affix_split(_key, {}))] = _key
PATTERNS = tuple(_PIECES)
FIRST_PIECES = frozenset(pieces[0] for pieces in _PIECES)
_MOST_PIECES = max(len(pieces) for pieces in _PIECES)


def _join_exceptions(tokens: list[str]) -> list[str]:
    """spaCy's special matcher within one chunk: longest sequences first, then leftmost; a sequence is
    taken unless its first or last token lies in one already considered (taken or not)."""
    found = []
    for i in range(len(tokens)):
        if tokens[i] not in FIRST_PIECES:
            continue
        for n in range(1, min(_MOST_PIECES, len(tokens) - i) + 1):
            key = _PIECES.get(tuple(tokens[i : i + n]))
            if key is not None:
                found.append((i, i + n, key))
    if not found:
        return tokens
    found.sort(key=lambda span: (span[0] - span[1], span[0]))
    covered: set[int] = set()
    taken = {}
    for start, end, key in found:
        if start not in covered and end - 1 not in covered:
            taken[start] = (end, key)
        covered.update(range(start, end))
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i in taken:
            end, key = taken[i]
            out.extend(EXCEPTIONS[key])
            i = end
        else:
            out.append(tokens[i])
            i += 1
    return out


_SEEN: dict[str, tuple[str, ...]] = {}
_SEEN_LIMIT = 200_000


def tokens(chunk: str) -> tuple[str, ...]:
    """spaCy's tokens for a maximal run of non-whitespace characters. Remembered: most chunks of a
    corpus repeat ("the", "said,"), and the rules cost several microseconds per new chunk."""
    known = _SEEN.get(chunk)
    if known is None:
        pieces = _affix_split(chunk, EXCEPTIONS)
        if FIRST_PIECES.intersection(pieces):
            pieces = _join_exceptions(pieces)
        known = tuple(pieces)
        if len(_SEEN) >= _SEEN_LIMIT:
            _SEEN.clear()
        _SEEN[chunk] = known
    return known


def words(text: str) -> list[str]:
    """datatrove's split_into_words for English: spaCy's tokens without whitespace, punctuation included.
    For tests and one-off use; the scores work on whole batches (curate/rules/heuristic.py)."""
    return [token for chunk in text.split() for token in tokens(chunk)]


def is_punct(token: str) -> bool:
    """spaCy's IS_PUNCT: every character is Unicode punctuation (P*)."""
    return all(unicodedata.category(char).startswith("P") for char in token)


def sentence_classes(chunk: str) -> str:
    """One letter per token for the sentencizer: `P` a sentence-ending character (".", "!", "?", ...),
    `Q` other punctuation (quotes, brackets), `W` anything else. A new sentence starts at the first `W`
    after a `P` (in `P[PQ]*W`); a gap between chunks other than one space is a `W` token too."""
    return "".join("P" if token in SENTENCE_PUNCT else "Q" if is_punct(token) else "W" for token in tokens(chunk))


def sentence_count(text: str) -> int:
    """datatrove's len(split_into_sentences(text)) for English: spaCy's sentencizer (1 for no tokens)."""
    classes: list[str] = []
    for piece in re.findall(r"\S+|\s+", text):
        if piece[0].isspace():
            if piece != " " or not classes:  # a single space after a token belongs to it
                classes.append("W")
        else:
            classes.append(sentence_classes(piece))
    return 1 + len(re.findall("P[PQ]*W", "".join(classes)))
