"""Whitespace-separated chunks of texts and a vocabulary of them, compiled with numba (the heuristic
quality scores, curate/rules/tokens.py).

spaCy tokenizes each maximal run of non-whitespace characters on its own, so a batch is cut into
such chunks here, over Arrow string buffers; each chunk is known by a 64-bit hash of its bytes, and
a process-wide table maps the hash to the chunk's number, under which its tokens are kept.
Whitespace is Python's `str.isspace` (what spaCy splits at): ASCII \\t \\n \\v \\f \\r, U+001C-U+001F,
space, and the Unicode spaces U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
U+3000, matched by their UTF-8 bytes.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from curate.kernels.minhash import _FNV_OFFSET, _FNV_PRIME, _fmix64

EMPTY = np.uint64(0)
"""The table's free-slot key; a chunk hashing to it is stored as 1 (chunk hashes are never 0 then)."""


_BYTE_KIND = np.zeros(256, np.uint8)
"""1: a one-byte space; 2: the first byte of a multi-byte space (if the next bytes agree); 0: neither."""
_BYTE_KIND[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = 1
_BYTE_KIND[[0xC2, 0xE1, 0xE2, 0xE3]] = 2


@nb.njit(cache=True, inline="always")
def _space_width(data, i, end, kinds):
    """Bytes of the whitespace character at data[i], or 0 if it is not whitespace."""
    kind = kinds[data[i]]
    if kind == 0:
        return 0
    if kind == 1:
        return 1
    b = data[i]
    if b == 0xC2:
        return 2 if i + 1 < end and (data[i + 1] == 0x85 or data[i + 1] == 0xA0) else 0
    if i + 2 >= end:
        return 0
    c, d = data[i + 1], data[i + 2]
    if b == 0xE1:
        return 3 if c == 0x9A and d == 0x80 else 0
    if b == 0xE2:
        if c == 0x80 and ((0x80 <= d <= 0x8A) or d == 0xA8 or d == 0xA9 or d == 0xAF):
            return 3
        return 3 if c == 0x81 and d == 0x9F else 0
    return 3 if c == 0x80 and d == 0x80 else 0  # 0xE3: U+3000


@nb.njit(cache=True)
def _chunk_spans(data, offsets, kinds):
    """Two passes (count, then fill) without a branch per byte: a chunk's end is a branch the CPU
    cannot predict, so each byte stores the running chunk and the count moves on where one ends; the
    only branch is at the first byte of a possible multi-byte space (rare but for curly quotes)."""
    texts = offsets.shape[0] - 1
    total = 0
    for t in range(texts):
        i, end, inside = offsets[t], offsets[t + 1], 0
        while i < end:
            kind = kinds[data[i]]
            width = 1
            space = kind
            if kind == 2:
                width = _space_width(data, i, end, kinds)
                space = 1 if width else 0
                width = max(width, 1)
            total += (1 - inside) & (1 - space)
            inside = 1 - space
            i += width
    owner = np.empty(total + 1, np.int64)
    starts = np.empty(total + 1, np.int64)
    ends = np.empty(total + 1, np.int64)
    hashes = np.empty(total + 1, np.uint64)
    k = 0
    for t in range(texts):
        i, end, inside = offsets[t], offsets[t + 1], 0
        start = i
        h = _FNV_OFFSET
        while i < end:
            kind = kinds[data[i]]
            width = 1
            space = kind
            if kind == 2:
                width = _space_width(data, i, end, kinds)
                space = 1 if width else 0
                width = max(width, 1)
            owner[k], starts[k], ends[k], hashes[k] = t, start, i, h
            k += inside & space
            begins = (1 - inside) & (1 - space)
            start = i if begins else start
            base = _FNV_OFFSET if begins else h
            h = base if space else (base ^ np.uint64(data[i])) * _FNV_PRIME
            inside = 1 - space
            i += width
        if inside:
            owner[k], starts[k], ends[k], hashes[k] = t, start, end, h
            k += 1
    for j in range(total):
        h = _fmix64(hashes[j] ^ np.uint64(ends[j] - starts[j]))
        hashes[j] = h if h != EMPTY else np.uint64(1)
    return owner[:total], starts[:total], ends[:total], hashes[:total]


def chunk_spans(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every chunk of every text, in order: (text number, first byte, end byte, hash)."""
    return _chunk_spans(data, offsets, _BYTE_KIND)


@nb.njit(cache=True, inline="always")
def _slot(keys, key, mask):
    slot = np.int64(key >> np.uint64(20)) & mask
    while keys[slot] != EMPTY and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@nb.njit(cache=True)
def lookup(keys, values, hashes):
    """The number stored for each hash, or -1."""
    mask = keys.shape[0] - 1
    out = np.empty(hashes.shape[0], np.int64)
    for i in range(hashes.shape[0]):
        slot = _slot(keys, hashes[i], mask)
        out[i] = values[slot] if keys[slot] != EMPTY else -1
    return out


@nb.njit(cache=True)
def insert(keys, values, hashes, numbers):
    mask = keys.shape[0] - 1
    for i in range(hashes.shape[0]):
        slot = _slot(keys, hashes[i], mask)
        keys[slot] = hashes[i]
        values[slot] = numbers[i]


@nb.njit(cache=True)
def first_of_each(hashes):
    """Positions of the first occurrence of each distinct hash, in order of occurrence."""
    capacity = 16
    while capacity < 2 * hashes.shape[0]:
        capacity *= 2
    keys = np.zeros(capacity, np.uint64)
    mask = capacity - 1
    firsts = np.empty(hashes.shape[0], np.int64)
    count = 0
    for i in range(hashes.shape[0]):
        slot = _slot(keys, hashes[i], mask)
        if keys[slot] == EMPTY:
            keys[slot] = hashes[i]
            firsts[count] = i
            count += 1
    return firsts[:count]


@nb.njit(cache=True)
def gather(data, starts, ends):
    """The byte ranges as one string buffer: (bytes, int64 offsets)."""
    offsets = np.empty(starts.shape[0] + 1, np.int64)
    offsets[0] = 0
    for i in range(starts.shape[0]):
        offsets[i + 1] = offsets[i] + ends[i] - starts[i]
    out = np.empty(offsets[-1], np.uint8)
    for i in range(starts.shape[0]):
        for j in range(ends[i] - starts[i]):  # a loop: see curate/kernels/__init__.py
            out[offsets[i] + j] = data[starts[i] + j]
    return out, offsets


@nb.njit(cache=True)
def per_text_sums(owner, chunks, stats, stop, texts):
    """Per text: the sum of each column of stats over its chunks, and the OR of their stop-word bits."""
    sums = np.zeros((texts, stats.shape[1]), np.int64)
    stops = np.zeros(texts, np.int64)
    for i in range(owner.shape[0]):
        c = chunks[i]
        for k in range(stats.shape[1]):
            sums[owner[i], k] += stats[c, k]
        stops[owner[i]] |= stop[c]
    return sums, stops


@nb.njit(cache=True)
def token_sequence(owner, chunks, first_token, token_count, texts):
    """Every text's tokens in order, as token numbers, and where each text's begin."""
    text_offsets = np.zeros(texts + 1, np.int64)
    for i in range(owner.shape[0]):
        text_offsets[owner[i] + 1] += token_count[chunks[i]]
    for t in range(texts):
        text_offsets[t + 1] += text_offsets[t]
    seq = np.empty(text_offsets[-1], np.int64)
    k = 0
    for i in range(owner.shape[0]):
        c = chunks[i]
        for j in range(token_count[c]):
            seq[k] = first_token[c] + j
            k += 1
    return seq, text_offsets


SENTENCE_END, PUNCT, OTHER = 0, 1, 2
"""Token classes for spaCy's sentencizer: a sentence-ending character, other punctuation, anything else."""


@nb.njit(cache=True)
def sentence_counts(data, offsets, owner, starts, ends, chunks, first_token, token_count, token_class):
    """spaCy's sentence count of each text: 1, plus 1 at each token that is not punctuation and follows
    a sentence end (with only punctuation between). Whitespace between chunks other than one space is
    a token of its own (not punctuation), as is whitespace at the start."""
    texts = offsets.shape[0] - 1
    counts = np.ones(texts, np.int64)
    seen = np.zeros(texts, np.bool_)
    last_end = offsets[:-1].copy()
    for i in range(owner.shape[0]):
        t = owner[i]
        gap = starts[i] - last_end[t]
        at_start = last_end[t] == offsets[t]
        if gap > 0 and (at_start or gap != 1 or data[starts[i] - 1] != 32):
            if seen[t]:
                counts[t] += 1
                seen[t] = False
        c = chunks[i]
        for j in range(first_token[c], first_token[c] + token_count[c]):
            kind = token_class[j]
            if kind == SENTENCE_END:
                seen[t] = True
            elif kind == OTHER and seen[t]:
                counts[t] += 1
                seen[t] = False
        last_end[t] = ends[i]
    for t in range(texts):  # trailing whitespace other than one space is a token too
        gap = offsets[t + 1] - last_end[t]
        if gap > 0 and seen[t] and (last_end[t] == offsets[t] or gap != 1 or data[offsets[t + 1] - 1] != 32):
            counts[t] += 1
    return counts
