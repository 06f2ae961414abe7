"""Exact-dedup keys and MinHash signatures: each stage's per-row work in isolation. Exact keys: before (polars regex normalisation over
every row, then two polars hashes) and after (issue 19: one compiled pass normalises and hashes each
row without writing it out; the Unicode work only on the rows holding a character it changes).
Signatures (`MinHasher.signatures`: prepare, shingle, sign): before, rows were prepared for the kernel
by scanning every non-ASCII row with Python's `is_normalized` and two regexes, and words were hashed
with a branch at each word's end (both kept here as the baseline); after, one compiled scan with
`unicode_table` picks the few rows that need any of it, and words are hashed without a branch per byte.

    .venv/bin/python benchmarks/exact_keys.py [--repeats 3]

Texts: the Gutenberg books of ../shared/data cut at blank lines (paragraphs; English prose, about
half with a non-ASCII character such as a curly quote), and the math problem sets (MATH test, GSM8K
train, CMATH and Kaoyan in Chinese). One process, polars on one thread; MB of text per CPU-second,
medians of the repeats, both in the same run. The two group the rows alike: equal keys exactly where
the normalised texts are equal (checked here on every row, and in tests/test_stages.py on a sample).
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba as nb
import numpy as np
import polars as pl

from benchmarks.trace_defects import SHARED
from curate.kernels import minhash as kernel
from curate.text.minhash import MinHasher
from curate.text.normalize import arrow_buffers


def corpora() -> dict[str, pl.Series]:
    books = pl.concat([pl.read_parquet(p, columns=["text"]) for p in sorted(glob.glob(str(SHARED / "gutenberg" / "books-00[0-2].parquet")))])
    paragraphs = books.select(pl.col("text").str.split("\n\n")).explode("text").filter(pl.col("text").str.len_bytes() > 0)["text"]
    files = [("math/test.jsonl", "problem"), ("gsm8k/train.jsonl", "question"), ("benchmarks/cmath.jsonl", "question"), ("benchmarks/kaoyan.jsonl", "problem")]
    problems = pl.concat([pl.read_ndjson(SHARED / "math" / f, infer_schema_length=None).select(pl.col(c).cast(pl.String).alias("text")) for f, c in files])["text"]
    return {"Gutenberg paragraphs": paragraphs, "math problems": problems}


def main() -> None:
    import os

    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    from curate.text.normalize import Normalize, needs_unicode, normalized, normalized_hashes

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    options = Normalize()
    seeds = (0x5EED_0001, 0x5EED_0002)

    def before(text: pl.Series) -> tuple[pl.Series, pl.Series]:
        normal = pl.select(normalized(pl.lit(text), options)).to_series()
        return normal.hash(seed=seeds[0]), normal.hash(seed=seeds[1])

    def after(text: pl.Series) -> tuple[pl.Series, pl.Series]:
        first, second = normalized_hashes(text, options, seeds)
        return pl.Series(first), pl.Series(second)

    def groups(keys: tuple[pl.Series, pl.Series]) -> pl.Series:
        return pl.DataFrame({"a": keys[0], "b": keys[1]}).select(pl.struct("a", "b").rank("dense"))["a"]

    def timed(work, text: pl.Series) -> float:
        """MB of text per CPU-second, the median of the repeats."""
        work(text.head(10))
        seconds = []
        for _ in range(args.repeats):
            started = time.process_time()
            work(text)
            seconds.append(time.process_time() - started)
        return text.str.len_bytes().sum() / 1e6 / statistics.median(seconds)

    texts = corpora()
    print("exact-dedup keys (normalise + two 64-bit hashes), MB per CPU-second, one thread, median of", args.repeats)
    for name, text in texts.items():
        megabytes = text.str.len_bytes().sum() / 1e6
        rates = {label: timed(keys, text) for label, keys in (("before", before), ("after", after))}
        pairs = pl.DataFrame({"before": groups(before(text)), "after": groups(after(text))}).unique()
        same = pairs["before"].n_unique() == len(pairs) == pairs["after"].n_unique()
        unicode_rows = needs_unicode(text, options, spaces=options.whitespace).mean()
        print(
            f"  {name:22s} {megabytes:6.0f} MB: before {rates['before']:6.1f}, after {rates['after']:6.1f} ({rates['after'] / rates['before']:.1f}x);"
            f" rows needing Unicode work {unicode_rows:.1%}; same groups on every row: {same}"
        )

    print("MinHash signatures (prepare, word 5-grams, 128 permutations), MB per CPU-second, one thread, median of", args.repeats)
    hasher = MinHasher()
    for name, text in texts.items():

        def signed_before(text: pl.Series, hasher: MinHasher = hasher) -> np.ndarray:
            return _signatures_before(text, hasher, options)

        rates = {"before": timed(signed_before, text), "after": timed(hasher.signatures, text)}
        same = np.array_equal(hasher.signatures(text)[0], _signatures_before(text, hasher, options))
        print(f"  {name:22s} before {rates['before']:6.1f}, after {rates['after']:6.1f} ({rates['after'] / rates['before']:.1f}x); same signatures: {same}")


def _fold_before(text: pl.Series, options) -> pl.Series:
    """The preparation the signature path had before issue 19 (the baseline): every non-ASCII row
    checked with Python's `is_normalized` and two regexes."""
    import unicodedata

    from curate.text.normalize import _FOLD_FROM, _FOLD_TO, _NEEDS_FOLDING, _WIDE_SPACE, non_ascii_rows

    rows = non_ascii_rows(text)
    if not rows.any():
        return text
    where = rows.arg_true()
    subset = text.gather(where)
    changing = [i for i, value in enumerate(subset.to_list()) if not unicodedata.is_normalized("NFKC", value)]
    if changing:
        subset = subset.scatter(changing, subset.gather(changing).str.normalize("NFKC"))
    folding = subset.str.contains(_NEEDS_FOLDING)
    if folding.any():
        subset = subset.scatter(folding.arg_true(), subset.filter(folding).str.to_lowercase().str.replace_many(_FOLD_FROM, _FOLD_TO))
    wide = subset.str.contains(_WIDE_SPACE)
    if wide.any():
        subset = subset.scatter(wide.arg_true(), subset.filter(wide).str.replace_all(_WIDE_SPACE, " "))
    return text.clone().scatter(where, subset)


def _signatures_before(text: pl.Series, hasher, options) -> np.ndarray:
    data, offsets = arrow_buffers(_fold_before(text, options))
    out = np.empty((len(text), hasher.num_perm), dtype=np.uint32)
    _sign_before(data, offsets, hasher.ngram, *hasher._permutations, out)
    return out


@nb.njit(cache=True)
def _words_before(data, start, stop, out):
    """The word tokenizer before issue 19: two loops, a branch (mispredicted) at each word's end."""
    count = 0
    i = start
    while i < stop:
        while i < stop and kernel._SPACE[data[i]]:
            i += 1
        if i >= stop:
            break
        h = kernel._FNV_OFFSET
        while i < stop and not kernel._SPACE[data[i]]:
            h = (h ^ np.uint64(kernel._LOWER[data[i]])) * kernel._FNV_PRIME
            i += 1
        out = kernel._push(out, count, kernel._fmix64(h))
        count += 1
    return out, count


@nb.njit(cache=True)
def _sign_before(data, offsets, n, a, b, out):
    tokens = np.empty(1024, np.uint64)
    for d in range(offsets.shape[0] - 1):
        tokens, count = _words_before(data, offsets[d], offsets[d + 1], tokens)
        sig = out[d]
        for p in range(a.shape[0]):
            sig[p] = kernel.EMPTY
        width = n if count >= n else count
        for s in range(count - width + 1 if count else 0):
            h = np.uint32(kernel._fmix32(kernel._shingle_hash(tokens, s, width)))
            for p in range(a.shape[0]):
                sig[p] = min(sig[p], np.uint32(a[p] * h + b[p]))


if __name__ == "__main__":
    main()
