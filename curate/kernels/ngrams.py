"""Word n-gram hashes and look-ups in a sorted n-gram index, compiled with numba (decontamination).

Texts come as Arrow string buffers, their non-ASCII part normalised (curate/text/ngrams.py); words are
the maximal runs of ASCII letters and digits and non-ASCII bytes, ASCII lowercased here. An n-gram's hash is 64 bits
(a 32-bit hash would give one false match in a few thousand records against a large benchmark index).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from curate.kernels.minhash import _LOWER, _fmix64, _words, word_table

_NGRAM_SEED = np.uint64(0x2545F4914F6CDD1D)


# Word separators: every ASCII byte that is not a letter or digit (non-ASCII punctuation is turned
# into spaces before, in curate/text/ngrams.py); bytes >= 0x80 belong to words.
_SEPARATOR = np.ones(256, dtype=np.bool_)
_SEPARATOR[0x80:] = False
_SEPARATOR[ord("0") : ord("9") + 1] = False
_SEPARATOR[ord("A") : ord("Z") + 1] = False
_SEPARATOR[ord("a") : ord("z") + 1] = False
WORDS = word_table(_SEPARATOR, _LOWER)


_BASE = np.uint64(0x100000001B3)


@nb.njit(cache=True)
def _prefix(tokens, count, prefix):
    """Polynomial prefix hashes of the token hashes (wrapping mod 2^64): any window's hash in O(1)."""
    if prefix.shape[0] < count + 1:
        prefix = np.empty(max(2 * prefix.shape[0], count + 1), np.uint64)
    prefix[0] = np.uint64(0)
    for i in range(count):
        prefix[i + 1] = prefix[i] * _BASE + tokens[i]
    return prefix


@nb.njit(cache=True, inline="always")
def _window_hash(prefix, powers, first, width):
    h = prefix[first + width] - prefix[first] * powers[width]
    return _fmix64(h ^ (_NGRAM_SEED * np.uint64(width + 1)))


@nb.njit(cache=True)
def _powers(n):
    powers = np.empty(n + 1, np.uint64)
    powers[0] = np.uint64(1)
    for i in range(n):
        powers[i + 1] = powers[i] * _BASE
    return powers


@nb.njit(cache=True)
def ngram_hashes(data, offsets, n, whole_below, counts):
    """Every word n-gram hash of each text, concatenated; `counts[i]` is how many text i gave. A text
    with fewer than n words gives one hash of all its words when it has at least `whole_below` words,
    else none."""
    tokens = np.empty(1024, np.uint64)
    starts = np.empty(1024, np.int64)
    prefix = np.empty(1025, np.uint64)
    powers = _powers(n)
    out = np.empty(1024, np.uint64)
    filled = 0
    for d in range(offsets.shape[0] - 1):
        tokens, starts, count = _words(data, offsets[d], offsets[d + 1], WORDS, tokens, starts)
        prefix = _prefix(tokens, count, prefix)
        if count >= n:
            total, width = count - n + 1, n
        elif count >= whole_below and count > 0:
            total, width = 1, count
        else:
            total, width = 0, 0
        if filled + total > out.shape[0]:
            grown = np.empty(max(out.shape[0] * 2, filled + total), np.uint64)
            for j in range(filled):  # a loop: see curate/kernels/__init__.py
                grown[j] = out[j]
            out = grown
        for s in range(total):
            out[filled + s] = _window_hash(prefix, powers, s, width)
        filled += total
        counts[d] = total
    return out[:filled]


FILTER_BITS = 23
"""A bitmap of 2^23 bits (1 MB, in cache) over the top bits of the indexed hashes: almost every window of a
clean record is rejected by one memory access, before the binary search."""
_FILTER_SHIFT = np.uint64(64 - FILTER_BITS)


def bitmap(hashes: np.ndarray) -> np.ndarray:
    bits = np.zeros((1 << FILTER_BITS) // 64, dtype=np.uint64)
    top = hashes >> _FILTER_SHIFT
    np.bitwise_or.at(bits, (top >> np.uint64(6)).astype(np.int64), np.left_shift(np.uint64(1), top & np.uint64(63)))
    return bits


# ---------------------------------------------------------------- item-level overlap (decontaminate)

_SLOTS = 64
"""Benchmark items one record is compared with at most (those its first matching n-grams belong to):
with common phrasing out of the index, a real record matches one or two."""


@nb.njit(cache=True)
def item_hashes(data, offsets, n, whole_below, counts):
    """As `ngram_hashes`, but each text's n-grams distinct (an item's size is its distinct n-grams)."""
    hashes = ngram_hashes(data, offsets, n, whole_below, counts)
    out = np.empty(hashes.shape[0], np.uint64)
    filled = 0
    start = 0
    for d in range(counts.shape[0]):
        part = np.unique(hashes[start : start + counts[d]])
        for j in range(part.shape[0]):  # a loop: see curate/kernels/__init__.py
            out[filled + j] = part[j]
        start += counts[d]
        counts[d] = part.shape[0]
        filled += part.shape[0]
    return out[:filled]


@nb.njit(cache=True)
def overlap(data, offsets, n, widths, index, items, sizes, bits, best_item, coverage, matched, longest, first_window):
    """For each text, the benchmark item it overlaps most: the share of that item's (distinct, not
    common) n-grams the text contains (`coverage`), how many (`matched`), the longest run of
    consecutive n-gram windows of the text found in it, in words (`longest`), and the word position
    of its first matching window (`first_window`). `index` is sorted and may repeat a hash, once per
    item that has it (`items` aligned); `sizes[i]` is item i's n-gram count. -1: no item."""
    tokens = np.empty(1024, np.uint64)
    starts = np.empty(1024, np.int64)
    prefix = np.empty(1025, np.uint64)
    powers = _powers(n)
    slot_item = np.empty(_SLOTS, np.int64)
    slot_count = np.empty(_SLOTS, np.int64)
    slot_last = np.empty(_SLOTS, np.int64)
    slot_run = np.empty(_SLOTS, np.int64)
    slot_best_run = np.empty(_SLOTS, np.int64)
    slot_first = np.empty(_SLOTS, np.int64)
    for d in range(offsets.shape[0] - 1):
        tokens, starts, count = _words(data, offsets[d], offsets[d + 1], WORDS, tokens, starts)
        prefix = _prefix(tokens, count, prefix)
        used = 0
        for w in range(widths.shape[0] + 1):
            width = n if w == widths.shape[0] else widths[w]
            for s in range(count - width + 1):
                h = _window_hash(prefix, powers, s, width)
                top = h >> _FILTER_SHIFT
                if not (bits[top >> np.uint64(6)] >> (top & np.uint64(63))) & np.uint64(1):
                    continue
                at = np.searchsorted(index, h)
                while at < index.shape[0] and index[at] == h:
                    item = items[at]
                    at += 1
                    k = 0
                    while k < used and slot_item[k] != item:
                        k += 1
                    if k == used:
                        if used == _SLOTS:
                            continue
                        used += 1
                        slot_item[k] = item
                        slot_count[k] = 0
                        slot_last[k] = -2
                        slot_run[k] = 0
                        slot_best_run[k] = 0
                        slot_first[k] = s
                    slot_count[k] += 1
                    if width == n and slot_last[k] == s - 1:
                        slot_run[k] += 1
                    else:
                        slot_run[k] = 1
                    slot_last[k] = s
                    words = slot_run[k] + width - 1
                    if words > slot_best_run[k]:
                        slot_best_run[k] = words
        best = -1
        best_share = 0.0
        for k in range(used):
            share = min(1.0, slot_count[k] / max(1, sizes[slot_item[k]]))
            if share > best_share or (share == best_share and best >= 0 and slot_best_run[k] > slot_best_run[best]):
                best, best_share = k, share
        if best < 0:
            best_item[d], coverage[d], matched[d], longest[d], first_window[d] = -1, 0.0, 0, 0, -1
        else:
            best_item[d] = slot_item[best]
            coverage[d] = best_share
            matched[d] = slot_count[best]
            longest[d] = slot_best_run[best]
            first_window[d] = slot_first[best]
