"""Decontamination on real data: leaks it finds, and what else it removes.

    .venv/bin/python benchmarks/decontamination_accuracy.py [--planted 100] [--seed 0] [--examples 6]

Corpus: MATH train (../shared/data/math/math/train.json). Benchmarks: those of pipelines/math-rl.yaml
(math/benchmarks/*.jsonl, MATH-500, AIME) and GSM8K test. Into the corpus go `--planted` items of each
benchmark file, re-typed as leaked problems are: a prefix ("Problem 3."), changed whitespace and line
breaks, an appended instruction, the item embedded in a longer text (between two MATH train problems),
and all of these at once. Each setting of the stage (n, min_overlap, common_items) is scored by the
share of planted leaks removed (recall, per benchmark) and the share of MATH train itself removed
(which is not a copy of any benchmark item: what it removes is phrasing shared with them, or MATH
train problems that really are in a benchmark). The stage runs as a pure function over the frame.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.stages.decontaminate import Decontaminate, _benchmark_files  # noqa: E402
from curate.tables import read_table  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "math"
AGAINST = [str(DATA / "benchmarks" / "*.jsonl"), str(DATA / "math500" / "test.jsonl"), str(DATA / "aime" / "*.json*"), str(DATA / "gsm8k" / "test.jsonl")]
FIELDS = ["problem", "question", "prompt", "text"]
INSTRUCTIONS = ["Please reason step by step, and put your final answer within \\boxed{}.", "Answer with a single number.", "Show your work."]


def retype(text: str, how: str, rng: random.Random, filler: list[str]) -> str:
    if how == "prefix":
        return f"{rng.choice(['Problem', 'Question', 'Exercise'])} {rng.randint(1, 40)}. {text}"
    if how == "whitespace":
        return "  ".join(text.split(" ")).replace(". ", ".\n\n")
    if how == "instruction":
        return f"{text}\n\n{rng.choice(INSTRUCTIONS)}"
    if how == "embedded":
        return f"{rng.choice(filler)}\n\nNext, a harder one. {text}\n\nFinally: {rng.choice(filler)}"
    return retype(retype(retype(retype(text, "prefix", rng, filler), "whitespace", rng, filler), "instruction", rng, filler), "embedded", rng, filler)


HOWS = ("prefix", "whitespace", "instruction", "embedded", "all")


def planted(count: int, seed: int, filler: list[str]) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for path in _benchmark_files(AGAINST):
        frame = read_table(path)
        field = next(f for f in FIELDS if f in frame.columns)
        texts = [t for t in frame[field].cast(pl.String).to_list() if t and len(t.split()) >= 6]
        for text in rng.sample(texts, min(count, len(texts))):
            how = rng.choice(HOWS)
            rows.append({"problem": retype(text, how, rng, filler), "benchmark": path.name, "how": how, "planted": True})
    return pl.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=6)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the real data in {DATA}")
    train = pl.DataFrame(json.loads((DATA / "math" / "train.json").read_text())).select("problem")
    leaks = planted(args.planted, args.seed, train["problem"].to_list())
    corpus = pl.concat([train.with_columns(pl.lit(None, pl.String).alias("benchmark"), pl.lit(None, pl.String).alias("how"), pl.lit(False).alias("planted")), leaks])
    print(f"corpus: {train.height:,} MATH train problems + {leaks.height:,} planted leaks ({args.planted} per benchmark file, re-typed)\n")
    print("min_numbers 1.0 throughout (the stage's default)")
    print("| n | min_overlap | common_items | planted removed | MATH train removed | seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    results = {}
    for n in (8, 13):
        for common in (3, 10, 10**9):
            stage = Decontaminate("decontaminate", field="problem", against=AGAINST, n=n, common_items=common if common < 10**9 else 10**6)
            started = time.perf_counter()
            stage.prepare()
            scored = stage.apply(corpus)
            seconds = time.perf_counter() - started
            for threshold in (0.3, 0.5, 0.7):
                removed = (scored["decontaminate_overlap"] >= threshold) & (scored["decontaminate_numbers"] >= 1.0)
                recall = (removed & scored["planted"]).sum() / leaks.height
                natural = (removed & ~scored["planted"]).sum()
                label = str(common) if common < 10**9 else "off"
                print(f"| {n} | {threshold} | {label} | {recall:.3f} | {natural:,} ({natural / train.height:.2%}) | {seconds:.1f} |")
                results[(n, common, threshold)] = scored.with_columns(removed.alias("removed"))
    # the old rule (any one n-gram of any benchmark item, common phrasing included): math-rl's n=8
    old = results[(8, 10**9, 0.3)].with_columns((pl.col("decontaminate_overlap") > 0).alias("removed"))
    print(f"\nthe old rule (any shared 8-gram, nothing common left out): MATH train removed {(old['removed'] & ~old['planted']).sum():,} (1,686 with the old stage)")
    chosen = results[(8, 10, 0.5)]
    print("\nchosen (n=8, min_overlap=0.5, common_items=10, min_numbers=1): recall per benchmark and per re-typing")
    for key in ("benchmark", "how"):
        table = chosen.filter(pl.col("planted")).group_by(key).agg(pl.col("removed").mean().round(3).alias("recall"), pl.len().alias("planted")).sort(key)
        print(table)
    missed = chosen.filter(pl.col("planted") & ~pl.col("removed"))
    print(f"\nmissed planted leaks ({missed.height}):")
    for row in missed.head(args.examples).iter_rows(named=True):
        print(f"  [{row['benchmark']}, {row['how']}] overlap {row['decontaminate_overlap']}: {row['problem'][:160]!r}")
    natural = chosen.filter(~pl.col("planted") & pl.col("removed"))
    print(f"\nMATH train removed ({natural.height}), by benchmark: {natural['decontaminate_source'].value_counts().sort('count', descending=True).to_dicts()}")
    copies = natural.filter(pl.col("decontaminate_overlap") >= 0.95).height
    print(f"  of which {copies} hold >= 95% of the item's n-grams (copies: MATH's train set includes AIME problems)")
    for row in natural.filter(pl.col("decontaminate_overlap") < 0.95).head(args.examples).iter_rows(named=True):
        print(f"  overlap {row['decontaminate_overlap']}, {row['decontaminate_source']} {row['decontaminate_item']}:\n    train: {row['problem'][:200]!r}\n    bench: {row['decontaminate_item_text'][:200]!r}")


if __name__ == "__main__":
    main()
