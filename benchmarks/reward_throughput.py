"""curate's reward functions as the trainers call them, beside a sequential run, on the real traces.

    .venv/bin/python benchmarks/reward_throughput.py [--copies 5] [--repeats 3]

The 800 Qwen2.5-Math responses of ../shared/data/math/traces, repeated `copies` times. Each case runs
in a fresh process (its verifier workers start inside the timing, as in a trainer's first step):
- sequential: `compute_score` once per response, one thread (verl's naive manager without threads);
- 16 threads: `compute_score` once per response from a pool of 16 threads (verl's naive manager and
  OpenRLHF's reward function call like this);
- batch: verl's batch manager's one call with every response.
Every case must pay exactly what the sequential one pays (asserted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ENV, ROOT

TRACES = ROOT.parent / "shared" / "data" / "math" / "traces" / "qwen25math_math_cot_100x8.jsonl"
CASES = ("sequential", "16 threads", "batch")


def child(case: str, copies: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from curate.rewards import compute_score

    responses, references = [], []
    for line in TRACES.read_text().splitlines():
        record = json.loads(line)
        responses += record["response"] * copies
        references += [record["answer"]] * len(record["response"]) * copies
    started = time.perf_counter()
    if case == "sequential":
        paid = [compute_score("x", r, g) for r, g in zip(responses, references)]
    elif case == "16 threads":
        with ThreadPoolExecutor(16) as pool:
            paid = list(pool.map(lambda pair: compute_score("x", *pair), zip(responses, references)))
    else:
        paid = compute_score(data_sources=["x"] * len(responses), solution_strs=responses, ground_truths=references, extra_infos=[None] * len(responses))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "items": len(paid), "paid": sum(paid), "digest": hash(tuple(paid))}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    results: dict[str, list[dict]] = {case: [] for case in CASES}
    for _ in range(args.repeats):
        for case in CASES:  # interleaved: the machine's load falls on every case alike
            out = subprocess.run([sys.executable, __file__, "--child", case, str(args.copies)], env={**ENV, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=True)
            results[case].append(json.loads(out.stdout.splitlines()[-1]))
    base = statistics.median(r["seconds"] for r in results["sequential"])
    paid = {r["digest"] for rs in results.values() for r in rs}
    assert len(paid) == 1, "a case paid differently from the sequential run"
    items = results["sequential"][0]["items"]
    print(f"rewards on {items:,} real traces ({args.copies} copies of 800), medians of {args.repeats}; every case paid the same {results['sequential'][0]['paid']:,.0f}")
    print("| calls | seconds | responses/s | vs sequential |")
    print("|---|---:|---:|---:|")
    for case in CASES:
        seconds = statistics.median(r["seconds"] for r in results[case])
        print(f"| {case} | {seconds:.2f} | {items / seconds:,.0f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
