"""The same pipeline on a two-node Ray cluster gives exactly the local result."""

import json
import subprocess
import sys

import pytest

import curate
from tests.conftest import ROOT, subprocess_env, write_jsonl

PIPELINE = """\
name: cluster
input:
  path: {input}
  chunk_bytes: 4000
output: {output}
stages:
  - name: exact
    use: exact_dedup
    field: text
  - name: near
    use: minhash_dedup
    field: text
    tokenize: chars
    ngram: 3
    threshold: 0.6
  - name: short
    use: filter
    keep: "length(text) > 14"
"""


@pytest.mark.slow
def test_two_node_cluster_matches_local(tmp_path, ray_address):
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": f"Record {i % 2300} " + "y" * (i % 9)} for i in range(3000)])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE.format(input=tmp_path / "in.jsonl", output=tmp_path / "local"))
    local = curate.run(pipeline, ray_address=ray_address)
    assert local.stats["removed_by_reason"].get("near_duplicate", 0) > 100

    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.two_node", str(pipeline), str(tmp_path / "cluster")],
        env=subprocess_env(), cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(info["nodes"]) == 2
    assert len(info["ray"]["nodes_used"]) == 2, "tasks ran on one node only"

    cluster = curate.open_run(tmp_path / "cluster")
    assert cluster.kept().collect().equals(local.kept().collect())
    assert cluster.removed().collect().sort("id").equals(local.removed().collect().sort("id"))
    assert cluster.stats["kept"] == local.stats["kept"] and cluster.stats["removed_by_reason"] == local.stats["removed_by_reason"]
