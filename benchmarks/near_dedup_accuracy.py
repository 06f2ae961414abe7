"""Near-duplicate accuracy on a labelled set built from real text: recall per true-Jaccard bin beside
the LSH S-curve, and precision, for curate (with and without `verify_jaccard`) and datasketch.

    .venv/bin/python benchmarks/near_dedup_accuracy.py [--pairs 5000]

Documents: every Gutenberg book in ../shared/data (books filed twice kept once) cut into 200-400-word
documents; near-copies of random documents are planted with word substitutions, insertions, deletions
and sentence swaps in amounts that spread their true Jaccard (over word-5-gram shingle sets) from 0.1
to 1. Hard negatives are everywhere: neighbouring chunks of one book, books of one author.

A pair is found when its two documents end in one cluster (one removed as a duplicate of the other,
or both of one kept document). Precision needs no labels: it is the share of removed documents whose
true Jaccard to the document kept for them reaches the threshold (and the count below threshold - 0.1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import DATA, in_child

THRESHOLD = 0.8


def paths(pairs: int) -> tuple[Path, Path]:
    return DATA / f"near_accuracy_{pairs}.parquet", DATA / f"near_accuracy_{pairs}_labels.parquet"


def build(pairs: int) -> None:
    from benchmarks.near_dup_corpus import gutenberg_documents, plant_near_copies

    corpus_path, labels_path = paths(pairs)
    if corpus_path.exists() and labels_path.exists():
        return
    DATA.mkdir(exist_ok=True)
    corpus, labels = plant_near_copies(gutenberg_documents(words=(200, 400)), pairs, seed=7)
    corpus.write_parquet(corpus_path, row_group_size=20_000)
    labels.write_parquet(labels_path)


def run_curate(corpus: str, out: str, verify: bool) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    connect(num_cpus=2)
    stage = {"name": "near", "use": "minhash_dedup", "field": "text", "threshold": THRESHOLD, "verify_jaccard": verify}
    started = time.perf_counter()
    result = curate.Pipeline(name="accuracy", input={"path": corpus}, output=out, stages=[stage]).run(overwrite=True)
    return {"seconds": time.perf_counter() - started, "stage": result.stats["stages"][1]}


def run_datasketch(corpus: str, out: str) -> dict:
    from datasketch import MinHash, MinHashLSH

    frame = pl.read_parquet(corpus, columns=["id", "text"])
    ids = frame["id"].to_list()
    started = time.perf_counter()
    sets = []
    for text in frame["text"].to_list():
        words = text.casefold().split()
        width = min(5, len(words))
        sets.append([" ".join(words[i : i + width]).encode("utf8") for i in range(len(words) - width + 1)])
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    removed, duplicate_of = [], []
    for position, minhash in enumerate(MinHash.bulk(sets, num_perm=128)):
        found = lsh.query(minhash)
        if found:
            removed.append(ids[position])
            duplicate_of.append(ids[min(found)])
        else:
            lsh.insert(position, minhash)
    Path(out).mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": removed, "duplicate_of": duplicate_of}, schema={"id": pl.String, "duplicate_of": pl.String}).write_parquet(Path(out) / "removed.parquet")
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, corpus, out, *rest = args.child
        result = run_datasketch(corpus, out) if mode == "datasketch" else run_curate(corpus, out, verify=rest == ["verify"])
        print(json.dumps(result))
        return

    from benchmarks.near_dup_corpus import evaluate
    from curate.text.minhash import MinHasher, candidate_probability, optimal_bands_rows

    build(args.pairs)
    corpus_path, labels_path = paths(args.pairs)
    labels = pl.read_parquet(labels_path)
    texts = dict(pl.read_parquet(corpus_path, columns=["id", "text"]).iter_rows())
    script = Path(__file__)
    systems = {
        "curate": ("curate", str(DATA / "near_accuracy_curate")),
        "curate, verify_jaccard": ("curate-verify", str(DATA / "near_accuracy_curate_verify")),
        "datasketch": ("datasketch", str(DATA / "near_accuracy_datasketch")),
    }
    scores, seconds = {}, {}
    for name, (mode, out) in systems.items():
        if mode == "datasketch":
            result = in_child(script, "datasketch", str(corpus_path), out)
            removed = pl.read_parquet(Path(out) / "removed.parquet")
        else:
            result = in_child(script, "curate", str(corpus_path), out, *(["verify"] if mode == "curate-verify" else []))
            removed = pl.read_parquet(Path(out) / "removed" / "*.parquet", columns=["id", "duplicate_of"])
        seconds[name] = result["seconds"]
        scores[name] = evaluate(labels, removed, set(), texts, MinHasher(), THRESHOLD)

    bands, rows = optimal_bands_rows(THRESHOLD, 128)
    print(f"\n## Near-duplicate accuracy: {len(texts):,} documents, {labels.height:,} planted pairs; threshold {THRESHOLD}, 128 permutations, {bands} bands x {rows} rows\n")
    print("| true Jaccard | pairs | S-curve: P(candidate) | " + " | ".join(systems) + " |")
    print("|---|---:|---:|" + "---:|" * len(systems))
    for low in [x / 10 for x in range(1, 10)]:
        high = low + 0.1
        in_bin = lambda frame, low=low, high=high: frame.filter((pl.col("jaccard") >= low) & (pl.col("jaccard") < high if high < 1 else pl.col("jaccard") <= 1.0))
        pairs = in_bin(scores["curate"]["labels"])
        if not pairs.height:
            continue
        expected = float(candidate_probability(pairs["jaccard"].to_numpy(), bands, rows).mean())
        cells = " | ".join(f"{in_bin(scores[name]['labels'])['found'].mean():.3f}" for name in systems)
        print(f"| {low:.1f}–{high:.1f} | {pairs.height} | {expected:.3f} | {cells} |")
    print("\n| | recall, J ≥ 0.9 | recall, J 0.8–0.9 | false finds, J < 0.6 | removed | removed below J 0.7 | precision (removed with J ≥ 0.8) | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in systems:
        scored, true = scores[name]["labels"], scores[name]["removed_jaccard"]
        at_09 = scored.filter(pl.col("jaccard") >= 0.9)["found"].mean()
        at_08 = scored.filter((pl.col("jaccard") >= 0.8) & (pl.col("jaccard") < 0.9))["found"].mean()
        false = int(scored.filter(pl.col("jaccard") < 0.6)["found"].sum())
        precision = float((true >= THRESHOLD).mean()) if len(true) else 1.0
        print(f"| {name} | {at_09:.3f} | {at_08:.3f} | {false} | {len(true):,} | {int((true < THRESHOLD - 0.1).sum())} | {precision:.4f} | {seconds[name]:.1f} |")


if __name__ == "__main__":
    main()
