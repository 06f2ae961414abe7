"""Small text scans over Arrow string buffers."""

import numba as nb
import numpy as np

from curate.kernels.minhash import _fmix64


@nb.njit(cache=True)
def any_high_byte(data, offsets, out):
    """out[i]: text i holds a byte >= 0x80 (a non-ASCII character)."""
    for d in range(offsets.shape[0] - 1):
        high = False
        for i in range(offsets[d], offsets[d + 1]):
            if data[i] >= 0x80:
                high = True
                break
        out[d] = high


@nb.njit(cache=True, inline="always")
def _code_point(data, i):
    """(code point, byte length) of the UTF-8 character starting at data[i] (valid UTF-8: Arrow's)."""
    b = np.int64(data[i])
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    return ((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F), 4


@nb.njit(cache=True)
def flagged_rows(data, offsets, table, mask, out):
    """out[i]: text i holds a character c with table[c] & mask, or one beyond the table."""
    size = table.shape[0]
    for d in range(offsets.shape[0] - 1):
        flagged = False
        i = offsets[d]
        stop = offsets[d + 1]
        while i < stop:
            if data[i] < 0x80:
                i += 1
                continue
            c, n = _code_point(data, i)
            if c >= size or table[c] & mask:
                flagged = True
                break
            i += n
        out[d] = flagged


_SPACE = np.zeros(256, dtype=np.bool_)
for _b in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20):
    _SPACE[_b] = True
_NO_SPACE = np.zeros(256, dtype=np.bool_)
_ASCII_LOWER = np.arange(256, dtype=np.uint8)
_ASCII_LOWER[0x41:0x5B] += 0x20
_SAME = np.arange(256, dtype=np.uint8)


def ascii_normalized(data, offsets, lower, collapse, out, out_offsets):
    """Each text with A-Z lowercased (`lower`) and every run of ASCII whitespace (tab, newline, vertical
    tab, form feed, carriage return, space) made one space and the ends trimmed (`collapse`), into
    `out` (room for all of `data`) and `out_offsets`; other bytes are copied as they are."""
    return _normalized(data, offsets, _SPACE if collapse else _NO_SPACE, _ASCII_LOWER if lower else _SAME, out, out_offsets)


@nb.njit(cache=True, inline="always")
def _normalize_into(data, start, stop, space, fold, out, filled):
    """One text's bytes, A-Z folded and ASCII whitespace collapsed and trimmed, written at out[filled:]."""
    begin = filled
    pending = False
    for i in range(start, stop):
        b = data[i]
        if space[b]:
            pending = filled > begin  # a space only between two non-spaces: the ends trimmed
            continue
        if pending:
            out[filled] = 0x20
            filled += 1
            pending = False
        out[filled] = fold[b]
        filled += 1
    return filled


@nb.njit(cache=True)
def _normalized(data, offsets, space, fold, out, out_offsets):
    filled = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        filled = _normalize_into(data, offsets[d], offsets[d + 1], space, fold, out, filled)
        out_offsets[d + 1] = filled
    return filled


_M1 = np.uint64(0x87C37B91114253D5)
_M2 = np.uint64(0x4CF5AD432745937F)
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)


@nb.njit(cache=True, inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@nb.njit(cache=True)
def _two_hashes(words, count, length, seed1, seed2):
    """Two 64-bit hashes of `count` little-endian words (a text's bytes, zero-padded) and its length:
    a MurmurHash3-style round and an xxHash64-style round, differently seeded and constructed, so
    that a false duplicate needs both to collide."""
    a = seed1
    b = seed2
    for j in range(count):
        k = words[j] * _M1
        k = _rotl(k, 31) * _M2
        a ^= k
        a = _rotl(a, 27) * np.uint64(5) + np.uint64(0x52DCE729)
        b += words[j] * _P2
        b = _rotl(b, 31) * _P1
    n = np.uint64(length)
    return _fmix64(a ^ n), _fmix64(b + n * _P1)


def normalized_hashes(data, offsets, lower, collapse, table, mask, seeds, first, second, flagged):
    """Two 64-bit hashes of each text as `ascii_normalized` would write it, into `first` and `second`,
    without writing the texts out. A text holding a character c with table[c] & mask (or beyond the
    table) is not hashed and `flagged` instead: its normalisation needs more than ASCII (mask 0:
    hash every text as it is, after the ASCII steps)."""
    longest = int(np.max(np.diff(offsets))) if len(offsets) > 1 else 0
    scratch = np.zeros(longest // 8 + 2, dtype=np.uint64)
    _hashes(
        data, offsets, _SPACE if collapse else _NO_SPACE, _ASCII_LOWER if lower else _SAME, table, mask,
        np.uint64(seeds[0]), np.uint64(seeds[1]), scratch, first, second, flagged,
    )  # fmt: skip


@nb.njit(cache=True)
def _hashes(data, offsets, space, fold, table, mask, seed1, seed2, scratch, first, second, flagged):
    size = table.shape[0]
    out = scratch.view(np.uint8)
    for d in range(offsets.shape[0] - 1):
        stop = offsets[d + 1]
        filled = 0
        pending = False
        bad = False
        i = offsets[d]
        while i < stop:
            b = data[i]
            if space[b]:
                pending = filled > 0  # a space only between two non-spaces: the ends trimmed
                i += 1
                continue
            if pending:
                out[filled] = 0x20
                filled += 1
                pending = False
            if b >= 0x80 and mask:
                c, n = _code_point(data, i)
                if c >= size or table[c] & mask:
                    bad = True
                    break
                for k in range(n):
                    out[filled + k] = data[i + k]
                filled += n
                i += n
                continue
            out[filled] = fold[b]
            filled += 1
            i += 1
        flagged[d] = bad
        if bad:
            first[d] = 0
            second[d] = 0
            continue
        count = (filled + 7) // 8
        for k in range(filled, count * 8):
            out[k] = 0
        first[d], second[d] = _two_hashes(scratch, count, filled, seed1, seed2)


@nb.njit(cache=True)
def one_line_words(data, offsets, classes, space_bit, letter_bit, cjk_bit, out, out_offsets, words):
    """Each text on one line (every whitespace run one space, the ends trimmed) into `out` and
    `out_offsets`, and its words into `words`: runs of letters, each Chinese, Japanese or Korean
    character a word of its own. `classes[c]` holds polars' own regex classes of code point c."""
    filled = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        begin = filled
        pending = False
        in_word = False
        count = 0
        i = offsets[d]
        stop = offsets[d + 1]
        while i < stop:
            b = data[i]
            if b < 0x80:
                c, n = np.int64(b), 1
            else:
                c, n = _code_point(data, i)
            kind = classes[c]
            if kind & space_bit:
                pending = filled > begin
                in_word = False
                i += n
                continue
            if pending:
                out[filled] = 0x20
                filled += 1
                pending = False
            for k in range(n):
                out[filled + k] = data[i + k]
            filled += n
            i += n
            if kind & cjk_bit:
                count += 1 if kind & letter_bit else 0
                in_word = False
            elif kind & letter_bit:
                if not in_word:
                    count += 1
                in_word = True
            else:
                in_word = False
        out_offsets[d + 1] = filled
        words[d] = count
