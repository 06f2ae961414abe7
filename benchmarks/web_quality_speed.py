"""`pipelines/web-quality.yaml` end to end: MB/s per core, MB per CPU-second, and where the time goes,
this revision beside a baseline revision in the same run.

    .venv/bin/python benchmarks/web_quality_speed.py [--docs 200000] [--repeats 3] [--baseline REV]

Documents: the four-paragraph Gutenberg documents of benchmarks/quality_filters.py (the first --docs,
one Parquet file in benchmarks/_data/). The pipeline as shipped: exact dedup, language ID (lid.176,
English >= 0.65), Gopher repetition, Gopher quality, C4 (rewrite) and FineWeb, each seeing what the
previous kept. Each run is a fresh process with a fresh local Ray on 2 CPUs (Ray's start-up excluded);
CPU-seconds are those of every process of the run. With --baseline, the same script runs on the project
at that revision (a git worktree with today's benchmarks/ copied in), alternating with this one.
Decisions must be the same: the kept ids of both are compared.
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

from benchmarks._common import DATA, ROOT, PeakRss, checkout, in_child

CORES = 2


def run_curate(corpus: str, out: str) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    rss = PeakRss()
    pipeline = curate.Pipeline.from_yaml(ROOT / "pipelines" / "web-quality.yaml", input=corpus, output=out)
    started = time.perf_counter()
    result = pipeline.run(report=False)
    seconds = time.perf_counter() - started
    peak = rss.finish()
    return {"seconds": seconds, "cpu_seconds": rss.cpu_seconds, "peak_rss": peak, "stages": result.stats["stages"], "phases": result.stats["phases"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to measure beside this one")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_curate(*args.child)))
        return

    from benchmarks.quality_filters import build

    corpus = build(args.docs)
    megabytes = pl.scan_parquet(corpus).select(pl.col("text").str.len_bytes().sum()).collect().item() / 1e6
    roots = {"this revision": ROOT}
    if args.baseline:
        roots = {f"baseline {args.baseline}": checkout(args.baseline), **roots}
    runs: dict[str, list[dict]] = {label: [] for label in roots}
    for _ in range(args.repeats):
        for label, root in roots.items():
            out = DATA / f"web_quality_{label.split()[0]}"
            runs[label].append(in_child(Path(__file__), str(corpus), str(out), root=root))
            print(f"{label}: {runs[label][-1]['seconds']:.1f} s", file=sys.stderr)
    if args.baseline:
        kept = [set(pl.read_parquet(DATA / f"web_quality_{label.split()[0]}" / "kept" / "*.parquet", columns=["id"])["id"]) for label in roots]
        print(f"\nSame records kept by both: {kept[0] == kept[1]} ({len(kept[1]):,} kept)")

    print(f"\n## pipelines/web-quality.yaml, {args.docs:,} documents, {megabytes:,.0f} MB of text, {CORES} CPUs, median of {args.repeats}\n")
    print("| code | seconds | MB/s | MB/s per core | CPU-seconds | MB per CPU-second | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, found in runs.items():
        seconds = statistics.median(r["seconds"] for r in found)
        cpu = statistics.median(r["cpu_seconds"] for r in found)
        peak = statistics.median(r["peak_rss"] for r in found)
        print(f"| {label} | {seconds:.1f} | {megabytes / seconds:.1f} | {megabytes / seconds / CORES:.2f} | {cpu:.0f} | {megabytes / cpu:.2f} | {peak / 2**30:.2f} GiB |")
    print("\n### Workers' seconds in each stage's own code (median), and its share of the run's CPU-seconds\n")
    print("| stage | " + " | ".join(roots) + " |")
    print("|---|" + "---:|" * len(roots))
    names = [s["name"] for s in next(iter(runs.values()))[0]["stages"]]
    for name in names:
        cells = []
        for found in runs.values():
            seconds = statistics.median(next(s["seconds"] for s in r["stages"] if s["name"] == name) for r in found)
            cells.append(f"{seconds:.1f} s ({seconds / statistics.median(r['cpu_seconds'] for r in found):.0%})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
