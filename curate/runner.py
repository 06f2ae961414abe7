"""The runner: plans a pipeline into Ray tasks over shards, runs them, checks the ledger, publishes.

Design (why Ray tasks over shards, not Ray Data streaming):

* **Resume.** A task's outputs have names fixed by the plan and are written atomically; the task then
  writes a done-marker. A re-run after a crash or `kill -9` skips every task with a marker, so
  completed work is not redone and the outputs equal an uninterrupted run's. Ray Data has no
  checkpoint of a streaming job's progress.
* **Every record accounted for.** A task splits its shard into kept and removed files and reports the
  counts per stage; a streaming `map_batches` has one output, so removed records would be a side
  channel anyway.
* **Deterministic.** Shards depend only on the input files (never on the cluster), each shard keeps
  input order, and group stages see keys partitioned by hash: the result is the same on 1 or 100
  workers.
* **Bounded memory.** A task holds one shard (≤ 64 MB of input); group stages shuffle only their keys
  through files, `KEY % partitions`, and reduce one partition per task. The driver holds task
  metadata only. The run directory must be visible to every node (a local disk for one machine, a
  shared mount for a cluster).

Phases: ingest (read + validate every chunk) → unique ids (shuffle + reduce) → segments: each shard
through [the decisions of the last group stage] + map stages + [the keys of the next group stage] →
group reduce → … → verify (read back every output file) → publish (rename into place). A service
stage (an LLM endpoint) also ends a segment: its phase streams batches of the segment's output through
long-lived async actors, several batches in flight each, and each batch becomes a shard of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import polars as pl
import pyarrow.parquet as pq
import ray

from curate import io as cio
from curate import exporting, faults, ledger, work
from curate.columns import INPUT_STAGE, REMOVED_COLUMNS, RESERVED_FIELDS, TRACES, is_private
from curate.config import PipelineConfig
from curate.engine import Dataset
from curate.errors import ConfigError, CurateError, InputError, RunDirError, StageError
from curate.layout import RunLayout
from curate.rundir import RunDirectory
from curate.stages.base import ExportStage, GroupStage, MapStage, ServiceStage

log = logging.getLogger("curate")

CHUNK_MIN = 4 << 20
CHUNK_MAX = 64 << 20
CHUNKS_WANTED = 64
KEYS_PER_PARTITION = 500_000
IDS_PER_PARTITION = 1_000_000
VERIFY_FILES_PER_TASK = 64
SERVICE_BATCHES_IN_FLIGHT = 3


@dataclass
class Shard:
    name: str
    base: str
    rows: int
    lo: int
    hi: int
    settled: list[work.DecisionSet]
    raw: bool = False
    """`base` is an input part, not yet given the unified schema."""
    source: tuple[cio.Chunk, int, cio.ReadOptions, str] | None = None
    """A Parquet input part is not copied: it is read again from its chunk of the input, whose bytes
    must still have the SHA-256 the run found when it read them first."""


class Progress:
    """The runner's view of progress; the CLI plugs in a rich display, the API may plug in nothing."""

    def phase(self, label: str, total: int, done: int, counts_records: bool) -> Any:
        return None

    def advance(self, handle: Any, records: int = 0) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress(Progress):
    def __init__(self, console: Any = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self.bar = Bar(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[shown]:>20}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.records: dict[str, int | None] = {}
        self.bar.start()

    def phase(self, label: str, total: int, done: int, counts_records: bool) -> Any:
        self.records[label] = 0 if counts_records else None
        return self.bar.add_task(label, total=max(total, 1), completed=done if total else 1, shown="")

    def advance(self, handle: Any, records: int = 0) -> None:
        label = self.bar.tasks[[t.id for t in self.bar.tasks].index(handle)].description
        shown = ""
        if self.records.get(label) is not None:
            self.records[label] += records
            shown = f"{self.records[label]:,} records"
        self.bar.update(handle, advance=1, shown=shown)

    def close(self) -> None:
        self.bar.stop()


class Runner:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        ray_address: str | None = None,
        num_cpus: int | None = None,
        overwrite: bool = False,
        progress: Progress | None = None,
    ):
        self.config = config
        # absolute: tasks on other nodes (or workers started elsewhere) must find the same directory
        self.layout = RunLayout(Path(config.output).expanduser().resolve())
        self.rundir = RunDirectory(self.layout)
        self.ray_address = ray_address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.overwrite = overwrite
        self.progress = progress or Progress()
        self.cpus = 1
        self.nodes: set[str] = set()
        self.tasks = {"total": 0, "resumed": 0}
        self.phases: list[dict[str, Any]] = []
        # exports write the finished run: they run after the ledger balances and are not in the ledger
        self.stages = [s for s in config.stages if not isinstance(s, ExportStage)]
        self.exports = [s for s in config.stages if isinstance(s, ExportStage)]

    # ------------------------------------------------------------ entry point

    def run(self) -> dict[str, Any]:
        started_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        skipped: list[dict[str, str]] = []
        files = cio.find_input_files(self.config.input.path, self.config.input.format, exclude=self.layout.root, skipped=skipped)
        self.skipped_inputs = _skipped_summary(skipped)
        if skipped:
            log.warning("input: skipped %d file(s) in input directories: %s", len(skipped), "; ".join(f"{v['files']} {why}, e.g. {v['example']}" for why, v in self.skipped_inputs["by_why"].items()))
        self._prepare_stages()
        fingerprint = self._fingerprint(files)
        self.rundir.check_usable()
        self._check_export_destinations()
        try:
            with self.rundir.lock():
                created = self.rundir.claim()
                self.rundir.recover()
                try:
                    finished = self._prepare_directory(fingerprint)
                    if finished is not None:
                        return self._refresh_exports(finished)
                    self._check_empty_files(files)
                    chunks = cio.plan_chunks(files, self._chunk_bytes(files))
                    if self.layout.plan.exists():
                        started_at = datetime.fromisoformat(json.loads(self.layout.plan.read_text())["started"])
                    else:
                        cio.write_json({"fingerprint": fingerprint, "started": started_at.isoformat(), "chunks": len(chunks)}, self.layout.plan)
                    with self._ray():
                        return self._execute(files, chunks, fingerprint, started_at, started)
                except (InputError, ConfigError):
                    # the input or the pipeline must change before a re-run, which then cannot resume: keep
                    # nothing. Still under the lock, and after every task of this run has stopped.
                    self.rundir.discard_failed_start(created)
                    raise
        finally:
            self.progress.close()

    def _execute(self, files: list[cio.InputFile], chunks: list[cio.Chunk], fingerprint: str, started_at: datetime, started: float) -> dict[str, Any]:
        config = self.config
        book = ledger.Ledger([(INPUT_STAGE, "read")] + [(s.name, s.use or type(s).__qualname__) for s in self.stages])
        options = cio.ReadOptions(
            text_fields=config.text_fields(),
            id_field=config.input.id_field,
            id_explicit=config.id_field_explicit,
            quarantine=config.input.on_error == "quarantine",
            rename=dict(config.input.rename),
        )
        # at least two: the reduce never holds a whole (small) input on one core; results do not depend on it
        id_partitions = max(2, min(1024, math.ceil(cio.estimated_records(chunks) / IDS_PER_PARTITION)))
        results, digests = self._ingest(files, chunks, options, id_partitions, book)
        total_input = sum(r["records"] + r["bad"] for r in results)
        if options.quarantine:
            _check_bad_share(chunks, results, self.config.input.max_bad_fraction)
        input_ids = ledger.EMPTY
        for result in results:
            input_ids = ledger.add(input_ids, tuple(result["ids"]))
        by_path = {f.path: str(i) for i, f in enumerate(files)}
        shards = [
            Shard(
                p["shard"], str(self.layout.input_part(p["shard"])), p["rows"], p["lo"], p["hi"], [], raw=True,
                source=(chunk, p["part"], options, digests[by_path[chunk.file.path]]["chunks"][str(chunk.index)]) if p["virtual"] else None,
            )
            for chunk, r in zip(chunks, results)
            for p in r["parts"]
        ]
        schema = self._unified_schema(shards)
        id_decisions, ids_delta = self._check_ids(chunks, results, options, id_partitions, book)
        kept_rows = self._run_segments(shards, schema, id_decisions, options, book)
        self._conform_outputs()
        self._check_ledger(book, total_input, kept_rows, ledger.add(input_ids, ids_delta), options.id_field)
        stats = {
            "pipeline": config.name,
            "input": total_input,
            "kept": kept_rows,
            "removed": total_input - kept_rows,
            "removed_by_reason": _by_reason(book),
            "stages": book.stage_dicts(),
            "input_files": len(files),
            **({"input_skipped": self.skipped_inputs} if self.skipped_inputs["files"] else {}),
            "seconds": round(time.perf_counter() - started, 3),
            "tasks": dict(self.tasks),
            "phases": self.phases,
            "ledger": "balanced",
        }
        if self.exports:
            stats["exports"] = {s.name: self._export(s, staged=True) for s in self.exports}
        self.rundir.publish(stats, self._manifest(files, digests, fingerprint, started_at))
        return stats

    def _ingest(self, files: list[cio.InputFile], chunks: list[cio.Chunk], options: cio.ReadOptions, id_partitions: int, book: ledger.Ledger) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every chunk read and validated before any stage runs; and each file's digest, for the manifest."""
        tasks = [(str(c.index), work.ingest, work.IngestSpec(c, options, self.layout, id_partitions)) for c in chunks]
        spans: dict[str, dict[int, tuple[int, int]]] = {f.path: {} for f in files}
        for chunk in chunks:
            if chunk.file.format == "parquet":
                spans[chunk.file.path][chunk.index] = chunk.span
        # in the same phase, overlapped with the reads
        tasks += [(f"digest-{i}", cio.digest_file, cio.DigestSpec(f, spans[f.path])) for i, f in enumerate(files)]
        ingested = self._phase("ingest", "read input", tasks, records=lambda r: r["records"] + r["bad"] if "records" in r else 0)
        # the files were read as planned: none grew, shrank or was rewritten meanwhile
        cio.check_unchanged(files)
        digests = {str(i): ingested[f"digest-{i}"] for i in range(len(files))}
        results = [ingested[str(c.index)] for c in chunks]
        for result in results:
            book.add(result["stages"])
        self._check_blank_files(files, chunks, results)
        return results, digests

    def _check_ids(
        self, chunks: list[cio.Chunk], results: list[dict[str, Any]], options: cio.ReadOptions, id_partitions: int, book: ledger.Ledger
    ) -> tuple[work.DecisionSet, ledger.Fingerprint]:
        """Ids are unique: a shuffle by id hash, a reduce per partition. Returns the decisions (repeats to
        quarantine under their position ids) and the id fingerprint change."""
        chunk_sources = self._chunk_sources(chunks, results)
        paths: dict[int, list[str]] = {}
        for result in results:
            for partition, files in result["shuffle"].items():
                paths.setdefault(int(partition), []).extend(files)

        def spec(partition: int) -> work.IdCheckSpec:
            return work.IdCheckSpec(partition, sorted(paths.get(partition, [])), self.layout, options.quarantine, chunk_sources)

        checked = self._phase("ids", "check ids are unique", [(str(p), work.check_ids, spec(p)) for p in range(id_partitions)])
        delta = ledger.EMPTY
        for result in checked.values():
            delta = ledger.add(delta, tuple(result["ids_delta"]))
            book.add({INPUT_STAGE: {"seconds": result["seconds"]}})
        return work.DecisionSet(INPUT_STAGE, sorted(p for r in checked.values() for p in r["decisions"])), delta

    def _run_segments(self, shards: list[Shard], schema: dict[str, pl.DataType], record: work.DecisionSet, options: cio.ReadOptions, book: ledger.Ledger) -> int:
        """Each shard through [decisions of the last group stage] + map stages + [keys of the next group
        stage], then that group stage's reduce; the last segment writes kept/. Returns the records kept."""
        layout = self.layout
        kept_rows = 0
        for index, (maps, boundary) in enumerate(_segments(self.stages)):
            final = boundary is None
            group = boundary if isinstance(boundary, GroupStage) else None
            partitions = max(1, min(1024, math.ceil(sum(s.rows for s in shards) / KEYS_PER_PARTITION)))
            specs = []
            for shard in shards:
                # before a service stage, always written: its actors read slices of one plain file
                written = maps or isinstance(boundary, ServiceStage)
                output = str(layout.kept_part(shard.name)) if final else str(layout.segment_part(index, shard.name)) if written else None
                segment = work.SegmentSpec(
                    shard=shard.name,
                    base=shard.base,
                    lo=shard.lo,
                    hi=shard.hi,
                    layout=layout,
                    id_field=options.id_field,
                    schema=schema if shard.raw else None,
                    source=shard.source,
                    settled=shard.settled,
                    record=record,
                    stages=[],  # sent once per phase (shared below), not with every task
                    group=group,
                    partitions=partitions,
                    output=output,
                    final=final,
                )
                specs.append((shard.name, work.run_segment, segment))
            label = " → ".join([s.name for s in maps] + ([f"{group.name} keys"] if group else ["write kept"] if final else [f"{boundary.name} input"]))
            done = self._phase(f"segment-{index}", label, specs, records=lambda r: r["rows"], stages=maps)
            next_shards = []
            for shard in shards:
                result = done[shard.name]
                book.add(result["stages"])
                if final:
                    kept_rows += result["rows"]
                elif result["rows"] and result.get("output"):  # rewritten by its map stages
                    next_shards.append(Shard(shard.name, result["output"], result["rows"], shard.lo, shard.hi, []))
                elif result["rows"]:  # untouched: the same file, with these decisions applied on reading
                    next_shards.append(Shard(shard.name, shard.base, result["rows"], shard.lo, shard.hi, shard.settled + [record], shard.raw, shard.source))
            if final:
                return kept_rows
            if isinstance(boundary, ServiceStage):
                shards, record = self._run_service_stage(boundary, next_shards, options.id_field, book), None
                continue
            assert group is not None
            keys: dict[str, Dataset] = {}
            for shard in shards:
                for name, files in done[shard.name].get("shuffle", {}).items():
                    dataset = keys.setdefault(name, Dataset(name, partitions))
                    for partition, path in files.items():
                        dataset.files.setdefault(int(partition), []).append(path)
            for dataset in keys.values():
                dataset.files = {p: sorted(f) for p, f in sorted(dataset.files.items())}
            keys.setdefault("keys", Dataset("keys", partitions))
            decisions = group.decide(_RayEngine(self, group, partitions, book), keys)
            record = work.DecisionSet(group.name, sorted(p for files in decisions.files.values() for p in files))
            shards = next_shards
        raise AssertionError("the last segment always writes kept/")

    def _run_service_stage(self, stage: ServiceStage, shards: list[Shard], id_field: str, book: ledger.Ledger) -> list[Shard]:
        """Batches of every shard through the stage's actors, a few batches in flight per actor so that
        each actor's requests never wait on a batch boundary. Each batch is resumable on its own, and
        becomes a shard of the next segment. Returns those shards, in input order."""
        size = stage.batch_records()
        batches = []
        for shard in shards:
            for number, offset in enumerate(range(0, shard.rows, size)):
                name = f"{shard.name}-b{number:05d}"
                output = str(self.layout.service_part(stage.name, name))
                batches.append(work.ServiceBatchSpec(name, shard.base, offset, min(size, shard.rows - offset), self.layout, id_field, output))
        phase = f"service-{stage.name}"
        results, waiting = self._resume(phase, stage.name, [spec.name for spec in batches])
        todo = [(spec, waiting[spec.name]) for spec in batches if spec.name in waiting]
        handle = self.progress.phase(f"{stage.name} ({stage.use})", len(batches), len(results), True)
        started = time.perf_counter()
        closing: list[dict[str, Any]] = []
        if todo:
            shared = ray.put(stage)
            actors = [_ServiceActor.options(scheduling_strategy="SPREAD").remote(shared, config, str(self.layout.root)) for config in stage.actors()]
            load = [0] * len(actors)
            warned = False
            in_flight: dict[Any, tuple[str, int]] = {}
            position = 0
            try:
                while position < len(todo) or in_flight:
                    while position < len(todo) and min(load) < SERVICE_BATCHES_IN_FLIGHT:
                        target = load.index(min(load))
                        spec, marker = todo[position]
                        in_flight[actors[target].run.remote(spec, marker)] = (spec.name, target)
                        load[target] += 1
                        position += 1
                    ready, _ = ray.wait(list(in_flight), num_returns=1)
                    for ref in ready:
                        name, target = in_flight.pop(ref)
                        load[target] -= 1
                        results[name] = self._noted(_get(ref))
                        self.progress.advance(handle, results[name]["rows"])
                        counters = results[name]["stages"][stage.name].get("counters") or {}
                        if counters.get("retry_after_cut") and not warned:
                            warned = True
                            log.warning("stage %r: the endpoint asked to wait %.0f s before retrying (Retry-After); "
                                        "waiting max_retry_after = %.0f s instead", stage.name, counters["peak_retry_after_asked"], getattr(stage.params, "max_retry_after", 0))
                closing = [_get(ref) for ref in [actor.close.remote() for actor in actors]]
            except BaseException:
                for ref in in_flight:
                    ray.cancel(ref)
                raise
            finally:
                for actor in actors:
                    ray.kill(actor)
        seconds = time.perf_counter() - started
        self.phases.append({"phase": phase, "tasks": len(batches), "resumed": len(batches) - len(todo), "seconds": round(seconds, 3)})
        faults.point(f"phase:{phase}")
        for spec in batches:
            book.add(results[spec.name]["stages"])
        for values in closing:
            book.add({stage.name: {"counters": values}})
        book.add({stage.name: {"seconds": seconds}})
        extra = book.stages[stage.name].extra
        if todo and extra.get("samples"):
            extra["samples_per_second"] = round((extra["samples"] - extra.get("cache_hits", 0)) / seconds, 2)
        return [
            Shard(spec.name, result["output"], result["rows"], result["lo"], result["hi"], [])
            for spec in batches
            if (result := results[spec.name])["rows"]
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
        tasks = []
        for folder, paths, sources in (("kept", kept, kept), ("removed", removed, kept + removed), ("traces", traces, traces)):
            try:
                schema = cio.common_schema([footers[p] for p in sources], last=REMOVED_COLUMNS if folder == "removed" else ())
            except TypeError as err:
                raise StageError(f"the files of {folder}/ disagree on a column's type, so no one schema holds them: {err}") from None
            if any(footers[p] != schema for p in paths):
                batches = [paths[i : i + VERIFY_FILES_PER_TASK] for i in range(0, len(paths), VERIFY_FILES_PER_TASK)]
                tasks += [(f"{folder}-{i}", work.conform_files, work.ConformSpec(batch, schema)) for i, batch in enumerate(batches)]
        if tasks:
            self._phase("conform", "give every output file its folder's columns", tasks, records=lambda r: r["rows"])

    def _check_ledger(self, book: ledger.Ledger, total_input: int, kept_rows: int, input_ids: ledger.Fingerprint, id_field: str) -> None:
        """From the tasks' reports, then from the staged files themselves: nothing published otherwise."""
        book.check_counts(total_input, kept_rows)
        kept = self._verify(sorted(str(p) for p in self.layout.staged_kept.glob("*.parquet")), id_field, removed=False)
        removed = self._verify(sorted(str(p) for p in self.layout.staged_removed.glob("*.parquet")), id_field, removed=True)
        by_reason = {tuple(k.split("\t")): v for k, v in removed["by_reason"].items()}
        ledger.check_files(book, input_ids, kept["rows"], tuple(kept["ids"]), tuple(removed["ids"]), by_reason)

    # ------------------------------------------------------------ phases

    def _phase(
        self,
        name: str,
        label: str,
        tasks: list[tuple[str, Callable[[Any], Any], Any]],
        *,
        records: Callable[[dict[str, Any]], int] | None = None,
        stages: list[MapStage] | None = None,
    ) -> dict[str, Any]:
        """Run tasks that have no done-marker yet, a bounded number in flight; return every task's result.
        `stages` go to the object store once and replace each spec's `stages` on the worker (numpy state,
        such as an n-gram index, is then shared by the workers of a node, not copied per task)."""
        results, waiting = self._resume(name, label, [key for key, _, _ in tasks])
        todo = [(key, fn, spec, waiting[key]) for key, fn, spec in tasks if key in waiting]
        handle = self.progress.phase(label, len(tasks), len(results), records is not None)
        phase_started = time.perf_counter()
        window = max(4, 2 * self.cpus)
        shared = ray.put(stages) if stages and todo else None
        in_flight: dict[Any, str] = {}
        position = 0
        try:
            while position < len(todo) or in_flight:
                while position < len(todo) and len(in_flight) < window:
                    key, fn, spec, marker = todo[position]
                    in_flight[_task.remote(fn, spec, marker, shared)] = key
                    position += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                for ref in ready:
                    key = in_flight.pop(ref)
                    result = _get(ref)
                    if isinstance(result, dict) and "error" in result:
                        raise InputError(result["error"])
                    results[key] = self._noted(result)
                    self.progress.advance(handle, records(result) if records else 0)
            self.phases.append({"phase": name, "tasks": len(tasks), "resumed": len(tasks) - len(todo), "seconds": round(time.perf_counter() - phase_started, 3)})
            faults.point(f"phase:{name}")
        except BaseException as stopping:
            # A signal's way out cleans nothing up, and stopping Ray (or leaving the cluster) ends the
            # tasks: they are left alone. (Force-cancelling a task while its reply arrives trips an
            # assertion in Ray 2.60's core worker, which then aborts the process: 1 stop in 25 did.)
            if isinstance(stopping, KeyboardInterrupt):
                raise
            refs = list(in_flight)
            for ref in refs:
                ray.cancel(ref, force=True)
            if refs:  # let them stop before anyone cleans up after this run
                ray.wait(refs, num_returns=len(refs), timeout=60)
            raise
        return results

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
            if versions != _TASK_VERSIONS:
                raise StageError(f"a node runs curate/polars {versions}, the driver {_TASK_VERSIONS}: every node needs the same versions")
        return result

    def _verify(self, paths: list[str], id_field: str, removed: bool) -> dict[str, Any]:
        batches = [paths[i : i + VERIFY_FILES_PER_TASK] for i in range(0, len(paths), VERIFY_FILES_PER_TASK)]
        phase = f"verify-{'removed' if removed else 'kept'}"
        tasks = [(str(i), work.verify_files, work.VerifySpec(batch, id_field, removed)) for i, batch in enumerate(batches)]
        totals: dict[str, Any] = {"rows": 0, "ids": ledger.EMPTY, "by_reason": {}}
        for result in self._phase(phase, f"check {'removed' if removed else 'kept'} files", tasks, records=lambda r: r["rows"]).values():
            totals["rows"] += result["rows"]
            totals["ids"] = ledger.add(totals["ids"], tuple(result["ids"]))
            for key, count in result["by_reason"].items():
                totals["by_reason"][key] = totals["by_reason"].get(key, 0) + count
        return totals

    # ------------------------------------------------------------ planning helpers

    def _prepare_stages(self) -> None:
        """Each stage's one-off work on the driver (a decontamination index): once per run, shared by all tasks."""
        for stage in self.config.stages:
            try:
                stage.prepare()
            except (ValueError, OSError) as err:
                raise ConfigError(f"stage {stage.name!r} ({stage.use}): {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None

    def _fingerprint(self, files: list[cio.InputFile]) -> str:
        config = self.config.resolved()
        # an export can change without re-running the pipeline (see _refresh_exports)
        config["stages"] = [d for d, stage in zip(config["stages"], self.config.stages) if not isinstance(stage, ExportStage)]
        # where the run is, and how its inputs were spelled (relative or absolute), change nothing: the
        # files they matched are below, by absolute path
        config.pop("output")
        config["input"] = {k: v for k, v in config["input"].items() if k != "path"}
        data = {
            "config": config,
            "files": [(f.path, f.size, f.mtime_ns) for f in files],
            "versions": _TASK_VERSIONS,  # resuming with other code could mix two behaviours
        }
        return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()

    def _chunk_bytes(self, files: list[cio.InputFile]) -> int:
        if self.config.input.chunk_bytes:
            return self.config.input.chunk_bytes
        total = sum(f.size for f in files)
        return max(CHUNK_MIN, min(CHUNK_MAX, math.ceil(total / CHUNKS_WANTED)))

    def _prepare_directory(self, fingerprint: str) -> dict[str, Any] | None:
        """Fresh, resumable, complete or refused. Returns the stats of an identical completed run."""
        root, state = self.layout.root, self.rundir.state()
        if state == "fresh":
            return None
        if self.rundir.fingerprint() == fingerprint and not self.overwrite:
            return json.loads(self.layout.stats.read_text()) if state == "complete" else None
        if not self.overwrite:
            held = "a completed" if state == "complete" else "an unfinished"
            raise RunDirError(f"output {root}: holds {held} run of a different pipeline or input; pass --overwrite to replace it")
        self.rundir.clear()
        return None

    def _check_empty_files(self, files: list[cio.InputFile]) -> None:
        for file in files:
            if file.size == 0 and self.config.input.on_error == "fail":
                raise InputError(f"{file.display}: empty file (no records; set input.on_error: quarantine to skip empty files)")

    def _check_blank_files(self, files: list[cio.InputFile], chunks: list[cio.Chunk], results: list[dict[str, Any]]) -> None:
        records: dict[str, int] = {f.path: 0 for f in files}
        for chunk, result in zip(chunks, results):
            records[chunk.file.path] += result["records"] + result["bad"]
        for file in files:
            if not records[file.path]:
                if self.config.input.on_error == "fail":
                    raise InputError(f"{file.display}: empty file (no records; set input.on_error: quarantine to skip empty files)")
                log.warning("%s: empty file, no records", file.display)

    def _chunk_sources(self, chunks: list[cio.Chunk], results: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
        sources, line = [], 1
        for chunk, result in zip(chunks, results):
            if chunk.start == 0 or chunk.file.format != "jsonl":
                line = 1
            if chunk.file.format == "parquet":
                sources.append((chunk.file.display, chunk.file.relpath, chunk.first_row + 1, "row"))
            elif chunk.file.format == "json":  # a JSON list's records by their place in it
                sources.append((chunk.file.display, chunk.file.relpath, 1, "item"))
            else:
                sources.append((chunk.file.display, chunk.file.relpath, line, "line"))
                line += result["lines"]
        return sources

    def _unified_schema(self, shards: list[Shard]) -> dict[str, pl.DataType]:
        """One schema for every shard; clashes with the run directory's columns or a stage's fail here.
        With no valid record at all (everything quarantined) there is nothing to check."""
        if not shards:
            return {}
        schemas = [pl.read_parquet_schema(s.base) for s in shards]
        try:
            schema = cio.union_schema(schemas)
        except Exception as err:
            raise InputError(f"input: records disagree on a field's type across files and cannot be combined: {str(err).splitlines()[0]}") from None
        fields = [c for c in schema if not is_private(c)]
        for column in RESERVED_FIELDS:
            if column in fields:
                raise ConfigError(f"input field {column!r} clashes with the column removed/ adds; rename it with input.rename: {{{column}: ...}}")
        available = set(fields)
        for stage in self.config.stages:
            for column in stage.reads():
                if column == TRACES and column not in available:
                    raise ConfigError(f"stage {stage.name!r} ({stage.use}) works on the samples of a generate stage, and none comes before it (verify: set response_field to a field of the input)")
                if column not in available:
                    raise ConfigError(f"stage {stage.name!r} reads field {column!r}, which neither the input nor an earlier stage has (input fields: {', '.join(fields)})")
            for column in stage.writes():
                if column in fields:
                    raise ConfigError(f"stage {stage.name!r} writes column {column!r}, which the input already has; rename it with input.rename")
            try:
                stage.check_schema({c: t for c, t in schema.items() if c in available and not is_private(c)})
            except ValueError as err:
                raise ConfigError(f"stage {stage.name!r} ({stage.use}): {err}") from None
            except Exception as err:  # a stage's own check crashed: still one line, naming the stage
                raise ConfigError(f"stage {stage.name!r} ({stage.use}): checking its input failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
            available.update(stage.writes())
        return schema

    # ------------------------------------------------------------ exports

    def _export(self, stage: ExportStage, staged: bool) -> dict[str, Any]:
        """One export stage over the run's records and traces (before publishing: the staged files)."""

        def progress(total: int) -> Callable[[int], None]:
            handle = self.progress.phase(f"export {stage.name}", total, 0, True)
            return lambda records: self.progress.advance(handle, records)

        summary = exporting.export_layout(stage, self.layout, self.config.input.id_field, source=self.config.name, staged=staged, progress=progress)
        files = ", ".join(f"{split} {Path(summary['to']) / f['path']} ({f['rows']:,} rows)" for split, f in summary["files"].items())
        log.debug("export %s (%s): %s", stage.name, summary["format"], files)  # `curate run` prints it with the stats
        return summary

    def _check_export_destinations(self) -> None:
        """Before the run, not after hours of it: one directory per export, never the run's own folders."""
        seen: dict[Path, str] = {}
        for stage in self.exports:
            to = exporting.destination(stage, self.layout)
            if to in seen:
                raise ConfigError(f"stages {seen[to]!r} and {stage.name!r} both export to {to}; give one another `to`")
            seen[to] = stage.name
            exporting.check_destination(to, overwrite=True, run=self.layout)

    def _refresh_exports(self, stats: dict[str, Any]) -> dict[str, Any]:
        """A completed run whose exports changed (or were deleted): only the exports are written again."""
        done = stats.get("exports", {})
        stale = [s for s in self.exports if not exporting.is_current(s, exporting.destination(s, self.layout))]
        if not stale:
            log.info("%s already holds this run, complete; nothing to do (--overwrite to run again)", self.layout.root)
            return stats
        log.info("%s already holds this run, complete; writing its changed exports: %s", self.layout.root, ", ".join(s.name for s in stale))
        exports = {name: summary for name, summary in done.items() if name in {s.name for s in self.exports}}
        for stage in stale:
            exports[stage.name] = self._export(stage, staged=False)
        stats = {**stats, "exports": exports}
        cio.write_json(stats, self.layout.stats)
        return stats

    # ------------------------------------------------------------ finishing

    def _manifest(self, files: list[cio.InputFile], digests: dict[str, Any], fingerprint: str, started_at: datetime) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "pipeline": self.config.resolved(),
            "source": self.config.source,
            "command": sys.argv,
            "started": started_at.isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(),
            "inputs": [
                {"path": f.path, "format": f.format, "bytes": f.size, "modified_ns": f.mtime_ns, "sha256": digests[str(i)]["sha256"]}
                for i, f in enumerate(files)
            ],
            "versions": _versions(),
            "ray": {"address": self.ray_address or "local", "cpus": self.cpus, "nodes_used": sorted(self.nodes)},
        }

    # ------------------------------------------------------------ resources

    @contextmanager
    def _ray(self) -> Iterator[None]:
        started_here = connect(self.ray_address, self.num_cpus)
        self.cpus = int(ray.cluster_resources().get("CPU", 1))
        try:
            yield
        finally:
            if started_here:
                disconnect()


class _RayEngine:
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
        files = [f for p in sorted(dataset.files) for f in dataset.files[p]]
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed") if files else pl.DataFrame()

    def reduce(self, name: str, inputs: list[Dataset], fn: Any, *, by: str | None = None, partitions: int | None = None, publish: str | None = None) -> tuple[Dataset, dict[str, float]]:
        if name in self.names or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", name):
            raise StageError(f"stage {self.stage.name!r}: engine step name {name!r} must be unique within the stage, of letters, digits, '_' and '-'")
        self.names.add(name)
        width = {d.partitions for d in inputs}
        if len(width) != 1:
            raise StageError(f"stage {self.stage.name!r}: step {name!r} joins datasets split into different numbers of partitions {sorted(width)}")
        count = width.pop()
        out = partitions or count
        tasks = [
            (
                str(p),
                work.reduce_step,
                work.StepSpec(self.stage.name, self.stage.use, name, p, [d.files.get(p, []) for d in inputs], fn, by, out, self.runner.layout, publish),
            )
            for p in range(count)
        ]
        results = self.runner._phase(f"{self.stage.name}.{name}", f"{self.stage.name} {name}", tasks, records=lambda r: r["rows"])
        dataset, counters = Dataset(name, out), {}
        for key in sorted(results, key=int):
            result = results[key]
            self.book.add(result["stages"])
            for target, path in result["files"].items():
                dataset.files.setdefault(int(target), []).append(path)
            for counter, value in result["counters"].items():
                counters[counter] = counters.get(counter, 0) + value
        return dataset, counters


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join `address` (or RAY_ADDRESS), or start a local Ray. Returns True when this call started Ray
    (stop it with `disconnect`).

    A local Ray is this run's alone: every one of its servers listens on 127.0.0.1 only, and Ray's
    token authentication is on with a fresh random token that lives in the environment of this
    process's Ray processes and nowhere else (never ~/.ray, never the run directory), so no other
    process, local or remote, can submit work to it. No usage statistics, no dashboard, and a watchdog
    (`curate/watchdog.py`) that removes all of it within a second when this process dies. A cluster
    you join keeps its own settings.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = dict(log_to_driver=False, configure_logging=False, logging_level=logging.WARNING)
    if address:
        _join(address, quiet)
        return True
    _start_local(num_cpus, quiet)
    return True


def _join(address: str, quiet: dict[str, Any]) -> None:
    """Join a running Ray, or fail within seconds with one line: Ray itself retries an address where
    nothing listens for minutes. A loopback address is the machine's own Ray: Ray reaches it at the
    machine's network address, unless it listens on loopback alone (curate's local Ray does), in which
    case this process joins it as a loopback node too."""
    from ray._private import ray_constants, services

    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or not port.isdigit() or address.startswith("ray://"):
        hosts = None  # Ray's own forms: it finds (or refuses) them itself
    else:
        host = host.strip("[]")
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        hosts = [services.resolve_ip_for_localhost(host), "127.0.0.1"] if loopback else [host]
    loopback_only = False
    if hosts is not None:
        reachable = [h for h in hosts if _listening(h, int(port))]
        if not reachable:
            raise RunDirError(f"--ray-address {address}: nothing answers at that address (is Ray running there, and is the port open?)")
        loopback_only = reachable[0] == "127.0.0.1" and hosts[0] != "127.0.0.1"
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    saved = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    if loopback_only:
        ray_constants.ENABLE_RAY_CLUSTER = False
        os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError) as err:
        cause = err.__cause__ or err
        message = str(cause).splitlines()[0] if str(cause).strip() else type(cause).__name__
        if "InvalidAuthToken" in str(cause) or isinstance(cause, ray.exceptions.AuthenticationError):
            message = "the cluster requires its token: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as its administrator says"
        raise RunDirError(f"--ray-address {address}: cannot connect: {message}") from None
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        if loopback_only:
            if saved is None:
                os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
            else:
                os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved


def _listening(host: str, port: int, timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class _LocalRay:
    token: str
    watchdog: Any


_local: _LocalRay | None = None


def _start_local(num_cpus: int | None, quiet: dict[str, Any]) -> None:
    global _local
    from ray._private import ray_constants
    from ray._raylet import AuthenticationTokenLoader, Config

    from curate.watchdog import OWNER_ENV

    token, owner = secrets.token_hex(32), secrets.token_hex(12)
    # Inherited by the GCS, the raylet and the agents started below, and through the raylet by every
    # worker; taken out of this process's own environment again once they are up.
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        # Ray on Linux advertises the machine's address and binds every server to all interfaces;
        # with this off (as on macOS), the node's address is 127.0.0.1 and its servers bind to it alone.
        ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR: "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        OWNER_ENV: owner,
    }
    saved_env = {name: os.environ.get(name) for name in env}
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "curate.watchdog", owner, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the terminal's process group: it must outlive a Ctrl-C'd driver
        env={**os.environ, "PYTHONPATH": _package_path()},
    )
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)} if main_thread else {}
    # Ray's processes inherit these blocked: a terminal's Ctrl-C or hang-up reaches the whole foreground
    # group, and only this process should act on it (stop the run, then stop Ray). Blocked, not ignored:
    # one that arrives during start-up is delivered here afterwards, and Ray's own task cancellation,
    # which simulates SIGINT inside Python, keeps working in the workers.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ.update(env)
    ray_constants.ENABLE_RAY_CLUSTER = False  # read at import; this process imported Ray already
    Config.initialize("")  # Ray's C++ side reads RAY_AUTH_MODE again
    AuthenticationTokenLoader.instance().reset_cache()  # ... and the token: a previous run's is stale
    # Workers start on the first task rather than during ray.init: on 2 cores, prestarting them competes
    # with the GCS and raylet for CPU; measured median start-up of a 10-record run 6.3 s -> 5.8 s.
    system = {"prestart_worker_first_driver": False}
    # ray.init installs SIGTERM handlers of its own (exit 15, or 1 after killing its processes); until
    # it returns, a SIGTERM must reach this process's own handling instead.
    set_sigterm_handler = ray._private.utils.set_sigterm_handler
    ray._private.utils.set_sigterm_handler = lambda handler: None
    try:
        # address="local": a new Ray of our own, even where `ray start` left a cluster that ray.init would join.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _system_config=system, **quiet)
    except BaseException:
        _close_watchdog(watchdog)
        raise
    finally:
        ray._private.utils.set_sigterm_handler = set_sigterm_handler
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # Ray's init replaces the SIGTERM handler (sys.exit) and its core worker dumps stacks on SIGTERM;
        # the process keeps the handling it had (the CLI's: one line, exit 143).
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    _local = _LocalRay(token, watchdog)


def join_environment() -> dict[str, str]:
    """What another process needs to join the local Ray this process started (tests, tools):
    the token stays in memory, so it must be handed over explicitly."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _local.token} if _local is not None else {}


def disconnect() -> None:
    """Stop the local Ray `connect` started (its watchdog removes any process Ray leaves behind)."""
    global _local
    ray.shutdown()
    if _local is not None:
        _close_watchdog(_local.watchdog)
        _local = None


def _close_watchdog(watchdog: Any) -> None:
    try:
        watchdog.stdin.close()  # the watchdog reaps what is left of this Ray, then exits
        watchdog.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        watchdog.kill()


def _package_path() -> str:
    return os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")] if p)


# SPREAD: tasks go to every node from the start, as Ray Data does for reads; Ray's default would fill
# the driver's node first and leave a cluster idle on small or quick phases.
@ray.remote(num_cpus=1, max_retries=2, scheduling_strategy="SPREAD")
def _task(fn: Callable[[Any], Any], spec: Any, marker: str, stages: list[MapStage] | None = None) -> Any:
    """Runs on a worker: the task body, then its done-marker (unless it reported bad input).
    Retried by Ray only when a worker or node dies, never on an exception."""
    if stages is not None:
        spec = dataclasses.replace(spec, stages=stages)
    result = fn(spec)
    if isinstance(result, dict) and "error" in result:
        return result
    return _mark_done(result, marker)


def _mark_done(result: Any, marker: str) -> Any:
    """A finished task's result, noted with its node and versions, written as its done-marker."""
    if isinstance(result, dict):
        result["node"] = ray.get_runtime_context().get_node_id()
        result["versions"] = _TASK_VERSIONS
    cio.write_json(result, marker)
    return result


@ray.remote(num_cpus=0, max_restarts=0)
class _ServiceActor:
    """One client of a service stage (an endpoint), in its own process: its event loop runs many batches
    at once (Ray's async actor), sharing one connection pool and one cap on requests in flight. Needs
    no CPU slot: it waits on the network."""

    def __init__(self, stage: ServiceStage, actor: dict[str, Any], run_dir: str):
        self.stage, self.actor, self.run_dir = stage, actor, run_dir
        self.state: Any = None
        self.opening: asyncio.Lock | None = None

    async def run(self, spec: work.ServiceBatchSpec, marker: str) -> dict[str, Any]:
        self.opening = self.opening or asyncio.Lock()
        async with self.opening:
            if self.state is None:
                self.state = await self.stage.open(self.actor, self.run_dir)
        return _mark_done(await work.run_service_batch(spec, self.stage, self.state), marker)

    async def close(self) -> dict[str, Any]:
        return await self.stage.close(self.state) if self.state is not None else {}


def _task_versions() -> list[str]:
    return [metadata.version("curate") if _installed("curate") else "source", pl.__version__]


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


_TASK_VERSIONS = _task_versions()


def _get(ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, CurateError):
            raise cause from None
        message = str(cause or err).strip().splitlines()
        raise StageError(f"a task failed: {type(cause).__name__ if cause else 'RayTaskError'}: {message[0] if message else ''}") from err
    except ray.exceptions.RayError as err:  # a worker or node died (after Ray's retries), out of memory, ...
        message = str(err).strip().splitlines()
        raise StageError(f"a task's worker died: {type(err).__name__}: {message[0] if message else ''}; run the same command again to resume") from err


def _segments(stages: list[Any]) -> list[tuple[list[MapStage], GroupStage | ServiceStage | None]]:
    """Cut the stage list at each group or service stage: [maps…, group], [maps…, service], …, [maps…, None]."""
    segments: list[tuple[list[MapStage], GroupStage | ServiceStage | None]] = []
    maps: list[MapStage] = []
    for stage in stages:
        if isinstance(stage, (GroupStage, ServiceStage)):
            segments.append((maps, stage))
            maps = []
        elif isinstance(stage, MapStage):
            maps.append(stage)
        else:
            raise ConfigError(f"stage {stage.name!r}: {type(stage).__name__} is not a MapStage, GroupStage or ServiceStage")
    segments.append((maps, None))
    return segments


def _check_bad_share(chunks: list[cio.Chunk], results: list[dict[str, Any]], limit: float) -> None:
    """Quarantine is for bad records, not a bad pipeline: a file all of whose records are bad for one
    reason, or more than `limit` of the input bad, stops the run with one line (the reason, and the
    fields the records do have)."""
    if limit >= 1:
        return
    files: dict[str, dict[str, Any]] = {}
    for chunk, result in zip(chunks, results):
        entry = files.setdefault(chunk.file.display, {"records": 0, "bad": 0, "errors": {}, "fields": None})
        entry["records"] += result["records"] + result["bad"]
        entry["bad"] += result["bad"]
        for message, count in result.get("errors", {}).items():
            entry["errors"][message] = entry["errors"].get(message, 0) + count
        entry["fields"] = entry["fields"] or result.get("fields")

    def has(fields: list[str] | None) -> str:
        return f"; its records have the fields {', '.join(fields)}" if fields else ""

    for display, entry in files.items():
        if entry["records"] and entry["bad"] == entry["records"] and len(entry["errors"]) == 1:
            (message,) = entry["errors"]
            raise InputError(
                f"{display}: all {entry['records']:,} records are bad input for one reason, {message}{has(entry['fields'])}. "
                "That is the pipeline, not the data: fix the field it names (input.text_fields, a stage's field or input.rename), "
                "or set input.max_bad_fraction: 1 to quarantine them anyway"
            )
    total = sum(e["records"] for e in files.values())
    bad = sum(e["bad"] for e in files.values())
    if total and bad / total > limit:
        errors: dict[str, int] = {}
        for entry in files.values():
            for message, count in entry["errors"].items():
                errors[message] = errors.get(message, 0) + count
        message, count = max(errors.items(), key=lambda item: item[1])
        fields = next((e["fields"] for e in files.values() if e["fields"]), None)
        raise InputError(
            f"input: {bad:,} of {total:,} records ({bad / total:.0%}) are bad input, more than input.max_bad_fraction ({limit:g}); "
            f"the most common reason ({count:,} records): {message}{has(fields)}. Fix the pipeline or the input, or raise input.max_bad_fraction"
        )


def _skipped_summary(skipped: list[dict[str, str]]) -> dict[str, Any]:
    """Files a directory input skipped: how many, per reason with a first example, and the first 100."""
    by_why: dict[str, dict[str, Any]] = {}
    for entry in skipped:
        slot = by_why.setdefault(entry["why"], {"files": 0, "example": entry["path"]})
        slot["files"] += 1
    return {"files": len(skipped), "by_why": by_why, "paths": [e["path"] for e in skipped[:100]]}


def _by_reason(book: ledger.Ledger) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, reason), count in book.removed_by_stage_reason().items():
        totals[reason] = totals.get(reason, 0) + count
    return dict(sorted(totals.items()))


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("curate", "polars", "pyarrow", "ray", "pydantic", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


__all__ = ["Progress", "RichProgress", "Runner", "connect", "disconnect", "join_environment"]
