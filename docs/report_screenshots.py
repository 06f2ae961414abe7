"""Screenshots of each section of `curate report`, for a reviewer and for the README: builds the demo's
runs (tests/helpers/report_runs.py: math-rl generating from the loopback test server), opens their reports
in headless Chromium (tests/helpers/chromium.py, offline) and writes docs/report/*.png.

    .venv/bin/python docs/report_screenshots.py [--out docs/report]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.report import write_report  # noqa: E402
from tests.helpers.chromium import Page, chromium_path  # noqa: E402
from tests.helpers.report_runs import build_report_runs  # noqa: E402

# (file, run, section, element scrolled to the top, JavaScript run first)
SHOTS = [
    ("overview", "math", "overview", None, None),
    ("rules-and-overlap", "web", "stage-gopher_repetition", "#stage-gopher_repetition h3", None),
    ("what-if", "web", "stage-c4", "#stage-c4 .score-view[data-column='c4_c4_sentences']",
     "(() => { const i = document.querySelector(\"#stage-c4 .score-view[data-column='c4_c4_sentences'] input\"); i.value = 2; i.dispatchEvent(new Event('input')); })()"),
    ("near-duplicate-sample", "math", "stage-near", "#stage-near .sample", None),
    ("decontamination-sample", "math", "stage-decontaminate", "#stage-decontaminate .sample", None),
    ("pass-rate", "math", "stage-difficulty", "#stage-difficulty h3", None),
    ("reasoning", "math", "reasoning", None, None),
    ("input-files", "demo", "files", None, None),
    ("run-facts", "math", "facts", None, None),
    ("comparison", "web-against", "comparison", None, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "report"))
    args = parser.parse_args()
    if chromium_path() is None:
        sys.exit("no chromium on PATH: `apt-get install chromium` (Debian) or set CURATE_CHROMIUM")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        runs = build_report_runs(Path(scratch))
        pages = {name: run.path / "report.html" for name, run in runs.items() if (run.path / "report.html").exists()}
        pages["web-against"] = write_report(runs["web"], Path(scratch) / "against.html", against=runs["web_b"])
        for name, run_name, section, element, script in SHOTS:
            with Page(pages[run_name].resolve().as_uri(), width=1280, height=900, timeout=60) as page:
                if page.console_errors:
                    sys.exit(f"{pages[run_name]}: {page.console_errors[0]}")
                page.click(f'nav a[href="#{section}"]')
                if script:
                    page.evaluate(script)
                if element:
                    page.evaluate(f"(() => {{ const e = document.querySelector(\"{element}\"); window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 60); }})()")
                target = out / f"{name}.png"
                page.screenshot(target)
                print(f"{target}  ({target.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
