"""`generate` throughput against the loopback OpenAI-compatible test server, beside the batch-barrier pattern.

    .venv/bin/python benchmarks/generate_throughput.py [--requests 20000] [--concurrency 256] [--repeats 1]

The server (tests/helpers/openai_server.py, its own process) replays the real MATH responses of
../shared/data/math/traces (synthetic ones if absent) after a latency drawn uniformly from [0.2, 3] s
per request. In the same run, on the same prompts:

- curate: `curate run` with one `generate` stage (n = 8 samples per problem, max_concurrency 256), a
  fresh local Ray on 2 CPUs and an empty cache; throughput = requests / the generation phase's time
  (end to end also reported). Ideal = concurrency / mean latency.
- baseline: the same `openai.AsyncOpenAI` client (same connection pool size), `asyncio.gather` over
  fixed batches of 256 requests, in a fresh process: every batch waits for its slowest request.

Then both again with zero server latency: completions/s on this machine. Client CPU per 1,000
completions and peak RSS are those of the process that holds the client (curate: the stage's actor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DATA, ENV, ROOT, in_child

SHARED = ROOT.parent / "shared" / "data"
TRACES = SHARED / "math" / "traces" / "qwen25math_math_cot_100x8.jsonl"
CURATE = str(Path(sys.executable).with_name("curate"))
N = 8
BATCH = 256
PROMPT = "{{problem}}\n\nPlease reason step by step, and put your final answer within \\boxed{}."


def problems(count: int) -> list[str]:
    base = [json.loads(line)["question"] for line in TRACES.open()] if TRACES.exists() else [f"What is {i} + {i}?" for i in range(100)]
    return [f"{base[i % len(base)]} (Problem {i}.)" for i in range(count)]


def run_curate(base_url: str, records: int, concurrency: int, work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with (work / "in.jsonl").open("w") as f:
        for i, problem in enumerate(problems(records)):
            f.write(json.dumps({"id": f"p{i}", "problem": problem}) + "\n")
    (work / "p.yaml").write_text(
        f"name: bench\ninput: {work / 'in.jsonl'}\noutput: {work / 'out'}\nstages:\n"
        f"  - name: generate\n    use: generate\n    model: bench\n    n: {N}\n    seed: 0\n    max_tokens: 2048\n"
        f"    max_concurrency: {concurrency}\n    cache_dir: {work / 'cache'}\n"
    )
    started = time.perf_counter()
    done = subprocess.run([CURATE, "run", str(work / "p.yaml"), "--quiet", "--num-cpus", "2"], env={**ENV, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench"}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"curate run failed:\n{done.stderr[-3000:]}")
    stats = json.loads((work / "out" / "stats.json").read_text())
    stage = stats["stages"][1]
    phase = next(p for p in stats["phases"] if p["phase"] == "service-generate")
    assert stage["samples"] == records * N and not stage["failures"], stage
    return {"seconds": phase["seconds"], "wall": wall, "requests": stage["requests"], "cpu": stage["client_cpu_seconds"], "rss_mb": stage["client_peak_rss_mb"], "peak_in_flight": stage["peak_in_flight"]}


def baseline_child(base_url: str, records: int) -> dict:
    """The batch-barrier pattern, as in many generation scripts: gather 256 requests, then the next 256."""
    import openai

    from curate.llm.endpoint import _limits

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, http_client=openai.DefaultAsyncHttpxClient(limits=_limits(BATCH)))
        requests = [(p, s) for p in problems(records) for s in range(N)]
        done = 0
        for start in range(0, len(requests), BATCH):
            batch = requests[start : start + BATCH]
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(model="bench", messages=[{"role": "user", "content": PROMPT.replace("{{problem}}", p)}], n=1, seed=s, max_tokens=2048, temperature=1.0)
                    for p, s in batch
                )
            )
            done += sum(1 for r in replies if r.choices)
        await client.close()
        return done

    cpu, started = time.process_time(), time.perf_counter()
    done = asyncio.run(main())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "requests": done, "cpu": time.process_time() - cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(latency: list[float], requests: int, concurrency: int, repeats: int) -> dict:
    from tests.helpers.openai_server import start_server

    records = requests // N
    ours, theirs = [], []
    replay = [str(TRACES)] if TRACES.exists() else []
    for repeat in range(repeats):
        with start_server(replay=replay, latency=latency, latency_seed=repeat) as server:
            ours.append(run_curate(server.base_url, records, concurrency, DATA / "generate-bench"))
            server.reset()
            theirs.append(in_child(Path(__file__), "baseline", server.base_url, str(records)))
            assert theirs[-1]["requests"] == requests
        print(f"  repeat {repeat + 1}: curate {requests / ours[-1]['seconds']:.1f} req/s, baseline {requests / theirs[-1]['seconds']:.1f} req/s", file=sys.stderr)
    shutil.rmtree(DATA / "generate-bench", ignore_errors=True)
    median = lambda runs, key: statistics.median(r[key] for r in runs)
    return {
        "curate_rps": requests / median(ours, "seconds"),
        "curate_rps_end_to_end": requests / median(ours, "wall"),
        "baseline_rps": requests / median(theirs, "seconds"),
        "curate_cpu_per_1k": median(ours, "cpu") / (requests / 1000),
        "baseline_cpu_per_1k": median(theirs, "cpu") / (requests / 1000),
        "curate_rss_mb": median(ours, "rss_mb"),
        "baseline_rss_mb": median(theirs, "rss_mb"),
        "curate_peak_in_flight": max(r["peak_in_flight"] for r in ours),
        "runs": {"curate": ours, "baseline": theirs},
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(baseline_child(sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, nargs=2, default=[0.2, 3.0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if not TRACES.exists():
        print(f"note: {TRACES} not found; the server answers with synthetic responses", file=sys.stderr)

    print(f"generate: {args.requests:,} requests ({args.requests // N:,} problems x {N}), concurrency {args.concurrency}, latency uniform {args.latency} s, medians of {args.repeats}")
    spread = measure(args.latency, args.requests, args.concurrency, args.repeats)
    ideal = args.concurrency / (sum(args.latency) / 2)
    print(f"  ideal (concurrency / mean latency)   {ideal:8.1f} req/s")
    print(f"  curate generate phase                {spread['curate_rps']:8.1f} req/s  = {spread['curate_rps'] / ideal:.1%} of ideal (target >= 90%)")
    print(f"  curate end to end (Ray start-up in)  {spread['curate_rps_end_to_end']:8.1f} req/s  = {spread['curate_rps_end_to_end'] / ideal:.1%} of ideal")
    print(f"  baseline, gather over batches of {BATCH} {spread['baseline_rps']:8.1f} req/s  -> curate {spread['curate_rps'] / spread['baseline_rps']:.2f}x (target >= 1.5x)")
    print(f"  client CPU per 1,000 completions      curate {spread['curate_cpu_per_1k']:.2f} s, baseline {spread['baseline_cpu_per_1k']:.2f} s")
    print(f"  client peak RSS                       curate actor {spread['curate_rss_mb']:.0f} MB, baseline process {spread['baseline_rss_mb']:.0f} MB")
    print(f"  peak requests in flight (curate)      {spread['curate_peak_in_flight']}")

    zero = measure([0.0, 0.0], args.requests, args.concurrency, args.repeats)
    print("zero server latency:")
    print(f"  curate generate phase                {zero['curate_rps']:8.1f} completions/s (end to end {zero['curate_rps_end_to_end']:.1f})")
    print(f"  baseline                             {zero['baseline_rps']:8.1f} completions/s")
    print(f"  client CPU per 1,000 completions      curate {zero['curate_cpu_per_1k']:.2f} s, baseline {zero['baseline_cpu_per_1k']:.2f} s")
    print(json.dumps({"spread": {k: v for k, v in spread.items() if k != "runs"}, "zero": {k: v for k, v in zero.items() if k != "runs"}}))


if __name__ == "__main__":
    main()
