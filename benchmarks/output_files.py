"""What readable output files cost (issue 13): plain Arrow types and one schema per folder.

    .venv/bin/python benchmarks/output_files.py [--repeats 7] [--books 2]

1. The writer. kept/, removed/, traces/ and exports are written by `curate.io.write_public` (pyarrow, Arrow's
   plain `string`/`list`, which datasets 2.x loads) instead of polars' `write_parquet` (`large_string`,
   `large_list`, which it does not). Both at zstd level 1, interleaved, medians of `--repeats`, on real data:
   Gutenberg books (../shared/data/gutenberg/books-000.parquet) and the Qwen traces
   (math/traces/qwen25math_math_cot_100x8.jsonl, repeated 50 times: a frame of 300 chunks, and rechunked).
2. The conform phase. A run whose stages add columns removes records before the columns exist; their files are
   rewritten with the run's columns (nulls) at the end. Measured in a run of the gopher and FineWeb rule sets
   over `--books` files of Gutenberg, where those rules remove most books: the phase's seconds beside the run's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.io import write_public  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def writer(repeats: int) -> None:
    traces = pl.concat([pl.read_ndjson(DATA / "math" / "traces" / "qwen25math_math_cot_100x8.jsonl")] * 50)
    sets = {
        "gutenberg books": pl.read_parquet(DATA / "gutenberg" / "books-000.parquet"),
        "qwen traces x50": traces,  # 300 chunks, as a stage's concatenated output can be
        "  same, one chunk": traces.rechunk(),
    }
    print(f"{'data':<18} {'rows':>6} {'MB':>6} {'polars s':>9} {'write_public s':>15} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.parquet"
        for name, frame in sets.items():
            times: dict[str, list[float]] = {"polars": [], "public": []}
            for _ in range(repeats):
                started = time.perf_counter()
                frame.write_parquet(path, compression="zstd", compression_level=1, statistics=True)
                times["polars"].append(time.perf_counter() - started)
                started = time.perf_counter()
                write_public(frame, path)
                times["public"].append(time.perf_counter() - started)
            polars, public = statistics.median(times["polars"]), statistics.median(times["public"])
            print(f"{name:<18} {frame.height:>6} {frame.estimated_size() / 1e6:>6.0f} {polars:>9.3f} {public:>15.3f} {public / polars:>6.2f}")


PIPELINE = """
name: output-files
input: {{path: {inputs}, text_fields: [text]}}
output: {output}
stages:
  - {{name: exact, use: exact_dedup, field: text}}
  - {{name: gopher_repetition, use: filter_set, path: gopher-repetition}}
  - {{name: gopher_quality, use: filter_set, path: gopher-quality}}
  - {{name: fineweb, use: filter_set, path: fineweb}}
"""


def conform_phase(books: int) -> None:
    import curate

    files = sorted((DATA / "gutenberg").glob("books-*.parquet"))[:books]
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "p.yaml"
        spec.write_text(PIPELINE.format(inputs=json.dumps([str(f) for f in files]), output=Path(tmp) / "out"))
        run = curate.run(spec)
        phases = {p["phase"]: p["seconds"] for p in run.stats["phases"]}
        removed = sorted((run.path / "removed").glob("*.parquet"))
        rewritten = sum(pq.read_metadata(p).num_rows for p in removed if not p.name.startswith("fineweb-"))
        print(
            f"gutenberg x{books} files: {run.stats['input']:,} books in, {run.stats['kept']:,} kept, {run.stats['removed']:,} removed "
            f"({rewritten:,} in files the conform phase rewrote); run {run.stats['seconds']:.1f} s, conform phase {phases.get('conform', 0.0):.2f} s "
            f"({phases.get('conform', 0.0) / run.stats['seconds']:.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--books", type=int, default=2)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the real data in {DATA} (see its README)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    writer(args.repeats)
    conform_phase(args.books)


if __name__ == "__main__":
    main()
