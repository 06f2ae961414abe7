"""Writing an export: a finished run's records (and traces) streamed file by file through an export
stage's row builder into train/validation files, then renamed into place with an `export.json`.

Memory holds one run file at a time plus the ids (for the split), never the whole run. Parquet is
written with plain Arrow string and list types (not polars' large_* ones), which every reader of the
trainers (HF datasets, pyarrow, pandas) takes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.columns import is_private
from curate.errors import ConfigError, RunDirError
from curate.io import conform, conform_table, plain_schema, union_schema, write_json
from curate.layout import RunLayout
from curate.stages.base import ExportStage
from curate.stages.export import SPLITS

SUMMARY = "export.json"


def destination(stage: ExportStage, layout: RunLayout) -> Path:
    """Where an export of this run goes: its `to`, else OUT/exports/<stage name>."""
    return layout.export_dir(stage.name, getattr(stage.params, "to", None))


def check_destination(to: Path, overwrite: bool, run: RunLayout | None = None) -> None:
    """A new or empty directory, or an earlier export (replaced only with `overwrite`); inside a run
    directory, only under its exports/ (its kept/ is read as the run's records)."""
    if run is not None and to.resolve().is_relative_to(run.root.resolve()) and not to.resolve().is_relative_to(run.exports.resolve()):
        raise RunDirError(f"export to {to}: inside the run directory {run.root}; use a directory under {run.exports} or outside the run")
    if to.exists() and not to.is_dir():
        raise RunDirError(f"export to {to}: exists and is not a directory")
    if not to.exists() or not [p for p in to.iterdir() if not p.name.endswith(".partial")]:  # a killed export's leftovers
        return
    if not (to / SUMMARY).exists():
        raise RunDirError(f"export to {to}: exists, is not empty and holds no export; choose another directory")
    if not overwrite:
        raise RunDirError(f"export to {to}: holds an earlier export; pass --overwrite to replace it")


def is_current(stage: ExportStage, to: Path) -> bool:
    """The export on disk is this stage's, complete: its export.json describes the same stage and
    every file it lists is there."""
    try:
        summary = json.loads((to / SUMMARY).read_text())
    except (OSError, ValueError):
        return False
    return summary.get("stage") == stage.describe() and all((to / entry["path"]).is_file() for entry in summary.get("files", {}).values())


def validation_ids(ids: pl.Series, validation: float, seed: int) -> set[str]:
    """The held-out ids. A fraction is a threshold on each id's keyed hash: a record's side depends on
    its id alone, so every export of a run (and of a later run) puts a problem on the same side. A
    count (1 and up) takes the ids with the smallest hashes."""
    if validation <= 0 or not len(ids):
        return set()
    salt = f"{seed}\x1f".encode()
    hashed = [(int.from_bytes(hashlib.blake2b(salt + i.encode(), digest_size=8).digest(), "big"), i) for i in ids.to_list()]
    if validation >= 1:
        return {i for _, i in sorted(hashed)[: int(validation)]}
    cut = int(validation * 2**64)
    return {i for h, i in hashed if h < cut}


def export_layout(
    stage: ExportStage,
    layout: RunLayout,
    id_field: str,
    *,
    source: str,
    staged: bool = False,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> dict[str, Any]:
    """Export a run directory: its kept records (the staged ones, before the run publishes them), the
    records removed by the stages the export includes, and their traces."""
    kept_dir, removed_dir, traces_dir = (layout.staged(f) if staged else layout.root / f for f in ("kept", "removed", "traces"))
    files = sorted(kept_dir.glob("*.parquet"))
    for name in getattr(stage.params, "include_removed", []):
        files += [p for p in sorted(removed_dir.glob(f"{name}-*.parquet")) if layout.removed_stage(p) == name]
    return export_run(stage, files, traces_dir, id_field, destination(stage, layout), run=str(layout.root), source=source, progress=progress)


def export_run(
    stage: ExportStage,
    record_files: list[Path],
    traces_dir: Path | None,
    id_field: str,
    to: Path,
    *,
    run: str,
    source: str,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> dict[str, Any]:
    """Write the export; returns (and writes as export.json) what it holds and what it left out.
    `progress(total records)` returns a callback advanced by each file's records."""
    to.mkdir(parents=True, exist_ok=True)
    ids = (
        pl.concat([pl.scan_parquet(f).select(pl.col(id_field).cast(pl.String)) for f in record_files]).collect()[id_field]
        if record_files
        else pl.Series(id_field, [], dtype=pl.String)
    )
    advance = progress(len(ids)) if progress else None
    held_out = validation_ids(ids, *stage.split())
    # every file with every column: a record removed early (include_removed) lacks later stages' scores
    schema: dict[str, pl.DataType] = union_schema([pl.read_parquet_schema(f) for f in record_files]) if record_files else {id_field: pl.String(), **{f: pl.String() for f in stage.reads() if not is_private(f)}}
    suffix = stage.file_format()
    splits = [s for s in SPLITS if s == "train" or stage.split()[0] > 0]  # a held-out share can select none: still a file
    writers = {split: _Writer(to / f".{split}.{suffix}.partial", suffix) for split in splits}
    rows = Counter[str]()
    records = Counter[str]()
    skipped: Counter = Counter()
    try:
        for path in record_files:
            frame = conform(pl.read_parquet(path), schema)
            traces = None
            if stage.needs_traces() and traces_dir is not None and (traces_dir / path.name).exists():
                traces = pl.read_parquet(traces_dir / path.name)
                if "correct" not in traces.columns:
                    raise RunDirError(f"export {stage.name!r}: {traces_dir / path.name} has no verdicts; run a verify stage before an sft export")
            in_validation = frame[id_field].cast(pl.String).is_in(list(held_out)) if held_out else pl.Series([False] * frame.height)
            for split in splits:
                part = frame.filter(in_validation if split == "validation" else ~in_validation)
                if not part.height:
                    continue
                try:
                    out, left_out = stage.rows(part, split, rows[split], id_field, traces, source)
                except ValueError as err:  # a parameter the run's data does not fit (best:<field> of no field)
                    raise ConfigError(f"export {stage.name!r}: {str(err).splitlines()[0]}") from None
                writers[split].write(out)
                rows[split] += out.height
                records[split] += part.height
                skipped.update(left_out)
            if advance:
                advance(frame.height)
        for split in splits:

            def empty(split: str = split) -> pl.DataFrame:
                return stage.rows(pl.DataFrame(schema=schema), split, 0, id_field, None, source)[0]

            writers[split].close(empty=empty)
    except BaseException:
        for writer in writers.values():
            writer.abandon()
        raise
    files = {}
    for split in SPLITS:
        final = to / f"{split}.{suffix}"
        for old in to.glob(f"{split}.*"):
            if old != final:
                old.unlink()
        if split in writers:
            os.replace(writers[split].path, final)
            files[split] = {"path": final.name, "rows": rows[split], "records": records[split]}
    summary = {
        "format": getattr(stage.params, "format", stage.use),
        "run": run,
        "records": len(ids),
        "files": files,
        "left_out": dict(sorted(skipped.items())),
        "stage": stage.describe(),
        "created": datetime.now(UTC).isoformat(),
    }
    write_json(summary, to / SUMMARY)
    return {**summary, "to": str(to)}


class _Writer:
    """One output file, appended to one run file at a time."""

    def __init__(self, path: Path, suffix: str):
        self.path, self.suffix = path, suffix
        self.parquet: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.jsonl = open(path, "w", encoding="utf-8") if suffix == "jsonl" else None

    def write(self, frame: pl.DataFrame) -> None:
        if self.jsonl is not None:
            if frame.height:
                self.jsonl.write(frame.write_ndjson())
            return
        table = frame.to_arrow()
        if self.schema is None:
            self.schema = plain_schema(table.schema)
            self.parquet = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        assert self.parquet is not None  # opened with the schema
        self.parquet.write_table(conform_table(table, self.schema))

    def close(self, empty: Callable[[], pl.DataFrame]) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
            return
        if self.parquet is None:  # nothing written: still a file with the format's columns
            self.write(empty())
        assert self.parquet is not None  # write opened it
        self.parquet.close()

    def abandon(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.parquet is not None:
            self.parquet.close()
        self.path.unlink(missing_ok=True)


__all__ = ["SUMMARY", "check_destination", "destination", "export_layout", "export_run", "is_current", "validation_ids"]
