"""A run's export stages, written after the ledger balances (they are not in it): checked before the
run, written from the staged files before publishing, and rewritten alone when only they changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate import exporting
from curate.errors import ConfigError
from curate.io import write_json
from curate.layout import RunLayout
from curate.stages.base import ExportStage

log = logging.getLogger("curate")

Progress = Callable[[str, int], Callable[[int], None]]
"""(label, total records) -> advance(records)."""


def check_destinations(exports: list[ExportStage], layout: RunLayout) -> None:
    """Before the run, not after hours of it: one directory per export, never the run's own folders."""
    seen: dict[Path, str] = {}
    for stage in exports:
        to = exporting.destination(stage, layout)
        if to in seen:
            raise ConfigError(f"stages {seen[to]!r} and {stage.name!r} both export to {to}; give one another `to`")
        seen[to] = stage.name
        exporting.check_destination(to, overwrite=True, run=layout)


def export(stage: ExportStage, layout: RunLayout, id_field: str, source: str, staged: bool, progress: Progress) -> dict[str, Any]:
    """One export stage over the run's records and traces (before publishing: the staged files)."""
    summary = exporting.export_layout(stage, layout, id_field, source=source, staged=staged, progress=lambda total: progress(f"export {stage.name}", total))
    files = ", ".join(f"{split} {Path(summary['to']) / f['path']} ({f['rows']:,} rows)" for split, f in summary["files"].items())
    log.debug("export %s (%s): %s", stage.name, summary["format"], files)  # `curate run` prints it with the stats
    return summary


def refresh(exports: list[ExportStage], stats: dict[str, Any], layout: RunLayout, id_field: str, source: str, progress: Progress) -> dict[str, Any]:
    """A completed run whose exports changed (or were deleted): only the exports are written again."""
    stale = [s for s in exports if not exporting.is_current(s, exporting.destination(s, layout))]
    if not stale:
        log.info("%s already holds this run, complete; nothing to do (--overwrite to run again)", layout.root)
        return stats
    log.info("%s already holds this run, complete; writing its changed exports: %s", layout.root, ", ".join(s.name for s in stale))
    names = {s.name for s in exports}
    summaries = {name: summary for name, summary in stats.get("exports", {}).items() if name in names}
    for stage in stale:
        summaries[stage.name] = export(stage, layout, id_field, source, staged=False, progress=progress)
    stats = {**stats, "exports": summaries}
    write_json(stats, layout.stats)
    return stats
