"""An in-process Engine: the runner's reduce rounds, without Ray (for unit tests of group stages)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.engine import Dataset, partition_of
from curate.runner.layout import RunLayout
from curate.runner.tasks import StepSpec, reduce_step


class LocalEngine:
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
            for target, path in result["files"].items():
                out.files.setdefault(int(target), []).append(path)
            for key, value in result["counters"].items():
                counters[key] = counters.get(key, 0) + value
        return out, counters

    def read(self, dataset: Dataset) -> pl.DataFrame:
        files = [f for p in sorted(dataset.files) for f in dataset.files[p]]
        return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()
