"""Reasoning traces, compiled with numba: how often a trace says the same word n-gram (repetition) and
which scripts each of its paragraphs is written in (language mixing).

Words for n-grams are the maximal runs of ASCII letters and digits and non-ASCII bytes, ASCII
lowercased (as for decontamination, `curate/kernels/ngrams.py`), so `x = 6.` and `x=6` are the same.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from curate.kernels.minhash import _FNV_OFFSET, _FNV_PRIME, _fmix64, _words
from curate.kernels.ngrams import WORDS, _powers, _prefix, _window_hash

_EMPTY = np.uint64(0)


@nb.njit(cache=True, inline="always")
def _cut(data, start, stop, chars):
    """The byte where the last `chars` characters of data[start:stop] begin (UTF-8)."""
    i = stop
    seen = 0
    while i > start and seen < chars:
        i -= 1
        if (data[i] & 0xC0) != 0x80:
            seen += 1
    return i


@nb.njit(cache=True)
def ngram_repeats(data, offsets, n, tails, top, repeated, tail_repeated):
    """For each text: `top[i]`, how many times its most frequent word n-gram occurs; `repeated[i]`, the
    share of its n-grams that occur more than once before the last (total - distinct, over total);
    and `tail_repeated[i, k]`, the same share among the n-grams that start in its last `tails[k]`
    characters (0 where there are none). One pass from the end, one open-addressing table per text
    (hash 0 stands for an empty slot; a real 0 is counted as 1)."""
    hashes = np.empty(1024, np.uint64)
    starts = np.empty(1024, np.int64)
    prefix = np.empty(1025, np.uint64)
    powers = _powers(n)
    keys = np.zeros(2048, np.uint64)
    counts = np.zeros(2048, np.int32)
    cuts = np.empty(tails.shape[0], np.int64)
    for d in range(offsets.shape[0] - 1):
        hashes, starts, count = _words(data, offsets[d], offsets[d + 1], WORDS, hashes, starts)
        total = count - n + 1
        top[d] = 0
        repeated[d] = 0.0
        for k in range(tails.shape[0]):
            tail_repeated[d, k] = 0.0
            cuts[k] = _cut(data, offsets[d], offsets[d + 1], tails[k])
        if total <= 0:
            continue
        prefix = _prefix(hashes, count, prefix)
        size = keys.shape[0]
        while size < 2 * total:
            size *= 2
        if size != keys.shape[0]:
            keys = np.zeros(size, np.uint64)
            counts = np.zeros(size, np.int32)
        mask = np.uint64(size - 1)
        best = 0
        distinct = 0
        for s in range(total - 1, -1, -1):
            h = _window_hash(prefix, powers, s, n)
            if h == _EMPTY:
                h = np.uint64(1)
            slot = h & mask
            while keys[slot] != _EMPTY and keys[slot] != h:
                slot = (slot + np.uint64(1)) & mask
            if keys[slot] == _EMPTY:
                distinct += 1
                keys[slot] = h
            counts[slot] += 1
            if counts[slot] > best:
                best = counts[slot]
            seen = total - s
            for k in range(tails.shape[0]):
                # the last window of the tail: this one starts in it, the one before does not
                if starts[s] >= cuts[k] and (s == 0 or starts[s - 1] < cuts[k]):
                    tail_repeated[d, k] = (seen - distinct) / seen
        top[d] = best
        repeated[d] = (total - distinct) / total
        for s in range(size):  # clear for the next text (a loop: see curate/kernels/__init__.py)
            keys[s] = _EMPTY
            counts[s] = 0


def word_table(hashes: np.ndarray) -> np.ndarray:
    """An open-addressing table of word hashes (0: empty), a power of two four times their number."""
    size = 16
    while size < 4 * len(hashes):
        size *= 2
    table = np.zeros(size, np.uint64)
    for h in hashes:
        slot = int(h) & (size - 1)
        while table[slot] not in (0, h):
            slot = (slot + 1) & (size - 1)
        table[slot] = h
    return table


# Scripts a paragraph's letters are counted in; Greek (math's letters) and everything else count in none.
LATIN, CJK, CYRILLIC, ARABIC, HEBREW, INDIC, THAI = range(7)
SCRIPTS = ("latin", "cjk", "cyrillic", "arabic", "hebrew", "indic", "thai")


@nb.njit(cache=True, inline="always")
def _script(code):
    if code < 0x250:
        return LATIN if code >= 0xC0 and code != 0xD7 and code != 0xF7 else -1
    if 0x1E00 <= code < 0x1F00:
        return LATIN
    if 0x400 <= code < 0x530:
        return CYRILLIC
    if 0x590 <= code < 0x600:
        return HEBREW
    if 0x600 <= code < 0x700 or 0x750 <= code < 0x780:
        return ARABIC
    if 0x900 <= code < 0xE00:
        return INDIC
    if 0xE00 <= code < 0xE80:
        return THAI
    if 0x3040 <= code < 0x3100 or 0x3400 <= code < 0x4DC0 or 0x4E00 <= code < 0xA000 or 0xAC00 <= code < 0xD7B0 or 0xF900 <= code < 0xFB00:
        return CJK
    return -1


@nb.njit(cache=True)
def paragraph_scripts(data, offsets, function_words, owner, starts, ends, letters, words, long_words, common):
    """Cut each text into paragraphs (at blank lines) and count, per paragraph, its letters in each
    script (`letters[p, script]`; ASCII letters are Latin; letters of LaTeX commands and inside $...$,
    \\(...\\), \\[...\\] are not counted), its ASCII words that are not LaTeX commands
    (`words`), those of four letters or more (`long_words`: prose, not variables such as `abd`) and
    how many are in `function_words` (`word_table` of their lowercased hashes: `common`). Returns the number of paragraphs; the arrays must have room for them (one per blank
    line + 1 per text)."""
    p = 0
    for d in range(offsets.shape[0] - 1):
        if p >= owner.shape[0]:  # no room for this text's counts (numba does not check bounds)
            return -1
        start, stop = offsets[d], offsets[d + 1]
        i = start
        para_start = start
        newlines = 0
        backslash = False
        math = False  # inside $...$, $$...$$, \(...\) or \[...\]: letters there are variables
        while True:
            at_end = i >= stop
            if not at_end:
                b = data[i]
                if b == 0x0A:
                    newlines += 1
                elif b != 0x20 and b != 0x0D and b != 0x09:
                    if newlines >= 2:
                        if p + 1 >= owner.shape[0]:  # this one and the text's last
                            return -1
                        owner[p], starts[p], ends[p] = d, para_start, i
                        p += 1
                        para_start = i
                        math = False  # an unclosed $ does not reach into the next paragraph
                    newlines = 0
            if at_end:
                if p >= owner.shape[0]:
                    return -1
                owner[p], starts[p], ends[p] = d, para_start, stop
                p += 1
                break
            b = data[i]
            if b < 0x80:
                lower = b | 0x20
                if 0x61 <= lower <= 0x7A:
                    # an ASCII word: its letters are Latin; is it a function word (not a \command)?
                    h = _FNV_OFFSET
                    j = i
                    while j < stop:
                        c = data[j] | 0x20
                        if not (0x61 <= c <= 0x7A):
                            break
                        h = (h ^ np.uint64(c)) * _FNV_PRIME
                        j += 1
                    if not backslash and not math:  # a LaTeX command's or a formula's letters are no language's
                        letters[p, LATIN] += j - i
                        words[p] += 1
                        if j - i >= 4:
                            long_words[p] += 1
                        if j - i <= 9:  # function words are short: most words never reach the table
                            h = _fmix64(h)
                            mask = np.uint64(function_words.shape[0] - 1)
                            slot = h & mask
                            while function_words[slot] != _EMPTY:
                                if function_words[slot] == h:
                                    common[p] += 1
                                    break
                                slot = (slot + np.uint64(1)) & mask
                    backslash = False
                    i = j
                    continue
                if b == 0x24 and not backslash:  # $ or $$ (not \$)
                    if i + 1 < stop and data[i + 1] == 0x24:
                        i += 1
                    math = not math
                elif backslash and (b == 0x28 or b == 0x5B):
                    math = True
                elif backslash and (b == 0x29 or b == 0x5D):
                    math = False
                backslash = b == 0x5C and not backslash
                i += 1
                continue
            backslash = False
            if b >= 0xF0 and i + 3 < stop:
                code = ((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6) | (data[i + 3] & 0x3F)
                i += 4
            elif b >= 0xE0 and i + 2 < stop:
                code = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
                i += 3
            elif b >= 0xC0 and i + 1 < stop:
                code = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F)
                i += 2
            else:
                i += 1
                continue
            script = _script(code)
            if script >= 0 and not math:
                letters[p, script] += 1
    return p
