"""The first run after a fresh install: numba's kernels compiled with empty caches, beside a cached run
(issue 15, item 6), for this checkout and optionally another.

    .venv/bin/python benchmarks/first_run.py [--baseline DIR] [--repeats 3] [--skip-modules]

* `curate run pipelines/near-dedup.yaml` on 10 made-up records (a few exact and near duplicates, one
  non-ASCII text), each in a fresh process with a fresh local Ray (all cores): "cold" with
  NUMBA_CACHE_DIR pointed at a new empty directory (nothing compiled yet, as after `pip install`),
  then "warm" again with the directory the cold run filled. Target: cold at most 2x warm.
* The cold compile time of each kernel module (`curate/kernels/*.py`), in a fresh process with an
  empty cache, through the public code paths every stage uses (MinHash words and characters, band
  keys, shingle sets; decontamination's index and overlap; the Gopher, C4 and FineWeb filter sets).
  Each compile (numba's own library functions it pulls in included) counts for the kernel module
  that asked for it; numba's one-off start-up (about 0.5 s in any process that runs a kernel, cached
  or not) is shown apart.

Each checkout's own code runs (`--baseline`: a `git worktree add DIR COMMIT` of an older commit), the
checkouts interleaved; medians of `--repeats`. The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The venv's editable install of curate finds `curate` before sys.path does: the child drops that
# finder and puts the checkout first (as benchmarks/command_latency.py does).
_PRELUDE = (
    "import sys; sys.meta_path = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__name__', '') + type(f).__module__]; "
    "sys.path.insert(0, {checkout!r}); "
)
_RUN = _PRELUDE + "sys.argv = {argv!r}; import runpy; runpy.run_module('curate.cli', run_name='__main__')"
_MODULES = _PRELUDE + "sys.argv = ['first_run', '--modules-child']; import runpy; runpy.run_path({script!r}, run_name='__main__')"

WORDS = "the river ran past a stone mill where seven old workers ground grain for the village market every autumn".split()


def records() -> list[dict[str, str]]:
    """10 texts of 40-60 words: 6 distinct, 2 exact duplicates (one differing in case and spacing),
    1 near duplicate (its last word changed), 1 with non-ASCII characters."""
    texts = []
    for i in range(6):
        texts.append(" ".join(WORDS[(i * 7 + k * (i + 3)) % len(WORDS)] for k in range(40 + 4 * i)))
    texts.append(texts[0])
    texts.append("  " + texts[1].upper().replace(" ", "  ") + " ")
    near = texts[2].split()
    near[-1] = "mill-pond"
    texts.append(" ".join(near))
    texts.append("Ærø: " + texts[3].replace("village", "village café"))
    return [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)]


def env(cache: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    out.update(NUMBA_CACHE_DIR=str(cache), RAY_USAGE_STATS_ENABLED="0")
    return out


def timed_run(checkout: Path, data: Path, out: Path, cache: Path) -> float:
    argv = ["curate", "run", str(checkout / "pipelines" / "near-dedup.yaml"), "--input", str(data), "--output", str(out), "--overwrite", "--quiet"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUN.format(checkout=str(checkout), argv=argv)], cwd=checkout, env=env(cache), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{checkout}: curate run failed:\n{done.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    if (stats["input"], stats["kept"]) != (10, 7):
        sys.exit(f"{checkout}: expected 10 records in, 7 kept; got {stats['input']} in, {stats['kept']} kept")
    return seconds


def module_times(checkout: Path, cache: Path) -> dict[str, float]:
    code = _MODULES.format(checkout=str(checkout), script=str(Path(__file__).resolve()))
    done = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env(cache), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{checkout}: compiling the kernels failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def modules_child() -> None:
    """In a fresh process with an empty cache: every kernel compiled through its public code path;
    prints {module: seconds} as JSON."""
    import numba as nb
    from numba.core import event

    started = time.perf_counter()
    nb.njit(lambda x: x + 1)(1)  # numba's own start-up, paid once per process
    seconds: dict[str, float] = {"numba start-up": time.perf_counter() - started}
    stack: list[list] = []  # [kernel module or None, start, time of nested compiles]

    class Listener(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            module = ev.data["dispatcher"].py_func.__module__
            owner = module if module.startswith("curate.kernels.") else (stack[-1][0] if stack else None)
            stack.append([owner, time.perf_counter(), 0.0])

        def on_end(self, ev: event.Event) -> None:
            owner, start, nested = stack.pop()
            total = time.perf_counter() - start
            if stack:
                stack[-1][2] += total
            name = (owner or "other").removeprefix("curate.kernels.")
            seconds[name] = seconds.get(name, 0.0) + total - nested

    event.register("numba:compile", Listener())
    import polars as pl

    from curate.stages.filter_set import FilterSet
    from curate.text.minhash import MinHasher, band_keys
    from curate.text.ngrams import ItemIndex
    from curate.text.normalize import non_ascii_rows

    texts = pl.Series([r["text"] for r in records()])
    non_ascii_rows(texts)
    for tokenize in ("words", "chars"):
        hasher = MinHasher(tokenize=tokenize)
        signatures, _ = hasher.signatures(texts)
        band_keys(signatures, 9, 13)
        hasher.shingle_sets(texts)
    index = ItemIndex.build(texts[:3], 5, 5, 10)
    index.overlap(texts)
    for name in ("gopher-quality", "gopher-repetition", "c4", "fineweb"):
        FilterSet(name, path=name, rewrite=name == "c4").apply(pl.DataFrame({"text": texts}))
    print(json.dumps(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (git worktree add DIR COMMIT)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-modules", action="store_true", help="only the pipeline runs")
    parser.add_argument("--modules-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.modules_child:
        return modules_child()
    checkouts = {"this checkout": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    times: dict[str, dict[str, list[float]]] = {name: {"cold": [], "warm": []} for name in checkouts}
    modules: dict[str, dict[str, list[float]]] = {name: {} for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="curate-first-run-") as tmp:
        data = Path(tmp) / "ten.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records()))
        for repeat in range(args.repeats):
            for name, checkout in checkouts.items():
                cache = Path(tmp) / f"numba-{repeat}-{name.replace(' ', '-')}"
                out = Path(tmp) / "run"
                times[name]["cold"].append(timed_run(checkout, data, out, cache))
                times[name]["warm"].append(timed_run(checkout, data, out, cache))
                print(f"# {name}, repeat {repeat + 1}: cold {times[name]['cold'][-1]:.2f} s, warm {times[name]['warm'][-1]:.2f} s", file=sys.stderr)
                if not args.skip_modules:
                    for module, seconds in module_times(checkout, Path(tmp) / f"modules-{repeat}-{name.replace(' ', '-')}").items():
                        modules[name].setdefault(module, []).append(seconds)
    medians = {name: {kind: statistics.median(values) for kind, values in runs.items()} for name, runs in times.items()}
    print(f"`curate run pipelines/near-dedup.yaml` on 10 records, median of {args.repeats}:\n")
    print("| checkout | cold (empty numba cache) | warm (cached) | cold / warm |")
    print("|---|---:|---:|---:|")
    for name, m in medians.items():
        print(f"| {name} | {m['cold']:.2f} s | {m['warm']:.2f} s | {m['cold'] / m['warm']:.2f}x |")
    if args.skip_modules:
        return
    print(f"\nCold compile time per kernel module (one process, every kernel), median of {args.repeats}:\n")
    names = sorted({m for per in modules.values() for m in per}, key=lambda m: (m == "numba start-up", m == "other", m))
    print(f"| module | {' | '.join(checkouts)} |")
    print("|---|" + "---:|" * len(checkouts))
    for module in names:
        cells = " | ".join(f"{statistics.median(modules[n][module]):.2f} s" if module in modules[n] else "-" for n in checkouts)
        print(f"| {module} | {cells} |")
    totals = " | ".join(f"{sum(statistics.median(v) for k, v in modules[n].items() if k != 'numba start-up'):.2f} s" for n in checkouts)
    print(f"| all kernels | {totals} |")


if __name__ == "__main__":
    main()
