"""Word n-gram indexes for decontamination: which records share an n-gram with a benchmark text.

Texts are compared after a normalisation that ignores formatting: NFKC, lowercase, every run of
characters that are not letters or digits becomes a space (so `\\frac{1}{2}` and `frac 1 2`, or
"x^2+1" and "x 2 1", compare equal), and each CJK character is a word of its own (Chinese and Japanese
have no spaces between words).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.kernels import ngrams as kernel
from curate.text.normalize import CJK_CHARACTER, arrow_buffers, non_ascii_rows

_CJK = CJK_CHARACTER


def ngram_text(text: pl.Expr) -> pl.Expr:
    """The normalised form that n-grams are taken from."""
    return text.str.normalize("NFKC").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " ").str.replace_all(_CJK, " $1 ")


def normalised(texts: pl.Series) -> pl.Series:
    """The non-ASCII part of `ngram_text`, on the rows that have non-ASCII characters (about half of
    English prose, for its quotes and dashes); the kernel lowercases ASCII and splits at ASCII
    punctuation itself, which gives the same words as `ngram_text`."""
    texts = texts.cast(pl.String).fill_null("")
    wide = non_ascii_rows(texts)
    if not wide.any():
        return texts
    rows = texts.filter(wide)
    changed = [not unicodedata.is_normalized("NFKC", t) for t in rows.to_list()]
    if any(changed):
        rows = rows.scatter(np.flatnonzero(changed), rows.filter(pl.Series(changed)).str.normalize("NFKC"))
    rows = rows.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}\x00-\x7F]+", " ").str.replace_all(_CJK, " $1 ")
    return texts.scatter(np.flatnonzero(wide.to_numpy()), rows)


def _buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    return arrow_buffers(normalised(texts))


def _word_counts(texts: pl.Series) -> np.ndarray:
    return normalised(texts).str.count_matches(r"[\p{L}\p{N}]+").to_numpy().astype(np.int64)


@dataclass(frozen=True)
class ItemIndex:
    """The n-grams of benchmark items, each with every item that has it, without the common ones
    (in `common_items` or more distinct items: stock phrasing such as "express your answer as a
    common fraction"), so that a record is scored against one item at a time: the share of that
    item's n-grams it contains. Texts shorter than n words (but at least `min_words`) are indexed whole."""

    n: int
    hashes: np.ndarray
    items: np.ndarray
    sizes: np.ndarray
    """Per item: its distinct n-grams that are not common (the denominator of its coverage)."""
    widths: np.ndarray
    bits: np.ndarray
    common: int
    """Distinct n-grams left out as common."""

    @classmethod
    def build(cls, texts: pl.Series, n: int, min_words: int, common_items: int) -> ItemIndex:
        data, offsets = _buffers(texts)
        counts = np.empty(len(texts), dtype=np.int64)
        hashes = kernel.item_hashes(data, offsets, n, min_words, counts)
        items = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
        order = np.argsort(hashes, kind="stable")
        hashes, items = hashes[order], items[order]
        _, spread = np.unique(hashes, return_counts=True)
        common = spread >= common_items
        keep = np.repeat(~common, spread)
        hashes, items = hashes[keep], items[keep]
        sizes = np.bincount(items, minlength=len(texts)).astype(np.int64)
        token_counts = _word_counts(texts)
        short = token_counts[(token_counts < n) & (token_counts >= min_words)]
        return cls(n, hashes, items, sizes, np.unique(short).astype(np.int64), kernel.bitmap(hashes), int(common.sum()))

    def overlap(self, texts: pl.Series) -> dict[str, np.ndarray]:
        """Per text: `item` (-1: none), `coverage`, `matched`, `longest` (words), `first` (word position)."""
        data, offsets = _buffers(texts)
        size = len(texts)
        out = {"item": np.empty(size, np.int64), "coverage": np.empty(size, np.float64), "matched": np.empty(size, np.int64), "longest": np.empty(size, np.int64), "first": np.empty(size, np.int64)}
        kernel.overlap(data, offsets, self.n, self.widths, self.hashes, self.items, self.sizes, self.bits, out["item"], out["coverage"], out["matched"], out["longest"], out["first"])
        return out


def words_of(text: str) -> list[str]:
    """The words n-grams are made of, as the kernel splits them (for showing matched n-grams)."""
    return normalised(pl.Series([text])).item().lower().translate(_ASCII_PUNCTUATION).split()


_ASCII_PUNCTUATION = {c: " " for c in range(128) if not chr(c).isalnum()}
