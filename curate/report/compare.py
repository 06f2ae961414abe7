"""Two runs of the same input side by side: which records one kept and the other removed, by stage and
reason, with samples, and the parameters that differ. The everyday question after changing a threshold."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from curate.columns import REASON, STAGE
from curate.errors import ConfigError
from curate.report.samples import MAX_CHARS, find_records, text_field

if TYPE_CHECKING:
    from curate.results import Run

KEPT = "kept"


@dataclass
class ChangedRecord:
    id: str
    text: str
    chars: int


@dataclass
class Change:
    """Records with one fate in this run and another in the other one."""

    here: str
    """"kept", or "STAGE: REASON" in this run."""
    there: str
    count: int
    samples: list[ChangedRecord] = field(default_factory=list)


@dataclass
class Comparison:
    here: str
    there: str
    records: int
    kept_here: int
    kept_there: int
    changes: list[Change]
    parameters: list[tuple[str, str, Any, Any]]
    """(stage, parameter, value here, value there) for each parameter that differs."""
    stages: list[tuple[str, int, int]]
    """(stage, removed here, removed there)."""


def compare(here: Run, there: Run, n: int = 5, seed: int = 0) -> Comparison:
    ours = sorted(i.get("sha256", "") for i in here.manifest.get("inputs", []))
    theirs = sorted(i.get("sha256", "") for i in there.manifest.get("inputs", []))
    if ours != theirs:
        raise ConfigError(f"{there.path}: read other input than {here.path} (the inputs' sha256 differ in manifest.json); --against compares runs of the same input")
    fates = _fates(here).join(_fates(there), on="id", how="full", coalesce=True, suffix="_there")
    fates = fates.with_columns(pl.col("fate").fill_null("absent"), pl.col("fate_there").fill_null("absent"))
    moved = fates.filter(pl.col("fate") != pl.col("fate_there"))
    groups = moved.group_by("fate", "fate_there").agg(pl.len().alias("n"), pl.col("id")).sort("n", descending=True)
    changes = []
    for fate, fate_there, count, ids in groups.iter_rows():
        rng = np.random.default_rng([seed, zlib.crc32(f"{fate}\0{fate_there}".encode())])
        picked = [ids[i] for i in rng.choice(len(ids), size=min(n, len(ids)), replace=False)] if ids else []
        changes.append(Change(fate, fate_there, int(count), [ChangedRecord(i, "", 0) for i in picked]))
    _fill_texts(here, there, changes)
    stages_here = {s["name"]: sum(s["removed"].values()) for s in here.stats["stages"]}
    stages_there = {s["name"]: sum(s["removed"].values()) for s in there.stats["stages"]}
    names = list(dict.fromkeys([*stages_here, *stages_there]))
    return Comparison(
        str(here.path), str(there.path), fates.height, here.stats["kept"], there.stats["kept"], changes,
        _parameters(here, there), [(s, stages_here.get(s, 0), stages_there.get(s, 0)) for s in names],
    )


def _fates(run: Run) -> pl.DataFrame:
    frames = []
    kept = sorted(run.layout.kept.glob("*.parquet"))
    removed = sorted(run.layout.removed.glob("*.parquet"))
    if kept:
        frames.append(pl.concat([pl.scan_parquet(p).select(pl.col(run.id_field).cast(pl.String).alias("id")) for p in kept]).with_columns(pl.lit(KEPT).alias("fate")))
    if removed:
        frames.append(pl.concat([pl.scan_parquet(p).select(pl.col(run.id_field).cast(pl.String).alias("id"), (pl.col(STAGE) + ": " + pl.col(REASON)).alias("fate")) for p in removed]))
    if not frames:
        return pl.DataFrame(schema={"id": pl.String, "fate": pl.String})
    return pl.concat(frames).collect()


def _fill_texts(here: Run, there: Run, changes: list[Change]) -> None:
    wanted = {r.id for c in changes for r in c.samples}
    if not wanted:
        return
    main = text_field(here, here.stats["stages"][-1]["name"]) if here.stats["stages"] else here.id_field
    text_fields = here.manifest["pipeline"]["input"].get("text_fields") or [main]
    found = find_records(here, wanted, set(text_fields))
    missing = wanted - set(found)
    if missing:
        found.update(find_records(there, missing, set(text_fields)))
    for change in changes:
        for record in change.samples:
            row = found.get(record.id, ("", {}))[1]
            text = next((str(row[f]) for f in text_fields if row.get(f) is not None), "")
            record.text, record.chars = text[:MAX_CHARS], len(text)


def _parameters(here: Run, there: Run) -> list[tuple[str, str, Any, Any]]:
    ours = {s["name"]: s for s in here.manifest["pipeline"]["stages"]}
    theirs = {s["name"]: s for s in there.manifest["pipeline"]["stages"]}
    differ: list[tuple[str, str, Any, Any]] = []
    for name in dict.fromkeys([*ours, *theirs]):
        a, b = ours.get(name), theirs.get(name)
        if a is None or b is None:
            differ.append((name, "(stage)", "present" if a else "absent", "present" if b else "absent"))
            continue
        flat_a, flat_b = dict(_leaves(a)), dict(_leaves(b))
        for key in dict.fromkeys([*flat_a, *flat_b]):
            if flat_a.get(key) != flat_b.get(key):
                differ.append((name, key, flat_a.get(key), flat_b.get(key)))
    return differ


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested parameters as dotted paths to plain values; list items named by their `reason` or `name`
    (a rule set's rules), so that one moved bound shows as `rules[too_few_sentences].min`."""
    if isinstance(value, dict):  # an empty mapping is no setting: it shows as its absent keys
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keyed = [v.get("reason") or v.get("name") for v in value]
        if all(isinstance(k, str) for k in keyed) and len(set(keyed)) == len(keyed):
            return [leaf for k, v in zip(keyed, value) for leaf in _leaves(v, f"{prefix}[{k}]")]
    return [(prefix, value)]


def render_comparison(c: Comparison) -> str:
    def short(value: Any) -> str:
        text = value if isinstance(value, str) else repr(value)
        return text if len(text) <= 200 else text[:200] + "…"

    gained = sum(ch.count for ch in c.changes if ch.there == KEPT)
    lost = sum(ch.count for ch in c.changes if ch.here == KEPT)
    parts = ['<section class="page" id="comparison"><h2>Comparison</h2>',
             f"<p>This run (<b>{escape(c.here)}</b>) kept {c.kept_here:,}; the other (<b>{escape(c.there)}</b>) kept {c.kept_there:,}, of the same {c.records:,} input records. "
             f'<span class="changed-removed">{lost:,}</span> kept here are removed there; <span class="changed-kept">{gained:,}</span> removed here are kept there.</p>']
    if c.parameters:
        parts.append('<h3>Parameters that differ</h3><table class="parameters"><thead><tr><th>stage</th><th>parameter</th><th>here</th><th>there</th></tr></thead><tbody>')
        parts += [f"<tr><td>{escape(s)}</td><td>{escape(k)}</td><td><code>{escape(short(a))}</code></td><td><code>{escape(short(b))}</code></td></tr>" for s, k, a, b in c.parameters]
        parts.append("</tbody></table>")
    parts.append('<h3>Removed per stage</h3><table class="sortable"><thead><tr><th>stage</th><th class="n">here</th><th class="n">there</th><th class="n">difference</th></tr></thead><tbody>')
    for stage, a, b in c.stages:
        parts.append(f'<tr><td>{escape(stage)}</td><td class="n" data-v="{a}">{a:,}</td><td class="n" data-v="{b}">{b:,}</td><td class="n" data-v="{b - a}">{b - a:+,}</td></tr>')
    parts.append("</tbody></table>")
    if not c.changes:
        parts.append("<p>Every record has the same fate in both runs.</p></section>")
        return "".join(parts)
    parts.append('<h3>Records whose fate changed</h3><table class="sortable changes"><thead><tr><th>here</th><th>there</th><th class="n">records</th></tr></thead><tbody>')
    parts += [f'<tr data-here="{escape(ch.here)}" data-there="{escape(ch.there)}"><td>{escape(ch.here)}</td><td>{escape(ch.there)}</td><td class="n" data-v="{ch.count}">{ch.count:,}</td></tr>' for ch in c.changes]
    parts.append("</tbody></table>")
    for ch in c.changes[:40]:
        parts.append(f"<h4>{escape(ch.here)} here → {escape(ch.there)} there ({ch.count:,})</h4>")
        for r in ch.samples:
            more = f'<span class="more">… {r.chars - len(r.text):,} more characters</span>' if r.chars > len(r.text) else ""
            parts.append(f'<div class="sample" data-reason="{escape(ch.here)} → {escape(ch.there)}" data-id="{escape(r.id)}"><div class="head"><span class="id">{escape(r.id)}</span></div>'
                         f'<pre class="text">{escape(r.text)}{more}</pre></div>')
    parts.append("</section>")
    return "".join(parts)


__all__ = ["Change", "ChangedRecord", "Comparison", "compare", "render_comparison"]
