"""`curate report`: one self-contained HTML page that shows what every stage of a run did and why.

    views.py    the figures: funnel, kept-vs-removed histograms, what-if grids, rule overlaps, input
                files, reasoning data, run facts (also behind `curate stats` and `Run`)
    samples.py  seeded random samples of removed records, with duplicates' partners and benchmark matches
    compare.py  two runs of the same input: records whose fate changed (`--against`)
    page.py     the HTML; svg.py its charts (drawn here, no script library); report.css, report.js
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import ConfigError
from curate.layout import RunLayout

if TYPE_CHECKING:
    from curate.results import Run

MAX_BYTES = 5 * 1024 * 1024


def write_report(run_dir: str | Path | Run, out: str | Path | None = None, *, against: str | Path | Run | None = None,
                 samples: int = 5, seed: int = 0) -> Path:
    """Write the report of a finished run (by default RUN_DIR/report.html, or
    RUN_DIR/report-against-NAME.html with `against`) and return its path."""
    from curate.report import page, views
    from curate.report import samples as sampling
    from curate.results import Run, open_run

    run = run_dir if isinstance(run_dir, Run) else open_run(run_dir)
    comparison = None
    other = None
    if against is not None:
        from curate.report.compare import compare

        other = against if isinstance(against, Run) else open_run(against)
        comparison = compare(run, other, n=samples, seed=seed)
    drawn = sampling.draw(run, n=samples, seed=seed)
    scores = {}
    for name in views.stage_names(run.stats):
        stage_scores = views.stage_scores(run, name)
        if stage_scores.views or stage_scores.rules:
            scores[name] = stage_scores
    html = page.render(run, drawn, scores, views.input_files(run), views.reasoning(run), views.facts(run), samples, seed, comparison)
    if out is None:
        out = RunLayout(run.path).report if other is None else run.path / f"report-against-{_slug(other.path)}.html"
    target = Path(out)
    if target.is_dir():
        raise ConfigError(f"{target}: is a directory; give the report's file name (-o {target / 'report.html'})")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"{target}: cannot write the report ({err.strerror or type(err).__name__})") from None
    return target


def _slug(path: Path) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in path.resolve().name) or "run"


__all__ = ["MAX_BYTES", "write_report"]
