"""How long the commands that only read take, beside another checkout of curate (issue 15's targets).

    .venv/bin/python benchmarks/command_latency.py [--baseline DIR] [--run demo/math-rl] [--repeats 5]

Each command is a fresh process running `curate.cli` (the console script's own entry) from this
checkout or from `--baseline` (a `git worktree` of an older commit), timed from start to exit,
interleaved, medians of `--repeats`: `curate --help`, `curate stats RUN`, `curate explain
RUN ID` (the run's first kept record) and `import curate.config` (what reading a pipeline costs).
Targets: stats and explain at most 0.5 s on the demo run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# The venv's editable install of curate finds `curate` before sys.path does: the child drops that
# finder and puts the checkout first, then runs the command as `python -m` or `-c` would.
_CHILD = (
    "import sys; sys.meta_path = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__name__', '') + type(f).__module__]; "
    "sys.path.insert(0, {checkout!r}); sys.argv = {argv!r}; "
    "import runpy; runpy.run_module('curate.cli', run_name='__main__') if sys.argv[0] == 'curate' else exec(sys.argv[1])"
)


def timed(checkout: Path, args: list[str]) -> float:
    argv = ["curate", *args[2:]] if args[:2] == ["-m", "curate.cli"] else ["-c", args[1]]
    code = _CHILD.format(checkout=str(checkout), argv=argv)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{checkout}: {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (git worktree add DIR COMMIT)")
    parser.add_argument("--run", type=Path, default=ROOT / "demo" / "math-rl")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.run / "stats.json").exists():
        sys.exit(f"{args.run}: no finished run (make demo makes demo/math-rl)")
    import polars as pl

    first = pl.read_parquet(sorted((args.run / "kept").glob("*.parquet"))[0], columns=["id"])["id"][0]
    commands = {
        "curate --help": ["-m", "curate.cli", "--help"],
        "curate stats RUN": ["-m", "curate.cli", "stats", str(args.run)],
        "curate explain RUN ID": ["-m", "curate.cli", "explain", str(args.run), str(first)],
        "import curate.config": ["-c", "import curate.config"],
    }
    checkouts = {"this checkout": ROOT} | ({"baseline": args.baseline} if args.baseline else {})
    print(f"| command | {' | '.join(checkouts)} |" + (" ratio |" if args.baseline else ""))
    print("|---|" + "---:|" * (len(checkouts) + (1 if args.baseline else 0)))
    for label, command in commands.items():
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                times[name].append(timed(checkout, command))
        medians = {name: statistics.median(values) for name, values in times.items()}
        cells = " | ".join(f"{m:.2f} s" for m in medians.values())
        ratio = f" {medians['baseline'] / medians['this checkout']:.1f}x |" if args.baseline else ""
        print(f"| {label} | {cells} |{ratio}")


if __name__ == "__main__":
    main()
