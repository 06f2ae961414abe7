"""`verify` throughput beside math-verify called sequentially, on the same real traces.

    .venv/bin/python benchmarks/verify_throughput.py [--copies 20] [--repeats 3]

Traces: the 800 Qwen2.5-Math responses of ../shared/data/math/traces (100 MATH problems x 8) and the
5,276 GPT-3 GSM8K solutions (1,319 problems x 4), each repeated `copies` times under new ids.

- baseline: math-verify in one process, main thread, its own timeouts on: `verify(parse(gold), parse(response))`
  per trace, the gold wrapped in `$...$` (for GSM8K, the text after the last `A:` of each side).
- curate: `curate run` of one `verify` stage (response_field: the shipped responses) on 2 CPUs, a fresh
  local Ray each time; the stage's phase time (its verifier processes' start-up included), and end to end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DATA, ENV, ROOT, in_child

SHARED = ROOT.parent / "shared" / "data" / "math" / "traces"
CURATE = str(Path(sys.executable).with_name("curate"))


def records(kind: str, copies: int) -> list[dict]:
    out = []
    if kind == "math":
        rows = [json.loads(line) for line in (SHARED / "qwen25math_math_cot_100x8.jsonl").open()]
        for c in range(copies):
            out += [{"id": f"{c}-{r['idx']}", "answer": r["answer"], "responses": r["response"]} for r in rows]
    else:
        rows = [json.loads(line) for line in (SHARED / "gsm8k_gpt3_solutions.jsonl").open()]
        for c in range(copies):
            for i, r in enumerate(rows):
                solutions = [v["solution"] for v in r.values() if isinstance(v, dict) and "solution" in v]
                out.append({"id": f"{c}-{i}", "answer": r["ground_truth"].rsplit("A:", 1)[-1].strip(), "responses": solutions})
    return out


def baseline_child(kind: str, copies: int) -> dict:
    from math_verify import parse, verify

    items = [(r["answer"], response) for r in records(kind, copies) for response in r["responses"]]
    if kind == "gsm8k":
        items = [(gold, response.rsplit("A:", 1)[-1]) for gold, response in items]
    parse("$1$")  # imports
    started = time.perf_counter()
    correct = sum(bool(verify(parse(f"${gold}$"), parse(response))) for gold, response in items)
    return {"seconds": time.perf_counter() - started, "items": len(items), "correct": correct}


def run_curate(kind: str, copies: int) -> dict:
    work = DATA / "verify-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with (work / "in.jsonl").open("w") as f:
        for record in records(kind, copies):
            f.write(json.dumps(record) + "\n")
    extract = "[answer_line]" if kind == "gsm8k" else "[boxed, final_answer]"
    (work / "p.yaml").write_text(
        f"name: bench\ninput: {{path: {work / 'in.jsonl'}, chunk_bytes: 1000000}}\noutput: {work / 'out'}\n"
        f"stages:\n  - name: verify\n    use: verify\n    response_field: responses\n    extract: {extract}\n"
    )
    started = time.perf_counter()
    done = subprocess.run([CURATE, "run", str(work / "p.yaml"), "--quiet", "--num-cpus", "2"], env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    stats = json.loads((work / "out" / "stats.json").read_text())
    phase = next(p for p in stats["phases"] if p["phase"] == "segment-0")
    stage = stats["stages"][1]
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": phase["seconds"], "wall": wall, "correct": stage["verdicts"].get("correct", 0), "items": sum(stage["verdicts"].values())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(baseline_child(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"verify: the real traces x {args.copies}, medians of {args.repeats}, 2 cores")
    print("| traces | items | math-verify sequential, items/s | curate verify phase, items/s | ratio | curate end to end, items/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("math", "gsm8k"):
        theirs = [in_child(Path(__file__), kind, str(args.copies)) for _ in range(args.repeats)]
        ours = [run_curate(kind, args.copies) for _ in range(args.repeats)]
        items = theirs[0]["items"]
        assert ours[0]["items"] == items, (ours[0], theirs[0])
        base = items / statistics.median(t["seconds"] for t in theirs)
        phase = items / statistics.median(o["seconds"] for o in ours)
        wall = items / statistics.median(o["wall"] for o in ours)
        print(f"| {kind} | {items:,} | {base:,.0f} | {phase:,.0f} | {phase / base:.2f}x | {wall:,.0f} |")
        print(f"  correct: baseline {theirs[0]['correct']:,}, curate {ours[0]['correct']:,}", file=sys.stderr)


if __name__ == "__main__":
    main()
