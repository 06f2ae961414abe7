"""Charts drawn on the server as inline SVG: a report that opens from disk with no script library, whose
every number is in the page (for people, for screen readers and for tests), and that looks the same in
every browser and in a screenshot."""

from __future__ import annotations

import math
from html import escape

KEPT_COLOUR = "var(--kept)"
REMOVED_COLOUR = "var(--removed)"
OTHER_COLOUR = "var(--other)"
PALETTE = ("#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1b9e77", "#666666", "#b2182b", "#2166ac")


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def number(value: float) -> str:
    """A score for an axis or a table: integers as integers, others to 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def histogram(edges: list[float], kept: list[int], removed: list[int], marks: list[tuple[float, str]], *, integer: bool,
              label: str, other: list[int] | None = None, centred: bool = False, width: int = 640, height: int = 190) -> str:
    """Stacked bars per bin: kept, removed by this score's bound, removed by another rule; a dashed line
    at each bound; a hidden line the what-if slider moves (`.whatif-line`). `data-x0`/`data-x1`/
    `data-left`/`data-right` map a score to x. The last bin holds its right edge."""
    other = other or [0] * len(kept)
    left, right, top, bottom = 48, width - 12, 12, height - 28
    low, high = edges[0], edges[-1]
    span = (high - low) or 1.0
    peak = max([k + r + o for k, r, o in zip(kept, removed, other)] or [1]) or 1

    def x(value: float) -> float:
        return left + (min(max(value, low), high) - low) / span * (right - left)

    def y(count: float) -> float:
        return bottom - count / peak * (bottom - top)

    parts = [
        f'<svg class="chart histogram" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' data-x0="{low!r}" data-x1="{high!r}" data-left="{left}" data-right="{right}">',
        f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:,}</text>',
        f'<text class="tick" x="{left - 6}" y="{bottom}" text-anchor="end">0</text>',
    ]
    for i, (k, r, o) in enumerate(zip(kept, removed, other)):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        bar = max(x1 - x0 - 1, 1)
        title = f"{bin_label(edges, i, integer, centred)}: {k:,} kept, {r:,} removed by this score" + (f", {o:,} by other rules" if o else "")
        parts.append(f'<g class="bin" data-kept="{k}" data-removed="{r}" data-other="{o}"><title>{escape(title)}</title>')
        stacked = 0
        for css, count in (("kept", k), ("removed", r), ("other", o)):
            if count:
                parts.append(f'<rect class="{css}" x="{_n(x0)}" y="{_n(y(stacked + count))}" width="{_n(bar)}" height="{_n(y(stacked) - y(stacked + count))}"/>')
                stacked += count
        parts.append("</g>")
    for value in _ticks(low, high, integer):
        parts.append(f'<text class="tick" x="{_n(x(value))}" y="{bottom + 16}" text-anchor="middle">{escape(number(value))}</text>')
    for value, text in marks:
        near_right = x(value) > right - 60
        anchor = f'x="{_n(x(value) - 3)}" text-anchor="end"' if near_right else f'x="{_n(x(value) + 3)}"'
        parts.append(f'<g class="bound"><line x1="{_n(x(value))}" y1="{top - 4}" x2="{_n(x(value))}" y2="{bottom}"/>'
                     f'<text {anchor} y="{top + 8}">{escape(text)}</text></g>')
    parts.append(f'<line class="whatif-line" x1="0" y1="{top - 4}" x2="0" y2="{bottom}" visibility="hidden"/>')
    parts.append("</svg>")
    return "".join(parts)


def bin_label(edges: list[float], i: int, integer: bool, centred: bool = False) -> str:
    """A bin as a reader sees it: its value (integer bins of one, bars centred on a value), its value
    range, or [a, b) ([a, b] for the last)."""
    low, high = edges[i], edges[i + 1]
    if centred:
        return number(round((low + high) / 2, 6))
    if integer:
        first, last = low + 0.5, high - 0.5
        return number(first) if first == last else f"{number(first)}–{number(last)}"
    return f"[{number(low)}, {number(high)}{']' if i == len(edges) - 2 else ')'}"


def _ticks(low: float, high: float, integer: bool) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    step = 10 ** math.floor(math.log10(span / 5))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(low / step) * step
    ticks: list[float] = []
    value = first
    while value <= high + 1e-9 and len(ticks) < 12:
        ticks.append(round(value, 10))
        value += step
    return ticks


def funnel(rows: list[tuple[str, int, int, list[tuple[str, int]]]], total: int, width: int = 900) -> str:
    """A waterfall: per stage, a bar as long as the records it received, the records it removed by
    reason marked at its right end (so each bar starts where the last one ended)."""
    label_width, right_pad, row_height = 170, 150, 26
    height = row_height * len(rows) + 12
    scale = (width - label_width - right_pad) / max(total, 1)
    parts = [f'<svg class="chart funnel" role="img" aria-label="records through each stage" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    for i, (name, into, out, reasons) in enumerate(rows):
        top = 6 + i * row_height
        parts.append(f'<g class="stage-bar" data-stage="{escape(name)}" data-in="{into}" data-out="{out}">')
        parts.append(f'<text class="label" x="{label_width - 8}" y="{top + 15}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect class="kept" x="{label_width}" y="{top}" width="{_n(max(out * scale, 0.5))}" height="{row_height - 6}"><title>{escape(name)}: {out:,} of {into:,} go on</title></rect>')
        x = label_width + out * scale
        for j, (reason, count) in enumerate(reasons):
            w = max(count * scale, 1.5)
            parts.append(f'<rect class="cut" x="{_n(x)}" y="{top}" width="{_n(w)}" height="{row_height - 6}" fill="{colour(j)}" data-reason="{escape(reason)}">'
                         f'<title>{escape(name)}: {count:,} removed for {escape(reason)}</title></rect>')
            x += w
        removed = into - out
        note = f"{out:,} on" + (f", −{removed:,}" if removed else "")
        parts.append(f'<text class="count" x="{_n(x + 6)}" y="{top + 15}">{escape(note)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def bars(items: list[tuple[str, float]], *, unit: str = "", width: int = 640, label: str = "") -> str:
    """Horizontal bars with their values (verdicts, finish reasons, phase wall times)."""
    if not items:
        return ""
    label_width, row_height = 190, 22
    height = row_height * len(items) + 8
    peak = max(v for _, v in items) or 1
    scale = (width - label_width - 110) / peak
    parts = [f'<svg class="chart bars" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    for i, (name, value) in enumerate(items):
        top = 4 + i * row_height
        shown = f"{value:,.2f}{unit}" if unit else f"{value:,.0f}"
        parts.append(f'<g class="bar" data-name="{escape(name)}" data-value="{value}"><text class="label" x="{label_width - 8}" y="{top + 14}" text-anchor="end">{escape(name)}</text>'
                     f'<rect x="{label_width}" y="{top}" width="{_n(max(value * scale, 1))}" height="{row_height - 6}" fill="{colour(i)}"/>'
                     f'<text class="count" x="{_n(label_width + value * scale + 6)}" y="{top + 14}">{escape(shown)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["bars", "bin_label", "colour", "funnel", "histogram", "number"]
