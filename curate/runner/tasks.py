"""The bodies of the runner's tasks: plain functions over files, no Ray, so each can be tested alone.

A task reads its inputs from the run directory, writes its outputs there (each file atomically, under a
name fixed by the plan) and returns a small typed result (a `TaskResult`). The executor writes that
result's JSON form as the task's done-marker; a resumed run reads it back instead of running the task.
Bad input is raised (`InputError`), never returned.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from curate.columns import (
    BAD_INPUT,
    DROP,
    DROP_DUPLICATE_OF,
    DUPLICATE_OF,
    ERROR,
    FAILED,
    ID,
    INPUT_STAGE,
    KEY,
    ORDER,
    ORDER_CHUNK_SHIFT,
    RAW,
    REASON,
    SOURCE,
    STAGE,
    TRACES,
    is_private,
)
from curate.engine import partition_of
from curate.errors import InputError, StageError
from curate.io import POSITION_ID_PREFIX, Chunk, ChunkRead, DigestSpec, ReadOptions, chunk_digest, conform, digest_file, read_chunk, rows_as_json, write_parquet, write_public
from curate.layout import RunLayout, shard_name
from curate.runner import ledger
from curate.runner.task_results import (
    ConformResult,
    DigestResult,
    IdCheckResult,
    IngestResult,
    InputPart,
    SegmentResult,
    ServiceBatchResult,
    StepResult,
    VerifyResult,
)
from curate.stages.base import GroupStage, MapStage, ServiceStage, Stage, check_reasons

WORK_COMPRESSION: Final = "lz4"
# Decision columns of the id check; private so that input fields named `error` or `source` cannot clash.
_ERROR = "__curate_error"
_SOURCE = "__curate_source"


def digest(spec: DigestSpec) -> DigestResult:
    """A file's SHA-256 for the manifest, and its Parquet chunks' (see `curate.io.digest_file`)."""
    found = digest_file(spec)
    chunks = found["chunks"]
    assert isinstance(chunks, dict)
    return DigestResult(str(found["sha256"]), {str(k): str(v) for k, v in chunks.items()})


# ---------------------------------------------------------------- ingest


@dataclass
class IngestSpec:
    chunk: Chunk
    options: ReadOptions
    layout: RunLayout
    id_partitions: int


def ingest(spec: IngestSpec) -> IngestResult:
    """Read and validate one chunk; write its records as input parts, its bad records to removed/,
    and its ids to the id-uniqueness shuffle."""
    started = time.perf_counter()
    chunk, layout = spec.chunk, spec.layout
    summary = ChunkRead()
    parts: list[InputPart] = []
    shuffle: dict[int, list[str]] = {}
    fingerprint = ledger.EMPTY
    records = bad = 0
    errors: dict[str, int] = {}
    fields: list[str] | None = None
    # Parquet parts are read again from the source when needed (cheaper than a copy): here only
    # their ids are read and their schema written. JSONL parts are kept: parsing twice costs more.
    virtual = chunk.file.format == "parquet"
    for number, batch in enumerate(read_chunk(chunk, spec.options, summary, light=virtual)):
        shard = shard_name(chunk.index, number)
        id_frames = []
        if batch.records.height:
            schema = batch.schema or batch.records.schema
            write_parquet(pl.DataFrame(schema=schema) if virtual else batch.records, layout.input_part(shard), compression=WORK_COMPRESSION)
            order = batch.records[ORDER]
            parts.append(InputPart(shard, batch.records.height, int(order[0]), int(order[-1]), number, virtual))
            records += batch.records.height
            id_frames.append(batch.records.select(pl.col(spec.options.id_field).alias(ID), ORDER))
            if fields is None:
                fields = [c for c in schema if not is_private(c)]
        if batch.bad is not None and batch.bad.height:
            removed = batch.bad.with_columns(
                pl.lit(INPUT_STAGE).alias(STAGE), pl.lit(BAD_INPUT).alias(REASON), pl.lit(None, pl.String).alias(DUPLICATE_OF)
            )
            write_public(_public(removed), layout.removed_part(INPUT_STAGE, shard))
            bad += batch.bad.height
            id_frames.append(batch.bad.select(pl.col(spec.options.id_field).alias(ID), ORDER))
            for message, count in batch.bad[ERROR].value_counts().iter_rows():
                if message in errors or len(errors) < MAX_ERROR_KINDS:
                    errors[message] = errors.get(message, 0) + count
            if fields is None:
                fields = _fields_of(batch.bad[RAW][0])
        if id_frames:
            ids = pl.concat(id_frames)
            fingerprint = ledger.add(fingerprint, ledger.id_fingerprint(ids[ID]))
            for partition, path in _partition(ids.with_columns(pl.col(ID).hash().alias(KEY)), spec.id_partitions, layout, INPUT_STAGE, shard).items():
                shuffle.setdefault(partition, []).append(path)
    return IngestResult(
        chunk=chunk.index,
        parts=parts,
        lines=summary.lines,
        records=records,
        bad=bad,
        errors=errors,
        fields=fields,
        ids=fingerprint,
        shuffle={str(k): v for k, v in shuffle.items()},
        stages={INPUT_STAGE: {"in": records + bad, "removed": {BAD_INPUT: bad} if bad else {}, "seconds": time.perf_counter() - started}},
    )


MAX_ERROR_KINDS = 20  # distinct bad-input messages counted per chunk (the rest count in `bad` only)


def _fields_of(raw: str | None) -> list[str] | None:
    """The field names of a bad record's raw line, when it is a JSON object at all."""
    import json

    try:
        value = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None
    return list(value)[:50] if isinstance(value, dict) else None


# ---------------------------------------------------------------- unique ids


@dataclass
class IdCheckSpec:
    partition: int
    paths: list[str]
    layout: RunLayout
    quarantine: bool
    chunk_sources: list[tuple[str, str, int, str]]
    """Per chunk: (display path, relative path, number of the chunk's first line, row or item, "line", "row" or "item")."""


def check_ids(spec: IdCheckSpec) -> IdCheckResult:
    """Ids must be unique. A later occurrence of an id fails the run, or is quarantined under its position."""
    started = time.perf_counter()
    keys = pl.concat([pl.read_parquet(p) for p in spec.paths]) if spec.paths else pl.DataFrame()
    repeated = keys[ID].is_duplicated() if keys.height else None
    if repeated is None or not repeated.any():
        return IdCheckResult([], ledger.EMPTY, time.perf_counter() - started)
    later = (
        keys.filter(repeated)
        .sort(ORDER)
        .with_columns(
            pl.col(ORDER).first().over(ID).alias("_first"),
            (pl.int_range(pl.len()).over(ID) > 0).alias("_later"),
        )
        .filter(pl.col("_later"))
    )
    if not later.height:
        return IdCheckResult([], ledger.EMPTY, time.perf_counter() - started)
    row = later.row(0, named=True)
    first_at, this_at = _source(spec, row["_first"]), _source(spec, row[ORDER])
    message = f"{this_at[0]}: duplicate id {row[ID]!r} (first at {first_at[0]})"
    if not spec.quarantine:  # (a quarantined record's id is its position, which no real id can equal)
        raise InputError(message + " (set input.on_error: quarantine to route later occurrences to removed/)")
    sources = [_source(spec, order) for order in later[ORDER].to_list()]
    firsts = [_source(spec, order)[0] for order in later["_first"].to_list()]
    decisions = pl.DataFrame(
        {
            ORDER: later[ORDER],
            DROP: pl.Series([BAD_INPUT] * later.height, dtype=pl.String),
            _ERROR: [f"duplicate id {i!r} (first at {f})" for i, f in zip(later[ID].to_list(), firsts)],
            _SOURCE: [s[0] for s in sources],
            ID: [s[1] for s in sources],
        }
    )
    path = spec.layout.decisions(INPUT_STAGE, spec.partition)
    write_parquet(decisions.sort(ORDER), path, compression=WORK_COMPRESSION)
    delta = ledger.subtract(ledger.id_fingerprint(decisions[ID]), ledger.id_fingerprint(later[ID]))
    # the new ids are positions under a prefix no real id may have: unique, and clash with nothing
    return IdCheckResult([str(path)], delta, time.perf_counter() - started)


def _source(spec: IdCheckSpec, order: int) -> tuple[str, str]:
    """(`display:line`, and the position id `@input:relpath:line`) of an input position."""
    chunk, local = order >> ORDER_CHUNK_SHIFT, order & ((1 << ORDER_CHUNK_SHIFT) - 1)
    display, relpath, first, unit = spec.chunk_sources[chunk]
    where = f"{first + local}" if unit == "line" else f"{unit} {first + local}"
    return f"{display}:{where}", f"{POSITION_ID_PREFIX}{relpath}:{where}"


# ---------------------------------------------------------------- segments


@dataclass
class DecisionSet:
    stage: str
    paths: list[str]
    counts_in: bool = False
    """The stage's keys rode in an earlier stage's segment: the records it saw are counted when its
    decisions are recorded (what the stages before it kept), not when its keys were computed."""


@dataclass
class SegmentSpec:
    """One shard through: decisions of earlier group stages, then map stages, then the keys of the next group stage."""

    shard: str
    base: str
    """The shard's file: an input part, or the output of an earlier segment."""
    lo: int
    hi: int
    layout: RunLayout
    id_field: str
    schema: dict[str, pl.DataType] | None = None
    """The unified input schema, applied when `base` is an input part."""
    settled: list[DecisionSet] = field(default_factory=list)
    """Decisions already recorded by an earlier segment on the same base: applied silently."""
    records: list[DecisionSet] = field(default_factory=list)
    """The decisions of the group stages just reduced, in order: applied, and their removed records written."""
    stages: list[MapStage] = field(default_factory=list)
    group: GroupStage | None = None
    riders: list[GroupStage] = field(default_factory=list)
    """Group stages whose keys are computed here too (see `planning.Segment`)."""
    partitions: int = 1
    output: str | None = None
    """Where to write the surviving records: a new base, or the staged kept/ file; None writes nothing."""
    final: bool = False
    source: tuple[Chunk, int, ReadOptions, str] | None = None
    """For a Parquet input part: (chunk, part number, read options, SHA-256 of its row groups), read
    again from the input."""


def run_segment(spec: SegmentSpec) -> SegmentResult:
    counts: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    frame = as_read = _read_base(spec)
    if spec.schema is not None:
        frame = conform(frame, spec.schema)  # every shard the same columns and types
    for decisions in spec.settled:
        frame = frame.join(_decisions(decisions, spec), on=ORDER, how="anti", maintain_order="left")
    read_seconds = time.perf_counter() - started
    for record in spec.records:
        frame = _record_decisions(frame, as_read, record, spec, counts)
    for stage in spec.stages:
        frame = _apply_map_stage(stage, frame, spec, counts)
    result = SegmentResult(spec.shard, frame.height, counts, read_seconds=read_seconds)
    if spec.group is not None:
        started = time.perf_counter()
        result.shuffle = _group_keys(spec.group, frame, spec)
        counts[spec.group.name] = {"in": frame.height, "seconds": time.perf_counter() - started}
        for rider in spec.riders:  # keys of all these records: the earlier stages' removals come out before it reduces
            started = time.perf_counter()
            result.rider_shuffle[rider.name] = _group_keys(rider, frame, spec)
            counts[rider.name] = {"seconds": time.perf_counter() - started}
    if spec.output and frame.height:
        started = time.perf_counter()
        if spec.final:
            _write_public(frame, spec.output, spec.layout, spec.id_field)
        else:
            write_parquet(frame, spec.output, compression=WORK_COMPRESSION)
        result.write_seconds = time.perf_counter() - started
        result.output = spec.output
    return result


def _read_base(spec: SegmentSpec) -> pl.DataFrame:
    if spec.source is None:
        return pl.read_parquet(spec.base)
    chunk, part, options, digest = spec.source
    changed = f"{chunk.file.display}: changed during the run (row groups {chunk.start}-{chunk.stop - 1} are not what the run read first); nothing was published; run again with --overwrite"
    if chunk_digest(chunk) != digest:
        raise InputError(changed)
    for number, batch in enumerate(read_chunk(chunk, replace(options, quarantine=True), ChunkRead())):
        if number == part:
            frame = batch.records
            if frame.height and frame[ORDER][0] == spec.lo and frame[ORDER][-1] == spec.hi:
                return frame
            break
    raise InputError(changed)


def _decisions(decisions: DecisionSet, spec: SegmentSpec) -> pl.DataFrame:
    if not decisions.paths:
        return pl.DataFrame(schema={ORDER: pl.Int64, DROP: pl.String, DROP_DUPLICATE_OF: pl.String})
    frame = pl.scan_parquet(decisions.paths, missing_columns="insert").filter(pl.col(ORDER).is_between(spec.lo, spec.hi)).collect()
    return frame if DROP_DUPLICATE_OF in frame.columns else frame.with_columns(pl.lit(None, pl.String).alias(DROP_DUPLICATE_OF))


def _record_decisions(frame: pl.DataFrame, as_read: pl.DataFrame, record: DecisionSet, spec: SegmentSpec, counts: dict[str, dict[str, Any]]) -> pl.DataFrame:
    started = time.perf_counter()
    decisions = _decisions(record, spec)
    stage = record.stage
    if decisions.height and (decisions[DROP].null_count() or decisions[ORDER].n_unique() != decisions.height):
        raise StageError(f"stage {stage!r}: its decisions must name each removed record once, with a reason")
    removed = frame.join(decisions, on=ORDER, how="inner", maintain_order="left")
    if removed.height:
        if stage == INPUT_STAGE:  # a repeated id: the record goes to removed/ as bad input, under its position
            original = as_read.join(removed.select(ORDER), on=ORDER, how="semi", maintain_order="left")
            raw = rows_as_json(original.select([c for c in as_read.columns if not is_private(c)]))
            out = removed.select(
                pl.col(ID).alias(spec.id_field),
                pl.col(_ERROR).alias(ERROR),
                pl.col(_SOURCE).alias(SOURCE),
                pl.Series(RAW, raw, dtype=pl.String),
                pl.lit(INPUT_STAGE).alias(STAGE),
                pl.lit(BAD_INPUT).alias(REASON),
                pl.lit(None, pl.String).alias(DUPLICATE_OF),
            )
            path = spec.layout.removed_part(INPUT_STAGE, f"{spec.shard}-ids")
        else:
            out = removed.with_columns(
                pl.lit(stage).alias(STAGE), pl.col(DROP).alias(REASON), pl.col(DROP_DUPLICATE_OF).cast(pl.String).alias(DUPLICATE_OF)
            )
            path = spec.layout.removed_part(stage, spec.shard)
        _write_public(out, path, spec.layout, spec.id_field)
        frame = frame.join(decisions.select(ORDER), on=ORDER, how="anti", maintain_order="left")
    reasons = dict(removed[DROP].value_counts().iter_rows()) if removed.height else {}
    counts[stage] = {"out": frame.height, "removed": reasons, "seconds": time.perf_counter() - started}
    if record.counts_in:
        counts[stage]["in"] = frame.height + removed.height
    return frame


def _apply_map_stage(stage: MapStage, frame: pl.DataFrame, spec: SegmentSpec, counts: dict[str, dict[str, Any]]) -> pl.DataFrame:
    started = time.perf_counter()
    if not frame.height:
        counts[stage.name] = {"in": 0, "out": 0, "removed": {}, "seconds": time.perf_counter() - started}
        return frame
    try:
        out = stage.apply(frame)
    except Exception as err:
        raise StageError(f"stage {stage.name!r} ({stage.use}) failed on shard {spec.shard}: {one_line(err)}") from err
    frame, counts[stage.name] = _settle(stage, frame, out, spec.layout, spec.shard, spec.id_field)
    counts[stage.name]["seconds"] = time.perf_counter() - started
    return frame


def _settle(stage: MapStage | ServiceStage, frame: pl.DataFrame, result: Any, layout: RunLayout, shard: str, id_field: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A map or service stage's result (a frame, or a frame and counters) checked against its contract;
    its removed records written. Returns the kept records and the stage's counts."""
    out, counters = result if isinstance(result, tuple) else (result, {})
    _check_contract(stage, frame, out)
    extra = _rule_counts(stage, out)
    if FAILED in out.columns:
        out = out.drop(FAILED)
    reasons: dict[str, int] = {}
    if DROP in out.columns:
        dropped = out[DROP].is_not_null()
        removed = out.filter(dropped)
        if removed.height:
            removed = removed.with_columns(pl.lit(stage.name).alias(STAGE), pl.col(DROP).cast(pl.String).alias(REASON), pl.lit(None, pl.String).alias(DUPLICATE_OF))
            reasons = dict(removed[REASON].value_counts().iter_rows())
            check_reasons(stage, reasons)
            _write_public(removed, layout.removed_part(stage.name, shard), layout, id_field)
        out = out.filter(~dropped).drop(DROP)
    return out, {"in": frame.height, "out": out.height, "removed": reasons, "counters": counters, **extra}


def _rule_counts(stage: Stage, out: pl.DataFrame) -> dict[str, Any]:
    """Every failing rule of every record (not only the first, which is the removal reason), and the
    score histograms, over all records the stage saw."""
    extra: dict[str, Any] = {}
    if FAILED in out.columns:
        failed = out[FAILED].explode().drop_nulls()
        extra["failed"] = dict(failed.value_counts().iter_rows()) if len(failed) else {}
    histograms = {}
    for column, edges in stage.histograms().items():
        values = out[column].cast(pl.Float64).to_numpy()
        missing = np.isnan(values)
        bins = np.searchsorted(np.asarray(edges[1:-1], dtype=np.float64), values[~missing], side="right")
        histograms[column] = {"edges": list(edges), "counts": np.bincount(bins, minlength=len(edges) - 1).tolist(), "null": int(missing.sum())}
    if histograms:
        extra["histograms"] = histograms
    return extra


def _check_contract(stage: Stage, before: pl.DataFrame, after: Any) -> None:
    where = f"stage {stage.name!r} ({stage.use})"
    if not isinstance(after, pl.DataFrame):
        raise StageError(f"{where}: apply() returned {type(after).__name__}, not a polars DataFrame")
    if after.height != before.height or ORDER not in after.columns or not after[ORDER].equals(before[ORDER]):
        raise StageError(f"{where}: apply() must return the same records in the same order (got {after.height} of {before.height}); remove records through the DROP column")
    missing = [c for c in before.columns if c not in after.columns]
    if missing:
        raise StageError(f"{where}: apply() dropped columns {missing}")
    undeclared = [c for c in after.columns if c not in before.columns and c not in (DROP, FAILED) and c not in stage.writes()]
    if undeclared:
        raise StageError(f"{where}: apply() added columns {undeclared} that writes() does not declare")
    if DROP in after.columns and after[DROP].dtype not in (pl.String, pl.Null):
        raise StageError(f"{where}: the DROP column must hold reason strings, not {after[DROP].dtype}")
    if FAILED in after.columns and after[FAILED].dtype not in (pl.List(pl.String), pl.List(pl.Null), pl.Null):
        raise StageError(f"{where}: the FAILED column must hold lists of rule names, not {after[FAILED].dtype}")
    for column in stage.histograms():
        if column not in after.columns or not (after[column].dtype.is_numeric() or after[column].dtype == pl.Boolean):
            raise StageError(f"{where}: histogram column {column!r} must be a numeric column the stage writes")


def _group_keys(stage: GroupStage, frame: pl.DataFrame, spec: SegmentSpec) -> dict[str, dict[str, str]]:
    """The stage's keys for this shard, each frame split by KEY % partitions: name -> partition -> file."""
    where = f"stage {stage.name!r} ({stage.use})"
    try:
        keys = stage.keys(frame.with_columns(pl.col(spec.id_field).cast(pl.String).alias(ID)))
    except Exception as err:
        raise StageError(f"{where} failed on shard {spec.shard}: {one_line(err)}") from err
    written = {}
    for name, keyed in (keys if isinstance(keys, dict) else {"keys": keys}).items():
        if KEY not in keyed.columns or keyed[KEY].dtype != pl.UInt64:
            raise StageError(f"{where}: keys() frame {name!r} must have a UInt64 {KEY}")
        written[name] = {str(k): v for k, v in _partition(keyed, spec.partitions, spec.layout, stage.name, spec.shard, name).items()}
    return written


def _partition(keys: pl.DataFrame, partitions: int, layout: RunLayout, stage: str, shard: str, name: str = "keys") -> dict[int, str]:
    """Write a shard's keys, split by KEY % partitions; returns partition -> file."""
    if not keys.height:
        return {}
    written = {}
    split = keys.with_columns((pl.col(KEY) % partitions).cast(pl.Int64).alias("_partition"))
    for (partition,), part in split.partition_by("_partition", as_dict=True, include_key=False).items():
        path = layout.shuffle(stage, shard, partition, name)
        write_parquet(part, path, compression=WORK_COMPRESSION)
        written[partition] = str(path)
    return written


# ---------------------------------------------------------------- service stages


@dataclass
class ServiceBatchSpec:
    """Records [offset, offset + length) of a shard file through a service stage, in its actor."""

    name: str
    base: str
    offset: int
    length: int
    layout: RunLayout
    id_field: str
    output: str


async def run_service_batch(spec: ServiceBatchSpec, stage: ServiceStage, state: Any) -> ServiceBatchResult:
    frame = pl.scan_parquet(spec.base).slice(spec.offset, spec.length).collect()
    try:
        result = await stage.apply_async(state, frame)
    except StageError:
        raise
    except Exception as err:
        raise StageError(f"stage {stage.name!r} ({stage.use}) failed on batch {spec.name}: {one_line(err)}") from err
    kept, count = _settle(stage, frame, result, spec.layout, spec.name, spec.id_field)
    if kept.height:
        write_parquet(kept, spec.output, compression=WORK_COMPRESSION)
    lo, hi = (int(frame[ORDER][0]), int(frame[ORDER][-1])) if frame.height else (0, -1)
    return ServiceBatchResult(spec.name, kept.height, lo, hi, spec.output if kept.height else None, {stage.name: count})


# ---------------------------------------------------------------- engine rounds


@dataclass
class StepSpec:
    """One partition of one `engine.reduce` round of a group stage."""

    stage: str
    use: str
    step: str
    partition: int
    inputs: list[list[str]]
    """Per input dataset, its files at this partition."""
    fn: Callable[..., Any]
    by: str | None
    partitions: int
    layout: RunLayout
    publish: str | None = None
    without: list[list[str]] = field(default_factory=list)
    """Per input dataset, the decision files whose records are left out of it (`Dataset.without`)."""


def read_dataset_files(files: list[str], without: list[str]) -> pl.DataFrame:
    """A dataset's files at one partition, less the records of the decision files `without`."""
    frame = pl.concat([pl.read_parquet(p) for p in files], how="vertical_relaxed") if files else pl.DataFrame()
    if without and frame.height:
        removed = pl.scan_parquet(without).select(ORDER).collect()
        frame = frame.join(removed, on=ORDER, how="anti", maintain_order="left")
    return frame


def reduce_step(spec: StepSpec) -> StepResult:
    started = time.perf_counter()
    frames = [read_dataset_files(files, spec.without[i] if spec.without else []) for i, files in enumerate(spec.inputs)]
    if not any(frame.height for frame in frames):  # nothing in, nothing out: fn is not called
        return StepResult({}, {}, 0, {spec.stage: {"seconds": time.perf_counter() - started}})
    try:
        out = spec.fn(*frames)
    except Exception as err:
        raise StageError(f"stage {spec.stage!r} ({spec.use}) failed in step {spec.step!r}, partition {spec.partition}: {one_line(err)}") from err
    counters: dict[str, float] = {}
    if isinstance(out, tuple):
        out, counters = out
    if not isinstance(out, pl.DataFrame):
        raise StageError(f"stage {spec.stage!r} ({spec.use}): step {spec.step!r} returned {type(out).__name__}, not a polars DataFrame")
    files: dict[str, str] = {}
    if out.height:
        if spec.by is None:
            parts = {spec.partition: out}
        else:
            split = out.with_columns(partition_of(out, spec.by, spec.partitions).alias("_partition"))
            parts = {k[0]: v for k, v in split.partition_by("_partition", as_dict=True, include_key=False).items()}
        for target, part in parts.items():
            path = spec.layout.step(spec.stage, spec.step, spec.partition, target)
            write_parquet(part, path, compression=WORK_COMPRESSION)
            files[str(target)] = str(path)
        if spec.publish:
            public = spec.layout.staged(spec.publish) / f"{spec.stage}-{spec.step}-p{spec.partition:05d}.parquet"
            write_public(out, public)
    return StepResult(files, counters, out.height, {spec.stage: {"seconds": time.perf_counter() - started}})


# ---------------------------------------------------------------- verification


@dataclass
class VerifySpec:
    paths: list[str]
    id_field: str
    removed: bool


def verify_files(spec: VerifySpec) -> VerifyResult:
    """Rows, id fingerprint and (for removed/) counts by stage and reason, read back from the files."""
    rows, fingerprint = 0, ledger.EMPTY
    by_reason: dict[str, int] = {}
    for path in spec.paths:
        columns = [spec.id_field, STAGE, REASON] if spec.removed else [spec.id_field]
        frame = pl.read_parquet(path, columns=columns)
        rows += frame.height
        fingerprint = ledger.add(fingerprint, ledger.id_fingerprint(frame[spec.id_field]))
        if spec.removed:
            for stage, reason, count in frame.group_by(STAGE, REASON).len().iter_rows():
                key = f"{stage}\t{reason}"
                by_reason[key] = by_reason.get(key, 0) + count
    return VerifyResult(rows, fingerprint, by_reason)


@dataclass
class ConformSpec:
    paths: list[str]
    schema: Any  # pyarrow.Schema


def conform_files(spec: ConformSpec) -> ConformResult:
    """Each file rewritten with the folder's common schema (missing columns null), unless it has it
    already (a resumed run's earlier attempt did it): standard readers then read the folder whole."""
    rows = 0
    for path in spec.paths:
        if pq.read_schema(path) == spec.schema:
            continue
        table = pq.read_table(path)
        write_public(table, path, spec.schema)
        rows += table.num_rows
    return ConformResult(rows)


# ---------------------------------------------------------------- helpers


def _write_public(frame: pl.DataFrame, path: str | Path, layout: RunLayout, id_field: str) -> None:
    """A kept/ or removed/ file; its records' generated samples go to a file of the same name in traces/."""
    if TRACES in frame.columns:
        traces = frame.select(pl.col(id_field), pl.col(TRACES)).explode(TRACES).filter(pl.col(TRACES).is_not_null()).unnest(TRACES)
        if traces.height:
            write_public(traces, layout.staged("traces") / Path(path).name)
    write_public(_public(frame), path)


def _public(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([c for c in frame.columns if not is_private(c)])


def one_line(err: BaseException) -> str:
    """An exception as one line: its type, first line and where it was raised."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    frames = traceback.extract_tb(err.__traceback__)
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {message}{at}"


__all__ = [
    "ConformSpec",
    "DecisionSet",
    "IdCheckSpec",
    "IngestSpec",
    "SegmentSpec",
    "ServiceBatchSpec",
    "StepSpec",
    "VerifySpec",
    "check_ids",
    "conform_files",
    "ingest",
    "reduce_step",
    "run_segment",
    "run_service_batch",
    "verify_files",
]
