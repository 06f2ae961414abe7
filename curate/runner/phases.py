"""Phases: a named list of tasks, run by an executor, each skipped when its done-marker exists.

This is where resume lives: a task's result is its done-marker, written by the worker after the task's
outputs (atomically, under names fixed by the plan). A re-run after a crash or `kill -9` reads the
markers back instead of running those tasks again, so its outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from curate import faults
from curate.errors import InputError, StageError
from curate.runner.executor import TASK_VERSIONS, Executor, Task
from curate.runner.layout import RunLayout
from curate.stages.base import MapStage, ServiceStage

log = logging.getLogger("curate")


class Progress:
    """The runner's view of progress; the CLI plugs in a rich display, the API may plug in nothing."""

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
        tasks: list[tuple[str, Callable[[Any], Any], Any]],
        *,
        records: Callable[[dict[str, Any]], int] | None = None,
        stages: list[MapStage] | None = None,
    ) -> dict[str, Any]:
        """Run the tasks that have no done-marker yet; return every task's result by key. `stages` go
        to the workers once and replace each spec's `stages` (numpy state, such as an n-gram index, is
        then shared by the workers of a node, not copied per task)."""
        results, waiting = self._resume(name, label, [key for key, _, _ in tasks])
        todo = [Task(key, fn, spec, waiting[key]) for key, fn, spec in tasks if key in waiting]
        handle = self.progress.phase(label, len(tasks), len(results), records is not None)
        started = time.perf_counter()

        def done(key: str, result: Any) -> None:
            if isinstance(result, dict) and "error" in result:
                raise InputError(result["error"])
            results[key] = self._noted(result)
            self.progress.advance(handle, records(result) if records else 0)

        self.executor.run_tasks(todo, done, stages if todo else None)
        self.record.append({"phase": name, "tasks": len(tasks), "resumed": len(tasks) - len(todo), "seconds": round(time.perf_counter() - started, 3)})
        faults.point(f"phase:{name}")
        return results

    def serve(self, stage: ServiceStage, batches: list[tuple[str, Any]], on_result: Callable[[dict[str, Any]], None]) -> tuple[dict[str, Any], list[dict[str, Any]], float, bool]:
        """A service stage's batches through its clients. Returns every batch's result by name, the
        clients' closing counters, the phase's seconds, and whether any batch ran (not all resumed)."""
        phase = f"service-{stage.name}"
        results, waiting = self._resume(phase, stage.name, [name for name, _ in batches])
        todo = [Task(name, _no_body, spec, waiting[name]) for name, spec in batches if name in waiting]
        handle = self.progress.phase(f"{stage.name} ({stage.use})", len(batches), len(results), True)
        started = time.perf_counter()

        def done(name: str, result: Any) -> None:
            results[name] = self._noted(result)
            self.progress.advance(handle, result["rows"])
            on_result(result)

        closing = self.executor.run_service(stage, todo, str(self.layout.root), done) if todo else []
        seconds = time.perf_counter() - started
        self.record.append({"phase": phase, "tasks": len(batches), "resumed": len(batches) - len(todo), "seconds": round(seconds, 3)})
        faults.point(f"phase:{phase}")
        return results, closing, seconds, bool(todo)

    def _resume(self, phase: str, label: str, keys: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """The results of the phase's tasks that have a done-marker, and the marker path of each that has not."""
        results: dict[str, Any] = {}
        waiting: dict[str, str] = {}
        for key in keys:
            marker = self.layout.done(phase, key)
            if marker.exists():
                results[key] = self._noted(json.loads(marker.read_text()))
            else:
                waiting[key] = str(marker)
        if results and waiting:
            log.info("%s: resuming, %d of %d tasks already done", label, len(results), len(keys))
        self.tasks["total"] += len(keys)
        self.tasks["resumed"] += len(results)
        return results, waiting

    def _noted(self, result: Any) -> Any:
        """Which node ran a task, and with which versions: results must not depend on the node."""
        if isinstance(result, dict) and "node" in result:
            self.nodes.add(result.pop("node"))
            versions = result.pop("versions")
            if versions != TASK_VERSIONS:
                raise StageError(f"a node runs curate/polars {versions}, the driver {TASK_VERSIONS}: every node needs the same versions")
        return result


def _no_body(spec: Any) -> Any:
    raise AssertionError("a service batch runs in its stage's client, not as a task")
