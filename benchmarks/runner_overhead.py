"""Runner overhead: a no-op pipeline over 1 M short records, side by side with Ray Data and pyarrow
(on Ray, and in-process); the same over 4 M records (memory must not grow with the corpus); and the
wall time of `curate run` on a 10-record pipeline (start-up cost) on each executor, beside a bare
`ray.init()` + `ray.shutdown()` in the same run.

    .venv/bin/python benchmarks/runner_overhead.py [--records 1000000] [--repeats 3] [--startup-only]

Every measurement runs in a fresh process with a fresh local Ray (2 CPUs), so each is the first job
of its Ray session. Throughput excludes starting Ray (measured apart, by the 10-record run); peak RSS
is the sum over the process and all its descendants (driver, GCS, raylet, workers), sampled every
50 ms. The machine is shared and noisy: medians of the repeats are reported, with ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DATA, ENV, PeakRss

CURATE = str(Path(sys.executable).with_name("curate"))


def measure(mode: str, source: str, out: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    if mode == "pyarrow":
        import pyarrow.parquet as pq

        rss = PeakRss()
        start = time.perf_counter()
        table = pq.read_table(source)
        pq.write_table(table, out)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": table.num_rows, "peak_rss": rss.finish()}

    if mode == "curate-in-process":
        import curate

        rss = PeakRss()
        pipeline = curate.Pipeline(name="noop", input={"path": source}, output=out, stages=[{"name": "noop", "use": "filter", "keep": "true"}])
        start = time.perf_counter()
        result = pipeline.run(executor="in-process")
        return {"seconds": time.perf_counter() - start, "rows": result.stats["kept"], "peak_rss": rss.finish()}

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rss = PeakRss()
    if mode == "raydata":
        start = time.perf_counter()
        ds = ray.data.read_parquet(source).map_batches(lambda batch: batch, batch_format="pyarrow")
        ds.write_parquet(out)
        seconds = time.perf_counter() - start
        rows = sum(pq_rows for pq_rows in (_parquet_rows(p) for p in Path(out).glob("*.parquet")))
    else:
        import curate

        pipeline = curate.Pipeline(name="noop", input={"path": source}, output=out, stages=[{"name": "noop", "use": "filter", "keep": "true"}])
        start = time.perf_counter()
        result = pipeline.run()
        seconds = time.perf_counter() - start
        rows = result.stats["kept"]
    peak = rss.finish()
    ray.shutdown()
    return {"seconds": seconds, "rows": rows, "peak_rss": peak}


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# ---------------------------------------------------------------- the parent


def make_data(records: int) -> dict[str, Path]:
    import polars as pl

    DATA.mkdir(exist_ok=True)
    paths = {
        "parquet": DATA / f"short-{records}.parquet",
        "jsonl": DATA / f"short-{records}.jsonl",
        "parquet4": DATA / f"short-{4 * records}.parquet",
        "tiny": DATA / "tiny" / "ten.jsonl",
    }
    for path, count in ((paths["parquet"], records), (paths["parquet4"], 4 * records)):
        if not path.exists():
            frame = pl.DataFrame({"id": [f"r{i}" for i in range(count)], "text": [f"short record number {i} with a few words" for i in range(count)]})
            frame.write_parquet(path, row_group_size=100_000)
            if count == records:
                frame.write_ndjson(paths["jsonl"])
    paths["tiny"].parent.mkdir(exist_ok=True)
    paths["tiny"].write_text("".join(json.dumps({"id": f"t{i}", "text": f"ten records, number {i}"}) + "\n" for i in range(10)))
    return paths


def child(mode: str, source: Path) -> dict:
    out = DATA / f"out-{mode}"
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(source), str(out)], env=ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def startup(repeats: int, tiny: Path) -> dict[str, list[float]]:
    pipeline = DATA / "tiny.yaml"
    pipeline.write_text(
        f"name: tiny\ninput:\n  path: {tiny}\noutput: {DATA / 'out-tiny'}\nstages:\n"
        "  - name: exact\n    use: exact_dedup\n    field: text\n"
    )
    in_process, on_ray = "curate run (10 records), in-process (what auto picks)", "curate run (10 records), --executor ray (a local Ray)"
    times: dict[str, list[float]] = {in_process: [], on_ray: [], "ray.init + ray.shutdown only": [], "curate run (10 records), joining a running Ray": []}
    for _ in range(repeats):  # interleaved, so that noise hits every case alike
        for name, executor in ((in_process, "auto"), (on_ray, "ray")):
            start = time.perf_counter()
            done = subprocess.run([CURATE, "run", str(pipeline), "--overwrite", "--quiet", "--executor", executor], env=ENV, capture_output=True, text=True)
            times[name].append(time.perf_counter() - start)
            if done.returncode:
                raise SystemExit(done.stderr)
            if json.loads((DATA / "out-tiny" / "manifest.json").read_text())["executor"]["executor"] != ("in-process" if executor == "auto" else "ray"):
                raise SystemExit(f"--executor {executor} ran on another executor")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import ray; ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False); ray.shutdown()"],
            env=ENV, capture_output=True, check=True,
        )
        times["ray.init + ray.shutdown only"].append(time.perf_counter() - start)
    # A Ray of its own, stopped by ending its process group (never `ray stop`, which stops every Ray here).
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard", "false", "--port", "6390"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(8)
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run([CURATE, "run", str(pipeline), "--overwrite", "--quiet", "--ray-address", "127.0.0.1:6390"], env=ENV, capture_output=True, text=True)
            times["curate run (10 records), joining a running Ray"].append(time.perf_counter() - start)
            if done.returncode:
                raise SystemExit(done.stderr)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        # `ray start` leaves this pointing at the head just stopped: a later ray.init(num_cpus=...)
        # without an address would try to join it and fail (a second `make bench` did)
        current = Path("/tmp/ray/ray_current_cluster")
        if current.exists() and current.read_text().strip().endswith(":6390"):
            current.unlink()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true", help="only the start-up table")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return

    paths = make_data(args.records)
    if args.startup_only:
        return print_startup(startup(max(args.repeats, 5), paths["tiny"]), max(args.repeats, 5))
    cases = [
        ("curate no-op, Parquet in", "curate", paths["parquet"]),
        ("curate no-op, JSONL in", "curate", paths["jsonl"]),
        ("curate no-op, Parquet in, in-process (one core, no Ray)", "curate-in-process", paths["parquet"]),
        ("Ray Data read → map_batches → write (Parquet)", "raydata", paths["parquet"]),
        ("pyarrow read → write (Parquet, one process)", "pyarrow", paths["parquet"]),
        (f"curate no-op, Parquet in, {4 * args.records:,} records", "curate", paths["parquet4"]),
    ]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
    for _ in range(args.repeats):  # interleaved, so that noise hits every case alike
        for name, mode, source in cases:
            result = child(mode, source)
            assert result["rows"] == (4 if source == paths["parquet4"] else 1) * args.records, (name, result)
            results[name].append(result)

    print(f"\n## Runner overhead: {args.records:,} short records, 2 CPUs, median of {args.repeats}\n")
    print("| pipeline | seconds | records/s | peak RSS, all processes | vs Ray Data |")
    print("|---|---:|---:|---:|---:|")
    ray_data = statistics.median(r["seconds"] for name, mode, _ in cases if mode == "raydata" for r in results[name])
    for name, _, source in cases:
        count = (4 if source == paths["parquet4"] else 1) * args.records
        seconds = statistics.median(r["seconds"] for r in results[name])
        rss = statistics.median(r["peak_rss"] for r in results[name]) / 2**30
        ratio = f"{ray_data / seconds:.2f}×" if count == args.records else "—"
        print(f"| {name} | {seconds:.2f} | {count / seconds:,.0f} | {rss:.2f} GiB | {ratio} |")

    print_startup(startup(max(args.repeats, 5), paths["tiny"]), max(args.repeats, 5))


def print_startup(times: dict[str, list[float]], repeats: int) -> None:
    bare = statistics.median(times["ray.init + ray.shutdown only"])
    print(f"\n## Start-up: wall time of a whole command, median of {repeats}\n")
    print("| command | median s | min s | max s | vs bare ray.init + shutdown |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | {statistics.median(values) / bare:.2f}× |")


if __name__ == "__main__":
    main()
