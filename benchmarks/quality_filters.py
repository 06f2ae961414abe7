"""The heuristic quality filters at scale: curate's four filter sets beside datatrove 0.10.1's four
filters, in one run, on the same documents.

    .venv/bin/python benchmarks/quality_filters.py [--docs 200000] [--datatrove-docs 10000]
                                                   [--datatrove-python PYTHON]

Documents: the Gutenberg books in ../shared/data cut into paragraphs at blank lines, four paragraphs
to a document (benchmarks/quality_corpus.py), the first --docs of them in file order; one Parquet file
in benchmarks/_data/.

curate, three ways:
1. each set alone, `FilterSet.apply` over batches of the runner's shard size, in a fresh process per
   set (so no set profits from another's token vocabulary); polars may use both cores, the Python
   part of the tokenizer one. This gives docs/s per rule set and every document's reason;
2. the four sets in one process, each on every document of each batch (they share the batch's
   tokenization, as stages in one worker share the vocabulary);
3. the four chained, end to end: `curate run` with gopher-repetition, gopher-quality, c4 (rewrite:
   true) and fineweb, in that order (datatrove's FineWeb pipeline's), on a fresh local Ray with 2 CPUs:
   read, validate, score, write kept/ and removed/, check the ledger. Ray's start-up is excluded.

datatrove: its four filters with their defaults, in one process, in their own virtualenv
(benchmarks/datatrove_filters.py; datatrove is not a dependency of curate), on a random subsample
of --datatrove-docs documents: at about 160 docs/s for all four, the whole corpus would take over 20
minutes. Its docs/s are measured on the subsample; a chain's cost sums, per document, the filters it
passes through until the first that drops it (without C4's rewrite, which FineWeb would see). The
agreement is measured on the subsample: per filter, the share of documents given the same reason
(kept counts as a reason), and the share given the same keep/drop decision.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks._common import DATA, HERE, PeakRss, datatrove_python, in_child

SETS = {"gopher_repetition": "gopher-repetition", "gopher_quality": "gopher-quality", "c4": "c4", "fineweb": "fineweb"}
"""datatrove's filter name -> curate's set, in the order of datatrove's FineWeb pipeline."""
CORES = 2


def corpus_path(docs: int) -> Path:
    return DATA / f"quality_{docs}.parquet"


def build(docs: int) -> Path:
    from benchmarks.quality_corpus import gutenberg_documents

    path = corpus_path(docs)
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        frame = gutenberg_documents(limit=docs)
        if frame.height < docs:
            raise SystemExit(f"only {frame.height:,} documents in the books, asked for {docs:,}")
        frame.write_parquet(path, row_group_size=20_000)
    return path


# ---------------------------------------------------------------- children


def run_set(corpus: str, name: str) -> dict:
    """One set alone (or "all" four, each on every document), in this process: batches the size of
    the runner's shards."""
    from curate.columns import DROP
    from curate.stages.filter_set import FilterSet

    frame = pl.read_parquet(corpus, columns=["id", "text"])
    names = list(SETS) if name == "all" else [name]
    stages = [FilterSet(n, path=SETS[n], rewrite=n == "c4") for n in names]
    for stage in stages:
        stage.apply(pl.DataFrame({"id": ["warm-up"], "text": ["Numba kernels load from their cache on first use. " * 20]}))
    total = int(frame["text"].str.len_bytes().sum())
    shard = min(max(total // 64, 4 << 20), 64 << 20)  # the runner's chunk_bytes
    per_doc = max(1, total // frame.height)
    rows = max(1, shard // per_doc)
    reasons: dict[str, list] = {n: [] for n in names}
    started = time.perf_counter()
    for offset in range(0, frame.height, rows):
        batch = frame.slice(offset, rows)
        for n, stage in zip(names, stages):
            reasons[n].append(stage.apply(batch)[DROP])
    seconds = time.perf_counter() - started
    out = DATA / f"quality_curate_{name}.parquet"
    pl.DataFrame({"id": frame["id"], **{n: pl.concat(r) for n, r in reasons.items()}}).write_parquet(out)
    return {"seconds": seconds, "batch_rows": rows, "decisions": str(out)}


def run_chain(corpus: str, out: str) -> dict:
    """The four sets chained, end to end on a fresh local Ray."""
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    rss = PeakRss()
    stages = [{"name": name, "use": "filter_set", "path": path, **({"rewrite": True} if name == "c4" else {})} for name, path in SETS.items()]
    pipeline = curate.Pipeline(name="web-quality", input={"path": corpus}, output=out, stages=stages)
    started = time.perf_counter()
    result = pipeline.run()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss": rss.finish(), "stages": result.stats["stages"]}


# ---------------------------------------------------------------- the parent


def run_datatrove(corpus: Path, docs: int, python: str) -> tuple[pl.DataFrame, dict]:
    frame = pl.read_parquet(corpus, columns=["id", "text"])
    picked = sorted(random.Random(0).sample(range(frame.height), min(docs, frame.height)))
    sample = DATA / f"quality_datatrove_in_{len(picked)}.parquet"
    out = DATA / f"quality_datatrove_out_{len(picked)}.parquet"
    frame[picked].write_parquet(sample)
    done = subprocess.run([python, str(HERE / "datatrove_filters.py"), str(sample), str(out)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    if done.returncode:
        raise SystemExit(f"datatrove failed:\n{done.stderr[-3000:]}")
    return pl.read_parquet(out), json.loads(done.stdout.strip().splitlines()[-1])


def chain_seconds(datatrove: pl.DataFrame) -> float:
    """Per document, the filters of the chain it goes through: up to the first that drops it."""
    total, alive = 0.0, pl.lit(True)
    for name in SETS:
        total += datatrove.select(pl.when(alive).then(pl.col(f"{name}_seconds")).otherwise(0.0).sum()).item()
        alive = alive & pl.col(name).is_null()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--datatrove-docs", type=int, default=10_000)
    parser.add_argument("--datatrove-python", default=None, help="default: $DATATROVE_PYTHON, or a venv made on first use from benchmarks/datatrove-requirements.txt")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, arg = args.child
        corpus = str(corpus_path(args.docs))
        print(json.dumps(run_chain(corpus, arg) if mode == "chain" else run_set(corpus, arg)))
        return
    args.datatrove_python = args.datatrove_python or datatrove_python()

    corpus = build(args.docs)
    size = pl.scan_parquet(corpus).select(pl.len().alias("docs"), pl.col("text").str.len_bytes().sum().alias("bytes")).collect().row(0, named=True)
    script = Path(__file__)
    docs = ("--docs", str(args.docs))
    sets = {name: in_child(script, "set", name, *docs) for name in [*SETS, "all"]}
    chain = in_child(script, "chain", str(DATA / "quality_chain_run"), *docs)
    started = time.perf_counter()
    datatrove, timing = run_datatrove(corpus, args.datatrove_docs, args.datatrove_python)
    datatrove_wall = time.perf_counter() - started
    sampled = datatrove.height

    ours = pl.read_parquet(sets[next(iter(SETS))]["decisions"]).select("id")
    for name in SETS:
        ours = ours.join(pl.read_parquet(sets[name]["decisions"]), on="id", how="left", maintain_order="left")
    both = datatrove.select("id", *SETS).join(ours, on="id", how="left", suffix="_curate", maintain_order="left")

    print(f"\n## Heuristic quality filters: {size['docs']:,} Gutenberg documents (4 paragraphs each), {size['bytes'] / 1e6:,.0f} MB of text\n")
    print(f"datatrove 0.10.1 ran on a random {sampled:,} of them ({datatrove_wall:.0f} s with start-up); its docs/s are measured there and extrapolated.\n")
    print("| rule set | curate docs/s (1 process) | datatrove docs/s (1 process) | speed-up | same reason | same keep/drop | removed, curate (all docs) | removed, datatrove (sample) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, path in SETS.items():
        ours_rate = size["docs"] / sets[name]["seconds"]
        theirs_rate = sampled / timing["seconds"][name]
        same = both.select(pl.col(name).eq_missing(pl.col(f"{name}_curate")).mean()).item()
        same_decision = both.select((pl.col(name).is_null() == pl.col(f"{name}_curate").is_null()).mean()).item()
        removed_ours = ours[name].is_not_null().mean()
        removed_theirs = datatrove[name].is_not_null().mean()
        print(f"| {path} | {ours_rate:,.0f} | {theirs_rate:,.0f} | {ours_rate / theirs_rate:.0f}x | {same:.2%} | {same_decision:.2%} | {removed_ours:.1%} | {removed_theirs:.1%} |")
    theirs_all = sampled / timing["total_seconds"]
    ours_all = size["docs"] / sets["all"]["seconds"]
    print(f"| all four, each on every document | {ours_all:,.0f} | {theirs_all:,.0f} | {ours_all / theirs_all:.0f}x | | | | |")
    print(f"\nBatches of {sets['all']['batch_rows']:,} documents (the runner's shard size for this corpus). Each set alone runs in a fresh process;"
          " \"all four\" runs them in one process, each on every document, sharing each batch's tokenization.")

    theirs_chain = sampled / chain_seconds(datatrove)
    ours_chain = size["docs"] / chain["seconds"]
    print("\n### Chained as in FineWeb's pipeline (gopher-repetition, gopher-quality, c4, fineweb; each sees what the previous kept)\n")
    print("| | seconds | docs/s | docs/s per core | peak RSS, all processes |")
    print("|---|---:|---:|---:|---:|")
    print(f"| curate run, end to end ({CORES} CPUs) | {chain['seconds']:.1f} | {ours_chain:,.0f} | {ours_chain / CORES:,.0f} | {chain['peak_rss'] / 2**30:.2f} GiB |")
    print(f"| datatrove, the four filters chained (1 process, extrapolated from {sampled:,}) | {size['docs'] / theirs_chain:.0f} | {theirs_chain:,.0f} | {theirs_chain:,.0f} | — |")
    print(f"\nSpeed-up of the chain: {ours_chain / theirs_chain:.0f}x end to end, {ours_chain / CORES / theirs_chain:.0f}x per core.")
    print("\n| stage | in | removed | task seconds (summed over workers) |")
    print("|---|---:|---:|---:|")
    for stage in chain["stages"][1:]:
        print(f"| {stage['name']} | {stage['in']:,} | {sum(stage['removed'].values()):,} | {stage['seconds']:.1f} |")

    print("\n### Reasons on the datatrove sample (datatrove / curate)\n")
    print("| filter | reason | datatrove | curate |")
    print("|---|---|---:|---:|")
    for name in SETS:
        theirs = both.group_by(pl.col(name).fill_null("kept").alias("reason")).len("datatrove")
        mine = both.group_by(pl.col(f"{name}_curate").fill_null("kept").alias("reason")).len("curate")
        counts = theirs.join(mine, on="reason", how="full", coalesce=True).fill_null(0)
        for reason, datatrove_count, curate_count in counts.sort("datatrove", descending=True).iter_rows():
            print(f"| {name} | {reason} | {datatrove_count:,} | {curate_count:,} |")


if __name__ == "__main__":
    main()
