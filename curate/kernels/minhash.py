"""MinHash signatures, LSH band keys and Jaccard, compiled with numba.

Semantics follow datasketch 2.0's default "affine32" scheme exactly: a 32-bit input hash `hv` is
pre-mixed with the MurmurHash3 32-bit finalizer, then each permutation k gives `a_k * h + b_k mod 2^32`
(a_k odd), and the signature keeps the minimum per permutation. `a`, `b` come from
`numpy.random.RandomState(seed)` as datasketch draws them. Given the same shingles, hash function and
seed, our signatures equal `datasketch.MinHash(scheme="affine32")`'s (tests/test_minhash_kernel.py).

The input hash of a shingle (datasketch's `hashfunc`) is ours, not SHA1: each token (a word, or one
character) is hashed with FNV-1a 64 over its UTF-8 bytes and MurmurHash3's 64-bit finalizer; a shingle
of n tokens combines their hashes (FNV-style multiply-xor), finalizes, and keeps the low 32 bits. It
is deterministic across runs, machines and versions.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)
EMPTY = np.uint32(0xFFFFFFFF)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SHINGLE_SEED = np.uint64(0x9E3779B97F4A7C15)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0's affine32 parameters: a odd, b any, both uint32, drawn in this order."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


@nb.njit(cache=True, inline="always")
def _fmix32(h):
    h = np.uint64(h) & MASK32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & MASK32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & MASK32
    h ^= h >> np.uint64(16)
    return h


@nb.njit(cache=True, inline="always")
def _fmix64(h):
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


# ASCII whitespace (Unicode whitespace beyond ASCII is turned into spaces before the kernels run), and
# ASCII lowercasing; bytes of multi-byte UTF-8 characters pass unchanged.
_SPACE = np.zeros(256, dtype=np.bool_)
_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20]] = True
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[0x41:0x5B] += 0x20
_SAME = np.arange(256, dtype=np.uint8)
# UTF-8 sequence length from its first byte (continuation bytes never start a character)
_LENGTH = np.ones(256, dtype=np.int64)
_LENGTH[0xC0:0xE0] = 2
_LENGTH[0xE0:0xF0] = 3
_LENGTH[0xF0:0x100] = 4


@nb.njit(cache=True, inline="always")
def _push(out, count, value):
    if count >= out.shape[0]:
        grown = np.empty(out.shape[0] * 2, np.uint64)
        for j in range(count):  # a loop: see curate/kernels/__init__.py
            grown[j] = out[j]
        out = grown
    out[count] = value
    return out


def word_table(separator: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """A byte table for `_words`: the folded byte, or -1 where the byte separates words."""
    table = fold.astype(np.int64)
    table[separator] = -1
    table.flags.writeable = False
    return table


_WORDS_LOWER = word_table(_SPACE, _LOWER)
_WORDS_SAME = word_table(_SPACE, _SAME)


@nb.njit(cache=True)
def _words(data, start, stop, table, hashes, starts):
    """Hashes of the maximal runs of bytes that are not separators (table -1: whitespace here; ASCII
    punctuation too for decontamination), folded by `table`, and the byte where each starts: (grown
    hashes, grown starts, count). Without a branch per byte: a word's end is a branch the CPU cannot
    predict, and taking it per word cost half the time; here every byte stores the running hash and
    start, and the count moves on only where a word ends (twice the speed on English prose)."""
    room = (stop - start) // 2 + 2
    if hashes.shape[0] < room:
        size = max(2 * hashes.shape[0], room)
        hashes = np.empty(size, np.uint64)
        starts = np.empty(size, np.int64)
    count = 0
    h = _FNV_OFFSET
    first = start
    in_word = np.int64(0)
    for i in range(start, stop):
        c = table[data[i]]
        separator = c >> 63  # -1 at a separator, else 0
        hashes[count] = h
        starts[count] = first
        count += in_word & separator & 1
        mixed = np.int64((h ^ np.uint64(c)) * _FNV_PRIME)
        h = np.uint64((mixed & ~separator) | (np.int64(_FNV_OFFSET) & separator))
        first = first if in_word else i
        in_word = ~separator & 1
    if in_word:
        hashes[count] = h
        starts[count] = first
        count += 1
    for j in range(count):
        hashes[j] = _fmix64(hashes[j])
    return hashes, starts, count


@nb.njit(cache=True)
def _char_tokens(data, start, stop, fold, collapse_space, out):
    """Hashes of each character; with `collapse_space`, each whitespace run is one space, none at the ends."""
    count = 0
    i = start
    pending_space = False
    space = _fmix64((_FNV_OFFSET ^ np.uint64(0x20)) * _FNV_PRIME)
    while i < stop:
        c = data[i]
        if collapse_space and _SPACE[c]:
            pending_space = count > 0
            i += 1
            continue
        if pending_space:
            out = _push(out, count, space)
            count += 1
            pending_space = False
        size = min(_LENGTH[c], stop - i)
        h = _FNV_OFFSET
        for k in range(size):
            h = (h ^ np.uint64(fold[data[i + k]])) * _FNV_PRIME
        out = _push(out, count, _fmix64(h))
        count += 1
        i += size
    return out, count


@nb.njit(cache=True, inline="always")
def _tokens(data, start, stop, chars, fold_ascii, collapse_space, out, starts):
    """Token hashes of one text (grown `out`, grown `starts` scratch, count): words (split at
    whitespace) or characters. ASCII letters are lowercased when `fold_ascii` (the rest of case
    folding is done before)."""
    if chars:
        out, count = _char_tokens(data, start, stop, _LOWER if fold_ascii else _SAME, collapse_space, out)
        return out, starts, count
    return _words(data, start, stop, _WORDS_LOWER if fold_ascii else _WORDS_SAME, out, starts)


@nb.njit(cache=True, inline="always")
def _shingle_hash(tokens, first, n):
    h = _SHINGLE_SEED
    for j in range(n):
        h = (h ^ tokens[first + j]) * _FNV_PRIME
    return _fmix64(h) & MASK32


@nb.njit(cache=True)
def signatures(data, offsets, chars, n, fold_ascii, collapse_space, a, b, out, shingles):
    """For each text (Arrow large_string buffers: `data`, `offsets`), its MinHash signature into
    `out[i]` and its number of shingles into `shingles[i]` (0: no token, signature all EMPTY). A text
    with fewer than n tokens is one shingle of all its tokens."""
    num_perm = a.shape[0]
    tokens = np.empty(1024, np.uint64)
    starts = np.empty(1024, np.int64)
    hashes = np.empty(1024, np.uint32)
    for d in range(offsets.shape[0] - 1):
        tokens, starts, count = _tokens(data, offsets[d], offsets[d + 1], chars, fold_ascii, collapse_space, tokens, starts)
        sig = out[d]
        for p in range(num_perm):
            sig[p] = EMPTY
        if count == 0:
            shingles[d] = 0
            continue
        width = n if count >= n else count
        total = count - width + 1
        shingles[d] = total
        if hashes.shape[0] < total:
            hashes = np.empty(max(2 * hashes.shape[0], total), np.uint32)
        for s in range(total):
            hashes[s] = np.uint32(_fmix32(_shingle_hash(tokens, s, width)))
        # four shingles a pass over the permutations: each a[p], b[p] and sig[p] loaded once for four
        # (numba vectorises the loop over p; 1.9x the speed of one shingle a pass)
        s = 0
        while s + 3 < total:
            h1, h2, h3, h4 = hashes[s], hashes[s + 1], hashes[s + 2], hashes[s + 3]
            for p in range(num_perm):
                ap, bp = a[p], b[p]
                low = min(min(np.uint32(ap * h1 + bp), np.uint32(ap * h2 + bp)), min(np.uint32(ap * h3 + bp), np.uint32(ap * h4 + bp)))
                sig[p] = min(sig[p], low)  # each product wraps mod 2^32
            s += 4
        while s < total:
            h = hashes[s]
            for p in range(num_perm):
                sig[p] = min(sig[p], np.uint32(a[p] * h + b[p]))
            s += 1


@nb.njit(cache=True)
def shingle_sets(data, offsets, chars, n, fold_ascii, collapse_space, set_offsets):
    """The sorted, distinct 32-bit shingle hashes of each text, concatenated; `set_offsets` (len + 1)
    is filled with where each text's set starts. For exact Jaccard between candidate pairs."""
    tokens = np.empty(1024, np.uint64)
    starts = np.empty(1024, np.int64)
    values = np.empty(max(1024, (offsets[-1] - offsets[0]) // 4), np.uint32)
    filled = 0
    set_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        tokens, starts, count = _tokens(data, offsets[d], offsets[d + 1], chars, fold_ascii, collapse_space, tokens, starts)
        width = n if count >= n else count
        total = count - width + 1 if count else 0
        hashes = np.empty(total, np.uint32)
        for s in range(total):
            hashes[s] = np.uint32(_shingle_hash(tokens, s, width))
        hashes = np.unique(hashes)
        if filled + hashes.shape[0] > values.shape[0]:
            grown = np.empty(max(values.shape[0] * 2, filled + hashes.shape[0]), np.uint32)
            for j in range(filled):  # a loop: see curate/kernels/__init__.py
                grown[j] = values[j]
            values = grown
        for j in range(hashes.shape[0]):  # a loop: see curate/kernels/__init__.py
            values[filled + j] = hashes[j]
        filled += hashes.shape[0]
        set_offsets[d + 1] = filled
    return values[:filled]


@nb.njit(cache=True)
def band_keys(signatures, bands, rows, out):
    """A 64-bit key per (text, band): the band's `rows` values, hashed with the band's index."""
    for d in range(signatures.shape[0]):
        for band in range(bands):
            h = _FNV_OFFSET ^ np.uint64(band)
            for r in range(rows):
                h = (h ^ np.uint64(signatures[d, band * rows + r])) * _FNV_PRIME
            out[d, band] = _fmix64(h)


@nb.njit(cache=True)
def jaccard_sorted(values, offsets, left, right, out):
    """Exact Jaccard between pairs of sorted distinct sets (`left[i]`, `right[i]` index into `offsets`)."""
    for i in range(left.shape[0]):
        a0, a1 = offsets[left[i]], offsets[left[i] + 1]
        b0, b1 = offsets[right[i]], offsets[right[i] + 1]
        common = 0
        x, y = a0, b0
        while x < a1 and y < b1:
            if values[x] == values[y]:
                common += 1
                x += 1
                y += 1
            elif values[x] < values[y]:
                x += 1
            else:
                y += 1
        union = (a1 - a0) + (b1 - b0) - common
        out[i] = common / union if union else 0.0


@nb.njit(cache=True)
def token_hash(word):
    """The hash of one token's UTF-8 bytes (ASCII letters already lowercased as they should be)."""
    h = _FNV_OFFSET
    for byte in word:
        h = (h ^ np.uint64(byte)) * _FNV_PRIME
    return _fmix64(h)


@nb.njit(cache=True)
def combine_tokens(hashes):
    """The 32-bit shingle hash (datasketch's hashfunc value) of a sequence of token hashes."""
    return _shingle_hash(hashes, 0, hashes.shape[0])
