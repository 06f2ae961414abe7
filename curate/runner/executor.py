"""Executors: where the runner's tasks run. The runner plans phases of tasks and knows nothing of Ray;
an executor runs a phase's tasks and a service stage's batches, and reports each result as it lands.

* `InProcessExecutor` runs everything in this process, one task after another (a service stage's
  batches concurrently on one event loop): no start-up cost, and a debugger steps into any stage.
* `curate.runner.ray_executor.RayExecutor` runs tasks on a local Ray or a cluster.

Both run the same task bodies (`curate.runner.tasks`) and write the same done-markers, so a run directory
does not depend on the executor: a run started on one resumes on the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from curate.errors import CurateError, StageError
from curate.io import write_json
from curate.runner import tasks
from curate.runner.task_results import TaskResult
from curate.stages.base import MapStage, ServiceStage

SERVICE_BATCHES_IN_FLIGHT = 3
"""Per service actor (one client of an endpoint): its requests never wait on a batch boundary."""


@dataclass(frozen=True)
class Task:
    """One task of a phase: `fn(spec)` on a worker, its result then written to `marker`."""

    key: str
    fn: Callable[[Any], Any]
    spec: Any
    marker: str


@dataclass(frozen=True)
class Finished:
    """A finished task: its result, and which node ran it with which versions (results must not
    depend on the node). Its JSON form is the task's done-marker."""

    result: TaskResult
    node: str
    versions: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result.to_json(), "node": self.node, "versions": self.versions}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Finished:
        return Finished(TaskResult.from_json(data["result"]), data["node"], data["versions"])


Done = Callable[[str, Finished], None]
"""Called with (task key, its outcome) as each task finishes, in the driver."""


class Executor(Protocol):
    name: str

    def start(self) -> None:
        """Connect (or start) the workers; before any phase."""

    def stop(self) -> None:
        """Release what `start` took; after the last phase, also on failure."""

    @property
    def cpus(self) -> int:
        """Cores the tasks may use: the runner sizes its partitions and windows by it."""

    def describe(self) -> dict[str, Any]:
        """For the manifest: which executor ran the run, where, on which nodes."""

    def run_tasks(self, tasks: list[Task], done: Done, stages: list[MapStage] | None = None) -> None:
        """Run every task, reporting each result; `stages` replace each spec's `stages` (shared once,
        not sent with every task). The first failure stops the phase and is raised."""

    def run_service(self, stage: ServiceStage, batches: list[Task], run_dir: str, done: Done) -> list[dict[str, Any]]:
        """Every batch through the stage's clients (one per `stage.actors()` entry, a few batches in
        flight each). Returns each client's closing counters."""


def mark_done(result: TaskResult, marker: str, node: str) -> Finished:
    """A task's result, with its node and versions, written as its done-marker (after its outputs)."""
    finished = Finished(result, node, TASK_VERSIONS)
    write_json(finished.to_json(), marker)
    return finished


def run_task(task: Task, stages: list[MapStage] | None, node: str) -> Finished:
    """A task's body on a worker (or in this process), then its done-marker. A task that raises
    (bad input, a failing stage) writes none: a re-run does it again."""
    spec = dataclasses.replace(task.spec, stages=stages) if stages is not None else task.spec
    return mark_done(task.fn(spec), task.marker, node)


def task_failure(err: BaseException) -> CurateError:
    """A task's exception as the run reports it: a curate error as it is, anything else in one line."""
    if isinstance(err, CurateError):
        return err
    return StageError(f"a task failed: {tasks.one_line(err)}")


class InProcessExecutor:
    """Every task in this process, in order. For small inputs, where starting Ray costs more than the
    run, and for stepping through a stage in a debugger (`--executor in-process`)."""

    name = "in-process"

    def __init__(self) -> None:
        self.node = f"in-process:{socket.gethostname()}"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    @property
    def cpus(self) -> int:
        return 1

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "cpus": 1}

    def run_tasks(self, tasks: list[Task], done: Done, stages: list[MapStage] | None = None) -> None:
        for task in tasks:
            try:
                result = run_task(task, stages, self.node)
            except Exception as err:
                raise task_failure(err) from err
            done(task.key, result)

    def run_service(self, stage: ServiceStage, batches: list[Task], run_dir: str, done: Done) -> list[dict[str, Any]]:
        return asyncio.run(self._serve(stage, batches, run_dir, done))

    async def _serve(self, stage: ServiceStage, batches: list[Task], run_dir: str, done: Done) -> list[dict[str, Any]]:
        clients = [ServiceClient(stage, actor, run_dir, self.node) for actor in stage.actors()]
        queue: asyncio.Queue[Task] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)

        async def worker(client: ServiceClient) -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                done(batch.key, await client.run(batch))

        workers = [asyncio.ensure_future(worker(c)) for c in clients for _ in range(SERVICE_BATCHES_IN_FLIGHT)]
        try:
            await asyncio.gather(*workers)
        except BaseException as err:
            for running in workers:
                running.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if isinstance(err, Exception):
                raise task_failure(err) from err
            raise
        return [await client.close() for client in clients]


class ServiceClient:
    """One client of a service stage: opened on its first batch, shared by the batches in flight."""

    def __init__(self, stage: ServiceStage, actor: dict[str, Any], run_dir: str, node: str):
        self.stage, self.actor, self.run_dir, self.node = stage, actor, run_dir, node
        self.state: Any = None
        self.opening: asyncio.Lock | None = None

    async def run(self, batch: Task) -> Finished:
        self.opening = self.opening or asyncio.Lock()
        async with self.opening:
            if self.state is None:
                self.state = await self.stage.open(self.actor, self.run_dir)
        return mark_done(await tasks.run_service_batch(batch.spec, self.stage, self.state), batch.marker, self.node)

    async def close(self) -> dict[str, Any]:
        return await self.stage.close(self.state) if self.state is not None else {}


def _task_versions() -> list[str]:
    import polars as pl

    try:
        curate = metadata.version("curate")
    except metadata.PackageNotFoundError:
        curate = "source"
    return [curate, pl.__version__]


TASK_VERSIONS = _task_versions()
"""What a task's results depend on besides its spec; every node must run the same."""
