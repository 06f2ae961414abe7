"""Phases: a named list of tasks, run by an executor, each skipped when its done-marker exists.

This is where resume lives: a task's result is its done-marker, written by the worker after the task's
outputs (atomically, under names fixed by the plan). A re-run after a crash or `kill -9` reads the
markers back instead of running those tasks again, so its outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from curate import faults
from curate.errors import StageError
from curate.layout import RunLayout
from curate.runner.executor import TASK_VERSIONS, Executor, Finished, Task
from curate.runner.task_results import ServiceBatchResult, TaskResult
from curate.stages.base import MapStage, ServiceStage

log = logging.getLogger("curate")

R = TypeVar("R", bound=TaskResult)


class Progress(Protocol):
    """The runner's view of progress; the CLI plugs in a rich display, the API may plug in nothing."""

    def phase(self, label: str, total: int, done: int, counts_records: bool) -> Any:
        """A new phase of `total` tasks, `done` of them resumed; returns the handle `advance` gets."""

    def advance(self, handle: Any, records: int = 0) -> None:
        """One more task of the phase done, with the records it handled."""

    def close(self) -> None:
        """The run ended (or failed)."""


class NoProgress:
    def phase(self, label: str, total: int, done: int, counts_records: bool) -> Any:
        return None

    def advance(self, handle: Any, records: int = 0) -> None:
        pass

    def close(self) -> None:
        pass


class Phases:
    """Runs the run's phases on an executor, with resume, progress, and a record of each phase."""

    def __init__(self, layout: RunLayout, executor: Executor, progress: Progress):
        self.layout, self.executor, self.progress = layout, executor, progress
        self.tasks = {"total": 0, "resumed": 0}
        self.record: list[dict[str, Any]] = []
        self.nodes: set[str] = set()

    def run(
        self,
        name: str,
        label: str,
        tasks: Sequence[tuple[str, Callable[[Any], R], Any]],
        *,
        stages: list[MapStage] | None = None,
        counts_records: bool = True,
    ) -> dict[str, R]:
        """Run the tasks that have no done-marker yet; return every task's result by key. `stages` go
        to the workers once and replace each spec's `stages` (numpy state, such as an n-gram index, is
        then shared by the workers of a node, not copied per task)."""
        resumed, waiting = self._resume(name, label, [key for key, _, _ in tasks])
        results: dict[str, R] = resumed  # type: ignore[assignment]  # the markers of these tasks hold R
        todo = [Task(key, fn, spec, waiting[key]) for key, fn, spec in tasks if key in waiting]
        handle = self.progress.phase(label, len(tasks), len(results), counts_records)
        started = time.perf_counter()

        def done(key: str, finished: Finished) -> None:
            result = self._noted(finished)
            results[key] = result  # type: ignore[assignment]  # fn returned R
            self.progress.advance(handle, result.progress if result.counts_records else 0)

        self.executor.run_tasks(todo, done, stages if todo else None)
        self.record.append({"phase": name, "tasks": len(tasks), "resumed": len(tasks) - len(todo), "seconds": round(time.perf_counter() - started, 3)})
        faults.point(f"phase:{name}")
        return results

    def serve(
        self, stage: ServiceStage, batches: list[tuple[str, Any]], on_result: Callable[[ServiceBatchResult], None]
    ) -> tuple[dict[str, ServiceBatchResult], list[dict[str, Any]], float, bool]:
        """A service stage's batches through its clients. Returns every batch's result by name, the
        clients' closing counters, the phase's seconds, and whether any batch ran (not all resumed)."""
        phase = f"service-{stage.name}"
        resumed, waiting = self._resume(phase, stage.name, [name for name, _ in batches])
        results = {name: result for name, result in resumed.items() if isinstance(result, ServiceBatchResult)}
        todo = [Task(name, _no_body, spec, waiting[name]) for name, spec in batches if name in waiting]
        handle = self.progress.phase(f"{stage.name} ({stage.use})", len(batches), len(results), True)
        started = time.perf_counter()

        def done(name: str, finished: Finished) -> None:
            result = self._noted(finished)
            assert isinstance(result, ServiceBatchResult)
            results[name] = result
            self.progress.advance(handle, result.rows)
            on_result(result)

        closing = self.executor.run_service(stage, todo, str(self.layout.root), done) if todo else []
        seconds = time.perf_counter() - started
        self.record.append({"phase": phase, "tasks": len(batches), "resumed": len(batches) - len(todo), "seconds": round(seconds, 3)})
        faults.point(f"phase:{phase}")
        return results, closing, seconds, bool(todo)

    def _resume(self, phase: str, label: str, keys: list[str]) -> tuple[dict[str, TaskResult], dict[str, str]]:
        """The results of the phase's tasks that have a done-marker, and the marker path of each that has not."""
        results: dict[str, TaskResult] = {}
        waiting: dict[str, str] = {}
        for key in keys:
            marker = self.layout.done(phase, key)
            if marker.exists():
                results[key] = self._noted(Finished.from_json(json.loads(marker.read_text())))
            else:
                waiting[key] = str(marker)
        if results and waiting:
            log.info("%s: resuming, %d of %d tasks already done", label, len(results), len(keys))
        self.tasks["total"] += len(keys)
        self.tasks["resumed"] += len(results)
        return results, waiting

    def _noted(self, finished: Finished) -> TaskResult:
        """Which node ran a task, and with which versions: results must not depend on the node."""
        self.nodes.add(finished.node)
        if finished.versions != TASK_VERSIONS:
            raise StageError(f"a node runs curate/polars {finished.versions}, the driver {TASK_VERSIONS}: every node needs the same versions")
        return finished.result


def _no_body(spec: Any) -> Any:
    raise AssertionError("a service batch runs in its stage's client, not as a task")
