"""Small text scans over Arrow string buffers."""

import numba as nb
import numpy as np


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


@nb.njit(cache=True)
def _normalized(data, offsets, space, fold, out, out_offsets):
    filled = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        start = filled
        pending = False
        for i in range(offsets[d], offsets[d + 1]):
            b = data[i]
            if space[b]:
                pending = filled > start  # a space only between two non-spaces: the ends trimmed
                continue
            if pending:
                out[filled] = 0x20
                filled += 1
                pending = False
            out[filled] = fold[b]
            filled += 1
        out_offsets[d + 1] = filled
    return filled
