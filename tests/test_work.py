"""Task bodies called directly, without Ray: each reads and writes files under a run directory."""

import polars as pl
import pytest

from curate.columns import DROP, ORDER
from curate.errors import InputError, StageError
from curate.io import ReadOptions, chunk_digest, find_input_files, plan_chunks
from curate.layout import RunLayout
from curate.runner.tasks import DecisionSet, IngestSpec, SegmentSpec, StepSpec, VerifySpec, ingest, reduce_step, run_segment, verify_files
from curate.stages.exact_dedup import ExactDedup
from curate.stages.filter import Filter
from tests.conftest import write_jsonl
from tests.helpers.stages import LosesRows


def test_ingest_segment_reduce_by_hand(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": f"r{i}", "text": f"Text {i % 3}"} for i in range(6)] + ['{"broken'])
    layout = RunLayout(tmp_path / "out")
    chunk = plan_chunks(find_input_files([str(path)]), 1 << 20)[0]
    options = ReadOptions(["text"], "id", False, quarantine=True)

    read = ingest(IngestSpec(chunk, options, layout, id_partitions=2))
    assert read.records == 6 and read.bad == 1 and read.lines == 7
    assert read.stages["input"]["removed"] == {"bad_input": 1}
    assert pl.read_parquet(layout.removed_part("input", "000000-00000"))["id"].to_list() == ["@input:a.jsonl:7"]
    part = read.parts[0]

    exact = ExactDedup("exact")
    keys = run_segment(SegmentSpec(part.shard, str(layout.input_part(part.shard)), part.lo, part.hi, layout, "id",
                                   records=[DecisionSet("input", [])], group=exact, partitions=2))
    assert keys.stages["exact"]["in"] == 6 and keys.stages["input"]["out"] == 6
    paths = {int(p): [v] for p, v in keys.shuffle["keys"].items()}
    decisions = [reduce_step(StepSpec("exact", "exact_dedup", "reduce", p, [paths.get(p, [])], exact.reduce, None, 2, layout)) for p in range(2)]
    decided = DecisionSet("exact", [f for r in decisions for f in r.files.values()])

    final = run_segment(SegmentSpec(part.shard, str(layout.input_part(part.shard)), part.lo, part.hi, layout, "id",
                                    records=[decided], stages=[Filter("all", keep="true")], output=str(layout.kept_part(part.shard)), final=True))
    assert final.stages["exact"] == {"out": 3, "removed": {"exact_duplicate": 3}, "seconds": final.stages["exact"]["seconds"]}
    kept = pl.read_parquet(layout.kept_part(part.shard))
    assert kept["id"].to_list() == ["r0", "r1", "r2"] and ORDER not in kept.columns
    removed = verify_files(VerifySpec([str(p) for p in layout.staged_removed.glob("*.parquet")], "id", removed=True))
    assert removed.rows == 4 and removed.by_reason == {"input\tbad_input": 1, "exact\texact_duplicate": 3}


def test_segment_reports_a_broken_stage_with_its_shard(tmp_path):
    layout = RunLayout(tmp_path / "out")
    frame = pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"], ORDER: [0, 1]})
    base = tmp_path / "base.parquet"
    frame.write_parquet(base)
    with pytest.raises(StageError, match="stage 'loses' .* same records in the same order"):
        run_segment(SegmentSpec("s", str(base), 0, 1, layout, "id", stages=[LosesRows("loses")]))
    out = run_segment(SegmentSpec("s", str(base), 0, 1, layout, "id", stages=[Filter("f", keep="text = 'x'", reason="not_x")]))
    assert out.rows == 1 and out.stages["f"]["removed"] == {"not_x": 1}
    assert DROP not in pl.read_parquet(layout.removed_part("f", "s")).columns


def test_parquet_parts_are_read_again_not_copied(tmp_path):
    source = tmp_path / "a.parquet"
    pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", None, "z"]}).write_parquet(source)
    layout = RunLayout(tmp_path / "out")
    chunk = plan_chunks(find_input_files([str(source)]), 1 << 20)[0]
    options = ReadOptions(["text"], "id", False, quarantine=True)
    read = ingest(IngestSpec(chunk, options, layout, id_partitions=1))
    part = read.parts[0]
    assert part.virtual and pl.read_parquet(layout.input_part(part.shard)).height == 0  # schema only
    digest = chunk_digest(chunk)  # what the run found at ingest
    spec = SegmentSpec(part.shard, str(layout.input_part(part.shard)), part.lo, part.hi, layout, "id",
                       output=str(layout.kept_part(part.shard)), final=True, source=(chunk, part.part, options, digest))
    assert run_segment(spec).rows == 2
    assert pl.read_parquet(layout.kept_part(part.shard))["id"].to_list() == ["a", "c"]  # the bad row stays out

    pl.DataFrame({"id": ["a", "b", "c"], "text": ["y", None, "w"]}).write_parquet(source)  # the same rows, other text
    with pytest.raises(InputError, match=r"a.parquet: changed during the run \(row groups 0-0 are not what the run read first\)"):
        run_segment(spec)
