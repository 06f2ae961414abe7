"""One answer checker everywhere: this environment has antlr4-python3-runtime 4.9.3 (omegaconf's pin,
so verl's), curate's has 4.13; the verdicts on every real trace must be the same in both, and an
environment whose parser reads answers differently must stop with one line, never pay differently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests_clients.conftest import QWEN, SHARED, curate_bin

LONG_COT = SHARED / "math" / "traces" / "long_cot"

CHECK = """
import json, sys
from curate.answers.verifier import EXTRACTORS, shared_checkers
items = [tuple(x) for x in json.load(open(sys.argv[1]))]
print(json.dumps(shared_checkers(5.0).check_responses(items, EXTRACTORS)))
"""


def _items() -> list[tuple[str, str]]:
    """(reference, response) of the real traces: 800 Qwen2.5-Math, 3,289 Sky-T1 and 40 R1-distill."""
    if not QWEN.exists() or not LONG_COT.exists():
        pytest.skip(f"needs the real traces in {SHARED / 'math' / 'traces'}")
    items = []
    for line in QWEN.read_text().splitlines():
        record = json.loads(line)
        items += [(record["answer"], r) for r in record["response"]]
    for name in ("sky_t1_math.jsonl", "r1_distill_thought_anchors.jsonl"):
        for line in (LONG_COT / name).read_text().splitlines():
            record = json.loads(line)
            items.append((str(record["answer"]), record["response"]))
    return items


def _verdicts(python: str, items_file: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run([python, "-c", CHECK, str(items_file)], capture_output=True, text=True, timeout=1200, env=environment)


def test_this_environment_has_the_trainers_parser():
    assert metadata.version("antlr4-python3-runtime").startswith("4.9."), "the client environment should carry verl's antlr pin"


def test_same_verdicts_as_curates_environment_on_every_real_trace(tmp_path):
    items = _items()
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    here = _verdicts(sys.executable, path)
    there = _verdicts(str(curate_bin() / "python"), path)
    assert here.returncode == 0, here.stderr[-2000:]
    assert there.returncode == 0, there.stderr[-2000:]
    ours, theirs = json.loads(here.stdout), json.loads(there.stdout)
    assert len(ours) == len(items) == 4129
    differ = [(items[i][0], a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert not differ, f"{len(differ)} verdicts differ, e.g. {differ[:3]}"
    assert sum(v[1] == "correct" for v in ours) > 1500


def test_the_guard_stops_a_parser_that_reads_percentages_differently(tmp_path):
    """With curate's own percentage handling switched off (a fault for tests), the parser reads
    percentages its own way (here 4.9.3 cannot parse `25\\%`; 4.13 reads `17.5\\%` as 0.175): the
    worker refuses before checking anything, and the caller gets one line naming the versions."""
    path = tmp_path / "items.json"
    path.write_text(json.dumps([["25\\%", "so \\boxed{\\frac{1}{4}}"]]))
    broken = _verdicts(sys.executable, path, CURATE_FAULT="verifier:raw-percent")
    assert broken.returncode != 0
    last = broken.stderr.strip().splitlines()[-1]
    assert "VerifierError" in last and "antlr4-python3-runtime 4.9.3" in last and "reads answers differently" in last, last


def test_the_reward_says_what_to_install(tmp_path):
    code = "import curate.rewards as r; r.score('so \\\\boxed{0.5}', '\\\\frac{1}{2}')"  # not equal as text: the worker checks it
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, "CURATE_FAULT": "verifier:raw-percent"})
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert "install" in line, line
