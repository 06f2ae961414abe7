"""Runs for the report's tests and screenshots: the demo's three pipelines (math-rl generating from the
loopback test server, as `make demo` does with an endpoint) and re-runs that each move one threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import curate
from curate.demo import demo_records, write_demo_data, write_web_data
from tests.conftest import ROOT, write_jsonl
from tests.helpers.openai_server import start_server


def build_report_runs(root: Path) -> dict[str, Any]:
    """The demo's three pipelines (math-rl generating from the loopback server, as `make demo` with an
    endpoint), and re-runs that each move one threshold: their stage counts are what the what-if
    tables must have predicted."""

    write_demo_data(root / "data", problems=400, seed=5)
    write_web_data(root / "data", documents=120, seed=5)
    records, _ = demo_records(400, 5)
    replay = write_jsonl(root / "replay.jsonl", [{"question": r["problem"], "response": r["solutions"]} for r in records
                                                  if isinstance(r, dict) and isinstance(r.get("problem"), str) and r["problem"].strip()])
    math_input = str(root / "data" / "problems-*")
    decontaminate = [f"decontaminate.against=[{root / 'data' / 'benchmark.jsonl'}]", "decontaminate.n=13"]
    out = {
        "demo": curate.run(ROOT / "pipelines" / "demo.yaml", input=math_input, output=root / "demo", executor="in-process"),
        "web": curate.run(ROOT / "pipelines" / "web-quality.yaml", input=str(root / "data" / "web-*"), output=root / "web", executor="in-process"),
        "web_b": curate.run(ROOT / "pipelines" / "web-quality.yaml", input=str(root / "data" / "web-*"), output=root / "web_b", executor="in-process",
                            set=["c4.thresholds.too_few_sentences.min=0"], report=False),
        "math_b": curate.run(ROOT / "pipelines" / "math-rl.yaml", input=math_input, output=root / "math_b", executor="in-process", report=False,
                             set=[*decontaminate, "decontaminate.min_overlap=0.1", "generate.enabled=false", "verify.response_field=solutions"]),
    }
    with start_server(replay=[str(replay)]) as server:
        out["math"] = curate.run(ROOT / "pipelines" / "math-rl.yaml", input=math_input, output=root / "math", executor="in-process",
                                 set=[*decontaminate, f"generate.base_url={server.base_url}"])
    return out
