"""The run directory's life: claimed, locked, prepared, published and cleared, safe against a kill at
any instant.

A directory is curate's when it holds the marker `.curate-run`, which only curate writes, when it
first takes an empty or new directory. curate writes into no other directory, and `--overwrite`
clears only what a run writes (never the marker, the lock or the sample cache `cache/`).

The two multi-step changes are journalled, so that the next run finishes what a kill interrupted
instead of finding a state it cannot name:

* **publish** (after the ledger balances): `_work/publish.json` holds the run's stats and manifest;
  then the staged files are renamed into kept/, removed/, traces/ and clusters/, stats.json is
  written, then manifest.json (the mark of a complete run), then `_work/` is deleted. A run that finds
  the journal and no manifest renames what is left and writes both: nothing is recomputed.
* **clear** (`--overwrite`): `_clearing.json` names what goes; each entry is renamed into `_trash/`
  (manifest.json first, so the directory never looks complete while half cleared); the journal is
  removed, then `_trash/`. A run that finds the journal moves the rest; one that finds `_trash/` alone
  deletes it.

Files are written to a temporary name and renamed (`.NAME.PID.tmp`, an export's `.NAME.partial`); a
kill leaves those behind, and every run sweeps them away when it takes the lock. Kills are survived;
a power cut is not (nothing is fsynced).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from curate import faults
from curate.errors import RunDirError
from curate.io import InputFile, write_json
from curate.layout import RunLayout
from curate.stages.base import ExportStage

if TYPE_CHECKING:
    from curate.config import PipelineConfig

_TEMPORARY = re.compile(r"^\..+\.\d+\.tmp$")
# What a run writes, in the order --overwrite removes it: the completion mark first.
_RUN_ENTRIES = ("manifest.json", "stats.json", "kept", "removed", "traces", "clusters", "exports", "_work")
_REPORTS = re.compile(r"^report(-against-.+)?\.html$")
"""`curate report`'s files in the run directory: cleared with the run they describe."""


def _owned(name: str) -> bool:
    return name in _RUN_ENTRIES or bool(_REPORTS.match(name))


class RunDirectory:
    def __init__(self, layout: RunLayout):
        self.layout = layout

    # ------------------------------------------------------------ claiming

    def check_usable(self) -> None:
        """Before anything is written: a new or empty directory, or one curate made its own."""
        root = self.layout.root
        if root.exists() and not root.is_dir():
            raise RunDirError(f"output {root}: exists and is not a directory")
        if not root.exists() or self.layout.is_run():
            return
        others = [p for p in root.iterdir() if p.name != self.layout.lock.name]
        if not others:
            return
        if self.layout.manifest.exists():
            raise RunDirError(f"output {root}: holds a manifest.json but no {self.layout.marker.name} marker (not a run directory of this curate); curate changes no directory it did not make: choose another output, or delete it yourself")
        raise RunDirError(f"output {root}: exists, is not empty and is not a curate run directory; choose another output")

    @contextmanager
    def lock(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.layout.lock, "w")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirError(f"output {self.layout.root}: another curate run is using it") from None
            yield
        finally:
            handle.close()

    def claim(self) -> bool:
        """Under the lock: mark the directory as curate's. Returns True when this call marked it."""
        if self.layout.is_run():
            return False
        write_json({"curate": "run directory", "created": datetime.now(UTC).isoformat()}, self.layout.marker)
        return True

    def recover(self) -> None:
        """Under the lock: finish what a killed run left half done, and sweep its temporary files."""
        layout = self.layout
        if layout.clearing.exists():
            self._finish_clear()
        elif layout.trash.exists():
            shutil.rmtree(layout.trash)
        if layout.publishing.exists() and not layout.manifest.exists():
            self._finish_publish()
        elif layout.manifest.exists() and layout.work.exists():
            shutil.rmtree(layout.work)  # a complete run, killed while deleting its working files
        self.sweep_temporary()

    def sweep_temporary(self) -> None:
        """Temporary files a kill left in the directory or its exports (those in _work/ go with it)."""
        root = self.layout.root
        folders = [root] + ([p for p in self.layout.exports.iterdir() if p.is_dir()] if self.layout.exports.is_dir() else [])
        for folder in folders:
            for path in folder.iterdir():
                if path.is_file() and (_TEMPORARY.match(path.name) or (folder != root and path.name.startswith(".") and path.name.endswith(".partial"))):
                    path.unlink(missing_ok=True)

    def state(self) -> str:
        """`complete`, `unfinished` or `fresh` (after recover)."""
        if self.layout.manifest.exists():
            return "complete"
        return "unfinished" if self.layout.plan.exists() else "fresh"

    def fingerprint(self) -> str | None:
        """The fingerprint of the run the directory holds, complete or not."""
        source = self.layout.manifest if self.layout.manifest.exists() else self.layout.plan
        try:
            return json.loads(source.read_text()).get("fingerprint")
        except (OSError, ValueError):
            return None

    def prepare(self, fingerprint: str, overwrite: bool) -> dict[str, Any] | None:
        """Fresh, resumable, complete or refused. Returns the stats of an identical completed run."""
        root, state = self.layout.root, self.state()
        if state == "fresh":
            return None
        if self.fingerprint() == fingerprint and not overwrite:
            return json.loads(self.layout.stats.read_text()) if state == "complete" else None
        if not overwrite:
            held = "a completed" if state == "complete" else "an unfinished"
            raise RunDirError(f"output {root}: holds {held} run of a different pipeline or input; pass --overwrite to replace it")
        self.clear()
        return None

    def discard_failed_start(self, created: bool) -> None:
        """After bad input or configuration (the input or pipeline must change before a re-run): keep
        nothing of the attempt. A directory this run created goes entirely when nothing else is in it;
        any other keeps its marker (and the sample cache), so the next run can use it."""
        shutil.rmtree(self.layout.work, ignore_errors=True)
        if created:
            left = [p for p in self.layout.root.iterdir() if p.name not in (self.layout.marker.name, self.layout.lock.name)]
            if not left:
                shutil.rmtree(self.layout.root, ignore_errors=True)

    # ------------------------------------------------------------ publish

    def publish(self, stats: dict[str, Any], manifest: dict[str, Any]) -> None:
        """The staged files into place, then stats and manifest; journalled (see the module's note)."""
        write_json({"stats": stats, "manifest": manifest}, self.layout.publishing)
        faults.point("publish:journal")
        self._finish_publish()

    def _finish_publish(self) -> None:
        layout = self.layout
        journal = json.loads(layout.publishing.read_text())
        out = layout.work / "out"
        staged = sorted(p.name for p in out.iterdir() if p.is_dir()) if out.exists() else []
        for folder in sorted({"kept", "removed", *staged}):
            public = layout.root / folder
            public.mkdir(parents=True, exist_ok=True)
            source = layout.staged(folder)
            if source.exists():
                for path in sorted(source.glob("*.parquet")):
                    os.replace(path, public / path.name)
                    faults.point("publish:moved")
        write_json(journal["stats"], layout.stats)
        faults.point("publish:stats")
        write_json(journal["manifest"], layout.manifest)
        faults.point("publish:manifest")
        shutil.rmtree(layout.work, ignore_errors=True)

    # ------------------------------------------------------------ clear

    def clear(self) -> None:
        """Remove the previous run's outputs (--overwrite); journalled (see the module's note)."""
        root = self.layout.root
        entries = [name for name in _RUN_ENTRIES if (root / name).exists()]
        entries += sorted(p.name for p in root.glob("report*.html") if _REPORTS.match(p.name))
        if not entries:
            return
        write_json({"move": entries}, self.layout.clearing)
        faults.point("clear:journal")
        self._finish_clear()

    def _finish_clear(self) -> None:
        layout = self.layout
        entries = [name for name in json.loads(layout.clearing.read_text()).get("move", []) if _owned(name)]
        layout.trash.mkdir(exist_ok=True)
        for name in entries:
            source = layout.root / name
            if source.exists() or source.is_symlink():
                target = layout.trash / name
                if target.exists():  # an earlier, interrupted clear moved one of the same name
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                os.replace(source, target)
                faults.point("clear:moved")
        layout.clearing.unlink()
        faults.point("clear:trash")
        shutil.rmtree(layout.trash)


def fingerprint(config: PipelineConfig, files: list[InputFile], task_versions: list[str]) -> str:
    """What a run's outputs depend on: the pipeline (not its exports, not where it writes), the input
    files as found, and the code that runs the tasks. A run directory resumes only the same fingerprint."""
    resolved = config.resolved()
    # an export can change without re-running the pipeline (see curate.runner.exports.refresh)
    resolved["stages"] = [d for d, stage in zip(resolved["stages"], config.stages) if not isinstance(stage, ExportStage)]
    # where the run is, and how its inputs were spelled (relative or absolute), change nothing: the
    # files they matched are below, by absolute path
    resolved.pop("output")
    resolved["input"] = {k: v for k, v in resolved["input"].items() if k != "path"}
    data = {
        "config": resolved,
        "files": [(f.path, f.size, f.mtime_ns) for f in files],
        "versions": task_versions,  # resuming with other code could mix two behaviours
    }
    return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def manifest(
    config: PipelineConfig, files: list[InputFile], sha256: list[str], fingerprint: str, started_at: datetime, executor: dict[str, Any],
    chunk_files: list[int] | None = None,
) -> dict[str, Any]:
    """How the run was made: the pipeline as run, the command, the input files with their digests,
    versions, and where it ran. Written last: its presence marks a complete run."""
    return {
        "fingerprint": fingerprint,
        "pipeline": config.resolved(),
        "source": config.source,
        "command": sys.argv,
        "started": started_at.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "inputs": [
            {"path": f.path, "format": f.format, "bytes": f.size, "modified_ns": f.mtime_ns, "sha256": digest}
            for f, digest in zip(files, sha256)
        ],
        "versions": _versions(),
        "executor": executor,
        # what each stage offers later ones (Stage.provides): `curate export` inherits from it
        "provides": {s.name: s.provides() for s in config.stages if not isinstance(s, ExportStage)},
        # for `curate report`: each stage's score bounds and histogrammed scores, and which input file
        # each chunk (the CCCCCC of kept/ and removed/ file names) was read from
        "thresholds": {s.name: [t.to_json() for t in s.thresholds()] for s in config.stages if s.thresholds()},
        "scores": {s.name: list(s.histograms()) for s in config.stages if s.histograms()},
        **({"chunk_files": chunk_files} if chunk_files is not None else {}),
    }


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("curate", "polars", "pyarrow", "ray", "pydantic", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


__all__ = ["RunDirectory", "fingerprint", "manifest"]
