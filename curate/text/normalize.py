"""Text normalisation shared by the dedup stages, as polars expressions (whole batches, no Python loop)."""

from __future__ import annotations

import unicodedata
from functools import cache

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


# Bits of `unicode_table()`: what a character needs beyond the compiled ASCII pass.
CHANGES_UNDER_NFKC = 1
CHANGES_UNDER_CASEFOLD = 2
WIDE_SPACE = 4
_TABLE_SIZE = 0x30000
"""Planes 0-2 (all scripts in use, emoji, CJK extension B); characters beyond are always flagged."""


@cache
def unicode_table() -> np.ndarray:
    """For each code point, the bits of the work `fold_non_ascii` would do on a text holding it.

    A character without CHANGES_UNDER_NFKC is NFKC-stable in any context: NFKC leaves it as it is
    (NFKC_Quick_Check Yes), it has combining class 0 (no reordering), and it is never the second
    character of a canonical composition (the quick check's Maybe: a combining mark, a Hangul vowel or
    final), and it is assigned in Python's Unicode. A text of ASCII and such characters is NFKC-normalised already; if none changes under case
    folding either, only A-Z do; if none is Unicode whitespace, only ASCII whitespace collapses. So for
    a text without flagged characters the compiled ASCII pass alone is the whole normalisation.
    """
    table = np.zeros(_TABLE_SIZE, dtype=np.uint8)
    second: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for code in range(0x80, _TABLE_SIZE):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(int(parts[1], 16))
    for code in range(0x80, _TABLE_SIZE):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        if unicodedata.category(char) == "Cn":  # unassigned in Python's Unicode, perhaps not in polars' (newer)
            table[code] = CHANGES_UNDER_NFKC | CHANGES_UNDER_CASEFOLD | WIDE_SPACE
            continue
        bits = 0
        if code in second or unicodedata.combining(char) or not unicodedata.is_normalized("NFKC", char):
            bits |= CHANGES_UNDER_NFKC
        if char.casefold() != char or char.lower() != char:
            bits |= CHANGES_UNDER_CASEFOLD
        if char.isspace():
            bits |= WIDE_SPACE
        table[code] = bits
    table.flags.writeable = False
    return table


def unicode_mask(options: Normalize, spaces: bool) -> int:
    """The `unicode_table` bits that matter under `options` (and `spaces`: wide whitespace to spaces)."""
    return (CHANGES_UNDER_NFKC if options.nfkc else 0) | (CHANGES_UNDER_CASEFOLD if options.casefold else 0) | (WIDE_SPACE if spaces else 0)


def needs_unicode(text: pl.Series, options: Normalize, spaces: bool) -> pl.Series:
    """Boolean per row: holds a character that NFKC, case folding or (with `spaces`) whitespace
    collapsing would change beyond ASCII (one compiled scan with `unicode_table`)."""
    from curate.kernels.text import flagged_rows

    data, offsets = arrow_buffers(text)
    out = np.zeros(len(text), dtype=np.bool_)
    flagged_rows(data, offsets, unicode_table(), unicode_mask(options, spaces), out)
    return pl.Series(out)


def fold_non_ascii(text: pl.Series, options: Normalize, spaces: bool = False) -> pl.Series:
    """NFKC and full case folding (and, with `spaces`, whitespace to spaces) where they change anything.

    ASCII is left as it is, and so are the ASCII letters of other rows: tokenizers lowercase A-Z as
    they read. Only rows holding a character `unicode_table` flags are touched (one compiled scan);
    of those, NFKC runs only on the rows Python's `unicodedata.is_normalized` says it would change (a
    C scan at ~500 MB/s; NFKC itself runs at ~80 MB/s), and the case-folding table only on rows
    holding one of its 183 characters.
    """
    if not (options.nfkc or options.casefold or spaces):
        return text
    rows = needs_unicode(text, options, spaces)
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


REGEX_SPACE = 1
REGEX_LETTER = 2
REGEX_CJK = 4


@cache
def regex_classes() -> np.ndarray:
    """For every code point, polars' own answer to `\\s` (REGEX_SPACE), `\\p{L}` (REGEX_LETTER) and
    CJK_CHARACTER (REGEX_CJK): asked of polars itself once per process (~0.2 s), so that a compiled
    pass agrees with the regular expressions it replaces whatever Unicode version polars carries."""
    codes = np.arange(0x110000, dtype=np.int64)
    codes = codes[(codes < 0xD800) | (codes >= 0xE000)]
    data = np.frombuffer("".join(map(chr, codes.tolist())).encode(), dtype=np.uint8)
    lengths = 1 + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    chars = pl.Series(pa.LargeStringArray.from_buffers(len(codes), pa.py_buffer(offsets), pa.py_buffer(data)))
    table = np.zeros(0x110000, dtype=np.uint8)
    for bit, pattern in ((REGEX_SPACE, r"^\s$"), (REGEX_LETTER, r"^\p{L}$"), (REGEX_CJK, "^" + CJK_CHARACTER + "$")):
        table[codes[chars.str.contains(pattern).to_numpy()]] |= bit
    table.flags.writeable = False
    return table


def one_line_and_words(text: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Each text on one line (`\\s+` to one space, trimmed: what fastText wants) and its count of
    words (`\\p{L}+` runs, each CJK character one word), in one compiled pass. Missing texts are ""."""
    from curate.kernels.text import one_line_words

    text = text.cast(pl.String).fill_null("")
    data, offsets = arrow_buffers(text)
    out = np.empty(max(1, len(data)), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    words = np.empty(len(text), dtype=np.int64)
    one_line_words(data, offsets, regex_classes(), REGEX_SPACE, REGEX_LETTER, REGEX_CJK, out, out_offsets, words)
    lines = pl.Series(text.name, pa.LargeStringArray.from_buffers(len(text), pa.py_buffer(out_offsets), pa.py_buffer(out)), dtype=pl.String)
    return lines, words


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


_NULL_HASHES = (0x6E75_6C6C_0000_0001, 0x6E75_6C6C_0000_0002)
"""The hashes of a missing text (all missing texts are equal, and unequal to any text)."""


def normalized_hashes(text: pl.Series, options: Normalize, seeds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row's `normalized_text`, without writing it out: the
    compiled pass hashes as it normalises every row `unicode_table` does not flag; the flagged rows
    (a few percent of prose) are normalised in full by `normalized_text`, then hashed the same way."""
    from curate.kernels.text import normalized_hashes as kernel_hashes

    text = text.cast(pl.String)
    nulls = text.is_null()
    filled = text.fill_null("") if nulls.any() else text
    first = np.empty(len(text), dtype=np.uint64)
    second = np.empty(len(text), dtype=np.uint64)
    flagged = np.empty(len(text), dtype=np.bool_)
    data, offsets = arrow_buffers(filled)
    table = unicode_table()
    kernel_hashes(data, offsets, options.casefold, options.whitespace, table, unicode_mask(options, options.whitespace), seeds, first, second, flagged)
    if flagged.any():
        where = np.flatnonzero(flagged)
        data, offsets = arrow_buffers(normalized_text(filled.gather(where), options))
        sub_first = np.empty(len(where), dtype=np.uint64)
        sub_second = np.empty(len(where), dtype=np.uint64)
        kernel_hashes(data, offsets, False, False, table, 0, seeds, sub_first, sub_second, np.empty(len(where), dtype=np.bool_))
        first[where], second[where] = sub_first, sub_second
    if nulls.any():
        missing = nulls.to_numpy()
        first[missing], second[missing] = _NULL_HASHES
    return first, second
