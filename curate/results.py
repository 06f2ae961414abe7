"""A finished run directory, read: its stats and manifest, its kept and removed records, and why.

Kept apart from curate.api so that the commands that only read (`curate stats`, `explain`) import
neither the pipeline's configuration nor polars until they need them: they start in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.columns import DUPLICATE_OF, REASON, STAGE, is_private
from curate.errors import ConfigError, CurateError, RunDirError
from curate.layout import RunLayout

if TYPE_CHECKING:
    import polars as pl


def open_run(path: str | Path) -> Run:
    return Run(path)


class Run:
    """A completed run directory: its stats and manifest, its kept and removed records, and why."""

    def __init__(self, path: str | Path):
        self.layout = RunLayout(path)
        if not self.layout.root.is_dir():
            raise RunDirError(f"{path}: no such directory")
        if not self.layout.stats.exists() or not self.layout.manifest.exists():
            unfinished = " (unfinished: run the same command again to resume)" if self.layout.plan.exists() else ""
            raise RunDirError(f"{path}: not a completed curate run directory{unfinished}")
        self.stats: dict[str, Any] = json.loads(self.layout.stats.read_text())
        self.manifest: dict[str, Any] = json.loads(self.layout.manifest.read_text())
        self.id_field: str = self.manifest["pipeline"]["input"]["id_field"]

    @property
    def path(self) -> Path:
        return self.layout.root

    def kept(self) -> pl.LazyFrame:
        """Surviving records, in input order."""
        return _scan(sorted(self.layout.kept.glob("*.parquet")))

    def traces(self, status: str | None = None) -> pl.LazyFrame:
        """Generated (or verified) samples, one row per (id, sample): response, extracted answer, verdict,
        and `status` (kept, or the stage that removed the record). `status="kept"` gives only those of
        kept records (what an SFT export reads)."""
        import polars as pl

        files = sorted((self.layout.root / "traces").glob("*.parquet"))
        if not files:
            raise CurateError(f"{self.path}: no traces/ (a run writes them with generate, or verify with response_field)")
        if status == "kept":
            files = [p for p in files if p.name.startswith("part-")]
        elif status is not None:
            files = [p for p in files if not p.name.startswith("part-") and RunLayout.removed_stage(p) == status]
        if not files:
            return pl.LazyFrame()
        return pl.concat(
            [pl.scan_parquet(p).with_columns(pl.lit("kept" if p.name.startswith("part-") else RunLayout.removed_stage(p)).alias("status")) for p in files],
            how="diagonal_relaxed",
        )

    def clusters(self, stage: str | None = None) -> pl.LazyFrame:
        """Near-duplicate clusters of a `minhash_dedup` stage run with `write_clusters: true`: one row per
        record in a cluster, with the cluster's representative."""
        import polars as pl

        files = sorted((self.layout.root / "clusters").glob(f"{stage}-*.parquet" if stage else "*.parquet"))
        if not files:
            written = [s["name"] for s in self.manifest["pipeline"]["stages"] if s.get("write_clusters")]
            raise CurateError(f"{self.path}: no clusters/ " + (f"of stage {stage!r} " if stage else "") + (
                f"(stages that write them: {', '.join(written)})" if written else "(set write_clusters: true on a minhash_dedup stage)"))
        return pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed")

    def samples(self, stage: str | None = None, reason: str | None = None, n: int = 5, seed: int = 0) -> pl.DataFrame:
        """Random records removed by `stage` for `reason` (either may be None: all), up to n per (stage,
        reason), seeded: the records `curate report` and `curate stats --samples` show, one row each,
        with the score that removed it (`failed_score`, `bound`) and a duplicate's partner (`partner_id`,
        `partner_status`, `partner_text`)."""
        import polars as pl

        from curate.report.samples import draw

        if stage is not None:
            self.stage_stats(stage)  # an unknown stage: a clear error
        rows = []
        for (stage_name, reason_name), group in draw(self, stage=stage, reason=reason, n=n, seed=seed).items():
            for s in group:
                failed = next((x for x in s.scores if x.bound), None)
                rows.append({"id": s.id, "stage": stage_name, "reason": reason_name, "field": s.field, "text": s.text, "chars": s.chars,
                             "failed_score": failed.column if failed else None, "score": failed.value if failed else None, "bound": failed.bound if failed else None,
                             "partner_id": s.partner.id if s.partner else None, "partner_status": s.partner.status if s.partner else None,
                             "partner_text": s.partner.text if s.partner else None,
                             "benchmark_item": s.contamination.item_text if s.contamination else None})
        schema = {"id": pl.String, "stage": pl.String, "reason": pl.String, "field": pl.String, "text": pl.String, "chars": pl.Int64,
                  "failed_score": pl.String, "score": pl.Float64, "bound": pl.String, "partner_id": pl.String, "partner_status": pl.String,
                  "partner_text": pl.String, "benchmark_item": pl.String}
        return pl.DataFrame(rows, schema=schema)

    def scores(self, stage: str) -> Any:
        """One stage's scores as `curate report` shows them (`curate.report.views.StageScores`): per score,
        a histogram of the records it kept vs those it removed, and what-if grids (records kept were a
        bound moved, from the stored scores); per rule, records failing it alone and together."""
        from curate.report.views import stage_scores

        self.stage_stats(stage)
        return stage_scores(self, stage)

    def report(self, out: str | Path | None = None, *, against: str | Path | Run | None = None, samples: int = 5, seed: int = 0) -> Path:
        """Write the run's HTML report (see `curate report`); returns its path."""
        from curate.report import write_report

        return write_report(self, out, against=against, samples=samples, seed=seed)

    def __repr__(self) -> str:
        s = self.stats
        removing = [st for st in s["stages"] if st["removed"]]
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(s.get("removed_by_reason", {}).items(), key=lambda kv: -kv[1])[:6])
        more = len(s.get("removed_by_reason", {})) - 6
        folders = [f for f in ("kept", "removed", "traces", "clusters", "exports") if (self.path / f).exists()]
        return (f"Run({str(self.path)!r}: {s.get('pipeline') or 'pipeline'}, {s['input']:,} in, {s['kept']:,} kept, {s['removed']:,} removed "
                f"by {len(removing)} of {len(s['stages'])} stages" + (f" ({reasons}{f', +{more} more reasons' if more > 0 else ''})" if reasons else "")
                + f"; {', '.join(folders)}/)")

    def stage_stats(self, name: str) -> dict[str, Any]:
        """One stage's entry in stats.json, with its rules (reasons) from the manifest where it lists them."""
        for entry in self.stats["stages"]:
            if entry["name"] == name:
                described: dict[str, Any] = next((s for s in self.manifest["pipeline"]["stages"] if s.get("name") == name), {})
                rules = [r["reason"] for r in described.get("rules", [])]
                return {**entry, **({"rules": rules} if rules else {})}
        raise ConfigError(f"{self.path}: no stage {name!r} (stages: {', '.join(s['name'] for s in self.stats['stages'])})")

    def removed(self, stage: str | None = None) -> pl.LazyFrame:
        """Removed records with `stage`, `reason` and `duplicate_of` (and every column of the run)."""
        pattern = f"{stage}-*.parquet" if stage else "*.parquet"
        files = [p for p in sorted(self.layout.removed.glob(pattern)) if stage is None or RunLayout.removed_stage(p) == stage]
        return _scan(files, removed=True)

    def export(self, format: str, to: str | Path, *, overwrite: bool = False, **params: Any) -> dict[str, Any]:
        """Write this run's records in a trainer's format (see curate/stages/export.py). The prompt and the
        answer field default to the run's own: its generate stage's prompt, its verify stage's reference."""
        from curate import exporting
        from curate.config import inherited_defaults
        from curate.stages.export import Export, ExportParams

        pipeline_stages = [e for e in self.manifest["pipeline"]["stages"] if e.get("use") != "export"]
        destination = Path(to).expanduser().resolve()
        try:
            export_params = ExportParams.model_validate({**params, "format": format, "to": str(destination)})
            provided = self.manifest.get("provides") or {}
            offers = [provided[e["name"]] if e.get("name") in provided else _provided(e) for e in pipeline_stages]
            stage = Export(f"export-{format}", export_params.model_copy(update=inherited_defaults(export_params, offers)))
        except ValueError as err:
            raise ConfigError(f"export: {_first_error(err)}") from None
        unknown = [n for n in stage.params.include_removed if n not in {e.get("name") for e in pipeline_stages}]
        if unknown:
            raise ConfigError(f"export {format}: include_removed names {unknown[0]!r}, which is not a stage of {self.path} (stages: {', '.join(e['name'] for e in pipeline_stages)})")
        exporting.check_destination(destination, overwrite, run=self.layout)
        if stage.needs_traces() and not (self.layout.root / "traces").exists():
            raise ConfigError(f"export {format}: {self.path} has no traces/ (no generate, or verify with response_field, in its pipeline)")
        columns = self._kept_columns()
        missing = [f for f in stage.reads() if not is_private(f) and f not in columns]
        if missing:
            raise ConfigError(f"export {format}: the kept records of {self.path} have no field {missing[0]!r} (fields: {', '.join(columns)}); set it with the matching option")
        return exporting.export_layout(stage, self.layout, self.id_field, source=self.manifest["pipeline"].get("name") or "curate")

    def _kept_columns(self) -> list[str]:
        import polars as pl

        files = sorted(self.layout.kept.glob("*.parquet"))
        return list(pl.read_parquet_schema(files[0])) if files else []

    def explain(self, record_id: str) -> dict[str, Any]:
        """Where a record went and why; for a duplicate, the record it duplicates."""
        found = self._find(record_id)
        if found is None:
            raise CurateError(f"{self.path}: no record with {self.id_field} {record_id!r} in kept/ or removed/")
        answer = found
        partner_id = found["record"].get(DUPLICATE_OF)
        if partner_id:
            partner = self._find(partner_id)
            answer["duplicate"] = partner if partner is not None else {"id": partner_id, "status": "missing"}
            stage = self._stage(found.get("stage"))
            if partner is not None and hasattr(stage, "explain_pair"):
                answer["similarity"] = stage.explain_pair(found["record"], partner["record"])
        steps = self._steps(record_id)
        if steps:
            answer["steps"] = steps
        return answer

    def _steps(self, record_id: str) -> list[dict[str, Any]]:
        """The record's traces that step_labels labelled: each step's text, label, share of completions
        that reached the answer, and the answers they reached."""
        import polars as pl

        files = sorted((self.layout.root / "traces").glob("*.parquet"))
        if not files or "step_labels" not in pl.read_parquet_schema(files[0]):
            return []
        rows = (
            pl.scan_parquet(files).filter((pl.col(self.id_field).cast(pl.String) == record_id) & pl.col("step_labels").is_not_null())
            .select("sample", "response", "correct", "first_error_step", "step_starts", "step_ends", "step_labels", "step_scores", "step_answers")
            .collect().sort("sample")
        )
        return [
            {"sample": r["sample"], "correct": r["correct"], "first_error_step": r["first_error_step"],
             "steps": [{"step": i, "text": r["response"][a:b].strip(), "label": label, "score": score, "answers": answers}
                       for i, (a, b, label, score, answers) in enumerate(zip(r["step_starts"], r["step_ends"], r["step_labels"], r["step_scores"], r["step_answers"]))]}
            for r in rows.iter_rows(named=True)
        ]

    def _stage(self, name: str | None) -> Any:
        """The stage as it ran (from the manifest), to recompute what it saw."""
        if name is None:
            return None
        for entry in self.manifest["pipeline"]["stages"]:
            if entry["name"] == name:
                params = {k: v for k, v in entry.items() if k not in ("name", "use")}
                try:
                    from curate.stages import stage_type

                    cls = stage_type(entry["use"])
                    return cls(name, cls.Params.model_validate({k: v for k, v in params.items() if k in cls.Params.model_fields}))
                except Exception:  # a custom stage no longer importable: explain without it
                    return None
        return None

    def _find(self, record_id: str) -> dict[str, Any] | None:
        import polars as pl

        for status, files in (("kept", sorted(self.layout.kept.glob("*.parquet"))), ("removed", sorted(self.layout.removed.glob("*.parquet")))):
            for path in files:
                hit = pl.scan_parquet(path).filter(pl.col(self.id_field) == record_id).collect()
                if hit.height:
                    record = hit.row(0, named=True)
                    answer: dict[str, Any] = {"id": record_id, "status": status, "file": str(path.relative_to(self.path)), "record": record}
                    if status == "removed":
                        answer.update(stage=record.get(STAGE), reason=record.get(REASON), use=self._use_of(record.get(STAGE)))
                    return answer
        return None

    def _use_of(self, stage: str | None) -> str | None:
        for entry in self.stats["stages"]:
            if entry["name"] == stage:
                return entry["use"]
        return None


def _first_error(err: ValueError) -> str:
    errors = getattr(err, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(err).splitlines()[0]


def _scan(files: list[Path], removed: bool = False) -> pl.LazyFrame:
    import polars as pl

    if not files:
        return pl.LazyFrame(schema={STAGE: pl.String, REASON: pl.String, DUPLICATE_OF: pl.String} if removed else {})
    return pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed")


__all__ = ["Run", "open_run"]


def _provided(described: dict[str, Any]) -> dict[str, Any]:
    """What a stage of a run whose manifest predates `provides` offers later stages, rebuilt from its
    description; nothing when its type can no longer be loaded."""
    from curate.stages import stage_type

    params = {k: v for k, v in described.items() if k not in ("name", "use")}
    try:
        cls = stage_type(described["use"])
        return cls(described["name"], cls.Params.model_validate(params)).provides()
    except Exception:
        return {}
