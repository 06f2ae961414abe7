"""How near-duplicate removal's memory grows with the corpus: peak RSS of all Ray processes together
for 100k, 300k and 1M documents.

    .venv/bin/python benchmarks/near_dedup_memory.py [--sizes 100000,300000,1000000]

Documents: the Gutenberg books in ../shared/data cut into 40-130-word documents (the first N of them,
in book order), with 3% planted near-copies so that there are clusters to find. Each size runs
`minhash_dedup` end to end (word 5-grams, 128 permutations, threshold 0.8) in a fresh process with a
fresh local Ray on 2 CPUs. Peak RSS is the sum over the driver and all its descendants (GCS, raylet,
workers), sampled every 50 ms; the baseline of an idle Ray session is measured first and reported.

The signatures a run keeps are 128 x 4 bytes per document; band keys 9 x 8 bytes. Memory should grow
roughly with that (documents), not with candidate pairs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import DATA, PeakRss, in_child

CORES = 2


def corpus_path(size: int) -> Path:
    return DATA / f"near_memory_{size}.parquet"


def build(sizes: list[int]) -> None:
    from benchmarks.near_dup_corpus import gutenberg_documents, plant_near_copies

    missing = [size for size in sizes if not corpus_path(size).exists()]
    if not missing:
        return
    DATA.mkdir(exist_ok=True)
    documents = gutenberg_documents(words=(40, 130), max_docs=max(missing))
    if documents.height < max(missing) * 0.97:
        raise SystemExit(f"the Gutenberg books give only {documents.height:,} documents; smaller --sizes please")
    for size in missing:
        base = round(size / 1.03)
        corpus, _ = plant_near_copies(documents.head(base), size - base, seed=size)
        corpus.write_parquet(corpus_path(size), row_group_size=20_000)


def idle_ray() -> dict:
    from curate.runner.ray_executor import connect

    connect(num_cpus=CORES)
    rss = PeakRss()
    time.sleep(3)
    return {"peak_rss": rss.finish()}


def run(size: int, out: str) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    rss = PeakRss()
    pipeline = curate.Pipeline(name="memory", input={"path": str(corpus_path(size))}, output=out, stages=[{"name": "near", "use": "minhash_dedup", "field": "text"}])
    started = time.perf_counter()
    result = pipeline.run()
    stage = result.stats["stages"][1]
    return {"seconds": time.perf_counter() - started, "peak_rss": rss.finish(), "removed": result.stats["removed"], "candidate_pairs": stage.get("candidate_pairs", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(idle_ray() if args.child[0] == "idle" else run(int(args.child[0]), args.child[1])))
        return

    sizes = sorted(int(s) for s in args.sizes.split(","))
    build(sizes)
    script = Path(__file__)
    idle = in_child(script, "idle")["peak_rss"]
    results = {}
    for size in sizes:
        results[size] = in_child(script, str(size), str(DATA / f"near_memory_out_{size}"))
        shutil.rmtree(DATA / f"near_memory_out_{size}", ignore_errors=True)

    gib = 2**30
    print(f"\n## Near-duplicate removal: peak memory against corpus size (all Ray processes, {CORES} CPUs)\n")
    print(f"An idle local Ray session (driver, GCS, raylet and its agents; workers start with the first task): {idle / gib:.2f} GiB.\n")
    print("| documents | MB of text | seconds | candidate pairs | removed | signatures (128 x 4 B) | peak RSS | above idle Ray | per 1k documents above idle |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        r = results[size]
        megabytes = pl.scan_parquet(corpus_path(size)).select(pl.col("text").str.len_bytes().sum()).collect().item() / 1e6
        above = r["peak_rss"] - idle
        print(
            f"| {size:,} | {megabytes:,.0f} | {r['seconds']:.1f} | {r['candidate_pairs']:,} | {r['removed']:,} | {size * 512 / 2**20:,.0f} MiB"
            f" | {r['peak_rss'] / gib:.2f} GiB | {above / gib:.2f} GiB | {above / size * 1000 / 2**20:.2f} MiB |"
        )
    small, large = sizes[0], sizes[-1]
    growth = (results[large]["peak_rss"] - idle) / max(1, results[small]["peak_rss"] - idle)
    print(f"\nFrom {small:,} to {large:,} documents ({large / small:.0f}x): memory above idle Ray grew {growth:.1f}x;"
          f" candidate pairs grew {results[large]['candidate_pairs'] / max(1, results[small]['candidate_pairs']):.1f}x.")


if __name__ == "__main__":
    main()
