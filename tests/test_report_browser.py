"""The report in a real browser: headless Chromium (Debian's `chromium`, installed by `make test` when
missing) opens each demo run's report.html from disk with the network cut off. Nothing may be requested
but the page itself, nothing may log an error, every stage, reason and chart must be there, and what
the page shows (what-if counts, samples) must be what the run directory says."""

from __future__ import annotations

import json

import pytest

from curate.report import views, write_report
from curate.report.page import is_idle
from curate.report.samples import draw
from tests.helpers.chromium import Page, chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on PATH (`make test` installs Debian's chromium when run as root; or set CURATE_CHROMIUM)")


def _open(path) -> Page:
    return Page(path.resolve().as_uri(), timeout=60)


@pytest.mark.parametrize("name", ["demo", "math", "web"])
def test_the_report_opens_offline_with_every_stage_reason_and_chart(report_runs, name):
    run = report_runs[name]
    uri = (run.path / "report.html").resolve().as_uri()
    with _open(run.path / "report.html") as page:
        page.evaluate("0")  # let late events (timers, fetches) arrive
        assert [r for r in page.requests if not r.startswith("data:")] == [uri]
        assert page.console_errors == []
        sections = page.evaluate("Array.from(document.querySelectorAll('section.page')).map(s => s.id)")
        links = page.evaluate("Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href').slice(1))")
        assert sections == links and sections[0] == "overview"
        shown = [s["name"] for s in run.stats["stages"] if s["name"] != "input" or s["removed"]]
        assert [s for s in sections if s.startswith("stage-")] == [f"stage-{n}" for n in shown]
        # one page at a time: a nav click shows its section and hides the others
        for section in sections:
            page.click(f'nav a[href="#{section}"]')
            visible = page.evaluate("Array.from(document.querySelectorAll('section.page')).filter(s => s.offsetParent !== null).map(s => s.id)")
            assert visible == [section]
        # the funnel has a bar per stage with the run's counts, a cut per reason
        bars = page.evaluate("Array.from(document.querySelectorAll('svg.funnel .stage-bar')).map(g => [g.dataset.stage, +g.dataset.in, +g.dataset.out, g.querySelectorAll('.cut').length])")
        assert bars == [[s["name"], s["in"], s["out"], len(s["removed"])] for s in run.stats["stages"]]
        # every reason has its samples; every score of every stage its histogram
        reasons = set(page.evaluate("Array.from(document.querySelectorAll('.sample')).map(s => s.dataset.reason)"))
        assert reasons == {r for s in run.stats["stages"] for r in s["removed"]}
        for stage in shown:
            scores = views.stage_scores(run, stage)
            charts = page.evaluate(f"Array.from(document.querySelectorAll('#stage-{stage} .score-view')).map(v => [v.dataset.column, v.querySelectorAll('svg.histogram .bin').length])")
            assert charts == [[v.column, len(v.histogram.kept)] for v in scores.views if not is_idle(v)]
            idle = page.evaluate(f"Array.from(document.querySelectorAll('#stage-{stage} .idle code')).map(c => c.dataset.column)")
            assert idle == [v.column for v in scores.views if is_idle(v)]


def test_samples_on_the_page_are_the_seeded_draw(report_runs):
    run = report_runs["math"]
    expected = {key: [s.id for s in group] for key, group in draw(run, n=5, seed=0).items()}
    with _open(run.path / "report.html") as page:
        for (stage, reason), ids in expected.items():
            shown = page.evaluate(f"Array.from(document.querySelectorAll('#stage-{stage} .sample')).filter(s => s.dataset.reason === {json.dumps(reason)}).map(s => s.dataset.id)")
            assert shown == ids
        # duplicates side by side with their partner, differences marked; benchmark matches highlighted
        assert page.evaluate("document.querySelectorAll('#stage-near .sample .pair').length") == len(expected[("near", "near_duplicate")])
        assert page.evaluate("document.querySelectorAll('#stage-near .sample del').length") > 0
        assert page.evaluate("document.querySelectorAll('#stage-decontaminate .sample mark').length") > 0
        # the filter shows one reason's samples
        page.click('nav a[href="#stage-math"]')
        page.evaluate("(() => { const s = document.querySelector('#stage-math select.reason-filter'); s.value = 'proof'; s.dispatchEvent(new Event('change')); })()")
        visible = page.evaluate("Array.from(document.querySelectorAll('#stage-math .sample')).filter(s => !s.hidden).map(s => s.dataset.reason)")
        assert visible and set(visible) == {"proof"}


def test_what_if_slider_shows_the_exact_counts(report_runs):
    run = report_runs["web"]
    view = next(v for v in views.stage_scores(run, "c4").views if v.column.endswith("c4_sentences"))
    what = view.what_if[0]
    with _open(run.path / "report.html") as page:
        page.click('nav a[href="#stage-c4"]')
        box = f"#stage-c4 .score-view[data-column='{view.column}'] .whatif"
        for value in (what.values[0], what.values[len(what.values) // 2], what.values[-1]):
            index = what.values.index(value)
            page.evaluate(f"(() => {{ const i = document.querySelector(\"{box} input\"); i.value = {index}; i.dispatchEvent(new Event('input')); }})()")
            text = page.evaluate(f"document.querySelector(\"{box} output\").textContent")
            assert f"keeps {what.kept[index]:,} of {view.records:,}" in text
            rerun = page.evaluate(f"document.querySelector(\"{box} .rerun\").textContent")
            assert rerun == ("" if value == what.current else f"--set c4.thresholds.too_few_sentences.min={value:g}")
            visibility = page.evaluate(f"document.querySelector(\"#stage-c4 .score-view[data-column='{view.column}'] .whatif-line\").getAttribute('visibility')")
            assert visibility == ("hidden" if value == what.current else "visible")
        # the table beside it: the same numbers, the run's own value marked "as run"
        rows = page.evaluate(f"Array.from(document.querySelectorAll(\"#stage-c4 .score-view[data-column='{view.column}'] .whatif-table tbody tr\")).map(r => [+r.dataset.value, +r.dataset.kept])")
        assert rows and all(what.kept[what.values.index(v)] == k for v, k in rows)


def test_tables_sort_on_a_header_click(report_runs):
    run = report_runs["web"]
    with _open(run.path / "report.html") as page:
        page.click("table.stages th:nth-child(5)")  # removed
        first = page.evaluate("Array.from(document.querySelectorAll('table.stages tbody tr')).map(r => +r.cells[4].dataset.v)")
        assert first == sorted(first)
        page.click("table.stages th:nth-child(5)")
        second = page.evaluate("Array.from(document.querySelectorAll('table.stages tbody tr')).map(r => +r.cells[4].dataset.v)")
        assert second == sorted(first, reverse=True)


def test_the_comparison_page(report_runs, tmp_path):
    a, b = report_runs["web"], report_runs["web_b"]
    path = write_report(a, tmp_path / "against.html", against=b)
    with _open(path) as page:
        assert page.console_errors == [] and [r for r in page.requests if not r.startswith("data:")] == [path.resolve().as_uri()]
        page.click('nav a[href="#comparison"]')
        rows = page.evaluate("Array.from(document.querySelectorAll('#comparison table.changes tbody tr')).map(r => [r.dataset.here, r.dataset.there])")
        assert any(h == "c4: too_few_sentences" for h, _ in rows) and all(h != t for h, t in rows)
        assert page.evaluate("document.querySelectorAll('#comparison .sample').length") > 0
