"""A stage author's kit: run a stage on a few rows exactly as a pipeline runs it, in this process.

    from curate.testing import run_stage
    result = run_stage(MyStage("mine"), [{"id": "a", "text": "..."}, ...])
    result.kept, result.removed, result.stats       # polars frames, and the stage's stats.json entry

`run_stage` runs a one-stage pipeline on the in-process executor: every check the runner makes applies
(the stage contract, declared columns and reasons, a group stage's decisions, the ledger), and a
failure is the `StageError` a real run would stop with. A debugger steps straight into the stage.
`LocalEngine` runs a group stage's `decide` rounds directly, for testing them one by one.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from curate.engine import Dataset, partition_of
from curate.layout import RunLayout
from curate.runner.tasks import StepSpec, reduce_step
from curate.stages.base import Stage


@dataclass
class StageRun:
    """What one stage did to the rows: kept records (with the columns it wrote), removed records (with
    `stage`, `reason` and `duplicate_of`), its stats.json entry, and the whole run's stats."""

    kept: pl.DataFrame
    removed: pl.DataFrame
    stats: dict[str, Any]
    run_stats: dict[str, Any]


def run_stage(
    stage: Stage | dict[str, Any],
    rows: list[dict[str, Any]] | pl.DataFrame,
    *,
    id_field: str = "id",
    workdir: str | Path | None = None,
) -> StageRun:
    """Run `stage` (an instance, or a pipeline entry such as `{"name": "d", "use": "exact_dedup",
    "field": "text"}`) on `rows` as the only stage of a pipeline, in this process. Rows without
    `id_field` get ids r0, r1, ... The run directory is `workdir` (kept), or a temporary one (removed)."""
    from curate.api import Pipeline

    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    if id_field not in frame.columns:
        frame = frame.with_columns(pl.format("r{}", pl.int_range(pl.len())).alias(id_field))
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="curate-stage-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        source = root / "input.parquet"
        frame.write_parquet(source)
        pipeline = Pipeline(name="run_stage", input={"path": str(source), "id_field": id_field}, output=root / "run", stages=[stage])
        run = pipeline.run(executor="in-process", overwrite=True, report=False)
        name = pipeline.config.stages[0].name
        return StageRun(run.kept().collect(), run.removed().collect(), run.stage_stats(name), run.stats)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


class LocalEngine:
    """An `Engine` in this process: a group stage's reduce rounds, run by the runner's own step task.
    `dataset(name, frame, by)` writes a frame as the runner's keys would be, to feed `decide`."""

    def __init__(self, root: Path, partitions: int, stage: str = "stage"):
        self.layout = RunLayout(root)
        self._partitions = partitions
        self.stage = stage
        self.steps: list[str] = []
        self.reports: dict[str, float] = {}

    @property
    def partitions(self) -> int:
        return self._partitions

    def report(self, **values: float) -> None:
        self.reports.update(values)

    def collect(self, dataset: Dataset) -> pl.DataFrame:
        files = [f for p in sorted(dataset.files) for f in dataset.files[p]]
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed") if files else pl.DataFrame()

    def dataset(self, name: str, frame: pl.DataFrame, by: str) -> Dataset:
        """Write `frame` split by `by` as the runner's keys would be."""
        dataset = Dataset(name, self._partitions)
        split = frame.with_columns(partition_of(frame, by, self._partitions).alias("_p"))
        for (p,), part in split.partition_by("_p", as_dict=True, include_key=False).items():
            path = self.layout.work / "input" / name / f"p{p}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            part.write_parquet(path)
            dataset.files[p] = [str(path)]
        return dataset

    def reduce(self, name, inputs, fn, *, by=None, partitions=None, publish=None):
        self.steps.append(name)
        count = inputs[0].partitions
        out = Dataset(name, partitions or count)
        counters: dict[str, float] = {}
        for p in range(count):
            result = reduce_step(StepSpec(self.stage, "test", name, p, [d.files.get(p, []) for d in inputs], fn, by, out.partitions, self.layout, publish))
            for target, path in result.files.items():
                out.files.setdefault(int(target), []).append(path)
            for key, value in result.counters.items():
                counters[key] = counters.get(key, 0) + value
        return out, counters

    def read(self, dataset: Dataset) -> pl.DataFrame:
        files = [f for p in sorted(dataset.files) for f in dataset.files[p]]
        return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()
