"""Word n-gram hashes and look-ups in a sorted n-gram index, compiled with numba (decontamination).

Texts come normalised (lowercase, punctuation as spaces), as Arrow string buffers; words are the
maximal runs of non-whitespace bytes, hashed as in kernels/minhash.py. An n-gram's hash is 64 bits
(a 32-bit hash would give one false match in a few thousand records against a large benchmark index).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from curate.kernels.minhash import _FNV_PRIME, _LOWER, _fmix64, _word_tokens

_NGRAM_SEED = np.uint64(0x2545F4914F6CDD1D)


@nb.njit(cache=True, inline="always")
def _window_hash(tokens, first, width):
    h = _NGRAM_SEED ^ np.uint64(width)
    for j in range(width):
        h = (h ^ tokens[first + j]) * _FNV_PRIME
    return _fmix64(h)


@nb.njit(cache=True)
def ngram_hashes(data, offsets, n, whole_below, counts):
    """Every word n-gram hash of each text, concatenated; `counts[i]` is how many text i gave. A text
    with fewer than n words gives one hash of all its words when it has at least `whole_below` words,
    else none."""
    tokens = np.empty(1024, np.uint64)
    out = np.empty(1024, np.uint64)
    filled = 0
    for d in range(offsets.shape[0] - 1):
        tokens, count = _word_tokens(data, offsets[d], offsets[d + 1], _LOWER, tokens)
        if count >= n:
            total, width = count - n + 1, n
        elif count >= whole_below and count > 0:
            total, width = 1, count
        else:
            total, width = 0, 0
        if filled + total > out.shape[0]:
            grown = np.empty(max(out.shape[0] * 2, filled + total), np.uint64)
            grown[:filled] = out[:filled]
            out = grown
        for s in range(total):
            out[filled + s] = _window_hash(tokens, s, width)
        filled += total
        counts[d] = total
    return out[:filled]


@nb.njit(cache=True)
def match(data, offsets, n, widths, index, owners, first_owner, matches):
    """For each text: how many of its windows (width n, and every width in `widths`, the lengths of
    indexed texts shorter than n) occur in `index` (sorted, distinct hashes; `owners` aligned), and the
    owner of the first match in text order (-1 if none)."""
    tokens = np.empty(1024, np.uint64)
    for d in range(offsets.shape[0] - 1):
        tokens, count = _word_tokens(data, offsets[d], offsets[d + 1], _LOWER, tokens)
        found = 0
        first = -1
        first_at = count + 1
        for w in range(widths.shape[0] + 1):
            width = n if w == widths.shape[0] else widths[w]
            for s in range(count - width + 1):
                h = _window_hash(tokens, s, width)
                at = np.searchsorted(index, h)
                if at < index.shape[0] and index[at] == h:
                    found += 1
                    if s < first_at:
                        first_at = s
                        first = owners[at]
        matches[d] = found
        first_owner[d] = first
