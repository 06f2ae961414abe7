"""Where things live in a run directory. The public part is a contract (see README, "The run directory").

    OUT/kept/part-CCCCCC-PPPPP.parquet      surviving records; file names sort in input order
    OUT/removed/STAGE-CCCCCC-PPPPP.parquet  removed records with `stage`, `reason`, `duplicate_of`
    OUT/traces/<kept or removed file name>  generated samples of those files' records, one row per (id, sample)
    OUT/cache/                              completed samples (generate), kept by --overwrite
    OUT/clusters/STAGE-....parquet          near-duplicate clusters, when a stage is asked to write them
    OUT/exports/STAGE/                      an export stage's train/validation files and export.json (unless `to`)
    OUT/stats.json, OUT/manifest.json
    OUT/report.html                         `curate report`'s page (written by `curate run` too);
                                            OUT/report-against-NAME.html compares with another run
    OUT/.curate-run                         the marker: curate writes into (and --overwrite clears) only
                                            directories that hold it
    OUT/_work/                              the run in progress: plan, done-markers, staged files;
                                            deleted when the run completes and its ledger balances
    OUT/_clearing.json, OUT/_trash/         an --overwrite in progress (see curate/runner/rundir.py)
"""

from __future__ import annotations

from pathlib import Path


def shard_name(chunk: int, part: int) -> str:
    return f"{chunk:06d}-{part:05d}"


class RunLayout:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.kept = self.root / "kept"
        self.removed = self.root / "removed"
        self.stats = self.root / "stats.json"
        self.manifest = self.root / "manifest.json"
        self.work = self.root / "_work"
        self.plan = self.work / "plan.json"
        self.lock = self.root / ".lock"
        self.marker = self.root / ".curate-run"
        self.publishing = self.work / "publish.json"
        self.clearing = self.root / "_clearing.json"
        self.trash = self.root / "_trash"
        self.staged_kept = self.staged("kept")
        self.staged_removed = self.staged("removed")
        self.exports = self.root / "exports"
        self.report = self.root / "report.html"

    def done(self, phase: str, key: str) -> Path:
        return self.work / "done" / phase / f"{key}.json"

    def input_part(self, shard: str) -> Path:
        return self.work / "input" / f"{shard}.parquet"

    def segment_part(self, segment: int, shard: str) -> Path:
        return self.work / f"segment-{segment}" / f"{shard}.parquet"

    def service_part(self, stage: str, batch: str) -> Path:
        return self.work / "service" / stage / f"{batch}.parquet"

    def shuffle(self, stage: str, shard: str, partition: int, name: str = "keys") -> Path:
        return self.work / "shuffle" / stage / name / f"{shard}-p{partition:05d}.parquet"

    def decisions(self, stage: str, partition: int) -> Path:
        return self.work / "decisions" / stage / f"p{partition:05d}.parquet"

    def step(self, stage: str, step: str, partition: int, target: int) -> Path:
        """Output of an engine round: from input partition `partition`, for output partition `target`."""
        return self.work / "steps" / stage / step / f"p{partition:05d}-q{target:05d}.parquet"

    def staged(self, folder: str) -> Path:
        """Where outputs wait until the ledger balances: `_work/out/<folder>`, renamed to OUT/<folder>."""
        return self.work / "out" / folder

    def kept_part(self, shard: str, staged: bool = True) -> Path:
        return (self.staged_kept if staged else self.kept) / f"part-{shard}.parquet"

    def removed_part(self, stage: str, shard: str, staged: bool = True) -> Path:
        return (self.staged_removed if staged else self.removed) / f"{stage}-{shard}.parquet"

    def export_dir(self, stage: str, to: str | None = None) -> Path:
        return Path(to).expanduser().resolve() if to else self.exports / stage

    @staticmethod
    def removed_stage(path: Path) -> str:
        """removed/STAGE-CCCCCC-PPPPP[-tag].parquet -> STAGE (stage names may contain '-')."""
        parts = path.stem.split("-")
        for cut in range(len(parts) - 1, 0, -1):
            if parts[cut].isdigit() and len(parts[cut]) == 6:
                return "-".join(parts[:cut])
        return path.stem

    def is_run(self) -> bool:
        """A directory curate made its own (see curate/runner/rundir.py), whatever state a kill left it in."""
        return self.marker.is_file()
