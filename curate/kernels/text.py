"""Small text scans over Arrow string buffers."""

import numba as nb


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
