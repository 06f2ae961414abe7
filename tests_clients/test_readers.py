"""The run directory and the exports read whole by the readers trainers use: pyarrow, pandas and HF
datasets (current, and 2.x in its own small environment). polars' glob read is in tests/test_outputs.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

DATASETS2 = Path(os.environ.get("CURATE_DATASETS2", Path(sys.executable).parents[1] / "datasets2")) / "bin" / "python"


def _expected(run: Path) -> dict[str, int]:
    stats = json.loads((run / "stats.json").read_text())
    return {"kept": stats["kept"], "removed": stats["removed"]}


def test_pyarrow_and_pandas_read_every_column_of_removed(demo_run):
    expected = _expected(demo_run)
    columns = set()
    for path in (demo_run / "removed").glob("*.parquet"):
        columns |= set(pq.read_schema(path).names)
    assert {"pass_rate", "n_correct", "input_error", "input_raw", "stage", "reason"} <= columns
    for folder in ("kept", "removed"):
        table = pq.read_table(demo_run / folder)
        frame = pd.read_parquet(demo_run / folder)
        assert table.num_rows == len(frame) == expected[folder]
        if folder == "removed":
            assert set(table.column_names) == set(frame.columns) == columns
            stages = frame.groupby("stage")["pass_rate"].apply(lambda s: s.notna().any()).to_dict()
            assert stages["difficulty"] and not stages["exact"]  # scores where the stage ran, nulls before it


def test_datasets_loads_kept_removed_and_exports(demo_run):
    from datasets import load_dataset

    expected = _expected(demo_run)
    for folder in ("kept", "removed"):
        loaded = load_dataset("parquet", data_files=str(demo_run / folder / "*.parquet"), split="train")
        assert loaded.num_rows == expected[folder]
        assert set(loaded.column_names) == set(pq.read_table(demo_run / folder).column_names)
    for name, kind, split in (("rl", "parquet", "train"), ("trl", "parquet", "train"), ("openrlhf", "json", "train"), ("sft", "json", "train")):
        suffix = "jsonl" if kind == "json" else kind
        loaded = load_dataset(kind, data_files=str(demo_run / "exports" / name / f"{split}.{suffix}"), split="train")
        assert loaded.num_rows > 100


LOAD_ALL = """
import json, sys, datasets
run = sys.argv[1]
out = {"version": datasets.__version__}
for folder in ("kept", "removed"):
    out[folder] = datasets.load_dataset("parquet", data_files=f"{run}/{folder}/*.parquet", split="train").num_rows
for name in ("rl", "trl"):
    out[name] = datasets.load_dataset("parquet", data_files=f"{run}/exports/{name}/train.parquet", split="train").num_rows
print(json.dumps(out))
"""


def test_datasets_2x_loads_kept_removed_and_exports(demo_run):
    """datasets 2.x cannot read `large_string` or `large_list`: curate writes the plain types."""
    if not DATASETS2.exists():
        pytest.skip(f"no datasets 2.x environment at {DATASETS2} (`make test-clients` makes it)")
    result = subprocess.run([str(DATASETS2), "-c", LOAD_ALL, str(demo_run)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["version"].startswith("2.")
    assert {k: loaded[k] for k in ("kept", "removed")} == _expected(demo_run)
    assert loaded["rl"] > 100 and loaded["trl"] > 100
