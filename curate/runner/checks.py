"""Checks of the input as read against the pipeline, before any stage runs: empty files, a share of
bad records that means a wrong pipeline rather than bad data, and one schema every stage can work on.
Each failure is one line naming the file, field or stage."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from curate.columns import DROP, DROP_DUPLICATE_OF, ORDER, RESERVED_FIELDS, TRACES, is_private
from curate.engine import Dataset
from curate.errors import ConfigError, InputError, StageError
from curate.io import Chunk, InputFile, union_schema
from curate.runner.task_results import IngestResult
from curate.stages.base import GroupStage, Stage, check_reasons

log = logging.getLogger("curate")

EMPTY_FILE = "empty file (no records; set input.on_error: quarantine to skip empty files)"


def check_empty_files(files: list[InputFile], on_error: str) -> None:
    for file in files:
        if file.size == 0 and on_error == "fail":
            raise InputError(f"{file.display}: {EMPTY_FILE}")


def check_blank_files(files: list[InputFile], chunks: list[Chunk], records: list[int], on_error: str) -> None:
    """Files of only blank lines, found once read."""
    per_file: dict[str, int] = {f.path: 0 for f in files}
    for chunk, count in zip(chunks, records):
        per_file[chunk.file.path] += count
    for file in files:
        if not per_file[file.path]:
            if on_error == "fail":
                raise InputError(f"{file.display}: {EMPTY_FILE}")
            log.warning("%s: empty file, no records", file.display)


def check_bad_share(chunks: list[Chunk], results: list[IngestResult], limit: float) -> None:
    """Quarantine is for bad records, not a bad pipeline: a file all of whose records are bad for one
    reason, or more than `limit` of the input bad, stops the run with one line (the reason, and the
    fields the records do have)."""
    if limit >= 1:
        return
    files: dict[str, dict[str, Any]] = {}
    for chunk, result in zip(chunks, results):
        entry = files.setdefault(chunk.file.display, {"records": 0, "bad": 0, "errors": {}, "fields": None})
        entry["records"] += result.records + result.bad
        entry["bad"] += result.bad
        for message, count in result.errors.items():
            entry["errors"][message] = entry["errors"].get(message, 0) + count
        entry["fields"] = entry["fields"] or result.fields

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


def unified_schema(paths: list[str], stages: list[Stage]) -> dict[str, pl.DataType]:
    """One schema for every shard; clashes with the run directory's columns or a stage's fail here.
    With no valid record at all (everything quarantined) there is nothing to check."""
    if not paths:
        return {}
    schemas = [pl.read_parquet_schema(p) for p in paths]
    try:
        schema = union_schema(schemas)
    except Exception as err:
        raise InputError(f"input: records disagree on a field's type across files and cannot be combined: {str(err).splitlines()[0]}") from None
    fields = [c for c in schema if not is_private(c)]
    for column in RESERVED_FIELDS:
        if column in fields:
            raise ConfigError(f"input field {column!r} clashes with the column removed/ adds; rename it with input.rename: {{{column}: ...}}")
    available = set(fields)
    for stage in stages:
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


def check_decisions(stage: GroupStage, decisions: Dataset) -> list[str]:
    """A group stage's decisions, checked where `decide` returns them (not one segment later): files
    of `ORDER` (integer), `DROP` (a declared reason) and optionally `DROP_DUPLICATE_OF`. Returns the files."""
    where = f"stage {stage.name!r} ({stage.use})"
    if not isinstance(decisions, Dataset):
        raise StageError(f"{where}: decide() returned {type(decisions).__name__}, not an engine Dataset")
    paths = sorted(p for files in decisions.files.values() for p in files)
    for path in paths:
        schema = pl.read_parquet_schema(path)
        missing = [c for c in (ORDER, DROP) if c not in schema]
        if missing:
            raise StageError(f"{where}: its decisions (step {decisions.name!r}) lack the column(s) {', '.join(missing)}; "
                             f"decide() must return the records to remove as ORDER, DROP (the reason) and optionally DROP_DUPLICATE_OF (has: {', '.join(schema)})")
        if not schema[ORDER].is_integer():
            raise StageError(f"{where}: its decisions' ORDER must be the records' integer positions, not {schema[ORDER]}")
        for column in (DROP, DROP_DUPLICATE_OF):
            if column in schema and schema[column] not in (pl.String, pl.Null):
                raise StageError(f"{where}: its decisions' {column} must hold strings, not {schema[column]}")
    if paths:
        check_reasons(stage, pl.scan_parquet(paths).select(pl.col(DROP).drop_nulls().unique()).collect()[DROP].to_list())
    return paths


def skipped_summary(skipped: list[dict[str, str]]) -> dict[str, Any]:
    """Files a directory input skipped: how many, per reason with a first example, and the first 100."""
    by_why: dict[str, dict[str, Any]] = {}
    for entry in skipped:
        slot = by_why.setdefault(entry["why"], {"files": 0, "example": entry["path"]})
        slot["files"] += 1
    return {"files": len(skipped), "by_why": by_why, "paths": [e["path"] for e in skipped[:100]]}
