"""Exact-dedup keys: the stage's key computation in isolation, before (polars regex normalisation over
every row) and after (issue 19: a compiled pass, the non-ASCII work only on the rows that need it).

    .venv/bin/python benchmarks/exact_keys.py [--repeats 3]

Texts: the Gutenberg books of ../shared/data cut at blank lines (paragraphs; English prose, about
half with a non-ASCII character such as a curly quote), and the math problem sets (MATH test, GSM8K
train, CMATH and Kaoyan in Chinese). One process, polars on one thread; MB of text per CPU-second,
medians of the repeats, both in the same run. The two give the same normalised text on every row
(checked here, and in tests/test_stages.py on a sample).
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

import polars as pl

from benchmarks.trace_defects import SHARED


def corpora() -> dict[str, pl.Series]:
    books = pl.concat([pl.read_parquet(p, columns=["text"]) for p in sorted(glob.glob(str(SHARED / "gutenberg" / "books-00[0-2].parquet")))])
    paragraphs = books.select(pl.col("text").str.split("\n\n")).explode("text").filter(pl.col("text").str.len_bytes() > 0)["text"]
    files = [("math/test.jsonl", "problem"), ("gsm8k/train.jsonl", "question"), ("benchmarks/cmath.jsonl", "question"), ("benchmarks/kaoyan.jsonl", "problem")]
    problems = pl.concat([pl.read_ndjson(SHARED / "math" / f, infer_schema_length=None).select(pl.col(c).cast(pl.String).alias("text")) for f, c in files])["text"]
    return {"Gutenberg paragraphs": paragraphs, "math problems": problems}


def main() -> None:
    import os

    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    from curate.text.normalize import Normalize, normalized, normalized_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    options = Normalize()
    seeds = (0x5EED_0001, 0x5EED_0002)

    def before(text: pl.Series) -> tuple[pl.Series, pl.Series]:
        normal = pl.select(normalized(pl.lit(text), options)).to_series()
        return normal.hash(seed=seeds[0]), normal.hash(seed=seeds[1])

    def after(text: pl.Series) -> tuple[pl.Series, pl.Series]:
        normal = normalized_text(text, options)
        return normal.hash(seed=seeds[0]), normal.hash(seed=seeds[1])

    print("exact-dedup keys (normalise + two 64-bit hashes), MB per CPU-second, one thread, median of", args.repeats)
    for name, text in corpora().items():
        megabytes = text.str.len_bytes().sum() / 1e6
        after(text.head(10))
        rates = {}
        for label, keys in (("before", before), ("after", after)):
            seconds = []
            for _ in range(args.repeats):
                started = time.process_time()
                keys(text)
                seconds.append(time.process_time() - started)
            rates[label] = megabytes / statistics.median(seconds)
        same = pl.select(normalized(pl.lit(text), options)).to_series().equals(normalized_text(text, options))
        print(f"  {name:22s} {megabytes:6.0f} MB: before {rates['before']:6.1f}, after {rates['after']:6.1f} ({rates['after'] / rates['before']:.1f}x); same text on every row: {same}")


if __name__ == "__main__":
    main()
