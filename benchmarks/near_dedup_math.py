"""Near-duplicate removal on math problems: re-worded copies found, other problems kept apart.

    .venv/bin/python benchmarks/near_dedup_math.py [--planted 200] [--seed 0]

Corpus: MATH train (../shared/data/math/math/train.json, 7,474 problems), plus `--planted` copies of
problems of 15 to 60 words re-worded by one word (a word inserted, or a word of letters deleted or
replaced; numbers and formulas are left alone: changing them makes another problem), and
`--planted` variants of problems with numbers, the same words with every number changed (the same
template, another problem). Each setting runs `curate run` with one `minhash_dedup` stage (threshold
0.8, verify_jaccard, as pipelines/math-rl.yaml) and is scored by: the share of re-worded copies
removed as duplicates of their original (or the original of them); the share of variants kept with
their original; and, of the removals among MATH train itself, how many have a different final answer
(its `answer` field) from the record kept instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import curate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "math"
FILLER = ["exactly", "please", "now", "then", "also", "here", "real", "given"]
NUMBER = re.compile(r"\d+")


def reword(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    plain = [i for i in range(1, len(words) - 1) if words[i].isalpha()]  # a word, not a number or formula
    at = rng.choice(plain)
    how = rng.choice(("insert", "delete", "replace"))
    if how == "insert":
        words.insert(at, rng.choice(FILLER))
    elif how == "delete":
        del words[at]
    else:
        words[at] = rng.choice(FILLER)
    return " ".join(words)


def renumber(text: str, rng: random.Random) -> str:
    return NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), text)


def corpus(planted: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    train = json.loads((DATA / "math" / "train.json").read_text())
    rows = [{"id": f"t{i}", "problem": r["problem"], "answer": str(r["answer"]), "kind": "train", "of": None} for i, r in enumerate(train)]
    short = [r for r in rows if 15 <= len(r["problem"].split()) <= 60 and sum(w.isalpha() for w in r["problem"].split(" ")[1:-1]) >= 3]
    numbered = [r for r in rows if len(NUMBER.findall(r["problem"])) >= 2 and 10 <= len(r["problem"].split()) <= 80]
    for i, r in enumerate(rng.sample(short, planted)):
        rows.append({"id": f"reworded{i}", "problem": reword(r["problem"], rng), "answer": r["answer"], "kind": "reworded", "of": r["id"]})
    for i, r in enumerate(rng.sample(numbered, planted)):
        rows.append({"id": f"renumbered{i}", "problem": renumber(r["problem"], rng), "answer": "", "kind": "renumbered", "of": r["id"]})
    return pl.DataFrame(rows, schema={"id": pl.String, "problem": pl.String, "answer": pl.String, "kind": pl.String, "of": pl.String})


SETTINGS = [
    ("words, 5-grams (before)", {"tokenize": "words", "ngram": 5}),
    ("words, 5-grams, numbers apart", {"tokenize": "words", "ngram": 5, "apart_numbers": True}),
    ("words, 3-grams, numbers apart", {"tokenize": "words", "ngram": 3, "apart_numbers": True}),
    ("words, 2-grams, numbers apart", {"tokenize": "words", "ngram": 2, "apart_numbers": True}),
    ("chars, 5-grams, numbers apart", {"tokenize": "chars", "ngram": 5, "apart_numbers": True}),
    ("chars, 4-grams, numbers apart", {"tokenize": "chars", "ngram": 4, "apart_numbers": True}),
    ("words, 3-grams, answer apart", {"tokenize": "words", "ngram": 3, "apart_field": "answer"}),
    ("chars, 5-grams, numbers and answer apart", {"tokenize": "chars", "ngram": 5, "apart_numbers": True, "apart_field": "answer"}),
    ("the same, threshold 0.75", {"tokenize": "chars", "ngram": 5, "apart_numbers": True, "apart_field": "answer", "threshold": 0.75}),
    ("the same, threshold 0.7", {"tokenize": "chars", "ngram": 5, "apart_numbers": True, "apart_field": "answer", "threshold": 0.7}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the real data in {DATA}")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    frame = corpus(args.planted, args.seed)
    answers = dict(zip(frame["id"], frame["answer"]))
    print(f"{frame.height:,} records: MATH train + {args.planted} one-word re-wordings + {args.planted} renumbered variants\n")
    print("| shingles | re-wordings found | variants kept apart | MATH train removed | ... with another answer than the kept one | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        frame.drop("kind", "of").write_ndjson(path)
        pairs = frame.filter(pl.col("of").is_not_null()).select("id", "kind", "of")
        for label, params in SETTINGS:
            started = time.perf_counter()
            run = curate.run(
                {"name": "near", "input": {"path": str(path)}, "output": str(Path(tmp) / label.replace(" ", "_").replace(",", "")),
                 "stages": [{"name": "near", "use": "minhash_dedup", "field": "problem", "threshold": 0.8, "verify_jaccard": True} | params]},
            )
            seconds = time.perf_counter() - started
            removed = run.removed(stage="near").collect().select("id", "duplicate_of")
            gone = dict(zip(removed["id"], removed["duplicate_of"]))
            found = pairs.filter(pl.col("kind") == "reworded").filter(
                pl.struct("id", "of").map_elements(lambda r, gone=gone: gone.get(r["id"]) == r["of"] or gone.get(r["of"]) == r["id"], return_dtype=pl.Boolean)
            ).height
            apart = pairs.filter(pl.col("kind") == "renumbered").filter(
                pl.struct("id", "of").map_elements(lambda r, gone=gone: r["id"] not in gone and r["of"] not in gone, return_dtype=pl.Boolean)
            ).height
            natural = removed.filter(pl.col("id").str.starts_with("t") & pl.col("duplicate_of").str.starts_with("t"))
            other = sum(1 for i, d in zip(natural["id"], natural["duplicate_of"]) if answers[i] != answers[d])
            print(f"| {label} | {found / args.planted:.3f} | {apart / args.planted:.3f} | {natural.height} | {other} of {natural.height} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
