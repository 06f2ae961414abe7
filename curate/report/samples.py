"""Seeded random samples of removed records, each with what removed it: the score beyond its bound, the
kept duplicate it repeats (with the differences marked), or the benchmark item it matched.

One pass per stage over the columns shown (the rows are drawn first, from the reason column alone),
then one over the ids of the run for the duplicates' partners: never every record in memory.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from curate.columns import DUPLICATE_OF, REASON, STAGE
from curate.layout import RunLayout
from curate.report.views import INPUT_STAGE, bounds, score_columns

if TYPE_CHECKING:
    from curate.results import Run

MAX_CHARS = 2000
"""Text shown per record; the rest is counted, not shown (a report stays small for any run)."""

_ROW = "__report_row"


@dataclass
class Score:
    column: str
    value: float | None
    bound: str | None
    """The bound it failed, described (None: shown for context, not what removed the record)."""


@dataclass
class Segment:
    text: str
    changed: bool


@dataclass
class Partner:
    """The record a duplicate repeats; both texts cut into segments, the differing ones marked."""

    id: str
    status: str
    text: str
    record_segments: list[Segment]
    partner_segments: list[Segment]
    similarity: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass
class Contamination:
    source: str | None
    item: str | None
    item_text: str
    ngrams: list[str]
    figures: dict[str, float]


@dataclass
class Sample:
    id: str
    stage: str
    reason: str
    field: str
    text: str
    chars: int
    scores: list[Score]
    partner: Partner | None = None
    contamination: Contamination | None = None
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    """The record's other fields, each cut short, for context."""
    read: dict[str, str] = dataclasses.field(default_factory=dict)
    """Fields the stage's rules read besides `field` (a rule set's answer field), shown beside the text."""
    reference: str | None = None
    """The reference answer its traces were checked against (runs with traces)."""
    answers: list[tuple[str | None, str | None]] = dataclasses.field(default_factory=list)
    """Its traces' extracted answers and verdicts, in sample order (runs with traces)."""


def text_field(run: Run, stage: str) -> str:
    """The field a stage judged: its `field` parameter, else the input's first text field."""
    if stage == INPUT_STAGE:
        return "input_raw"
    described: dict[str, Any] = next((s for s in run.manifest["pipeline"]["stages"] if s.get("name") == stage), {})
    field_name = described.get("field") or described.get("response_field")
    if isinstance(field_name, str):
        return field_name
    text_fields = run.manifest["pipeline"]["input"].get("text_fields") or []
    return text_fields[0] if text_fields else run.id_field


def draw(run: Run, stage: str | None = None, reason: str | None = None, n: int = 5, seed: int = 0) -> dict[tuple[str, str], list[Sample]]:
    """Up to n random records per (stage, reason) removed by `stage` (every stage when None) for
    `reason` (every reason when None); the same seed draws the same records."""
    files = sorted(run.layout.removed.glob("*.parquet"))
    by_stage: dict[str, list[Path]] = {}
    for path in files:
        name = RunLayout.removed_stage(path)
        if stage is None or name == stage:
            by_stage.setdefault(name, []).append(path)
    order = [s["name"] for s in run.stats["stages"]]
    drawn: dict[tuple[str, str], list[Sample]] = {}
    for name in sorted(by_stage, key=lambda s: order.index(s) if s in order else len(order)):
        drawn.update(_draw_stage(run, name, by_stage[name], reason, n, seed))
    every = [s for group in drawn.values() for s in group]
    _add_partners(run, every)
    _add_answers(run, every)
    return drawn


def _draw_stage(run: Run, stage: str, files: list[Path], reason: str | None, n: int, seed: int) -> dict[tuple[str, str], list[Sample]]:
    scan = pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed").with_row_index(_ROW)
    reasons = scan.select(_ROW, REASON).collect()
    if reason is not None:
        reasons = reasons.filter(pl.col(REASON) == reason)
    picks: dict[str, list[int]] = {}
    removed: dict[str, int] = {}
    for (name,), group in reasons.group_by(REASON, maintain_order=True):
        rows = group[_ROW].to_numpy()
        rng = np.random.default_rng([seed, zlib.crc32(f"{stage}\0{name}".encode())])
        chosen: list[int] = rows[rng.choice(rows.size, size=min(n, rows.size), replace=False)].tolist() if rows.size else []
        picks[str(name)] = chosen
        removed[str(name)] = rows.size
    if not picks:
        return {}
    wanted = [r for rows in picks.values() for r in rows]
    schema = pl.read_parquet_schema(files[0])
    main = text_field(run, stage)
    scores = [c for c in score_columns(run, stage) if c in schema]
    records = scan.filter(pl.col(_ROW).is_in(wanted)).collect()
    by_row = {row[_ROW]: row for row in records.iter_rows(named=True)}
    stage_bounds = bounds(run, stage)
    out: dict[tuple[str, str], list[Sample]] = {}
    for name, picked in sorted(picks.items(), key=lambda item: -removed[item[0]]):
        out[(stage, name)] = [_sample(run, stage, name, main, scores, stage_bounds, by_row[r]) for r in picked]
    return out


def _sample(run: Run, stage: str, reason: str, main: str, scores: list[str], stage_bounds: list[Any], record: dict[str, Any]) -> Sample:
    text = _text(record.get(main))
    failing = {b.column: b for b in stage_bounds if b.matches(reason)}
    shown_scores = []
    for column in scores:
        value = record.get(column)
        number = float(value) if isinstance(value, (int, float)) and value is not None else None
        bound = failing.get(column)
        shown_scores.append(Score(column, number, bound.describe() if bound is not None and bound.fails_at(number) else None))
    sample = Sample(str(record.get(run.id_field)), stage, reason, main, text[:MAX_CHARS], len(text), shown_scores)
    prefix = f"{stage}_"
    if record.get(f"{prefix}item_text") is not None:
        figures = {k: float(record[f"{prefix}{k}"]) for k in ("overlap", "matches", "longest", "numbers") if record.get(f"{prefix}{k}") is not None}
        sample.contamination = Contamination(record.get(f"{prefix}source"), _text(record.get(f"{prefix}item")) or None,
                                             _text(record.get(f"{prefix}item_text"))[:MAX_CHARS], list(record.get(f"{prefix}ngrams") or []), figures)
    described: dict[str, Any] = next((s for s in run.manifest["pipeline"]["stages"] if s.get("name") == stage), {})
    read = [described[k] for k in ("answer_field", "reference_field") if isinstance(described.get(k), str) and described[k] != main]
    sample.read = {k: _short(record.get(k), 600) for k in read if record.get(k) is not None}
    private = {main, _ROW, STAGE, REASON, run.id_field, *scores, *sample.read}
    sample.fields = {k: _short(v) for k, v in record.items() if k not in private and v is not None and not k.startswith(prefix)}
    return sample


def _add_answers(run: Run, samples: list[Sample]) -> None:
    """Each sampled record's traces (extracted answer, verdict) and the reference they were checked
    against: why a problem was judged unsolved or too easy, and a checker's false negative, at a glance."""
    files = sorted((run.layout.root / "traces").glob("*.parquet"))
    if not files or not samples:
        return
    schema = pl.read_parquet_schema(files[0])
    if "extracted_answer" not in schema or run.id_field not in schema:
        return
    ids = list({s.id for s in samples})
    columns = [c for c in ("sample", "extracted_answer", "verdict") if c in schema]
    found = (pl.concat([pl.scan_parquet(p).select(pl.col(run.id_field).cast(pl.String), *columns) for p in files])
             .filter(pl.col(run.id_field).is_in(ids)).collect())
    if not found.height:
        return
    found = found.sort([run.id_field, "sample"]) if "sample" in found.columns else found
    by_id: dict[str, list[tuple[str | None, str | None]]] = {}
    for row in found.iter_rows(named=True):
        by_id.setdefault(row[run.id_field], []).append((row.get("extracted_answer"), row.get("verdict")))
    reference_field = next((p["answer_field"] for p in (run.manifest.get("provides") or {}).values() if isinstance(p, dict) and p.get("answer_field")), None)
    references = {}
    if reference_field:
        references = {k: _short(v[1].get(reference_field), 200) for k, v in find_records(run, set(by_id), {reference_field}).items()}
    for sample in samples:
        if sample.id in by_id:
            sample.answers = by_id[sample.id]
            sample.reference = references.get(sample.id)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n---\n\n".join(_text(v) for v in value)
    return str(value)


def _short(value: Any, limit: int = 160) -> str:
    text = _text(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def find_records(run: Run, ids: set[str], fields: set[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Records by id (kept, or "removed by STAGE (REASON)"), with `fields`: one pass over the id column of
    each file, then only the matching rows of the files that hold them."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    files = sorted(run.layout.kept.glob("*.parquet")) + sorted(run.layout.removed.glob("*.parquet"))
    if not files or not ids:
        return found
    where = (
        pl.concat([pl.scan_parquet(p).select(pl.col(run.id_field).cast(pl.String)).with_row_index(_ROW).with_columns(pl.lit(i, pl.UInt32).alias("__file"))
                   for i, p in enumerate(files)])
        .filter(pl.col(run.id_field).is_in(list(ids)))
        .collect()
    )
    for (index,), group in where.group_by("__file"):
        path = files[int(index)]
        kept = path.parent == run.layout.kept
        schema = pl.read_parquet_schema(path)
        columns = [c for c in fields if c in schema and c != run.id_field] + ([] if kept else [STAGE, REASON])
        hits = (pl.scan_parquet(path).with_row_index(_ROW).filter(pl.col(_ROW).is_in(group[_ROW].to_list()))
                .select(pl.col(run.id_field).cast(pl.String), *columns).collect())
        for row in hits.iter_rows(named=True):
            found[row[run.id_field]] = ("kept" if kept else f"removed by {row.get(STAGE)} ({row.get(REASON)})", row)
    return found


def _add_partners(run: Run, samples: list[Sample]) -> None:
    """Each duplicate's partner (kept, or removed itself later), found by id."""
    wanted = {s.fields[DUPLICATE_OF] for s in samples if s.fields.get(DUPLICATE_OF)}
    if not wanted:
        return
    found = find_records(run, wanted, {s.field for s in samples if s.fields.get(DUPLICATE_OF)})
    for sample in samples:
        partner_id = sample.fields.get(DUPLICATE_OF)
        if not partner_id:
            continue
        if partner_id not in found:
            sample.partner = Partner(partner_id, "missing", "", [Segment(sample.text, False)], [])
            continue
        where, row = found[partner_id]
        partner_text = _text(row.get(sample.field))[:MAX_CHARS]
        mine, theirs = diff(sample.text, partner_text)
        similarity: dict[str, float] = {}
        stage = run._stage(sample.stage)
        if hasattr(stage, "explain_pair"):
            try:
                similarity = stage.explain_pair({sample.field: sample.text}, {sample.field: partner_text})
            except Exception:  # a stage that needs more than its field to compare: shown without it
                similarity = {}
        sample.partner = Partner(partner_id, where, partner_text, mine, theirs, similarity)


_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def diff(a: str, b: str) -> tuple[list[Segment], list[Segment]]:
    """Word-level differences: each text cut into runs of equal and changed tokens."""
    left, right = _TOKENS.findall(a), _TOKENS.findall(b)
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    mine: list[Segment] = []
    theirs: list[Segment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = op != "equal"
        if i2 > i1:
            _append(mine, "".join(left[i1:i2]), changed)
        if j2 > j1:
            _append(theirs, "".join(right[j1:j2]), changed)
    return mine, theirs


def _append(segments: list[Segment], text: str, changed: bool) -> None:
    if segments and segments[-1].changed == changed:
        segments[-1].text += text
    else:
        segments.append(Segment(text, changed))


__all__ = ["MAX_CHARS", "Contamination", "Partner", "Sample", "Score", "Segment", "diff", "draw", "find_records", "text_field"]
