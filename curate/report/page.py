"""The report as one self-contained HTML page: style, script and charts inline, no request to anything
(it opens from disk, offline, years later). Sections are pages of one document, switched by the nav;
without the script every section shows, one under the other."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from curate.report import svg, views
from curate.report.samples import Sample, Segment
from curate.report.svg import number

if TYPE_CHECKING:
    from curate.report.compare import Comparison
    from curate.results import Run

MAX_REASONS_SAMPLED = 40
MAX_FILES = 300
MAX_MATRIX = 25
MAX_REASONS = 50
"""Reasons listed per table (the most frequent); a stage may remove for thousands (`language:<code>`)."""


def _top(removed: dict[str, int]) -> tuple[list[tuple[str, int]], int, int]:
    """The most frequent reasons, and how many reasons and records the rest hold."""
    ordered = sorted(removed.items(), key=lambda kv: -kv[1])
    rest = ordered[MAX_REASONS:]
    return ordered[:MAX_REASONS], len(rest), sum(n for _, n in rest)


def page_id(stage: str) -> str:
    return "stage-" + re.sub(r"[^A-Za-z0-9_-]", "_", stage)


def render(run: Run, drawn: dict[tuple[str, str], list[Sample]], scores: dict[str, views.StageScores], files: list[views.FileRow] | None,
           reasoning: views.Reasoning | None, facts: views.Facts, samples_per_reason: int, seed: int, comparison: Comparison | None = None) -> str:
    stats = run.stats
    rows = views.funnel(stats)
    shown = [r for r in rows if r.name != views.INPUT_STAGE or r.removed_total]
    nav = ['<nav aria-label="sections">', '<a href="#overview">Overview</a>']
    if comparison is not None:
        nav.append('<a href="#comparison">Comparison</a>')
    nav.append('<span class="group">stages</span>')
    nav += [f'<a href="#{page_id(r.name)}">{escape(r.name)}</a>' for r in shown]
    nav.append('<span class="group">run</span>')
    if reasoning is not None:
        nav.append('<a href="#reasoning">Reasoning</a>')
    nav.append('<a href="#files">Input files</a>')
    nav.append('<a href="#facts">Run facts</a>')
    nav.append("</nav>")
    body = [_overview(stats, rows)]
    if comparison is not None:
        from curate.report.compare import render_comparison

        body.append(render_comparison(comparison))
    for row in shown:
        body.append(_stage_page(run, row, scores.get(row.name), {k: v for k, v in drawn.items() if k[0] == row.name}, samples_per_reason, seed))
    if reasoning is not None:
        body.append(_reasoning(reasoning, scores))
    body.append(_files(files))
    body.append(_facts(facts))
    title = f"curate report: {stats.get('pipeline') or run.path.name}"
    summary = (f"<b>{stats['input']:,}</b> records in, <b>{stats['kept']:,}</b> kept, <b>{stats['removed']:,}</b> removed "
               f"by {sum(1 for r in rows if r.removed_total)} stages in {stats.get('seconds', 0):,.1f} s · {escape(str(run.path))}")
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{_asset('report.css')}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><div class=\"summary\">{summary}</div>",
        f"<div class=\"summary\">made {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by curate {escape(facts.versions.get('curate', ''))} "
        f"from stats.json, manifest.json and the run's files; samples: {samples_per_reason} per reason, seed {seed}</div></header>",
        "".join(nav), "<main>", "".join(body), "</main>",
        f"<script>{_asset('report.js')}</script></body></html>",
    ])


def _asset(name: str) -> str:
    return resources.files("curate.report").joinpath(name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ overview


def _overview(stats: dict[str, Any], rows: list[views.StageRow]) -> str:
    funnel_rows = [(r.name, r.into, r.out, _top(r.removed)[0] + ([("other reasons", _top(r.removed)[2])] if _top(r.removed)[1] else [])) for r in rows]
    parts = ['<section class="page" id="overview"><h2>Overview</h2>',
             '<p class="note">Records through each stage, in order: each bar is as long as the records the stage received; '
             'the coloured end is what it removed, by reason (hover for counts). Every record of the input is kept or removed by exactly one stage: the ledger balanced.</p>',
             svg.funnel(funnel_rows, stats["input"])]
    parts.append('<p class="note">By reason: the records removed under each (the first rule a record failed); where more records '
                 "failed the rule, counted alone, that count follows (a rule set scores every rule on every record).</p>")
    table = ['<table class="sortable stages"><thead><tr><th>stage</th><th>use</th><th class="n">in</th><th class="n">out</th>'
             '<th class="n">removed</th><th class="n">% of in</th><th>by reason</th><th class="n">seconds</th></tr></thead><tbody>']
    for r in rows:
        top, more, held = _top(r.removed)
        failed = r.failed or {}
        reasons = "<br>".join(f"{escape(k)} {v:,}" + (f' <span class="legend">(failing it: {failed[k]:,})</span>' if failed.get(k, v) != v else "") for k, v in top)
        reasons += f"<br>{more:,} more reasons: {held:,}" if more else ""
        share = r.removed_total / r.into if r.into else 0.0
        table.append(f'<tr data-stage="{escape(r.name)}"><td><a href="#{page_id(r.name)}">{escape(r.name)}</a></td><td>{escape(r.use)}</td>'
                     f'{_num(r.into)}{_num(r.out)}{_num(r.removed_total)}<td class="n" data-v="{share}">{share:.1%}</td><td>{reasons}</td>'
                     f'<td class="n" data-v="{r.seconds}">{r.seconds:,.2f}</td></tr>')
    table.append("</tbody></table>")
    parts += table
    by_reason = stats.get("removed_by_reason") or {}
    if by_reason:
        parts.append('<h3>Removed by reason</h3><table class="sortable reasons"><thead><tr><th>reason</th><th class="n">records</th><th class="n">% of input</th></tr></thead><tbody>')
        top, more, held = _top(by_reason)
        for reason, count in top:
            share = count / stats["input"] if stats["input"] else 0.0
            parts.append(f'<tr><td>{escape(reason)}</td>{_num(count)}<td class="n" data-v="{share}">{share:.2%}</td></tr>')
        if more:
            parts.append(f'<tr><td class="more">{more:,} more reasons</td>{_num(held)}<td></td></tr>')
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def _num(value: int | float) -> str:
    zero = ' zero' if value == 0 else ''
    return f'<td class="n{zero}" data-v="{value}">{value:,}</td>'


# ------------------------------------------------------------------ a stage


def _stage_page(run: Run, row: views.StageRow, scores: views.StageScores | None, drawn: dict[tuple[str, str], list[Sample]], per_reason: int, seed: int) -> str:
    parts = [f'<section class="page stage" id="{page_id(row.name)}" data-stage="{escape(row.name)}"><h2>{escape(row.name)} <span class="legend">({escape(row.use)})</span></h2>',
             f'<p>{row.into:,} in, {row.out:,} out, <b>{row.removed_total:,} removed</b> '
             f'({(row.removed_total / row.into if row.into else 0):.1%}) in {row.seconds:,.2f} s.</p>']
    described = next((s for s in run.manifest["pipeline"]["stages"] if s.get("name") == row.name), None)
    if described:
        shown = {k: v for k, v in described.items() if k not in ("rules", "benchmarks")}
        parts.append(f'<details><summary>parameters as run</summary><pre class="yaml">{escape(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))}</pre></details>')
    if row.figures:
        parts.append(_figures(row.figures))
    if scores is not None and scores.rules is not None:
        parts.append(_rules(row, scores.rules, described))
    elif row.removed:
        parts.append('<h3>Removed by reason</h3><table class="sortable"><thead><tr><th>reason</th><th class="n">removed</th></tr></thead><tbody>')
        top, more, held = _top(row.removed)
        parts += [f"<tr><td>{escape(k)}</td>{_num(v)}</tr>" for k, v in top]
        if more:
            parts.append(f'<tr><td class="more">{more:,} more reasons</td>{_num(held)}</tr>')
        parts.append("</tbody></table>")
    if scores is not None and scores.views:
        parts.append(f'<h3>Scores</h3><p class="note">Per score, the {scores.records:,} records that reached this stage: '
                     "kept by this stage, removed by the score's own rule, or by another of the stage's rules. "
                     "The dashed line is the bound as run; the slider moves it and counts, from the stored scores, what the stage would then keep "
                     "(its other rules as run): pick a threshold without re-running, then re-run with <code>--set</code>.</p>")
        busy = [v for v in scores.views if not is_idle(v)]
        idle = [v for v in scores.views if is_idle(v)]
        parts.append('<div class="grid">' + "".join(_score_view(v) for v in busy) + "</div>")
        if idle:
            listed = ", ".join(f'<code data-column="{escape(v.column)}">{escape(v.column)}</code> ({escape(_only_value(v.histogram))})' for v in idle)
            parts.append(f'<p class="note idle">Scores with one value on every record, which removed nothing here: {listed}.</p>')
    if drawn:
        parts.append(_samples_block(row.name, drawn, per_reason, seed))
    parts.append("</section>")
    return "".join(parts)


def _figures(figures: dict[str, Any]) -> str:
    flat: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif not isinstance(value, (dict, list)):
            flat.append((prefix, value))
        elif isinstance(value, list) and len(value) <= 20:
            flat.append((prefix, ", ".join(str(v) for v in value)))

    walk("", figures)
    if not flat:
        return ""
    rows = "".join(f'<tr><td>{escape(k)}</td><td class="n">{escape(number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))}</td></tr>' for k, v in flat)
    return f'<h3>What it counted</h3><table class="figures"><tbody>{rows}</tbody></table>'


def _rules(row: views.StageRow, rules: views.RuleCounts, described: dict[str, Any] | None) -> str:
    sources = {r.get("reason"): r.get("source") for r in (described or {}).get("rules", [])}
    parts = ['<h3>Rules</h3><p class="note"><b>failed</b>: records failing the rule, whatever else they failed (each rule is scored on every record); '
             "<b>removed under it</b>: those it removed, the first rule each failed (as the run did).</p>"]
    if rules.recomputed_removed != rules.removed:
        parts.append(f'<p class="warn">Recomputed from the stored scores, the bounds remove {rules.recomputed_removed:,} records; the run removed {rules.removed:,}: '
                     "the what-if figures of this stage are approximate.</p>")
    parts.append('<table class="sortable rules"><thead><tr><th>rule / reason</th><th class="n">failed</th><th class="n">removed under it</th><th class="n">% of in</th><th>source</th></tr></thead><tbody>')
    for reason, alone, first in zip(rules.reasons, rules.standalone, rules.sequential):
        share = alone / row.into if row.into else 0.0
        parts.append(f'<tr data-reason="{escape(reason)}"><td>{escape(reason)}</td>{_num(alone)}{_num(first)}<td class="n" data-v="{share}">{share:.2%}</td>'
                     f'<td>{escape(sources.get(reason) or "")}</td></tr>')
    others = dict(_top({k: v for k, v in row.removed.items() if not any(views.Bound("", r).matches(k) for r in rules.reasons)})[0])
    for reason, count in others.items():
        parts.append(f'<tr data-reason="{escape(reason)}"><td>{escape(reason)}</td><td class="n">—</td>{_num(count)}<td class="n">—</td><td>not a score bound</td></tr>')
    parts.append("</tbody></table>")
    active = [i for i, n in enumerate(rules.standalone) if n][:MAX_MATRIX]
    if len(active) >= 2:
        parts.append('<h4>Overlap: records failing both rules</h4><table class="matrix"><thead><tr><th></th>')
        parts += [f'<th class="rot">{escape(rules.reasons[j])}</th>' for j in active]
        parts.append("</tr></thead><tbody>")
        for i in active:
            cells = []
            for j in active:
                value = rules.overlap[i][j]
                share = value / max(rules.standalone[i], 1)
                cells.append(f'<td style="background:rgba(228,87,86,{0.08 + 0.6 * share:.2f})" title="{value:,} fail both {escape(rules.reasons[i])} and {escape(rules.reasons[j])}">{value:,}</td>'
                             if value else '<td class="zero">·</td>')
            parts.append(f"<tr><th>{escape(rules.reasons[i])}</th>{''.join(cells)}</tr>")
        parts.append("</tbody></table>")
    return "".join(parts)


def _score_view(view: views.ScoreView) -> str:
    h = view.histogram
    marks = []
    for b in view.bounds:
        for side in ("min", "max"):
            value = getattr(b, side)
            if value is not None and value not in h.beyond:
                marks.append((value, f"{side} {number(value)}"))
    chart = svg.histogram(h.edges, h.kept, h.removed, marks, integer=h.integer, label=f"{view.column}: kept vs removed", other=h.other, centred=h.centred)
    notes = []
    if h.beyond:
        notes.append("beyond the data, not drawn: " + ", ".join(number(v) for v in h.beyond))
    if h.clipped:
        notes.append("the rare values beyond the axis are counted in the first or last bar")
    if h.null_kept or h.null_removed or h.null_other:
        notes.append(f"no score: {h.null_kept:,} kept, {h.null_removed + h.null_other:,} removed")
    if h.centred:
        notes.append("one bar per value the score takes")
    elif h.integer:
        notes.append("one bar per value" if all(b - a == 1 for a, b in zip(h.edges, h.edges[1:])) else "integer scores, bars of several values")
    bounds_text = "; ".join(f"{escape(b.reason)}: {escape(b.describe())}" for b in view.bounds) or "no bound: a score to threshold later"
    parts = [f'<div class="card score-view" data-column="{escape(view.column)}"><h4>{escape(view.column)}</h4>',
             f'<div class="legend">{bounds_text}</div>', chart,
             '<div class="legend"><i style="background:var(--kept)"></i>kept<i style="background:var(--removed)"></i>removed by this score'
             '<i style="background:var(--other)"></i>removed by another rule of the stage</div>']
    if notes:
        parts.append(f'<div class="legend">{escape("; ".join(notes))}</div>')
    for what in view.what_if:
        current = what.values.index(what.current) if what.current in what.values else 0
        setting = f' data-set="{escape(view.stage)}.{escape(what.setting)}"' if what.setting else ""
        parts.append(f'<div class="whatif"{setting} data-bound="{escape(what.label)}" data-values="{escape(json.dumps(what.values))}" data-kept="{escape(json.dumps(what.kept))}" '
                     f'data-current="{current}" data-records="{view.records}"><label>what if {escape(what.label)} were</label>'
                     f'<input type="range" min="0" max="{len(what.values) - 1}" value="{current}" aria-label="{escape(view.column)} {escape(what.label)}"><output></output>'
                     f'<code class="rerun"></code></div>')
        rows = []
        for i in what.rows():
            delta = what.kept[i] - what.kept[current]
            mark = ' style="font-weight:600"' if i == current else ""
            rows.append(f'<tr{mark} data-value="{what.values[i]}" data-kept="{what.kept[i]}"><td class="n">{escape(number(what.values[i]))}</td>{_num(what.kept[i])}'
                        f'{_num(view.records - what.kept[i])}<td class="n">{"as run" if i == current else f"{delta:+,}"}</td></tr>')
        parts.append(f'<table class="whatif-table"><thead><tr><th class="n">{escape(what.label)}</th><th class="n">kept</th><th class="n">removed by this stage</th>'
                     f'<th class="n">vs the run</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    parts.append("</div>")
    return "".join(parts)


def _only_value(h: views.Histogram) -> str:
    filled = [i for i, counts in enumerate(zip(h.kept, h.removed, h.other)) if sum(counts)]
    return svg.bin_label(h.edges, filled[0], h.integer, h.centred) if filled else "no score"


def is_idle(view: views.ScoreView) -> bool:
    """A score with one value on every record, which removed nothing: a rule that never fired here."""
    h = view.histogram
    return sum(h.removed) + h.null_removed == 0 and sum(1 for k, r, o in zip(h.kept, h.removed, h.other) if k + r + o) <= 1


# ------------------------------------------------------------------ samples


def _samples_block(stage: str, drawn: dict[tuple[str, str], list[Sample]], per_reason: int, seed: int) -> str:
    scope = f"samples-{page_id(stage)}"
    reasons = [reason for (_, reason) in drawn][:MAX_REASONS_SAMPLED]
    options = "".join(f'<option value="{escape(r)}">{escape(r)}</option>' for r in reasons)
    parts = [f'<h3>Samples of removed records</h3><p class="note">Up to {per_reason} per reason, drawn at random (seed {seed}; '
             f"<code>curate report --samples N --seed S</code> draws others).</p>",
             f'<div class="filter"><label>reason <select class="reason-filter" data-scope="{scope}"><option value="">all</option>{options}</select></label></div>',
             f'<div id="{scope}">']
    for (_, reason), group in drawn.items():
        if reason not in reasons:
            continue
        parts += [_sample(s) for s in group]
    if len(drawn) > len(reasons):
        parts.append(f'<p class="more">{len(drawn) - len(reasons)} more reasons not sampled here (see <code>curate stats --samples REASON</code>).</p>')
    parts.append("</div>")
    return "".join(parts)


def _sample(s: Sample) -> str:
    chips = "".join(f'<span class="chip{" failed" if score.bound else ""}" title="{escape(score.bound or "")}">{escape(score.column)} = {escape(number(score.value) if score.value is not None else "—")}'
                    f'{(" · " + escape(score.bound)) if score.bound else ""}</span>' for score in s.scores if score.bound or len(s.scores) <= 6)
    head = (f'<div class="head"><span class="id">{escape(s.id)}</span><span>reason <b>{escape(s.reason)}</b></span>'
            f'<span class="legend">{s.chars:,} characters of {escape(s.field)}</span>{chips}</div>')
    more = f'<span class="more">… {s.chars - len(s.text):,} more characters</span>' if s.chars > len(s.text) else ""
    if s.partner is not None:
        p = s.partner
        similarity = ", ".join(f"{k} {number(v)}" for k, v in p.similarity.items())
        content = _pair(f"removed: {escape(s.id)}", _segments(p.record_segments, "del") + more,
                        f'duplicate of {escape(p.id)} ({escape(p.status)}){" · " + escape(similarity) if similarity else ""}', _segments(p.partner_segments, "ins"))
    elif s.contamination is not None:
        c = s.contamination
        figures = ", ".join(f"{k} {number(v)}" for k, v in c.figures.items())
        content = (_pair("record (shared n-grams marked)", _highlight(s.text, c.ngrams) + more,
                         f'{escape(c.source or "benchmark")} item {escape(c.item or "")} · {escape(figures)}', _highlight(c.item_text, c.ngrams))
                   + f'<details><summary>{len(c.ngrams)} matched n-grams shown</summary><ul>{"".join(f"<li>{escape(g)}</li>" for g in c.ngrams)}</ul></details>')
    else:
        content = f'<pre class="text">{escape(s.text)}{more}</pre>'
    for key, value in s.read.items():
        failing = any(score.bound and key in score.column for score in s.scores)
        content += f'<div class="read{" failed" if failing else ""}"><b>{escape(key)}</b>: <span class="chip{" failed" if failing else ""}">{escape(value)}</span></div>'
    if s.answers:
        chips = "".join(f'<span class="chip verdict-{escape(v or "none")}" title="{escape(v or "")}">{escape(a if a is not None else "∅")} · {escape(v or "?")}</span> ' for a, v in s.answers)
        content += f'<div class="answers"><b>reference</b> <span class="chip">{escape(s.reference or "—")}</span> <b>its traces\' answers</b> {chips}</div>'
    extra = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in s.fields.items())
    fields = f'<details><summary>other fields</summary><table>{extra}</table></details>' if extra else ""
    return f'<div class="sample" data-reason="{escape(s.reason)}" data-id="{escape(s.id)}">{head}{content}{fields}</div>'


def _pair(left_title: str, left: str, right_title: str, right: str) -> str:
    """Two texts side by side (titles and texts are HTML already)."""
    return (f'<div class="pair"><div><h4>{left_title}</h4><pre class="text">{left}</pre></div>'
            f'<div><h4>{right_title}</h4><pre class="text">{right}</pre></div></div>')


def _segments(segments: list[Segment], tag: str) -> str:
    return "".join(f"<{tag}>{escape(s.text)}</{tag}>" if s.changed else escape(s.text) for s in segments)


def _highlight(text: str, ngrams: list[str]) -> str:
    """Mark the words of the record that belong to a matched n-gram (compared lower-cased, by word)."""
    words = {w for g in ngrams for w in re.findall(r"\w+", g.lower())}
    out = []
    for piece in re.split(r"(\w+)", text):
        out.append(f"<mark>{escape(piece)}</mark>" if piece and piece.lower() in words else escape(piece))
    return "".join(out)


# ------------------------------------------------------------------ reasoning, files, facts


def _reasoning(r: views.Reasoning, scores: dict[str, views.StageScores]) -> str:
    parts = ['<section class="page" id="reasoning"><h2>Reasoning data</h2>']
    if r.samples:
        parts.append(f"<p>{r.samples:,} responses to {r.problems:,} problems, each checked against the reference.</p>")
    if r.verdicts:
        parts.append("<h3>Verdicts</h3>" + svg.bars(sorted(r.verdicts.items(), key=lambda kv: -kv[1]), label="verdicts"))
        parts.append('<table class="verdicts"><tbody>' + "".join(f'<tr data-verdict="{escape(k)}"><td>{escape(k)}</td>{_num(v)}<td class="n">{v / max(r.samples, 1):.1%}</td></tr>' for k, v in r.verdicts.items()) + "</tbody></table>")
    for stage_scores in scores.values():
        for view in stage_scores.views:
            if view.column == "pass_rate":
                parts.append(f"<h3>Pass rate ({escape(view.stage)})</h3>" + _score_view(view))
    if r.length is not None:
        h = r.length
        parts.append('<h3>Response length by correctness</h3><p class="legend"><i style="background:var(--kept)"></i>correct<i style="background:var(--removed)"></i>not correct (characters)</p>')
        parts.append(svg.histogram(h.edges, h.kept, h.removed, [], integer=False, label="response length: correct vs not", other=h.other))
    if r.finish_reasons:
        parts.append("<h3>Finish reasons</h3>" + svg.bars(sorted(r.finish_reasons.items(), key=lambda kv: -kv[1]), label="finish reasons"))
    if r.tokens:
        parts.append("<p>" + ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in r.tokens.items()) + "</p>")
    for name, figures in r.generation.items():
        parts.append(f"<h3>Generation: {escape(name)}</h3>")
        seconds = figures.get("seconds")
        tokens = figures.get("completion_tokens")
        if seconds and tokens:
            parts.append(f"<p>{tokens / seconds:,.0f} completion tokens per second of the stage.</p>")
        parts.append(_figures(figures))
    parts.append("</section>")
    return "".join(parts)


def _files(files: list[views.FileRow] | None) -> str:
    parts = ['<section class="page" id="files"><h2>Input files</h2>']
    if files is None:
        parts.append('<p class="note">This run\'s manifest does not say which input file each record came from (made by an older curate); re-run it to see this view.</p></section>')
        return "".join(parts)
    ordered = sorted(files, key=lambda f: (-f.removed_total, f.path))
    shown, rest = ordered[:MAX_FILES], ordered[MAX_FILES:]
    parts.append('<table class="sortable files"><thead><tr><th>file</th><th class="n">records</th><th class="n">kept</th><th class="n">removed</th>'
                 '<th class="n">% removed</th><th>removed by stage: reason</th></tr></thead><tbody>')
    for f in shown:
        share = f.removed_total / f.records if f.records else 0.0
        reasons = "<br>".join(f"{escape(k)} {v:,}" for k, v in sorted(f.removed.items(), key=lambda kv: -kv[1])[:12])
        parts.append(f'<tr><td>{escape(f.path)}</td>{_num(f.records)}{_num(f.kept)}{_num(f.removed_total)}<td class="n" data-v="{share}">{share:.1%}</td><td>{reasons}</td></tr>')
    if rest:
        parts.append(f'<tr><td class="more">{len(rest):,} more files</td>{_num(sum(f.records for f in rest))}{_num(sum(f.kept for f in rest))}'
                     f'{_num(sum(f.removed_total for f in rest))}<td></td><td></td></tr>')
    parts.append("</tbody></table></section>")
    return "".join(parts)


def _facts(f: views.Facts) -> str:
    parts = ['<section class="page" id="facts"><h2>Run facts</h2><table class="facts"><tbody>']
    rows = [("command", " ".join(f.command)), ("pipeline file", f.source or ""), ("started", f.started or ""), ("finished", f.finished or ""),
            ("wall time", f"{f.seconds:,.1f} s"), ("executor", ", ".join(f"{k}: {v}" for k, v in f.executor.items())),
            ("tasks", ", ".join(f"{k} {v:,}" for k, v in f.tasks.items())), ("versions", ", ".join(f"{k} {v}" for k, v in f.versions.items()))]
    parts += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows]
    parts.append("</tbody></table>")
    if f.phases:
        parts.append("<h3>Phases (wall seconds)</h3>")
        parts.append(svg.bars([(p["phase"] + (f" ({p['resumed']} resumed)" if p.get("resumed") else ""), float(p.get("seconds", 0.0))) for p in f.phases[:60]], unit=" s", label="phase wall times"))
    parts.append('<h3>Inputs</h3><table class="sortable"><thead><tr><th>path</th><th>format</th><th class="n">bytes</th><th>sha256</th></tr></thead><tbody>')
    parts += [f'<tr><td>{escape(i["path"])}</td><td>{escape(str(i.get("format")))}</td>{_num(i.get("bytes", 0))}<td><code>{escape(str(i.get("sha256", ""))[:16])}…</code></td></tr>' for i in f.inputs[:MAX_FILES]]
    parts.append("</tbody></table>")
    if f.exports:
        parts.append('<h3>Exports</h3><table><thead><tr><th>export</th><th>format</th><th>to</th><th class="n">records</th><th>files</th><th>left out</th></tr></thead><tbody>')
        for name, e in f.exports.items():
            files = ", ".join(f"{k}: {v['path']} ({v['rows']:,} rows)" for k, v in e.get("files", {}).items())
            left = ", ".join(f"{k} {v:,}" for k, v in (e.get("left_out") or {}).items())
            parts.append(f'<tr data-export="{escape(name)}"><td>{escape(name)}</td><td>{escape(e.get("format", ""))}</td><td>{escape(str(e.get("to", "")))}</td>{_num(e.get("records", 0))}<td>{escape(files)}</td><td>{escape(left)}</td></tr>')
        parts.append("</tbody></table>")
    parts.append(f'<h3>Pipeline as run</h3><pre class="yaml">{escape(yaml.safe_dump(f.pipeline, sort_keys=False, allow_unicode=True))}</pre></section>')
    return "".join(parts)


__all__ = ["is_idle", "page_id", "render"]
