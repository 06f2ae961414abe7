"""Export writer throughput beside what a user script would do without curate, on one synthetic finished run.

    .venv/bin/python benchmarks/export_throughput.py [--problems 100000] [--trace-chars 1500] [--repeats 3] [--formats verl sft]

The run (built once, in a temp dir, from `--seed`): `--problems` records over 8 files kept/part-000000-0000K.parquet
(id, problem of ~200 chars of varied words, answer, pass_rate, n_correct, n_samples) and traces/ files of the same
names, 8 samples per record (id, sample, response of ~`--trace-chars` chars ending in \\boxed{answer}, reasoning
(null), completion_tokens, truncated (2%), correct (half)).

- curate: `curate.exporting.export_run(Export(name, format=fmt, validation=0.05), ...)`: streams the run file by
  file through the stage's row builder (verl Parquet; sft JSONL of the shortest verified trace per problem).
- baseline, verl: every kept file read into one polars frame, one python dict per row as verl's
  examples/data_preprocess/math_dataset.py builds it, split by a blake2b hash of the id (5%),
  `pa.Table.from_pylist` and `pq.write_table` per split.
- baseline, sft: kept and traces read whole, traces joined to records, correct (and not truncated) kept, the
  fewest completion tokens per id, `json.dumps` of {"messages": [user, assistant]} per row, per split.

Both sides hash the id with the key of curate's default split_seed, so each split holds the same records and
the row counts must match (asserted). Every measurement is a fresh process: seconds exclude interpreter start
and imports; peak RSS is the child's own VmHWM (imports included). Medians of the repeats, with ratios
(baseline / curate: above 1, curate is faster or smaller). `--profile` adds cProfile's top 10 (cumulative)
of one curate sft export.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import in_child

FILES = 8
SAMPLES = 8
VALIDATION = 0.05
INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."  # verl's math_dataset.py
VERL_SOURCE = "DigitalLearningGmbH/MATH-lighteval"


# ---------------------------------------------------------------------------------------------- the run


def build_run(root: Path, problems: int, trace_chars: int, seed: int) -> None:
    """kept/ and traces/ of a finished run, deterministic in `seed`."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, size=int(n))) for n in rng.integers(2, 11, size=6000)]
    vocab += ["triangle", "integer", "sum", "$x^2$", "$\\frac{1}{2}$", "prime", "radius", "probability", "$n$", "=", "+", "remainder"]
    vocab_arr = np.array(vocab, dtype=object)
    pool = " ".join(vocab_arr[rng.integers(0, len(vocab), size=2_000_000)])  # ~12 MB that responses are cut from
    (root / "kept").mkdir(parents=True)
    (root / "traces").mkdir()
    bounds = np.linspace(0, problems, FILES + 1).astype(int)
    for k in range(FILES):
        n = int(bounds[k + 1] - bounds[k])
        ids = [f"p{i:08d}" for i in range(bounds[k], bounds[k + 1])]
        texts = []
        for target in rng.integers(150, 251, size=n):
            words = " ".join(vocab_arr[rng.integers(0, len(vocab), size=60)])
            texts.append(words[: words.rfind(" ", 0, int(target))].capitalize() + "?")
        answers = [str(a) if a % 5 else f"\\frac{{{a}}}{{7}}" for a in rng.integers(0, 10_000, size=n)]
        correct = rng.random((n, SAMPLES)) < 0.5
        truncated = rng.random((n, SAMPLES)) < 0.02
        lengths = (trace_chars * rng.uniform(0.8, 1.2, size=(n, SAMPLES))).astype(int)
        offsets = rng.integers(0, len(pool) - 2 * trace_chars, size=(n, SAMPLES))
        name = f"part-000000-{k:05d}.parquet"
        pl.DataFrame(
            {"id": ids, "problem": texts, "answer": answers, "pass_rate": correct.mean(axis=1), "n_correct": correct.sum(axis=1), "n_samples": [SAMPLES] * n},
            schema={"id": pl.String, "problem": pl.String, "answer": pl.String, "pass_rate": pl.Float64, "n_correct": pl.Int32, "n_samples": pl.Int32},
        ).write_parquet(root / "kept" / name)
        responses = []
        for i in range(n):
            suffix = f"\n\nSo the final answer is \\boxed{{{answers[i]}}}."
            for s in range(SAMPLES):
                start = int(offsets[i, s])
                responses.append(pool[start : start + max(0, int(lengths[i, s]) - len(suffix))] + suffix)
        pl.DataFrame(
            {
                "id": [i for i in ids for _ in range(SAMPLES)],
                "sample": list(range(SAMPLES)) * n,
                "response": responses,
                "reasoning": [None] * (n * SAMPLES),
                "completion_tokens": (lengths // 4 + rng.integers(-20, 21, size=lengths.shape)).ravel(),
                "truncated": truncated.ravel(),
                "correct": correct.ravel(),
            },
            schema={"id": pl.String, "sample": pl.Int32, "response": pl.String, "reasoning": pl.String, "completion_tokens": pl.Int64, "truncated": pl.Boolean, "correct": pl.Boolean},
        ).write_parquet(root / "traces" / name)


# ---------------------------------------------------------------------------------------- the children


def held_out(record_id: str) -> bool:
    """The baseline's split: 5% by a blake2b hash of the id (keyed as curate's split_seed 0, so both sides agree)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(b"0\x1f" + record_id.encode(), digest_size=8).digest(), "big") < int(VALIDATION * 2**64)


def baseline_verl(run: Path, out: Path) -> dict[str, int]:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pl.concat([pl.read_parquet(f) for f in sorted((run / "kept").glob("*.parquet"))])
    rows: dict[str, list[dict]] = {"train": [], "validation": []}
    for example in frame.iter_rows(named=True):
        split = "validation" if held_out(example["id"]) else "train"
        rows[split].append(
            {
                "data_source": VERL_SOURCE,
                "prompt": [{"role": "user", "content": example["problem"] + " " + INSTRUCTION}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": example["answer"]},
                "extra_info": {"split": split, "index": len(rows[split])},
            }
        )
    for split, split_rows in rows.items():
        pq.write_table(pa.Table.from_pylist(split_rows), out / f"{split}.parquet")
    return {split: len(split_rows) for split, split_rows in rows.items()}


def baseline_sft(run: Path, out: Path) -> dict[str, int]:
    import polars as pl

    kept = pl.concat([pl.read_parquet(f) for f in sorted((run / "kept").glob("*.parquet"))])
    traces = pl.concat([pl.read_parquet(f) for f in sorted((run / "traces").glob("*.parquet"))])
    joined = traces.join(kept, on="id")
    best = joined.filter(pl.col("correct") & ~pl.col("truncated")).sort("id", "completion_tokens", "sample").unique("id", keep="first", maintain_order=True)
    counts = {"train": 0, "validation": 0}
    with open(out / "train.jsonl", "w") as train, open(out / "validation.jsonl", "w") as validation:
        for record_id, problem, response in best.select("id", "problem", "response").iter_rows():
            split = "validation" if held_out(record_id) else "train"
            messages = [{"role": "user", "content": problem + " " + INSTRUCTION}, {"role": "assistant", "content": response}]
            (validation if split == "validation" else train).write(json.dumps({"messages": messages}) + "\n")
            counts[split] += 1
    return counts


def curate_export(run: Path, out: Path, fmt: str) -> dict[str, int]:
    from curate.exporting import export_run
    from curate.stages.export import Export

    files = sorted((run / "kept").glob("*.parquet"))
    summary = export_run(Export("bench", format=fmt, validation=VALIDATION), files, run / "traces", "id", out, run="bench", source="bench")
    return {split: f["rows"] for split, f in summary["files"].items()}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: since its exec; ru_maxrss would carry over the parent's peak at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(side: str, fmt: str, run: Path, out: Path) -> dict:
    import polars  # noqa: F401  imports outside the timing, both sides
    import pyarrow.parquet  # noqa: F401

    if side == "curate" or side == "profile":
        import curate.exporting  # noqa: F401
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if side == "profile":
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        started = time.perf_counter()
        rows = profiler.runcall(curate_export, run, out, fmt)
        seconds = time.perf_counter() - started
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(10)
        return {"seconds": seconds, "rows": rows, "profile": text.getvalue()}
    started = time.perf_counter()
    rows = curate_export(run, out, fmt) if side == "curate" else baseline_verl(run, out) if fmt == "verl" else baseline_sft(run, out)
    seconds = time.perf_counter() - started
    written = sum(p.stat().st_size for p in out.iterdir())
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb(), "bytes": written}


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1:3] == ["--child", "build"]:
        build_run(Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        print(json.dumps({}))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=100_000)
    parser.add_argument("--trace-chars", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=["verl", "sft"], default=["verl", "sft"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also cProfile one curate sft export (top 10, cumulative)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="curate-export-bench-") as tmp:
        run, out = Path(tmp) / "run", Path(tmp) / "out"
        started = time.perf_counter()
        in_child(Path(__file__), "build", str(run), str(args.problems), str(args.trace_chars), str(args.seed))  # this process stays small
        size = sum(p.stat().st_size for p in run.rglob("*.parquet"))
        print(f"built {args.problems:,} records, {args.problems * SAMPLES:,} traces ({size / 2**20:,.0f} MiB of parquet) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results = {}
        for fmt in args.formats:
            ours, theirs = [], []
            for repeat in range(args.repeats):  # interleaved, so drift on a shared machine hits both sides
                ours.append(in_child(Path(__file__), "curate", fmt, str(run), str(out)))
                theirs.append(in_child(Path(__file__), "baseline", fmt, str(run), str(out)))
                assert ours[-1]["rows"] == theirs[-1]["rows"], (fmt, ours[-1]["rows"], theirs[-1]["rows"])
                print(
                    f"  {fmt} repeat {repeat + 1}: curate {ours[-1]['seconds']:.1f} s, {ours[-1]['peak_rss_mb']:,.0f} MB, {ours[-1]['bytes'] / 2**20:,.0f} MiB written;"
                    f" baseline {theirs[-1]['seconds']:.1f} s, {theirs[-1]['peak_rss_mb']:,.0f} MB, {theirs[-1]['bytes'] / 2**20:,.0f} MiB written; rows {ours[-1]['rows']}",
                    file=sys.stderr,
                )
            results[fmt] = (sum(ours[0]["rows"].values()), ours, theirs)
        profile = in_child(Path(__file__), "profile", "sft", str(run), str(out)) if args.profile else None

    print(f"export: {args.problems:,} problems in {FILES} files, {SAMPLES} traces each of ~{args.trace_chars:,} chars; medians of {args.repeats}; {date.today().isoformat()}, {os.cpu_count()} CPUs")
    print("| format | rows | curate rows/s | curate s | curate peak RSS MB | baseline rows/s | baseline s | baseline peak RSS MB | speed (baseline s / curate s) | RSS (baseline / curate) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fmt, (rows, ours, theirs) in results.items():
        our_s, their_s = statistics.median(o["seconds"] for o in ours), statistics.median(t["seconds"] for t in theirs)
        our_mb, their_mb = statistics.median(o["peak_rss_mb"] for o in ours), statistics.median(t["peak_rss_mb"] for t in theirs)
        print(
            f"| {fmt} | {rows:,} | {rows / our_s:,.0f} | {our_s:.2f} | {our_mb:,.0f} | {rows / their_s:,.0f} | {their_s:.2f} | {their_mb:,.0f}"
            f" | {their_s / our_s:.2f}x | {their_mb / our_mb:.2f}x |"
        )
    if profile:
        print(f"\ncProfile of one curate sft export ({profile['seconds']:.1f} s under the profiler), top 10 by cumulative time:")
        print(profile["profile"].strip())


if __name__ == "__main__":
    main()
