"""What a finished run did, computed from its files for people to read: the funnel, each score's
kept-vs-removed histogram and what other thresholds would keep, the rules' overlap, the input files,
the reasoning data and the run's facts. Shared by `curate report`, `curate stats` and `Run`.

Built from stats.json, manifest.json and the few columns each view needs (ids, stage, reason, scores),
never by loading every record: a million-record run's report reads a few tens of MB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from curate.columns import REASON, STAGE
from curate.layout import RunLayout
from curate.stages.base import Threshold

if TYPE_CHECKING:
    from curate.results import Run

STATUS = "__report_status"
"""kept, or the stage that removed the record."""
KEPT = "kept"
INPUT_STAGE = "input"


# ------------------------------------------------------------------ the funnel


@dataclass
class StageRow:
    """One stage's line of stats.json, with the figures of its own (verdicts, pairs, counters) apart."""

    name: str
    use: str
    into: int
    out: int
    removed: dict[str, int]
    seconds: float
    failed: dict[str, int] | None
    reasons: list[str]
    figures: dict[str, Any]

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())


_COMMON_KEYS = {"name", "use", "in", "out", "removed", "seconds", "failed", "reasons", "histograms", "rules"}


def funnel(stats: dict[str, Any]) -> list[StageRow]:
    return [
        StageRow(s["name"], s["use"], s["in"], s["out"], dict(s["removed"]), float(s.get("seconds", 0.0)), s.get("failed"),
                 list(s.get("reasons") or []), {k: v for k, v in s.items() if k not in _COMMON_KEYS})
        for s in stats["stages"]
    ]


# ------------------------------------------------------------------ thresholds and scores


@dataclass(frozen=True)
class Bound(Threshold):
    """A stage's threshold as recorded in the manifest, with what the report asks of it."""

    def matches(self, reason: str | None) -> bool:
        return reason is not None and _reason_pattern(self.reason).fullmatch(reason) is not None

    def fails(self, values: pl.Expr, min: float | None = None, max: float | None = None) -> pl.Expr:
        low = self.min if min is None else min
        high = self.max if max is None else max
        fails = pl.lit(False)
        if low is not None:
            fails = fails | ((values <= low) if self.strict else (values < low))
        if high is not None:
            fails = fails | ((values >= high) if self.strict else (values > high))
        condition = pl.sql_expr(self.when) if self.when else pl.lit(True)
        return (fails & values.is_not_null() & values.is_not_nan() & condition).fill_null(False)

    def fails_at(self, value: float | None) -> bool:
        """`fails` for one score, the `when` condition aside (a sample's row is already one removed under it)."""
        if value is None or value != value:
            return False
        if self.min is not None and (value <= self.min if self.strict else value < self.min):
            return True
        return self.max is not None and (value >= self.max if self.strict else value > self.max)

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"removed {'at or ' if self.strict else ''}below {self.min:g}")
        if self.max is not None:
            parts.append(f"removed {'at or ' if self.strict else ''}above {self.max:g}")
        return " and ".join(parts) + (f" (when {self.when})" if self.when else "")


def _reason_pattern(reason: str) -> re.Pattern[str]:
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]*>", reason)))


def bounds(run: Run, stage: str) -> list[Bound]:
    """The stage's thresholds: from the manifest, or (a run made before it recorded them) from the stage."""
    recorded = (run.manifest.get("thresholds") or {}).get(stage)
    if recorded is None and "thresholds" not in run.manifest:
        built = run._stage(stage)
        recorded = [t.to_json() for t in built.thresholds()] if built is not None and hasattr(built, "thresholds") else []
    return [Bound(**b) for b in recorded or []]


def score_columns(run: Run, stage: str) -> list[str]:
    """The columns the stage scores records by: its histogrammed scores and its thresholds' columns."""
    scores = run.manifest.get("scores")
    if scores is not None:
        declared = list(scores.get(stage, []))
    else:
        entry: dict[str, Any] = next((s for s in run.stats["stages"] if s["name"] == stage), {})
        declared = list(entry.get("histograms") or {})
    return list(dict.fromkeys(declared + [b.column for b in bounds(run, stage)]))


def stage_names(stats: dict[str, Any]) -> list[str]:
    return [s["name"] for s in stats["stages"]]


def reaching(run: Run, stage: str, columns: list[str]) -> pl.DataFrame:
    """Every record that reached `stage` (kept, or removed by it or a later stage), with `columns`, its
    STATUS (kept, or the removing stage) and REASON. Only those columns are read."""
    names = stage_names(run.stats)
    later = set(names[names.index(stage):])
    frames = []
    kept = sorted(run.layout.kept.glob("*.parquet"))
    removed = [p for p in sorted(run.layout.removed.glob("*.parquet")) if RunLayout.removed_stage(p) in later]
    for files, is_kept in ((kept, True), (removed, False)):
        if not files:
            continue
        available = set(pl.read_parquet_schema(files[0]))
        wanted = [c for c in columns if c in available]
        scan = pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed")
        missing = [pl.lit(None, pl.Float64).alias(c) for c in columns if c not in available]
        if is_kept:
            scan = scan.select(*wanted, *missing, pl.lit(KEPT).alias(STATUS), pl.lit(None, pl.String).alias(REASON))
        else:
            scan = scan.select(*wanted, *missing, pl.col(STAGE).alias(STATUS), pl.col(REASON))
        frames.append(scan)
    if not frames:
        return pl.DataFrame(schema={**{c: pl.Float64 for c in columns}, STATUS: pl.String, REASON: pl.String})
    return pl.concat(frames, how="diagonal_relaxed").collect()


@dataclass
class Histogram:
    """Counts per bin of the records a stage kept and of those it removed; `edges` has one more entry
    than each count list. Integer-valued scores get integer bins (edges at half-integers)."""

    edges: list[float]
    kept: list[int]
    removed: list[int]
    """Removed by this score's bounds (all removed records where the histogram is not a score's)."""
    integer: bool
    null_kept: int = 0
    null_removed: int = 0
    clipped: bool = False
    """Values beyond the edges are counted in the first or last bin (the last bin holds its right edge)."""
    other: list[int] = field(default_factory=list)
    """Removed by the stage for another rule or reason."""
    null_other: int = 0
    beyond: list[float] = field(default_factory=list)
    """Bounds too far from the data to draw on the axis (Gopher's 100,000-word maximum)."""
    centred: bool = False
    """Each bar is centred on one of the few values the score takes (pass rates in eighths), as integer bins are."""


@dataclass
class WhatIf:
    """How many records the stage would keep with one bound moved to each value, the stage's other
    bounds and removals as in the run. Exact: from the stored scores, strictness included."""

    bound: str  # "min" or "max"
    setting: str | None
    """`--set` parameter path that moves it (see `Threshold.setting`), without the stage's name."""
    current: float
    values: list[float]
    kept: list[int]

    @property
    def label(self) -> str:
        """What a user sets: the parameter's last part (min_overlap, min_score), else min or max."""
        return self.setting.rsplit(".", 1)[-1] if self.setting else self.bound

    def rows(self, most: int = 9) -> list[int]:
        """Indices worth a table row: the run's value, the nearest values where the count changes on
        each side, and both ends."""
        current = self.values.index(self.current) if self.current in self.values else 0
        changes = [i for i in range(1, len(self.kept)) if self.kept[i] != self.kept[i - 1]]
        below = [i for i in changes if i < current][-3:] + [i - 1 for i in changes if i <= current][-1:]
        above = [i for i in changes if i > current][:3]
        picked = sorted({0, len(self.values) - 1, current, *below, *above})
        while len(picked) > most:  # drop the changes farthest from the run's value first
            picked.remove(max((i for i in picked if i not in (0, len(self.values) - 1, current)), key=lambda i: abs(i - current)))
        return picked


@dataclass
class ScoreView:
    stage: str
    column: str
    bounds: list[Bound]
    histogram: Histogram
    what_if: list[WhatIf] = field(default_factory=list)
    records: int = 0
    """Records that reached the stage."""


@dataclass
class RuleCounts:
    """Per reason with a bound: records failing it (standalone, every failing rule counted) beside those
    removed under it (the first it failed, as the run removed them), and records failing each pair."""

    reasons: list[str]
    standalone: list[int]
    sequential: list[int]
    overlap: list[list[int]]
    recomputed_removed: int
    """Records the stage removes by its recorded bounds, recomputed from the scores..."""
    removed: int
    """...and records it removed in the run: equal when the what-if figures are exact."""


@dataclass
class StageScores:
    stage: str
    records: int
    views: list[ScoreView]
    rules: RuleCounts | None


def stage_scores(run: Run, stage: str, bins: int = 40, grid: int = 101) -> StageScores:
    """Histograms (kept vs removed by this stage), what-if grids and rule overlaps of one stage."""
    stage_bounds = bounds(run, stage)
    columns = score_columns(run, stage)
    extra = _condition_columns(stage_bounds)
    frame = reaching(run, stage, list(dict.fromkeys(columns + extra)))
    for column in columns:
        if frame[column].dtype != pl.Float64:
            frame = frame.with_columns(pl.col(column).cast(pl.Float64, strict=False))
    removed_here = (frame[STATUS] == stage).to_numpy()
    fails = {i: frame.select(b.fails(pl.col(b.column))).to_series().to_numpy() for i, b in enumerate(stage_bounds)}
    distinct = [r for r in frame[REASON].unique().to_list() if r is not None]  # a few reasons over many records
    explained = [r for r in distinct if any(b.matches(r) for b in stage_bounds)]
    covered = frame[REASON].is_in(explained).fill_null(False).to_numpy()
    unexplained = removed_here & ~covered  # removed for a reason no bound stands for (language:fr, a dedup)
    any_fails = unexplained.copy()
    for f in fails.values():
        any_fails |= f
    views = []
    for column in columns:
        values = frame[column].to_numpy().astype(np.float64)
        column_bounds = [b for b in stage_bounds if b.column == column]
        own = [r for r in explained if any(b.matches(r) for b in column_bounds)]
        by_this = removed_here & frame[REASON].is_in(own).fill_null(False).to_numpy() if column_bounds else removed_here
        view = ScoreView(stage, column, column_bounds, _histogram(values, by_this, removed_here & ~by_this, column_bounds, bins), records=frame.height)
        for i, b in enumerate(stage_bounds):
            if b.column != column:
                continue
            base = unexplained.copy()
            for j, f in fails.items():
                if j != i:
                    base |= f
            for side in ("min", "max"):
                current = getattr(b, side)
                if current is None:
                    continue
                others = base
                if side == "min" and b.max is not None:  # the rule's other side stays as run
                    others = base | frame.select(Bound(b.column, b.reason, max=b.max, strict=b.strict, when=b.when).fails(pl.col(column))).to_series().to_numpy()
                if side == "max" and b.min is not None:
                    others = base | frame.select(Bound(b.column, b.reason, min=b.min, strict=b.strict, when=b.when).fails(pl.col(column))).to_series().to_numpy()
                applies = frame.select(pl.sql_expr(b.when).fill_null(False) if b.when else pl.lit(True)).to_series().to_numpy()
                what = _what_if(values, others, applies, side, current, b.strict, view.histogram.integer, grid)
                what.setting = b.setting.replace("{side}", side) if b.setting else None
                view.what_if.append(what)
        views.append(view)
    rules = _rule_counts(run, stage, stage_bounds, fails, int(any_fails.sum()), int(removed_here.sum())) if stage_bounds else None
    return StageScores(stage, frame.height, views, rules)


def _condition_columns(stage_bounds: list[Bound]) -> list[str]:
    """Columns a bound's `when` condition names (identifiers of the SQL text that are not keywords)."""
    words: list[str] = []
    for b in stage_bounds:
        if b.when:
            text = re.sub(r"'(?:[^']|'')*'", " ", b.when)
            words += [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if w.upper() not in _SQL_WORDS]
    return list(dict.fromkeys(words))


_SQL_WORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE"}


def _histogram(values: np.ndarray, removed: np.ndarray, other: np.ndarray | None, column_bounds: list[Bound], bins: int) -> Histogram:
    """Bins over the data (a bound far beyond it is noted, not drawn), with an edge on each bound drawn
    so that no bar straddles it; integer scores get integer bins, one per value where they fit."""
    other = np.zeros_like(removed) if other is None else other
    finite = np.isfinite(values)
    shown = values[finite]
    clipped = False
    if shown.size:
        low, high = float(shown.min()), float(shown.max())
        q_low, q_high = (float(np.quantile(shown, q)) for q in (0.001, 0.999))
        if (high - low) > 20 * max(q_high - q_low, 1e-12):  # outliers would squeeze the rest into one bar
            low, high, clipped = q_low, q_high, True
    else:
        low, high = 0.0, 1.0
    span = max(high - low, 1.0 if not shown.size or high == low else 0.0)
    near: list[float] = []  # bounds drawn on the axis, each on a bin edge
    beyond: list[float] = []
    for b in column_bounds:
        for value in (b.min, b.max):
            if value is None:
                continue
            (near if low - 0.5 * span <= value <= high + 0.5 * span else beyond).append(value)
    integer = bool(shown.size) and bool(np.all(shown == np.round(shown))) and all(float(v).is_integer() for v in near)
    if near:
        low, high = min([low, *near]), max([high, *near])
    lattice = _lattice(shown, bins) if not integer and not clipped else None
    if lattice is not None:  # few evenly spaced values (k/8): a bar centred on each
        edges = np.arange(low - lattice / 2, high + lattice, lattice)
        edges = edges[: int(np.searchsorted(edges, high + lattice / 2 - 1e-12, side="left")) + 1]
    elif integer:
        width = max(1.0, float(math.ceil((high - low + 1) / bins)))
        start = low - 0.5
        if near and width > 1:  # a bound's value begins a bin
            start = _aligned(start, width, near[0] - 0.5)
        edges = np.arange(start, high + 0.5 + width, width)
        edges = edges[: int(np.searchsorted(edges, high + 0.5, side="left")) + 1]
    else:
        if high <= low:
            high = low + 1.0
        width = (high - low) / bins
        start = _aligned(low, width, near[0]) if near else low
        count = math.ceil((high - start) / width - 1e-9) or 1
        edges = start + width * np.arange(count + 1)
    inner = edges[1:-1]
    index = np.searchsorted(inner, shown, side="right")
    mine, theirs = removed[finite], other[finite]
    kept = ~mine & ~theirs
    n = len(edges) - 1
    return Histogram(
        [round(float(e), 10) for e in edges],
        np.bincount(index[kept], minlength=n).tolist(),
        np.bincount(index[mine], minlength=n).tolist(),
        integer,
        int((~finite & ~removed & ~other).sum()),
        int((~finite & removed).sum()),
        clipped,
        np.bincount(index[theirs], minlength=n).tolist(),
        int((~finite & other).sum()),
        beyond,
        lattice is not None,
    )


def _lattice(shown: np.ndarray, bins: int) -> float | None:
    """The step of a score that takes a few evenly spaced values (0, 1/8, ..., 1), else None."""
    distinct = np.unique(shown)
    if not 2 <= distinct.size <= bins:
        return None
    steps = np.diff(distinct)
    step = float(steps.min())
    multiples = steps / step
    if step <= 0 or not np.allclose(multiples, np.round(multiples), atol=1e-6) or (distinct[-1] - distinct[0]) / step > bins:
        return None
    return step


def _aligned(start: float, width: float, target: float) -> float:
    """The bin start at or below `start` from which edges of `width` pass through `target`."""
    return target - math.ceil((target - start) / width - 1e-9) * width


def _what_if(values: np.ndarray, others: np.ndarray, applies: np.ndarray, side: str, current: float, strict: bool, integer: bool, grid: int) -> WhatIf:
    """Records kept with this bound at each grid value: those no other bound removes whose score passes.
    The grid is the data's own values where there are few (pass rates in eighths), else round steps over
    the data's range (0.01 on a 0-1 score); the run's bound is always on it."""
    candidates = ~others
    scored = candidates & applies & np.isfinite(values)
    always = int((candidates & ~(applies & np.isfinite(values))).sum())
    ordered = np.sort(values[scored])
    present = np.unique(values[np.isfinite(values)])
    if 0 < present.size <= grid:
        points = present
    elif present.size:
        low, high = float(present[0]), float(present[-1])
        if integer:
            width = max(1, math.ceil((high - low + 1) / grid))
            points = np.arange(math.floor(low), math.ceil(high) + 1, width, dtype=np.float64)
        else:
            step = _round_step((high - low) / (grid - 1))
            points = np.round(np.arange(math.floor(low / step) * step, high + step / 2, step), 10)
    else:
        points = np.array([], dtype=np.float64)
    points = np.unique(np.append(points, current))
    if side == "min":  # kept: v >= x (v > x when strict)
        kept = ordered.size - np.searchsorted(ordered, points, side="right" if strict else "left")
    else:  # kept: v <= x (v < x when strict)
        kept = np.searchsorted(ordered, points, side="left" if strict else "right")
    return WhatIf(side, None, float(current), [round(float(p), 6) for p in points], (kept + always).astype(int).tolist())


def _round_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at least `raw`."""
    power = 10 ** math.floor(math.log10(raw))
    return next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= raw - 1e-15)


def _rule_counts(run: Run, stage: str, stage_bounds: list[Bound], fails: dict[int, np.ndarray], recomputed: int, removed: int) -> RuleCounts:
    entry = next(s for s in run.stats["stages"] if s["name"] == stage)
    reasons = list(dict.fromkeys(b.reason for b in stage_bounds))
    merged = []
    for reason in reasons:
        mask = np.zeros_like(next(iter(fails.values())), dtype=bool)
        for i, b in enumerate(stage_bounds):
            if b.reason == reason:
                mask |= fails[i]
        merged.append(mask)
    standalone = [int(m.sum()) for m in merged]
    pattern = [_reason_pattern(r) for r in reasons]
    sequential = [sum(n for name, n in entry["removed"].items() if p.fullmatch(name)) for p in pattern]
    overlap = [[int((a & b).sum()) for b in merged] for a in merged]
    return RuleCounts(reasons, standalone, sequential, overlap, recomputed, removed)


# ------------------------------------------------------------------ input files


@dataclass
class FileRow:
    path: str
    records: int
    kept: int
    removed: dict[str, int]

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())


def input_files(run: Run) -> list[FileRow] | None:
    """Per input file: its records, those kept, those removed by reason. None for a run whose manifest
    does not say which file each chunk came from (made before curate recorded it) and read several."""
    inputs = run.manifest.get("inputs") or []
    chunk_files = run.manifest.get("chunk_files")
    if chunk_files is None and len(inputs) != 1:
        return None

    def file_of(path: Path) -> int:
        if chunk_files is None:
            return 0
        chunk = _chunk(path)
        return chunk_files[chunk] if chunk is not None and chunk < len(chunk_files) else -1

    rows = [FileRow(i["path"], 0, 0, {}) for i in inputs]
    unknown = FileRow("(unknown)", 0, 0, {})
    for path in sorted(run.layout.kept.glob("*.parquet")):
        n = pl.scan_parquet(path).select(pl.len()).collect().item()
        row = rows[file_of(path)] if file_of(path) >= 0 else unknown
        row.kept += n
        row.records += n
    removed = sorted(run.layout.removed.glob("*.parquet"))
    if removed:
        counts = (
            pl.concat([pl.scan_parquet(p).select(REASON, pl.lit(str(p)).alias("path")) for p in removed])
            .group_by("path", REASON).len().collect()
        )
        for path, reason, n in counts.iter_rows():
            index = file_of(Path(path))
            row = rows[index] if index >= 0 else unknown
            stage = RunLayout.removed_stage(Path(path))
            key = f"{stage}: {reason}"
            row.removed[key] = row.removed.get(key, 0) + n
            row.records += n
    return rows + ([unknown] if unknown.records else [])


def _chunk(path: Path) -> int | None:
    match = re.search(r"-(\d{6})-\d{5}(?:-[^.]*)?$", path.stem)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------ reasoning data


@dataclass
class Reasoning:
    """The traces of a run (generate, or verify over a field of responses): what the checker said of
    each, how long correct and wrong ones are, and how generation went."""

    samples: int
    problems: int
    verdicts: dict[str, int]
    finish_reasons: dict[str, int]
    length: Histogram | None
    """Response length in characters, correct (kept series) vs not correct (removed series)."""
    tokens: dict[str, int]
    generation: dict[str, dict[str, Any]]
    """Per generating stage (generate, hack_check): its figures from stats.json."""


def reasoning(run: Run, bins: int = 30) -> Reasoning | None:
    traces = sorted((run.layout.root / "traces").glob("*.parquet"))
    generation = {s["name"]: {k: v for k, v in s.items() if k not in _COMMON_KEYS}
                  for s in run.stats["stages"] if s["use"] in ("generate", "hack_check")}
    if not traces and not generation:
        return None
    if not traces:
        return Reasoning(0, 0, {}, {}, None, {}, generation)
    schema = pl.read_parquet_schema(traces[0])
    scan = pl.concat([pl.scan_parquet(p) for p in traces], how="diagonal_relaxed")
    wanted = [pl.col("id").alias("__id") if "id" in schema else pl.lit(None).alias("__id")]
    run_id = run.id_field
    if run_id in schema:
        wanted = [pl.col(run_id).cast(pl.String).alias("__id")]
    for name in ("verdict", "correct", "finish_reason", "prompt_tokens", "completion_tokens"):
        if name in schema:
            wanted.append(pl.col(name))
    if "response" in schema:
        wanted.append(pl.col("response").str.len_chars().alias("__chars"))
    frame = scan.select(wanted).collect()
    verdicts = dict(frame["verdict"].fill_null("unchecked").value_counts(sort=True).iter_rows()) if "verdict" in frame.columns else {}
    finish = dict(frame["finish_reason"].fill_null("none").value_counts(sort=True).iter_rows()) if "finish_reason" in frame.columns else {}
    tokens: dict[str, int] = {name: int(frame[name].sum() or 0) for name in ("prompt_tokens", "completion_tokens") if name in frame.columns}
    length = None
    if "__chars" in frame.columns:
        correct = frame["correct"].fill_null(False).to_numpy() if "correct" in frame.columns else np.ones(frame.height, dtype=bool)
        length = _histogram(frame["__chars"].cast(pl.Float64).fill_null(float("nan")).to_numpy(), ~correct, None, [], bins)
    return Reasoning(frame.height, frame["__id"].n_unique(), verdicts, finish, length, tokens, generation)


# ------------------------------------------------------------------ run facts


@dataclass
class Facts:
    pipeline: dict[str, Any]
    source: str | None
    command: list[str]
    started: str | None
    finished: str | None
    seconds: float
    versions: dict[str, str]
    executor: dict[str, Any]
    inputs: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    tasks: dict[str, int]
    exports: dict[str, dict[str, Any]]


def facts(run: Run) -> Facts:
    m, s = run.manifest, run.stats
    return Facts(m["pipeline"], m.get("source"), list(m.get("command") or []), m.get("started"), m.get("finished"),
                 float(s.get("seconds", 0.0)), dict(m.get("versions") or {}), dict(m.get("executor") or {}),
                 list(m.get("inputs") or []), list(s.get("phases") or []), dict(s.get("tasks") or {}), dict(s.get("exports") or {}))


__all__ = [
    "Bound", "Facts", "FileRow", "Histogram", "Reasoning", "RuleCounts", "ScoreView", "StageRow", "StageScores", "WhatIf",
    "bounds", "facts", "funnel", "input_files", "reaching", "reasoning", "score_columns", "stage_scores",
]
