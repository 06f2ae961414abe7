"""Near-duplicate removal at scale: curate's minhash_dedup beside datasketch, on the same documents.

    .venv/bin/python benchmarks/near_dedup_speed.py [--repeats 3]

Documents: the Gutenberg books in ../shared/data cut into 80-220-word documents (books filed twice
kept once), about 590k of them, and 30k planted near-copies (benchmarks/near_dup_corpus.py): ~618k
documents, ~500 MB of text, one Parquet file.

curate: `minhash_dedup` (word 5-grams, 128 permutations, threshold 0.8 -> 9 bands x 13 rows), end to
end: read, validate, normalise, shingle, sign, LSH, cluster, write kept/ and removed/, check the
ledger; a fresh local Ray on 2 CPUs in a fresh process for each repeat; Ray's own start-up excluded.

Baseline: datasketch 2.0 as its documentation shows it, in one process: `MinHash.bulk` over each
document's shingles (the same casefolded words, 5-grams, 128 permutations, default SHA1 hashing),
then `MinHashLSH(threshold=0.8)`: query, and keep the document (insert it) only when nothing is found.

Both are scored on the planted pairs (recall) and on every removed document's true Jaccard to the one
kept for it (precision), with curate's shingle sets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import DATA, PeakRss, in_child

CORPUS = DATA / "near_speed.parquet"
LABELS = DATA / "near_speed_labels.parquet"
CORES = 2


def build() -> None:
    from benchmarks.near_dup_corpus import gutenberg_documents, plant_near_copies

    if CORPUS.exists() and LABELS.exists():
        return
    DATA.mkdir(exist_ok=True)
    documents = gutenberg_documents(words=(80, 220))
    corpus, labels = plant_near_copies(documents, 30_000)
    corpus.write_parquet(CORPUS, row_group_size=20_000)
    labels.write_parquet(LABELS)


# ---------------------------------------------------------------- children


def run_curate(out: str) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    rss = PeakRss()
    pipeline = curate.Pipeline(name="near", input={"path": str(CORPUS)}, output=out, stages=[{"name": "near", "use": "minhash_dedup", "field": "text"}])
    started = time.perf_counter()
    result = pipeline.run()
    seconds = time.perf_counter() - started
    peak = rss.finish()
    return {"seconds": seconds, "cpu_seconds": rss.cpu_seconds, "peak_rss": peak, "phases": result.stats["phases"], "stage": result.stats["stages"][1]}


def run_datasketch(out: str) -> dict:
    from datasketch import MinHash, MinHashLSH

    frame = pl.read_parquet(CORPUS, columns=["id", "text"])
    ids, texts = frame["id"].to_list(), frame["text"].to_list()
    del frame
    rss = PeakRss()
    started = time.perf_counter()
    shingle_sets = []
    for text in texts:
        words = text.casefold().split()
        width = min(5, len(words))
        shingle_sets.append([" ".join(words[i : i + width]).encode("utf8") for i in range(len(words) - width + 1)])
    minhashes = MinHash.bulk(shingle_sets, num_perm=128)
    del shingle_sets
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    removed_ids, duplicate_of = [], []
    for position, minhash in enumerate(minhashes):
        found = lsh.query(minhash)
        if found:
            removed_ids.append(ids[position])
            duplicate_of.append(ids[min(found)])  # keep first: the earliest document found
        else:
            lsh.insert(position, minhash)
    seconds = time.perf_counter() - started
    peak = rss.finish()
    cpu = rss.cpu_seconds
    Path(out).mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": removed_ids, "duplicate_of": duplicate_of}, schema={"id": pl.String, "duplicate_of": pl.String}).write_parquet(Path(out) / "removed.parquet")
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak}


# ---------------------------------------------------------------- the parent


def score(removed: pl.DataFrame) -> dict:
    from benchmarks.near_dup_corpus import evaluate
    from curate.text.minhash import MinHasher

    labels = pl.read_parquet(LABELS)
    texts = dict(pl.read_parquet(CORPUS, columns=["id", "text"]).iter_rows())
    result = evaluate(labels, removed.select("id", "duplicate_of"), set(), texts, MinHasher(), 0.8)
    scored, true = result["labels"], result["removed_jaccard"]
    high = scored.filter(pl.col("jaccard") >= 0.9)
    return {
        "recall_at_0.9": float(high["found"].mean()),
        "pairs_at_0.9": high.height,
        "removed": removed.height,
        "below_0.7": int((true < 0.7).sum()),
        "precision_0.7": float((true >= 0.7).mean()) if len(true) else 1.0,
        "precision_0.8": float((true >= 0.8).mean()) if len(true) else 1.0,
    }


PHASES = [
    ("read + validate input", lambda p: p in ("ingest", "ids")),
    ("normalise, shingle, sign, band keys", lambda p: p == "segment-0"),
    ("LSH buckets", lambda p: p == "near.buckets"),
    ("clusters (components) + decisions", lambda p: p.startswith("near.") and p != "near.buckets"),
    ("write kept/ + removed/, check ledger", lambda p: p == "segment-1" or p.startswith("verify")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, out = args.child
        print(json.dumps(run_curate(out) if mode == "curate" else run_datasketch(out)))
        return

    build()
    corpus = pl.scan_parquet(CORPUS).select(pl.len().alias("docs"), pl.col("text").str.len_bytes().sum().alias("bytes")).collect().row(0, named=True)
    megabytes = corpus["bytes"] / 1e6
    script = Path(__file__)
    runs = [in_child(script, "curate", str(DATA / f"near_speed_curate_{i}")) for i in range(args.repeats)]
    baseline = in_child(script, "datasketch", str(DATA / "near_speed_datasketch"))

    median = statistics.median(r["seconds"] for r in runs)
    curate_scores = score(pl.read_parquet(DATA / "near_speed_curate_0" / "removed" / "*.parquet", columns=["id", "duplicate_of"]))
    baseline_scores = score(pl.read_parquet(DATA / "near_speed_datasketch" / "removed.parquet"))
    stage_seconds = [sum(p["seconds"] for p in r["phases"] if p["phase"] == "segment-0" or p["phase"].startswith("near.")) for r in runs]

    print(f"\n## Near-duplicate removal: {corpus['docs']:,} documents, {megabytes:,.0f} MB of text; curate on {CORES} CPUs (median of {args.repeats}), datasketch on 1\n")
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    print("| | seconds | docs/s | MB/s | MB/s per core | CPU-seconds, all processes | MB per CPU-second | peak RSS, all processes | recall (J ≥ 0.9) | removed below J 0.7 | precision (J ≥ 0.8) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, seconds, cores, cpu_seconds, rss, s in (
        ("curate minhash_dedup, end to end", median, CORES, cpu, statistics.median(r["peak_rss"] for r in runs), curate_scores),
        ("curate, the stage's own phases", statistics.median(stage_seconds), CORES, None, None, None),
        ("datasketch MinHash.bulk + MinHashLSH", baseline["seconds"], 1, baseline["cpu_seconds"], baseline["peak_rss"], baseline_scores),
    ):
        memory = f"{rss / 2**30:.2f} GiB" if rss else "—"
        quality = f"{s['recall_at_0.9']:.3f} | {s['below_0.7']} | {s['precision_0.8']:.4f}" if s else "— | — | —"
        spent = f"{cpu_seconds:.1f} | {megabytes / cpu_seconds:.1f}" if cpu_seconds else "— | —"
        print(f"| {name} | {seconds:.1f} | {corpus['docs'] / seconds:,.0f} | {megabytes / seconds:.1f} | {megabytes / seconds / cores:.1f} | {spent} | {memory} | {quality} |")
    print(
        f"\nSpeed-up over datasketch, wall: {baseline['seconds'] / median:.1f}x end to end ({CORES} cores against 1),"
        f" {baseline['seconds'] / statistics.median(stage_seconds):.1f}x for the stage's own phases."
        f"\nPer core (datasketch's CPU-seconds over curate's, every Ray process counted): {baseline['cpu_seconds'] / cpu:.1f}x end to end;"
        f" wall per core ({CORES} cores): {baseline['seconds'] / median / CORES:.1f}x."
    )
    print(f"Planted pairs with true Jaccard >= 0.9: {curate_scores['pairs_at_0.9']:,}. Removed: curate {curate_scores['removed']:,}, datasketch {baseline_scores['removed']:,}.")

    print(f"\n### Where curate's time goes (wall seconds, median of {args.repeats})\n")
    print("| phase | seconds | share |")
    print("|---|---:|---:|")
    for label, match in PHASES:
        seconds = statistics.median(sum(p["seconds"] for p in r["phases"] if match(p["phase"])) for r in runs)
        print(f"| {label} | {seconds:.2f} | {seconds / median:.0%} |")
    stage = runs[0]["stage"]
    print(f"\nCandidate pairs {stage.get('candidate_pairs', 0):,}; clusters {stage.get('clusters', 0):,}.")


if __name__ == "__main__":
    main()
