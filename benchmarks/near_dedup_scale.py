"""Duplicate removal at scale: `pipelines/near-dedup.yaml` (exact, then near) on 1x, 2x, 4x and 8x of a
corpus of more than 2 GB, with MB/s per core, MB per CPU-second, peak memory and where the time goes.

    .venv/bin/python benchmarks/near_dedup_scale.py [--scales 1,2,4,8] [--repeats 1] [--baseline REV]

Corpus (built once into benchmarks/_data/scale/, git-ignored): the Gutenberg books of ../shared/data cut
into 80-220-word documents four times over with different cut points (each re-pass with 1-3 words of
each document replaced, so that re-passes are new text), plus planted copies: 2% exact copies with
their case or spacing changed (exact_dedup's normalisation finds them) and 30,000 near-copies per
pass (benchmarks/near_dup_corpus.py). About 2.4 M documents, shuffled, in 16 Parquet files; scale k
reads the first 2k files (8x: all of them).

Each scale runs in a fresh process with a fresh local Ray on 2 CPUs (Ray's own start-up excluded).
CPU-seconds are those of every process of the run (driver, raylet, GCS, workers), sampled every 50 ms,
so MB per CPU-second is the per-core figure that does not depend on how busy the cores were. Peak RSS
is the sum over the same processes. Phase shares are wall time; stage shares are the workers' time
in each stage's own code (as stats.json counts it) against the run's CPU-seconds. With --baseline, each
scale also runs on the project at that revision (a git worktree with today's benchmarks/ copied in),
right before this revision's run: before and after side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import DATA, ROOT, PeakRss, checkout, in_child

CORPUS = DATA / "scale"
FILES = 16
PASSES = 4
CORES = 2


def build() -> list[Path]:
    from benchmarks.near_dup_corpus import Edits, edit, gutenberg_documents, plant_near_copies

    files = [CORPUS / f"part-{i:02d}.parquet" for i in range(FILES)]
    if all(f.exists() for f in files):
        return files
    CORPUS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(19)
    passes = []
    for number in range(PASSES):
        documents = gutenberg_documents(words=(80, 220), seed=number)
        if number:
            vocabulary = documents["text"].head(2000).str.split(" ").explode().unique().sort().to_list()
            texts = [edit(t, Edits(substitutions=rng.randint(1, 3)), rng, vocabulary) for t in documents["text"].to_list()]
            documents = documents.with_columns(pl.Series("text", texts))
        documents = documents.with_columns(("p" + str(number) + "-" + pl.col("id")).alias("id"))
        documents, _ = plant_near_copies(documents, 30_000, seed=100 + number)
        passes.append(documents)
        print(f"pass {number}: {documents.height:,} documents", file=sys.stderr)
    corpus = pl.concat(passes)
    chosen = corpus.sample(fraction=0.02, seed=3)
    exact = chosen.with_columns(
        (pl.col("id") + "-exact").alias("id"),
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.col("text").str.to_uppercase()).otherwise(pl.col("text").str.replace_all(" ", "  \n")).alias("text"),
    )
    corpus = pl.concat([corpus, exact]).sample(fraction=1.0, shuffle=True, seed=5)
    size = -(-corpus.height // FILES)
    for i, path in enumerate(files):
        corpus.slice(i * size, size).write_parquet(path, row_group_size=20_000)
    return files


def run_curate(out: str, files: list[str]) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    rss = PeakRss()
    pipeline = curate.Pipeline.from_yaml(ROOT / "pipelines" / "near-dedup.yaml", input=files, output=out)
    started = time.perf_counter()
    result = pipeline.run(report=False)
    seconds = time.perf_counter() - started
    peak = rss.finish()
    return {"seconds": seconds, "cpu_seconds": rss.cpu_seconds, "peak_rss": peak, "phases": result.stats["phases"], "stages": result.stats["stages"]}


PHASES = [
    ("read + validate input (ingest), prove ids unique", lambda p, last: p in ("ingest", "ids")),
    ("segment 0: read, exact keys (and, riding, MinHash signatures + band keys)", lambda p, last: p == "segment-0"),
    ("exact: reduce", lambda p, last: p.startswith("exact.")),
    ("segment 1 before issue 19: read, exact decisions, MinHash signatures + band keys", lambda p, last: p == "segment-1" != last),
    ("near: (settle keys,) buckets, components, decisions", lambda p, last: p.startswith("near.")),
    ("last segment: read, decisions, write kept/ + removed/", lambda p, last: p == last),
    ("verify the ledger", lambda p, last: p.startswith("verify")),
]
"""(label, matcher(phase, the run's last segment phase)) of the wall-time table."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline", help="a git revision to measure beside this one (e.g. the commit before a change)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out, files = args.child
        print(json.dumps(run_curate(out, files.split(","))))
        return

    files = build()
    scales = [int(s) for s in args.scales.split(",")]
    roots = {"this revision": ROOT}
    if args.baseline:
        roots = {f"baseline {args.baseline}": checkout(args.baseline), **roots}
    rows = []
    for scale in scales:
        chosen = files[: 2 * scale]
        corpus = pl.scan_parquet(chosen).select(pl.len().alias("docs"), pl.col("text").str.len_bytes().sum().alias("bytes")).collect().row(0, named=True)
        for label, root in roots.items():
            runs = [in_child(Path(__file__), str(DATA / f"scale_out_{scale}x"), ",".join(map(str, chosen)), root=root) for _ in range(args.repeats)]
            rows.append((scale, label, corpus, runs))
            print(f"{scale}x {label}: {statistics.median(r['seconds'] for r in runs):.1f} s", file=sys.stderr)

    print(f"\n## pipelines/near-dedup.yaml at scale: {CORES} CPUs, median of {args.repeats}\n")
    print("| scale | code | documents | MB of text | seconds | MB/s | MB/s per core | CPU-seconds | MB per CPU-second | peak RSS | exact removed | near removed |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scale, label, corpus, runs in rows:
        megabytes = corpus["bytes"] / 1e6
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        peak = statistics.median(r["peak_rss"] for r in runs)
        removed = {s["name"]: sum(s["removed"].values()) for s in runs[0]["stages"]}
        print(
            f"| {scale}x | {label} | {corpus['docs']:,} | {megabytes:,.0f} | {seconds:.1f} | {megabytes / seconds:.1f} | {megabytes / seconds / CORES:.1f} |"
            f" {cpu:.0f} | {megabytes / cpu:.1f} | {peak / 2**30:.2f} GiB | {removed.get('exact', 0):,} | {removed.get('near', 0):,} |"
        )
    columns = [f"{scale}x {label}" for scale, label, _, _ in rows]
    print("\n### Where the wall time goes (share of each run's seconds)\n")
    print("| phase | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(rows))
    for phase, match in PHASES:
        shares = []
        for _, _, _, runs in rows:
            values = []
            for r in runs:
                last = [p["phase"] for p in r["phases"] if p["phase"].startswith("segment-")][-1]
                values.append(sum(p["seconds"] for p in r["phases"] if match(p["phase"], last)) / r["seconds"])
            shares.append(statistics.median(values))
        print(f"| {phase} | " + " | ".join(f"{share:.0%}" for share in shares) + " |")
    print("\n### Workers' seconds reading shards again after ingest, and writing them (share of all CPU-seconds)\n")
    print("| | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(rows))
    for key, what in (("read_seconds", "reading shards again (segments)"), ("write_seconds", "writing kept/ and segment files")):
        cells = []
        for _, _, _, runs in rows:
            if any(key in p for p in runs[0]["phases"]):
                seconds = statistics.median(sum(p.get(key, 0.0) for p in r["phases"]) for r in runs)
                cells.append(f"{seconds:.1f} s ({seconds / statistics.median(r['cpu_seconds'] for r in runs):.0%})")
            else:
                cells.append("not measured")
        print(f"| {what} | " + " | ".join(cells) + " |")
    print("\n### Workers' time in each stage's own code (share of all CPU-seconds)\n")
    names = [s["name"] for s in rows[0][3][0]["stages"]]
    print("| stage | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in names:
        shares = [statistics.median(next(s["seconds"] for s in r["stages"] if s["name"] == name) / r["cpu_seconds"] for r in runs) for _, _, _, runs in rows]
        print(f"| {name} | " + " | ".join(f"{share:.0%}" for share in shares) + " |")


if __name__ == "__main__":
    main()
