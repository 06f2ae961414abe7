"""Scores for the published heuristic rule sets: Gopher quality and repetition (Rae et al. 2021), C4
(Raffel et al. 2020) and FineWeb (Penedo et al. 2024), as datatrove 0.10.1 computes them
(filters/gopher-quality.yaml, gopher-repetition.yaml, c4.yaml, fineweb.yaml).

datatrove counts spaCy tokens, not whitespace words, so these do too (curate/rules/tokens.py): a
batch's texts are cut at whitespace, each distinct chunk is tokenized once, and counts are summed per
document. One analysis of a batch is shared by every score that needs it (see `_per_batch`); word
n-grams and repeated lines and paragraphs are numba kernels (curate/kernels/repetition.py), the other
line scores polars expressions. Python's notions are kept where they differ from Rust's: `str.isspace`
(which includes U+001C-U+001F), `str.splitlines` (eleven line breaks), `len` in code points.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import polars as pl

from curate.kernels.repetition import repeated_pieces, repetition
from curate.rules import ratio, rewrite, score, spacy_en, tokens
from curate.text.normalize import arrow_buffers

PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Python's str.isspace characters; Rust's `\\s` lacks U+001C-U+001F."""
_NOT_SPACE = r"[^\s\x1c-\x1f]"
_INLINE_SPACE = r"[\s\x1f&&[^\n]]"
"""Whitespace within a line (U+001C-U+001E break lines for str.splitlines; U+001F does not)."""
_LINE_BREAKS = r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
"""What str.splitlines splits at besides \\n."""
TOP_NGRAMS = (2, 3, 4)
DUPLICATE_NGRAMS = (5, 6, 7, 8, 9, 10)

_Analysis = TypeVar("_Analysis")


def _per_batch(analyse: Callable[[pl.Series], _Analysis]) -> Callable[[pl.Series], _Analysis]:
    """Remember `analyse` for the last batch: a filter set's scores each see the same text column, and
    a dozen of them share one tokenization. The check is a comparison of the columns (a memcmp)."""
    lock = threading.Lock()
    last: list[tuple[pl.Series, _Analysis]] = []

    @functools.wraps(analyse)
    def cached(texts: pl.Series) -> _Analysis:
        with lock:
            if last and last[0][0].len() == texts.len() and last[0][0].equals(texts, check_names=False, null_equal=True):
                return last[0][1]
            result = analyse(texts)
            last[:] = [(texts, result)]
            return result

    return cached


def _column(analyse: Callable[[pl.Series], pl.DataFrame], column: str, text: pl.Expr) -> pl.Expr:
    """One column of a batch analysis, as an expression."""
    return text.map_batches(lambda texts: analyse(texts)[column], return_dtype=pl.Int64)


# ---------------------------------------------------------------------------- tokens of a batch


_batch = _per_batch(tokens.Batch)


@_per_batch
def _word_counts(texts: pl.Series) -> pl.DataFrame:
    """Per document: spaCy words (punctuation included), non-symbol words and their characters,
    words with a letter, and the distinct stop words among them."""
    return _batch(texts).word_counts()


@_per_batch
def _ngram_chars(texts: pl.Series) -> pl.DataFrame:
    """Per document: Gopher's top n-gram characters (n = 2, 3, 4; null below n words) and duplicated
    n-gram characters (n = 5..10)."""
    batch = _batch(texts)
    seq, doc_offsets = batch.token_sequence()
    top, dup = repetition(doc_offsets, seq, batch.token_hash, batch.token_power, batch.token_inverse, batch.token_chars, np.array(TOP_NGRAMS, np.int64), np.array(DUPLICATE_NGRAMS, np.int64))
    columns = {f"top_{n}": pl.Series(top[:, k]).replace(-1, None) for k, n in enumerate(TOP_NGRAMS)}
    columns.update({f"dup_{n}": pl.Series(dup[:, k]) for k, n in enumerate(DUPLICATE_NGRAMS)})
    return pl.DataFrame(columns)


# ---------------------------------------------------------------------------- Gopher quality


@score("non_symbol_words")
def non_symbol_words(text: pl.Expr) -> pl.Expr:
    """spaCy words with a character outside datatrove's punctuation: Gopher's document length."""
    return _column(_word_counts, "non_symbol", text)


@score("mean_word_length")
def mean_word_length(text: pl.Expr) -> pl.Expr:
    """Mean length in characters of the non-symbol words (null without any)."""
    return ratio(_column(_word_counts, "non_symbol_chars", text), _column(_word_counts, "non_symbol", text))


@score("hash_ratio")
def hash_ratio(text: pl.Expr) -> pl.Expr:
    """'#' characters per spaCy word (punctuation tokens count as words)."""
    return ratio(text.str.count_matches("#", literal=True), _column(_word_counts, "words", text))


@score("ellipsis_ratio")
def ellipsis_ratio(text: pl.Expr) -> pl.Expr:
    """'...' (counted without overlap) and '…' per spaCy word."""
    ellipses = text.str.count_matches("...", literal=True) + text.str.count_matches("…", literal=True)
    return ratio(ellipses, _column(_word_counts, "words", text))


def _splitlines(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(text with every line break as \\n, number of lines as str.splitlines counts them: a final
    line break does not start another line)."""
    normal = text.str.replace_all(_LINE_BREAKS, "\n")
    lines = normal.str.count_matches("\n", literal=True) + pl.when((normal == "") | normal.str.ends_with("\n")).then(0).otherwise(1)
    return normal, lines


@score("bullet_line_ratio")
def bullet_line_ratio(text: pl.Expr) -> pl.Expr:
    """Lines starting with '•' or '-' (after leading whitespace) per line, blank lines included."""
    normal, lines = _splitlines(text)
    return ratio(normal.str.count_matches(rf"(?m)^{_INLINE_SPACE}*[•\-]"), lines)


@score("end_ellipsis_line_ratio")
def end_ellipsis_line_ratio(text: pl.Expr) -> pl.Expr:
    """Lines ending with '...' or '…' (before trailing whitespace) per line, blank lines included."""
    normal, lines = _splitlines(text)
    return ratio(normal.str.count_matches(rf"(?:\.\.\.|…){_INLINE_SPACE}*(?m:$)"), lines)


@score("alpha_word_ratio")
def alpha_word_ratio(text: pl.Expr) -> pl.Expr:
    """spaCy words with a letter per spaCy word: dialogue, with its quotes and commas as words, scores low."""
    return ratio(_column(_word_counts, "alpha", text), _column(_word_counts, "words", text))


@score("stop_words")
def stop_words(text: pl.Expr) -> pl.Expr:
    """How many of Gopher's eight stop words (the, be, to, of, and, that, have, with) occur as words."""
    return _column(_word_counts, "stop_words", text)


# ---------------------------------------------------------------------------- Gopher repetition


@score("empty")
def empty(text: pl.Expr) -> pl.Expr:
    return text.str.len_bytes() == 0


def _pieces(min_run: int, skip_blank: bool, strip: bool) -> Callable[[pl.Series], pl.DataFrame]:
    """Per document: pieces between runs of `min_run` or more line breaks, how many repeat an earlier
    piece, and their characters (curate/kernels/repetition.py: repeated_pieces)."""

    def count(texts: pl.Series) -> pl.DataFrame:
        texts = texts.fill_null("")
        if strip:
            texts = texts.str.strip_chars(PY_WHITESPACE)
        pieces, repeats, chars = repeated_pieces(*arrow_buffers(texts), min_run, skip_blank)
        return pl.DataFrame({"pieces": pieces, "repeats": repeats, "chars": chars})

    return _per_batch(count)


_paragraphs = _pieces(2, skip_blank=False, strip=True)
"""re.split(r"\n{2,}", text.strip()): Gopher's paragraphs."""
_gopher_lines = _pieces(1, skip_blank=False, strip=False)
"""re.split(r"\n+", text): Gopher's lines, with an empty one for a line break at either end."""
_fineweb_lines = _pieces(1, skip_blank=True, strip=False)
"""Non-blank lines of text.split("\n"): FineWeb's."""


@score("dup_para_fraction")
def dup_para_fraction(text: pl.Expr) -> pl.Expr:
    """Paragraphs (split at blank lines) that repeat an earlier one, per paragraph."""
    return ratio(_column(_paragraphs, "repeats", text), _column(_paragraphs, "pieces", text))


@score("dup_para_char_fraction")
def dup_para_char_fraction(text: pl.Expr) -> pl.Expr:
    """Characters of repeated paragraphs per character of the text."""
    return ratio(_column(_paragraphs, "chars", text), text.str.len_chars())


@score("dup_line_fraction")
def dup_line_fraction(text: pl.Expr) -> pl.Expr:
    """Lines that repeat an earlier line, per line (empty lines at either end included)."""
    return ratio(_column(_gopher_lines, "repeats", text), _column(_gopher_lines, "pieces", text))


@score("dup_line_char_fraction")
def dup_line_char_fraction(text: pl.Expr) -> pl.Expr:
    return ratio(_column(_gopher_lines, "chars", text), text.str.len_chars())


@score("top_ngram_char_fraction")
def top_ngram_char_fraction(text: pl.Expr, n: int) -> pl.Expr:
    """The most frequent word n-gram's characters times its count, per character of the text (null
    below n words). A gram seen once counts: "Hello world" scores 1.0 for n = 2."""
    if n not in TOP_NGRAMS:
        raise ValueError(f"n must be one of {TOP_NGRAMS}")
    return ratio(_column(_ngram_chars, f"top_{n}", text), text.str.len_chars())


@score("dup_ngram_char_fraction")
def dup_ngram_char_fraction(text: pl.Expr, n: int) -> pl.Expr:
    """Characters of word n-grams repeating an earlier one (scanning on past each repeat), per
    character of the text."""
    if n not in DUPLICATE_NGRAMS:
        raise ValueError(f"n must be one of {DUPLICATE_NGRAMS}")
    return ratio(_column(_ngram_chars, f"dup_{n}", text), text.str.len_chars())


# ---------------------------------------------------------------------------- FineWeb


def _nonblank_lines(text: pl.Expr) -> pl.Expr:
    """Lines split at \\n only (\\r stays), not stripped, blank ones left out."""
    return text.str.split("\n").list.eval(pl.element().filter(pl.element().str.contains(_NOT_SPACE)))


@score("blank")
def blank(text: pl.Expr) -> pl.Expr:
    """The text has no character other than whitespace."""
    return ~text.str.contains(_NOT_SPACE)


@score("line_punct_ratio")
def line_punct_ratio(text: pl.Expr) -> pl.Expr:
    """Non-blank lines ending in terminal punctuation (., !, ? and their kin in other scripts; not
    quotes, not ':' or ';'), per non-blank line."""
    lines = _nonblank_lines(text)
    ending = lines.list.eval(pl.element().str.slice(-1).is_in(spacy_en.TERMINAL_PUNCTUATION).sum()).list.first()
    return ratio(ending, lines.list.len())


@score("short_line_ratio")
def short_line_ratio(text: pl.Expr, max_chars: int = 30) -> pl.Expr:
    """Non-blank lines of at most `max_chars` characters (indentation and \\r included), per non-blank line."""
    lines = _nonblank_lines(text)
    short = lines.list.eval((pl.element().str.len_chars() <= max_chars).sum()).list.first()
    return ratio(short, lines.list.len())


@score("char_dup_ratio")
def char_dup_ratio(text: pl.Expr) -> pl.Expr:
    """Characters of non-blank lines repeating an earlier line, per character other than \\n."""
    return ratio(_column(_fineweb_lines, "chars", text), text.str.len_chars() - text.str.count_matches("\n", literal=True))


@score("list_ratio")
def list_ratio(text: pl.Expr) -> pl.Expr:
    """Line breaks (blank lines included) per spaCy word: lists and menus score high."""
    return ratio(text.str.count_matches("\n", literal=True), _column(_word_counts, "words", text))


# ---------------------------------------------------------------------------- C4

_CITATION = r"\[\d*]|\[edit]|\[citation needed]"
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


@_per_batch
def _c4(texts: pl.Series) -> pl.DataFrame:
    """C4's line-by-line pass. A line survives when, stripped, it has no word over 1000 characters,
    ends in . ? ! " or ' but not "..." once citations ([1], [edit]) are removed, and has 3 or more
    words. A surviving line mentioning "lorem ipsum", or holding "{" (unless it mentions javascript),
    stops the document: `stop` says which came first. Other surviving lines are kept unless they
    mention javascript or a cookie/terms policy. Per document: `stop`, the spaCy sentences of the
    kept lines, and the kept lines joined by \\n (the text C4 passes on)."""
    normal = texts.fill_null("").str.replace_all(_LINE_BREAKS, "\n")
    pieces = normal.str.split("\n")
    lines = (
        pl.DataFrame({"doc": np.arange(len(texts), dtype=np.int64), "line": pieces, "pieces": pieces.list.len()})
        .explode("line")
        .with_columns(pl.int_range(pl.len()).over("doc").alias("at"))
        .filter(~((pl.col("at") == pl.col("pieces") - 1) & (pl.col("line") == "")))  # str.splitlines drops it
        .with_columns(pl.col("line").str.strip_chars(PY_WHITESPACE))
    )
    line = pl.col("line")
    clean = line.str.replace_all(_CITATION, "")
    lower = pl.col("clean").str.to_lowercase()
    ends = pl.any_horizontal(pl.col("clean").str.ends_with(end) for end in (".", "?", "!", '"', "'")) & ~pl.col("clean").str.ends_with("...")
    split = line.str.replace_all("\x1f", " ")  # str.split() splits at U+001F, which is inside lines
    lines = lines.with_columns(clean.alias("clean"), split.str.count_matches(r"\S+").alias("words"))
    lines = lines.filter(ends & (pl.col("words") >= 3) & ~split.str.contains(r"\S{1001}"))
    lines = lines.with_columns(
        lower.str.contains("lorem ipsum", literal=True).alias("lorem"),
        lower.str.contains("javascript", literal=True).alias("javascript"),
        pl.col("clean").str.contains("{", literal=True).alias("curly"),
        pl.any_horizontal(lower.str.contains(p, literal=True) for p in _POLICY).alias("policy"),
    )
    stops = lines.filter(pl.col("lorem") | (~pl.col("javascript") & pl.col("curly"))).group_by("doc").agg(
        pl.when(pl.col("lorem").first()).then(pl.lit("lorem_ipsum")).otherwise(pl.lit("curly_bracket")).alias("stop")
    )
    kept = lines.filter(~pl.col("lorem") & ~pl.col("javascript") & ~pl.col("curly") & ~pl.col("policy"))
    kept = kept.with_columns(_sentences(kept["clean"]).alias("sentences"))
    per_doc = kept.group_by("doc").agg(pl.col("sentences").sum(), pl.col("clean").str.join("\n").str.strip_chars(PY_WHITESPACE).alias("text"))
    return (
        pl.DataFrame({"doc": np.arange(len(texts), dtype=np.int64)})
        .join(per_doc, on="doc", how="left", maintain_order="left")
        .join(stops, on="doc", how="left", maintain_order="left")
        .with_columns(pl.col("sentences").fill_null(0), pl.col("text").fill_null(""))
    )


def _sentences(lines: pl.Series) -> pl.Series:
    """spaCy's sentence count of each line (curate/kernels/chunks.py: sentence_counts)."""
    return pl.Series(tokens.Batch(lines).sentence_counts(), dtype=pl.Int64)


@score("c4_lorem_ipsum")
def c4_lorem_ipsum(text: pl.Expr) -> pl.Expr:
    """C4 stops at a kept line mentioning "lorem ipsum" (before any line with a curly bracket)."""
    return text.map_batches(lambda texts: _c4(texts)["stop"] == "lorem_ipsum", return_dtype=pl.Boolean).fill_null(False)


@score("c4_curly_bracket")
def c4_curly_bracket(text: pl.Expr) -> pl.Expr:
    """C4 stops at a kept line with "{", code rather than prose (before any "lorem ipsum" line)."""
    return text.map_batches(lambda texts: _c4(texts)["stop"] == "curly_bracket", return_dtype=pl.Boolean).fill_null(False)


@score("c4_sentences")
def c4_sentences(text: pl.Expr) -> pl.Expr:
    """spaCy sentences in the lines C4 keeps: the text after its line removal."""
    return _column(_c4, "sentences", text)


@rewrite("c4_lines")
def c4_lines(text: pl.Expr) -> pl.Expr:
    """The text after C4's line removal: the kept lines (stripped, citations removed) joined by \\n."""
    return text.map_batches(lambda texts: _c4(texts)["text"], return_dtype=pl.String)
