"""Step labels: requests of full Math-Shepherd estimation and of binary search, on the same real traces.

    .venv/bin/python benchmarks/step_labels_requests.py [--n 8] [--latency 0.2 3.0]

Traces: the 800 Qwen2.5-Math responses to 100 MATH problems (../shared/data/math/traces), verified
against the references, every one labelled (`label: all`, `max_traces: null`), steps cut `auto`
with at most 12. The loopback server plays the policy: a prefix of a real trace is continued with
the rest of a real trace of the same problem (chosen by the request's key, so both modes get the same
continuation for the same prefix and sample), a prefix no real trace has with a wrong answer.

Reports requests per trace for `search: full` and `search: binary` at equal n, how often both find
the same first bad step, and the labelling phase's requests per second against the ideal at the
endpoint's concurrency (256 requests in flight, latency drawn from --latency: mean 1.6 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from benchmarks.trace_defects import SHARED

QWEN = SHARED / "math" / "traces" / "qwen25math_math_cot_100x8.jsonl"


def run(search: str, n: int, base_url: str, work: Path) -> tuple[pl.DataFrame, dict, float]:
    import curate

    rows = [json.loads(line) for line in QWEN.read_text().splitlines()]
    source = work / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{i}", "problem": r["question"], "answer": r["gt"], "responses": r["response"]}) + "\n" for i, r in enumerate(rows)))
    stages = [
        {"name": "verify", "use": "verify", "response_field": "responses"},
        {"name": "steps", "use": "step_labels", "model": "m", "base_url": base_url, "n": n, "search": search, "max_traces": None,
         "max_concurrency": 256, "cache": False},
    ]
    started = time.perf_counter()
    result = curate.run({"name": f"steps-{search}", "input": str(source), "output": str(work / search), "stages": stages}, executor="in-process", overwrite=True)
    seconds = time.perf_counter() - started
    traces = result.traces().collect().select("id", "sample", "correct", "first_error_step", "step_labels", "step_requests")
    return traces, result.stage_stats("steps"), seconds


def main() -> None:
    from tests.helpers.openai_server import start_server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--latency", type=float, nargs=2, default=[0.2, 3.0])
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    results = {}
    with tempfile.TemporaryDirectory() as work, start_server(replay=[str(QWEN)], latency=args.latency) as server:
        for search in ("full", "binary"):
            server.reset()
            traces, stats, seconds = run(search, args.n, server.base_url, Path(work))
            results[search] = (traces, stats, seconds, server.stats()["requests"])
    full, binary = results["full"][0], results["binary"][0]
    labelled = full.filter(pl.col("step_labels").is_not_null())
    both = labelled.join(binary.select("id", "sample", pl.col("first_error_step").alias("binary_first")), on=["id", "sample"])
    same = int((both["first_error_step"].eq_missing(both["binary_first"])).sum())
    wrong = both.filter(~pl.col("correct"))
    same_wrong = int((wrong["first_error_step"].eq_missing(wrong["binary_first"])).sum())
    print(f"traces labelled: {labelled.height} of {full.height} ({int((~labelled['correct']).sum())} wrong); n = {args.n}")
    for search in ("full", "binary"):
        traces, stats, seconds, requests = results[search]
        print(f"  {search:6s}: {stats['step_requests']:6d} requests, {stats['step_requests'] / max(labelled.height, 1):6.1f} per trace; "
              f"labelling {stats['seconds']:6.1f} s, {requests / stats['seconds']:6.1f} requests/s (ideal at 256 in flight: {256 / (sum(args.latency) / 2):.1f}); "
              f"{seconds:6.1f} s end to end")
    print(f"  binary / full requests: {results['binary'][1]['step_requests'] / max(results['full'][1]['step_requests'], 1):.1%} (target <= 40%)")
    print(f"  same first bad step: {same} of {both.height} traces ({same / max(both.height, 1):.1%}; target >= 95%); of the wrong ones {same_wrong} of {wrong.height} "
          f"({same_wrong / max(wrong.height, 1):.1%})")
    right = both.filter(pl.col("correct") & pl.col("first_error_step").is_not_null())
    print(f"  correct traces full mode still marks a bad step in (every completion of a prefix missed): {right.height}")


if __name__ == "__main__":
    main()
