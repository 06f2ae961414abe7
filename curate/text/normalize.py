"""Text normalisation shared by the dedup stages, as polars expressions (whole batches, no Python loop)."""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from curate.text._casefold import CASEFOLD_AFTER_LOWER

CJK_CHARACTER = r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}])"
"""One Chinese, Japanese or Korean character (a word of its own: those scripts have no spaces)."""
NUMBER = r"\d+(?:\.\d+)?"
"""A number as a problem's text holds it, for telling problems apart (Python's `re` and polars alike)."""

_FOLD_FROM = list(CASEFOLD_AFTER_LOWER)
_FOLD_TO = list(CASEFOLD_AFTER_LOWER.values())


class Normalize(BaseModel):
    """Which normalisations to apply before hashing; each can be turned off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nfkc: bool = True
    """Unicode NFKC: full-width letters, ligatures and compatibility forms compare equal."""
    casefold: bool = True
    """Full Unicode case folding (as Python's str.casefold: 'Straße' == 'STRASSE')."""
    whitespace: bool = True
    """Collapse every run of Unicode whitespace to one space and trim both ends."""


def normalized(expr: pl.Expr, options: Normalize) -> pl.Expr:
    if options.nfkc:
        expr = expr.str.normalize("NFKC")
    if options.casefold:
        # Lowercase, then the few characters whose case folding differs from lowercase (ß -> ss).
        expr = expr.str.to_lowercase().str.replace_many(_FOLD_FROM, _FOLD_TO)
    if options.whitespace:
        expr = expr.str.replace_all(r"\s+", " ").str.strip_chars()
    return expr


_NON_ASCII = r"[^\x00-\x7F]"
# Rows where full case folding changes something that ASCII lowercasing would not: a non-ASCII
# uppercase or titlecase character, or a lowercase one that folds further (ß -> ss).
_NEEDS_FOLDING = r"[[\p{Uppercase}\p{Lt}]&&[^\x00-\x7F]]|[" + "".join(f"\\x{{{ord(c):x}}}" for c in _FOLD_FROM) + "]"
# Unicode White_Space beyond ASCII (what `\s` matches in polars' regex, besides ASCII whitespace)
_WIDE_SPACE = r"[\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"


def fold_non_ascii(text: pl.Series, options: Normalize, spaces: bool = False) -> pl.Series:
    """NFKC and full case folding (and, with `spaces`, whitespace to spaces) where they change anything.

    ASCII is left as it is, and so are the ASCII letters of other rows: tokenizers lowercase A-Z as
    they read. NFKC is the identity on ASCII, and case folding is but for A-Z. Of the other rows, NFKC runs only on those Python's
    `unicodedata.is_normalized` says it would change (a C scan at ~500 MB/s; NFKC itself runs at
    ~80 MB/s), and the case-folding table only on rows holding one of its 183 characters.
    """
    if not (options.nfkc or options.casefold or spaces):
        return text
    rows = non_ascii_rows(text)
    if not rows.any():
        return text
    where = rows.arg_true()
    subset = text.gather(where)
    if options.nfkc:
        changing = [i for i, value in enumerate(subset.to_list()) if not unicodedata.is_normalized("NFKC", value)]
        if changing:
            subset = subset.scatter(changing, subset.gather(changing).str.normalize("NFKC"))
    if options.casefold:
        folding = subset.str.contains(_NEEDS_FOLDING)
        if folding.any():
            folded = subset.filter(folding).str.to_lowercase().str.replace_many(_FOLD_FROM, _FOLD_TO)
            subset = subset.scatter(folding.arg_true(), folded)
    if spaces:  # `spaces`: non-ASCII whitespace becomes a space, so tokenizers need only know ASCII's
        wide = subset.str.contains(_WIDE_SPACE)
        if wide.any():
            subset = subset.scatter(wide.arg_true(), subset.filter(wide).str.replace_all(_WIDE_SPACE, " "))
    return text.clone().scatter(where, subset)


def arrow_buffers(text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets) of a string column, as the kernels read them."""
    array = text.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(1, dtype=np.uint8)
    # Read-only whatever the buffers' origin (Arrow's own allocations are mutable, polars' are not): a
    # numba kernel is compiled once per argument types, and read-only and writable arrays are two types.
    data.flags.writeable = offsets.flags.writeable = False
    return data, offsets


def normalized_text(text: pl.Series, options: Normalize) -> pl.Series:
    """`normalized` without a regex over every row: the non-ASCII rows that need it get NFKC, case
    folding and their non-ASCII whitespace made spaces (`fold_non_ascii`), then one compiled pass
    lowercases A-Z, collapses ASCII whitespace and trims, on every row. Equal to `normalized` (tested
    on the real corpora), at several times its speed on mostly-ASCII text."""
    from curate.kernels.text import ascii_normalized

    text = text.cast(pl.String)
    nulls = text.is_null()
    folded = fold_non_ascii(text.fill_null(""), options, spaces=options.whitespace)
    data, offsets = arrow_buffers(folded)
    out = np.empty(max(1, len(data)), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    ascii_normalized(data, offsets, options.casefold, options.whitespace, out, out_offsets)
    array = pa.LargeStringArray.from_buffers(len(folded), pa.py_buffer(out_offsets), pa.py_buffer(out))
    result = pl.Series(text.name, array, dtype=pl.String)
    return result.set(nulls, None) if nulls.any() else result


def non_ascii_rows(text: pl.Series) -> pl.Series:
    """Boolean per row: holds a byte >= 0x80 (a scan of the Arrow buffers, ~20x a regex)."""
    from curate.kernels.text import any_high_byte

    data, offsets = arrow_buffers(text)
    out = np.zeros(len(text), dtype=np.bool_)
    any_high_byte(data, offsets, out)
    return pl.Series(out)
