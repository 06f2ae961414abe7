"""What a group stage may ask of the runner: rounds of partitioned reduces over datasets on disk.

A group stage's `decide(engine, keys)` runs on the driver and describes its work as a sequence of
`engine.reduce` calls; the runner turns each into one phase of Ray tasks, one per partition, with
done-markers, so every round resumes like any other phase. `decide` must be deterministic: on resume
it replays the same calls and finds their results on disk.

Datasets are hash-partitioned Parquet files. Two datasets are co-partitioned when they were split by
the same key with the same number of partitions: `engine.reduce` hands partition p of each input to
the same call, which is how joins are done without gathering anything on one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

ReduceFn = Callable[..., "pl.DataFrame | tuple[pl.DataFrame, Mapping[str, float]]"]


@dataclass
class Dataset:
    name: str
    partitions: int
    files: dict[int, list[str]] = field(default_factory=dict)
    """Partition -> its Parquet files (a partition may have none)."""
    without: list[str] = field(default_factory=list)
    """Decision files whose records (`ORDER`) are left out wherever this dataset is read: the keys of
    a group stage that rode in an earlier one's segment, less that stage's removals."""


def partition_of(frame: pl.DataFrame, by: str, partitions: int) -> pl.Series:
    """The partition of each row when a dataset is split by column `by`: the same function everywhere."""
    return (frame[by].hash() % partitions).cast(pl.Int64)


class Engine(Protocol):
    def reduce(
        self,
        name: str,
        inputs: list[Dataset],
        fn: ReduceFn,
        *,
        by: str | None = None,
        partitions: int | None = None,
        publish: str | None = None,
    ) -> tuple[Dataset, dict[str, float]]:
        """For each partition p: `fn(frame of inputs[0] at p, frame of inputs[1] at p, ...)`.

        A frame with no file is empty, with no columns; when all are empty, `fn` is not called. `fn` returns a DataFrame, or a DataFrame and
        counters (summed over partitions and returned). The output is split by `partition_of(by)`
        into `partitions` (default: the inputs'), or, with `by` None, stays at p. With `publish`, the
        output also goes to OUT/<publish>/ when the run completes. `fn` must be picklable (a
        module-level function, or functools.partial of one).
        """
        ...

    @property
    def partitions(self) -> int:
        """The number of partitions the runner chose for this stage's keys."""
        ...

    def report(self, **values: float) -> None:
        """Figures for the stage's entry in stats.json (pairs, clusters, ...)."""
        ...

    def collect(self, dataset: Dataset) -> pl.DataFrame:
        """A small dataset (counts, histograms: never records) read whole on the driver, for decisions
        that need one global figure, such as a quantile. Empty, with no columns, if it has no file."""
        ...


__all__ = ["Dataset", "Engine", "ReduceFn", "partition_of"]
