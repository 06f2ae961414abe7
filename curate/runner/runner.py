"""The runner: plans a pipeline into tasks over shards, runs them on an executor, checks the ledger, publishes.

Design (why tasks over shards, not Ray Data streaming):

* **Resume.** A task's outputs have names fixed by the plan and are written atomically; the task then
  writes a done-marker. A re-run after a crash or `kill -9` skips every task with a marker, so
  completed work is not redone and the outputs equal an uninterrupted run's (`curate.runner.phases`).
  Ray Data has no checkpoint of a streaming job's progress.
* **Every record accounted for.** A task splits its shard into kept and removed files and reports the
  counts per stage; a streaming `map_batches` has one output, so removed records would be a side
  channel anyway.
* **Deterministic.** Shards depend only on the input files (never on the cluster or the executor), each
  shard keeps input order, and group stages see keys partitioned by hash: the result is the same on 1
  or 100 workers, in this process or on Ray.
* **Bounded memory.** A task holds one shard (≤ 64 MB of input); group stages shuffle only their keys
  through files, `KEY % partitions`, and reduce one partition per task. The driver holds task
  metadata only. The run directory must be visible to every node (a local disk for one machine, a
  shared mount for a cluster).

Phases: ingest (read + validate every chunk) → unique ids (shuffle + reduce) → segments: each shard
through [the decisions of the last group stage] + map stages + [the keys of the next group stage] →
group reduce → … → conform (one schema per output folder) → verify (read back every output file) →
publish (rename into place). A service stage (an LLM endpoint) also ends a segment: its phase streams
batches of the segment's output through long-lived clients, several batches in flight each, and each
batch becomes a shard of its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from curate import io as cio
from curate.columns import INPUT_STAGE, REMOVED_COLUMNS
from curate.config import PipelineConfig
from curate.engine import Dataset
from curate.errors import ConfigError, InputError, StageError
from curate.layout import RunLayout
from curate.runner import checks, exports, ledger, planning, rundir, task_results, tasks
from curate.runner.executor import TASK_VERSIONS, Executor, InProcessExecutor
from curate.runner.phases import NoProgress, Phases, Progress
from curate.runner.planning import Shard
from curate.stages.base import ExportStage, GroupStage, ServiceStage

log = logging.getLogger("curate")

EXECUTORS = ("auto", "ray", "in-process")
IN_PROCESS_MAX_BYTES = 4 << 20
"""`--executor auto` runs inputs up to this size in this process: one chunk (CHUNK_MIN), so Ray would
run each phase as one task anyway, and its start-up (seconds) would cost more than the run."""
IN_PROCESS_MAX_BYTES_SERVICE = 256 << 10
"""... and with a service stage, whose batches fan out over the cores after it (verification)."""


class Runner:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        ray_address: str | None = None,
        num_cpus: int | None = None,
        overwrite: bool = False,
        progress: Progress | None = None,
        executor: str = "auto",
    ):
        if executor not in EXECUTORS:
            raise ConfigError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
        self.config = config
        # absolute: tasks on other nodes (or workers started elsewhere) must find the same directory
        self.layout = RunLayout(Path(config.output).expanduser().resolve())
        self.rundir = rundir.RunDirectory(self.layout)
        self.ray_address = ray_address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.overwrite = overwrite
        self.progress = progress or NoProgress()
        self.executor_choice = executor
        # exports write the finished run: they run after the ledger balances and are not in the ledger
        self.stages = [s for s in config.stages if not isinstance(s, ExportStage)]
        self.exports = [s for s in config.stages if isinstance(s, ExportStage)]

    # ------------------------------------------------------------ entry point

    def run(self) -> dict[str, Any]:
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        skipped: list[dict[str, str]] = []
        files = cio.find_input_files(self.config.input.path, self.config.input.format, exclude=self.layout.root, skipped=skipped)
        self.skipped_inputs = checks.skipped_summary(skipped)
        if skipped:
            log.warning("input: skipped %d file(s) in input directories: %s", len(skipped), "; ".join(f"{v['files']} {why}, e.g. {v['example']}" for why, v in self.skipped_inputs["by_why"].items()))
        self._prepare_stages()
        fingerprint = rundir.fingerprint(self.config, files, TASK_VERSIONS)
        self.rundir.check_usable()
        exports.check_destinations(self.exports, self.layout)
        try:
            with self.rundir.lock():
                created = self.rundir.claim()
                self.rundir.recover()
                try:
                    finished = self.rundir.prepare(fingerprint, self.overwrite)
                    if finished is not None:
                        return exports.refresh(self.exports, finished, self.layout, self.config.input.id_field, self.config.name, self._export_progress)
                    checks.check_empty_files(files, self.config.input.on_error)
                    chunks = cio.plan_chunks(files, planning.chunk_bytes(files, self.config.input.chunk_bytes))
                    if self.layout.plan.exists():
                        started_at = datetime.fromisoformat(json.loads(self.layout.plan.read_text())["started"])
                    else:
                        cio.write_json({"fingerprint": fingerprint, "started": started_at.isoformat(), "chunks": len(chunks)}, self.layout.plan)
                    warming = self._warm_up()
                    executor = self._executor(files)
                    try:
                        executor.start()
                        try:
                            return self._execute(executor, files, chunks, fingerprint, started_at, started, warming)
                        finally:
                            executor.stop()
                    except Exception:
                        warming.join()  # a run that fails early leaves no thread in a stage's code (an interrupt does not wait)
                        raise
                except (InputError, ConfigError):
                    # the input or the pipeline must change before a re-run, which then cannot resume: keep
                    # nothing. Still under the lock, and after every task of this run has stopped.
                    self.rundir.discard_failed_start(created)
                    raise
        finally:
            self.progress.close()

    def _execute(
        self, executor: Executor, files: list[cio.InputFile], chunks: list[cio.Chunk], fingerprint: str, started_at: datetime, started: float, warming: threading.Thread
    ) -> dict[str, Any]:
        config = self.config
        self.phases = Phases(self.layout, executor, self.progress)
        book = ledger.Ledger([(INPUT_STAGE, "read")] + [(s.name, s.use) for s in self.stages], {s.name: s.reasons() for s in self.stages})
        options = cio.ReadOptions(
            text_fields=config.text_fields(),
            id_field=config.input.id_field,
            id_explicit=config.id_field_explicit,
            quarantine=config.input.on_error == "quarantine",
            rename=dict(config.input.rename),
        )
        id_partitions = planning.id_partitions(cio.estimated_records(chunks))
        results, digests = self._ingest(files, chunks, options, id_partitions, book)
        total_input = sum(r.records + r.bad for r in results)
        if options.quarantine:
            checks.check_bad_share(chunks, results, config.input.max_bad_fraction)
        input_ids = ledger.EMPTY
        for result in results:
            input_ids = ledger.add(input_ids, result.ids)
        by_path = {f.path: str(i) for i, f in enumerate(files)}
        shards = [
            Shard(
                p.shard, str(self.layout.input_part(p.shard)), p.rows, p.lo, p.hi, [], raw=True,
                source=(chunk, p.part, options, digests[by_path[chunk.file.path]].chunks[str(chunk.index)]) if p.virtual else None,
            )
            for chunk, r in zip(chunks, results)
            for p in r.parts
        ]
        schema = checks.unified_schema([s.base for s in shards], config.stages)
        id_decisions, ids_delta = self._check_ids(chunks, results, options, id_partitions, book)
        warming.join()  # before the first task that runs a stage
        kept_rows = self._run_segments(shards, schema, id_decisions, options, book)
        self._conform_outputs()
        self._check_ledger(book, total_input, kept_rows, ledger.add(input_ids, ids_delta), options.id_field)
        stats = {
            "pipeline": config.name,
            "input": total_input,
            "kept": kept_rows,
            "removed": total_input - kept_rows,
            "removed_by_reason": book.removed_by_reason(),
            "stages": book.stage_dicts(),
            "input_files": len(files),
            **({"input_skipped": self.skipped_inputs} if self.skipped_inputs["files"] else {}),
            "seconds": round(time.perf_counter() - started, 3),
            "tasks": dict(self.phases.tasks),
            "phases": self.phases.record,
            "ledger": "balanced",
        }
        if self.exports:
            stats["exports"] = {s.name: exports.export(s, self.layout, config.input.id_field, config.name, True, self._export_progress) for s in self.exports}
        where = {**executor.describe(), "nodes_used": sorted(self.phases.nodes)}
        sha256 = [digests[str(i)].sha256 for i in range(len(files))]
        by_file = {f.path: i for i, f in enumerate(files)}
        chunk_files = [by_file[c.file.path] for c in sorted(chunks, key=lambda c: c.index)]
        self.rundir.publish(stats, rundir.manifest(config, files, sha256, fingerprint, started_at, where, chunk_files))
        return stats

    # ------------------------------------------------------------ phases

    def _ingest(
        self, files: list[cio.InputFile], chunks: list[cio.Chunk], options: cio.ReadOptions, id_partitions: int, book: ledger.Ledger
    ) -> tuple[list[task_results.IngestResult], dict[str, task_results.DigestResult]]:
        """Every chunk read and validated before any stage runs; and each file's digest, for the manifest."""
        work: list[tuple[str, Any, Any]] = [(str(c.index), tasks.ingest, tasks.IngestSpec(c, options, self.layout, id_partitions)) for c in chunks]
        spans: dict[str, dict[int, tuple[int, int]]] = {f.path: {} for f in files}
        for chunk in chunks:
            if chunk.file.format == "parquet":
                spans[chunk.file.path][chunk.index] = chunk.span
        # in the same phase, overlapped with the reads
        work += [(f"digest-{i}", tasks.digest, cio.DigestSpec(f, spans[f.path])) for i, f in enumerate(files)]
        ingested = self.phases.run("ingest", "read input", work)
        # the files were read as planned: none grew, shrank or was rewritten meanwhile
        cio.check_unchanged(files)
        digests = {str(i): ingested[f"digest-{i}"] for i in range(len(files))}
        results = [ingested[str(c.index)] for c in chunks]
        for result in results:
            book.add(result.stages)
        checks.check_blank_files(files, chunks, [r.records + r.bad for r in results], self.config.input.on_error)
        return results, digests

    def _check_ids(
        self, chunks: list[cio.Chunk], results: list[task_results.IngestResult], options: cio.ReadOptions, id_partitions: int, book: ledger.Ledger
    ) -> tuple[tasks.DecisionSet, ledger.Fingerprint]:
        """Ids are unique: a shuffle by id hash, a reduce per partition. Returns the decisions (repeats to
        quarantine under their position ids) and the id fingerprint change."""
        chunk_sources = planning.chunk_sources(chunks, [r.lines for r in results])
        paths: dict[int, list[str]] = {}
        for result in results:
            for partition, files in result.shuffle.items():
                paths.setdefault(int(partition), []).extend(files)

        def spec(partition: int) -> tasks.IdCheckSpec:
            return tasks.IdCheckSpec(partition, sorted(paths.get(partition, [])), self.layout, options.quarantine, chunk_sources)

        checked = self.phases.run("ids", "check ids are unique", [(str(p), tasks.check_ids, spec(p)) for p in range(id_partitions)], counts_records=False)
        delta = ledger.EMPTY
        for check in checked.values():
            delta = ledger.add(delta, check.ids_delta)
            book.add({INPUT_STAGE: {"seconds": check.seconds}})
        return tasks.DecisionSet(INPUT_STAGE, sorted(p for r in checked.values() for p in r.decisions)), delta

    def _run_segments(self, shards: list[Shard], schema: dict[str, pl.DataType], record: tasks.DecisionSet | None, options: cio.ReadOptions, book: ledger.Ledger) -> int:
        """Each shard through [decisions of the last group stages] + map stages + [keys of the next group
        stage, and of the group stages riding with it], then those stages' reduces, one after the other;
        the last segment writes kept/. Returns the records kept."""
        layout = self.layout
        kept_rows = 0
        records = [record] if record is not None else []
        for index, segment in enumerate(planning.segments(self.stages)):
            maps, boundary = segment.maps, segment.boundary
            final = boundary is None
            group = boundary if isinstance(boundary, GroupStage) else None
            partitions = planning.key_partitions(sum(s.rows for s in shards))
            specs = []
            for shard in shards:
                # before a service stage, always written: its clients read slices of one plain file
                written = maps or isinstance(boundary, ServiceStage)
                output = str(layout.kept_part(shard.name)) if final else str(layout.segment_part(index, shard.name)) if written else None
                spec = tasks.SegmentSpec(
                    shard=shard.name,
                    base=shard.base,
                    lo=shard.lo,
                    hi=shard.hi,
                    layout=layout,
                    id_field=options.id_field,
                    schema=schema if shard.raw else None,
                    source=shard.source,
                    settled=shard.settled,
                    records=records,
                    stages=[],  # sent once per phase (shared below), not with every task
                    group=group,
                    riders=segment.riders,
                    partitions=partitions,
                    output=output,
                    final=final,
                )
                specs.append((shard.name, tasks.run_segment, spec))
            ends = " + ".join(f"{g.name} keys" for g in [group, *segment.riders] if g) if group else f"{boundary.name} input" if boundary is not None else "write kept"
            label = " → ".join([s.name for s in maps] + [ends])
            done = self.phases.run(f"segment-{index}", label, specs, stages=maps)
            # the workers' seconds spent reading shards again and writing them: where a segment's time goes
            self.phases.record[-1]["read_seconds"] = round(sum(r.read_seconds for r in done.values()), 3)
            self.phases.record[-1]["write_seconds"] = round(sum(r.write_seconds for r in done.values()), 3)
            next_shards = []
            for shard in shards:
                result = done[shard.name]
                book.add(result.stages)
                if final:
                    kept_rows += result.rows
                elif result.rows and result.output:  # rewritten by its map stages
                    next_shards.append(Shard(shard.name, result.output, result.rows, shard.lo, shard.hi, []))
                elif result.rows:  # untouched: the same file, with these decisions applied on reading
                    next_shards.append(Shard(shard.name, shard.base, result.rows, shard.lo, shard.hi, shard.settled + records, shard.raw, shard.source))
            if final:
                return kept_rows
            if isinstance(boundary, ServiceStage):
                shards, records = self._run_service_stage(boundary, next_shards, options.id_field, book), []
                continue
            assert group is not None
            keys = _key_sets([done[shard.name].shuffle or {} for shard in shards], partitions)
            decisions = group.decide(_PhaseEngine(self, group, partitions, book), keys)
            records = [tasks.DecisionSet(group.name, checks.check_decisions(group, decisions))]
            for rider in segment.riders:  # each on the keys of what the stages before it kept
                found = _key_sets([done[shard.name].rider_shuffle.get(rider.name, {}) for shard in shards], partitions)
                removed = [path for r in records for path in r.paths]
                keys = {name: Dataset(name, d.partitions, d.files, without=removed) for name, d in found.items()}
                decisions = rider.decide(_PhaseEngine(self, rider, partitions, book), keys)
                records.append(tasks.DecisionSet(rider.name, checks.check_decisions(rider, decisions), counts_in=True))
            shards = next_shards
        raise AssertionError("the last segment always writes kept/")

    def _run_service_stage(self, stage: ServiceStage, shards: list[Shard], id_field: str, book: ledger.Ledger) -> list[Shard]:
        """Batches of every shard through the stage's clients. Each batch is resumable on its own, and
        becomes a shard of the next segment. Returns those shards, in input order."""
        size = stage.batch_records()
        batches = []
        for shard in shards:
            for number, offset in enumerate(range(0, shard.rows, size)):
                name = f"{shard.name}-b{number:05d}"
                output = str(self.layout.service_part(stage.name, name))
                batches.append((name, tasks.ServiceBatchSpec(name, shard.base, offset, min(size, shard.rows - offset), self.layout, id_field, output)))
        warned = False

        def warn_once(result: task_results.ServiceBatchResult) -> None:
            nonlocal warned
            counters = result.stages[stage.name].get("counters") or {}
            if counters.get("retry_after_cut") and not warned:
                warned = True
                log.warning("stage %r: the endpoint asked to wait %.0f s before retrying (Retry-After); "
                            "waiting max_retry_after = %.0f s instead", stage.name, counters["peak_retry_after_asked"], getattr(stage.params, "max_retry_after", 0))

        results, closing, seconds, ran = self.phases.serve(stage, batches, warn_once)
        for name, _ in batches:
            book.add(results[name].stages)
        for values in closing:
            book.add({stage.name: {"counters": values}})
        book.add({stage.name: {"seconds": seconds}})
        extra = book.stages[stage.name].extra
        if ran and extra.get("samples"):
            extra["samples_per_second"] = round((extra["samples"] - extra.get("cache_hits", 0)) / seconds, 2)
        return [
            Shard(name, result.output, result.rows, result.lo, result.hi, [])
            for name, _ in batches
            if (result := results[name]).rows and result.output is not None
        ]

    def _conform_outputs(self) -> None:
        """kept/, removed/ and traces/ each of one schema: a file of removed/ has every column of the run
        (null where the stage that removed its records ran before the one that adds it), so pyarrow,
        pandas, polars' glob read and `datasets` return every column rather than dropping or failing.
        Only files that lack a column are rewritten (on math-rl, those of the stages before the last)."""
        kept = sorted(str(p) for p in self.layout.staged_kept.glob("*.parquet"))
        removed = sorted(str(p) for p in self.layout.staged_removed.glob("*.parquet"))
        traces = sorted(str(p) for p in self.layout.staged("traces").glob("*.parquet"))
        footers = {path: pq.read_schema(path) for path in kept + removed + traces}
        work = []
        for folder, paths, sources in (("kept", kept, kept), ("removed", removed, kept + removed), ("traces", traces, traces)):
            try:
                schema = cio.common_schema([footers[p] for p in sources], last=REMOVED_COLUMNS if folder == "removed" else ())
            except TypeError as err:
                raise StageError(f"the files of {folder}/ disagree on a column's type, so no one schema holds them: {err}") from None
            if any(footers[p] != schema for p in paths):
                work += [(f"{folder}-{i}", tasks.conform_files, tasks.ConformSpec(batch, schema)) for i, batch in enumerate(planning.batches(paths))]
        if work:
            self.phases.run("conform", "give every output file its folder's columns", work)

    def _check_ledger(self, book: ledger.Ledger, total_input: int, kept_rows: int, input_ids: ledger.Fingerprint, id_field: str) -> None:
        """From the tasks' reports, then from the staged files themselves: nothing published otherwise."""
        book.check_counts(total_input, kept_rows)
        kept = self._verify(sorted(str(p) for p in self.layout.staged_kept.glob("*.parquet")), id_field, removed=False)
        removed = self._verify(sorted(str(p) for p in self.layout.staged_removed.glob("*.parquet")), id_field, removed=True)
        by_reason = {(k.partition("\t")[0], k.partition("\t")[2]): v for k, v in removed.by_reason.items()}
        ledger.check_files(book, input_ids, kept.rows, kept.ids, removed.ids, by_reason)

    def _verify(self, paths: list[str], id_field: str, removed: bool) -> task_results.VerifyResult:
        """The staged files read back: rows, id fingerprint and (removed/) counts by stage and reason."""
        phase = f"verify-{'removed' if removed else 'kept'}"
        work = [(str(i), tasks.verify_files, tasks.VerifySpec(batch, id_field, removed)) for i, batch in enumerate(planning.batches(paths))]
        total = task_results.VerifyResult(0, ledger.EMPTY, {})
        for result in self.phases.run(phase, f"check {'removed' if removed else 'kept'} files", work).values():
            total.rows += result.rows
            total.ids = ledger.add(total.ids, result.ids)
            for key, count in result.by_reason.items():
                total.by_reason[key] = total.by_reason.get(key, 0) + count
        return total

    # ------------------------------------------------------------ helpers

    def _executor(self, files: list[cio.InputFile]) -> Executor:
        """`auto`: this process for a small input, unless a Ray is named or already connected (its
        start-up is then paid, and its cores are free)."""
        choice = self.executor_choice
        if choice == "auto":
            small = IN_PROCESS_MAX_BYTES_SERVICE if any(isinstance(s, ServiceStage) for s in self.stages) else IN_PROCESS_MAX_BYTES
            size = sum(f.size for f in files)
            choice = "in-process" if not self.ray_address and not _ray_connected() and size <= small else "ray"
            if choice == "in-process":
                log.info("running in this process: the input (%s bytes) is at most %s bytes (--executor ray to use Ray)", f"{size:,}", f"{small:,}")
        if choice == "in-process":
            return InProcessExecutor()
        from curate.runner.ray_executor import RayExecutor

        return RayExecutor(self.ray_address, self.num_cpus)

    def _prepare_stages(self) -> None:
        """Each stage's one-off work on the driver (a decontamination index): once per run, shared by all tasks."""
        for stage in self.config.stages:
            try:
                stage.prepare()
            except (ValueError, OSError) as err:
                raise ConfigError(f"stage {stage.name!r} ({stage.use}): {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None

    def _warm_up(self) -> threading.Thread:
        """Compile the stages' numba kernels here, in a thread overlapping Ray's start-up, the reads and
        the id check, and before any task runs a stage: each kernel is then compiled once per machine
        (numba caches it on disk, beside the module or in NUMBA_CACHE_DIR, which Ray's workers on this
        node share), not once per worker: on a first run after an install, every worker would compile
        the same kernels at once (about 6 s of CPU each for near-dedup's). With the cache filled this
        only loads them. A failure here is left to the task that meets it."""

        def warm() -> None:
            for stage in self.stages:
                try:
                    stage.warm_up()
                except Exception as err:
                    log.debug("stage %r: warm-up failed: %s", stage.name, err)

        thread = threading.Thread(target=warm, name="curate-warm-up", daemon=True)
        thread.start()
        return thread

    def _export_progress(self, label: str, total: int) -> Any:
        handle = self.progress.phase(label, total, 0, True)
        return lambda records: self.progress.advance(handle, records)


class _PhaseEngine:
    """The runner's side of `curate.engine.Engine`: each reduce call is one resumable phase."""

    def __init__(self, runner: Runner, stage: GroupStage, partitions: int, book: ledger.Ledger):
        self.runner, self.stage, self._partitions, self.book = runner, stage, partitions, book
        self.names: set[str] = set()

    @property
    def partitions(self) -> int:
        return self._partitions

    def report(self, **values: float) -> None:
        self.book.stages[self.stage.name].extra.update(values)

    def collect(self, dataset: Dataset) -> pl.DataFrame:
        return tasks.read_dataset_files([f for p in sorted(dataset.files) for f in dataset.files[p]], dataset.without)

    def reduce(self, name: str, inputs: list[Dataset], fn: Any, *, by: str | None = None, partitions: int | None = None, publish: str | None = None) -> tuple[Dataset, dict[str, float]]:
        if name in self.names or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", name):
            raise StageError(f"stage {self.stage.name!r}: engine step name {name!r} must be unique within the stage, of letters, digits, '_' and '-'")
        self.names.add(name)
        width = {d.partitions for d in inputs}
        if len(width) != 1:
            raise StageError(f"stage {self.stage.name!r}: step {name!r} joins datasets split into different numbers of partitions {sorted(width)}")
        count = width.pop()
        out = partitions or count
        work = [
            (str(p), tasks.reduce_step, tasks.StepSpec(self.stage.name, self.stage.use, name, p, [d.files.get(p, []) for d in inputs], fn, by, out, self.runner.layout, publish, [d.without for d in inputs]))
            for p in range(count)
        ]
        results = self.runner.phases.run(f"{self.stage.name}.{name}", f"{self.stage.name} {name}", work)
        dataset, counters = Dataset(name, out), dict[str, float]()
        for key in sorted(results, key=int):
            result = results[key]
            self.book.add(result.stages)
            for target, path in result.files.items():
                dataset.files.setdefault(int(target), []).append(path)
            for counter, value in result.counters.items():
                counters[counter] = counters.get(counter, 0) + value
        return dataset, counters


def _key_sets(shuffles: list[dict[str, dict[str, str]]], partitions: int) -> dict[str, Dataset]:
    """The key sets the shards of a segment wrote (name -> partition -> file), as datasets; "keys" always."""
    keys: dict[str, Dataset] = {}
    for shuffle in shuffles:
        for name, files in shuffle.items():
            dataset = keys.setdefault(name, Dataset(name, partitions))
            for partition, path in files.items():
                dataset.files.setdefault(int(partition), []).append(path)
    for dataset in keys.values():
        dataset.files = {p: sorted(f) for p, f in sorted(dataset.files.items())}
    keys.setdefault("keys", Dataset("keys", partitions))
    return keys


def _ray_connected() -> bool:
    """Whether this process already uses a Ray (without importing Ray when nothing did)."""
    import sys

    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


__all__ = ["EXECUTORS", "Progress", "Runner"]
