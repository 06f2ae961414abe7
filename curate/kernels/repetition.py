"""Word n-gram repetition (Gopher, Rae et al. 2021), compiled with numba, for whole batches.

Tokens arrive as Arrow string buffers of the batch's distinct tokens, plus, per document, the token
numbers in order. An n-gram is identified by a 64-bit polynomial hash of its UTF-8 bytes (wrapping
arithmetic, an odd base), combined from per-token hashes, so that "ab"+"c" and "a"+"bc" are the same
gram when the tokens are joined without a separator, as Gopher's duplicated n-grams are, and
different when joined with spaces, as its top n-grams are. Natural text does not make two grams of
one document collide (~2^-64 per pair; only crafted inputs such as Thue-Morse strings do).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from curate.kernels.chunks import _BYTE_KIND, _space_width
from curate.kernels.minhash import _FNV_OFFSET, _FNV_PRIME, _fmix64

_BASE = np.uint64(0x100000001B3 * 2 + 1)


def _inverse(odd: int) -> int:
    """The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits)."""
    x = odd
    for _ in range(6):
        x = (x * (2 - odd * x)) % (1 << 64)
    return x


_INVERSE = np.uint64(_inverse(int(_BASE)))
_SPACE = np.uint64(32)


@nb.njit(cache=True)
def token_hashes(data, offsets):
    """Per token: its hash, the base raised to its byte length and its inverse, its length in characters."""
    count = offsets.shape[0] - 1
    hashes = np.zeros(count, np.uint64)
    powers = np.ones(count, np.uint64)
    inverses = np.ones(count, np.uint64)
    chars = np.zeros(count, np.int64)
    for t in range(count):
        h, p, q, c = np.uint64(0), np.uint64(1), np.uint64(1), 0
        for i in range(offsets[t], offsets[t + 1]):
            h = h * _BASE + np.uint64(data[i])
            p = p * _BASE
            q = q * _INVERSE
            if (data[i] & 0xC0) != 0x80:  # not a UTF-8 continuation byte: a new character
                c += 1
        hashes[t], powers[t], inverses[t], chars[t] = h, p, q, c
    return hashes, powers, inverses, chars


@nb.njit(cache=True, inline="always")
def _find(keys, stamps, stamp, key, mask):
    """Slot of `key` in an open-addressing table (a slot is free unless stamped with `stamp`)."""
    slot = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
    while stamps[slot] == stamp and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@nb.njit(cache=True)
def repetition(doc_offsets, seq, hashes, powers, inverses, chars, top_ns, dup_ns):
    """For each document (tokens seq[doc_offsets[d]:doc_offsets[d + 1]]):

    top[d, k]: for n = top_ns[k], the most frequent space-joined n-gram's length times its count
        (ties: the one that occurs first), or -1 when there are fewer than n tokens;
    dup[d, k]: for n = dup_ns[k], the characters of n-grams (joined without spaces) that repeat an
        earlier one, scanning left to right and jumping past each repeat, so that the repeat's own
        n-grams are neither counted nor remembered.

    A gram's hash comes from prefix hashes of the document (B^-k exists modulo 2^64 since B is odd):
    hash(tokens i..j) = P[j] - P[i] * B^(bytes before j) * B^-(bytes before i).
    """
    docs = doc_offsets.shape[0] - 1
    top = np.full((docs, top_ns.shape[0]), -1, np.int64)
    dup = np.zeros((docs, dup_ns.shape[0]), np.int64)
    capacity = 1024
    keys = np.zeros(capacity, np.uint64)
    stamps = np.zeros(capacity, np.int64)
    counts = np.zeros(capacity, np.int64)
    lengths = np.zeros(capacity, np.int64)
    order = np.zeros(capacity, np.int64)
    joined = np.zeros(capacity, np.uint64)  # prefix hashes of the tokens joined without separator
    up = np.zeros(capacity, np.uint64)  # B^(bytes before k), and its inverse
    down = np.zeros(capacity, np.uint64)
    spaced = np.zeros(capacity, np.uint64)  # ... of the tokens each followed by a space
    spaced_up = np.zeros(capacity, np.uint64)
    spaced_down = np.zeros(capacity, np.uint64)
    before = np.zeros(capacity, np.int64)  # characters before token k
    stamp = 0
    for d in range(docs):
        first, size = doc_offsets[d], doc_offsets[d + 1] - doc_offsets[d]
        if capacity < 2 * size + 2:
            while capacity < 2 * size + 2:
                capacity *= 2
            keys = np.zeros(capacity, np.uint64)
            stamps = np.zeros(capacity, np.int64)
            counts = np.zeros(capacity, np.int64)
            lengths = np.zeros(capacity, np.int64)
            order = np.zeros(capacity, np.int64)
            joined = np.zeros(capacity, np.uint64)
            up = np.zeros(capacity, np.uint64)
            down = np.zeros(capacity, np.uint64)
            spaced = np.zeros(capacity, np.uint64)
            spaced_up = np.zeros(capacity, np.uint64)
            spaced_down = np.zeros(capacity, np.uint64)
            before = np.zeros(capacity, np.int64)
            stamp = 0
        joined[0], up[0], down[0], spaced[0], spaced_up[0], spaced_down[0], before[0] = 0, 1, 1, 0, 1, 1, 0
        for k in range(size):
            t = seq[first + k]
            joined[k + 1] = joined[k] * powers[t] + hashes[t]
            up[k + 1] = up[k] * powers[t]
            down[k + 1] = down[k] * inverses[t]
            spaced[k + 1] = (spaced[k] * powers[t] + hashes[t]) * _BASE + _SPACE
            spaced_up[k + 1] = spaced_up[k] * powers[t] * _BASE
            spaced_down[k + 1] = spaced_down[k] * inverses[t] * _INVERSE
            before[k + 1] = before[k] + chars[t]
        mask = capacity - 1
        for k in range(top_ns.shape[0]):
            n = top_ns[k]
            grams = size - n + 1
            if grams <= 0:
                continue
            stamp += 1
            distinct = 0
            for i in range(grams):
                key = spaced[i + n] - spaced[i] * spaced_up[i + n] * spaced_down[i]
                slot = _find(keys, stamps, stamp, key, mask)
                if stamps[slot] == stamp:
                    counts[slot] += 1
                else:
                    stamps[slot], keys[slot], counts[slot] = stamp, key, 1
                    lengths[slot] = before[i + n] - before[i] + n - 1
                    order[distinct] = slot
                    distinct += 1
            best = order[0]
            for j in range(1, distinct):  # in order of first occurrence: strictly more wins
                if counts[order[j]] > counts[best]:
                    best = order[j]
            top[d, k] = lengths[best] * counts[best]
        for k in range(dup_ns.shape[0]):
            n = dup_ns[k]
            if k > 0 and dup[d, k - 1] == 0 and n > dup_ns[k - 1]:
                continue  # no m-gram repeats, so no longer one does (it would hold a repeated m-gram)
            stamp += 1
            i, repeated = 0, 0
            while i < size - n + 1:
                key = joined[i + n] - joined[i] * up[i + n] * down[i]
                slot = _find(keys, stamps, stamp, key, mask)
                if stamps[slot] == stamp:
                    repeated += before[i + n] - before[i]
                    i += n
                else:
                    stamps[slot], keys[slot] = stamp, key
                    i += 1
            dup[d, k] = repeated
    return top, dup


@nb.njit(cache=True)
def _piece_hash(data, start, end):
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * _FNV_PRIME
    return _fmix64(h ^ np.uint64(end - start))


@nb.njit(cache=True)
def _blank(data, start, end, kinds):
    i = start
    while i < end:
        width = _space_width(data, i, end, kinds)
        if width == 0:
            return False
        i += width
    return True


@nb.njit(cache=True)
def _repeated_pieces(data, offsets, min_run, skip_blank, kinds):
    texts = offsets.shape[0] - 1
    pieces = np.zeros(texts, np.int64)
    repeats = np.zeros(texts, np.int64)
    repeat_chars = np.zeros(texts, np.int64)
    capacity = 64
    keys = np.zeros(capacity, np.uint64)
    stamps = np.zeros(capacity, np.int64)
    for t in range(texts):
        start, end = offsets[t], offsets[t + 1]
        bound = 1
        for i in range(start, end):
            if data[i] == 10:
                bound += 1
        if capacity < 2 * bound:
            while capacity < 2 * bound:
                capacity *= 2
            keys = np.zeros(capacity, np.uint64)
            stamps = np.zeros(capacity, np.int64)
        stamp = t + 1
        mask = capacity - 1
        piece, i = start, start
        while True:
            if i < end and data[i] != 10:
                i += 1
                continue
            run = i
            while run < end and data[run] == 10:
                run += 1
            if i < end and run - i < min_run:  # a line break inside a paragraph
                i = run
                continue
            if not (skip_blank and _blank(data, piece, i, kinds)):
                pieces[t] += 1
                key = _piece_hash(data, piece, i)
                slot = _find(keys, stamps, stamp, key, mask)
                if stamps[slot] == stamp:
                    repeats[t] += 1
                    for j in range(piece, i):
                        if (data[j] & 0xC0) != 0x80:
                            repeat_chars[t] += 1
                else:
                    stamps[slot], keys[slot] = stamp, key
            if i >= end:
                break
            piece, i = run, run
    return pieces, repeats, repeat_chars


def repeated_pieces(data: np.ndarray, offsets: np.ndarray, min_run: int, skip_blank: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text, cut at runs of at least `min_run` line breaks (\\n): (pieces, pieces equal to an
    earlier piece of the text, their characters). Paragraphs are min_run=2, Gopher's lines 1; with
    `skip_blank`, pieces of whitespace only (Python's str.isspace) are left out, as FineWeb does."""
    return _repeated_pieces(data, offsets, min_run, skip_blank, _BYTE_KIND)
