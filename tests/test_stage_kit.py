"""The stage author's kit: `curate.testing.run_stage` runs a stage on rows as a pipeline would, with
the runner's checks, in this process; the public names a stage file needs import from `curate`."""

import json

import polars as pl
import pytest

import curate
from curate.errors import StageError
from curate.testing import run_stage
from tests.helpers.stages import ForgetsReason, OnePerAnswer, Shout, UndeclaredReason


def test_a_map_stage_on_rows():
    result = run_stage(Shout("shout"), [{"text": "keep me"}, {"text": "drop me"}, {"text": "fine"}])
    assert result.kept["shout"].to_list() == ["KEEP ME", "FINE"]
    assert result.removed.select("id", "stage", "reason").rows() == [("r1", "shout", "has_drop")]
    assert result.stats["removed"] == {"has_drop": 1} and result.stats["reasons"] == ["has_drop"]


def test_a_group_stage_on_rows_with_its_duplicates_named():
    rows = [{"id": f"p{i}", "answer": str(i % 3)} for i in range(7)]
    result = run_stage(OnePerAnswer("one"), pl.DataFrame(rows))
    assert result.kept["id"].to_list() == ["p0", "p1", "p2"]
    removed = dict(zip(result.removed["id"], result.removed["duplicate_of"]))
    assert removed == {"p3": "p0", "p4": "p1", "p5": "p2", "p6": "p0"}
    assert result.run_stats["ledger"] == "balanced"


def test_a_built_in_stage_from_its_pipeline_entry():
    result = run_stage({"name": "exact", "use": "exact_dedup", "field": "text"}, [{"text": "a b"}, {"text": "A  b"}, {"text": "c"}])
    assert result.removed["reason"].to_list() == ["exact_duplicate"] and result.kept.height == 2


def test_decisions_without_a_reason_fail_naming_the_stage():
    with pytest.raises(StageError, match=r"stage 'forgets' \(tests.helpers.stages:ForgetsReason\): its decisions .* lack the column\(s\) __curate_drop"):
        run_stage(ForgetsReason("forgets"), [{"answer": "1"}, {"answer": "1"}])


def test_an_undeclared_reason_fails_naming_the_stage():
    with pytest.raises(StageError, match=r"stage 'u' .* removed records for reason 'too_short', which its reasons\(\) does not declare \(declared: too_long\)"):
        run_stage(UndeclaredReason("u"), [{"text": "x"}])


def test_reasons_with_a_placeholder_match_any_text():
    from curate.stages.base import undeclared_reasons

    class Lang(UndeclaredReason):
        def reasons(self):
            return ("language:<code>", "language_score_low")

    assert undeclared_reasons(Lang("l"), ["language:fr", "language_score_low", "language:", "languages:fr"]) == ["language:", "languages:fr"]


def test_public_names_for_stage_authors():
    from curate import DROP, DROP_DUPLICATE_OF, ID, KEY, ORDER, ExportStage, GroupStage, MapStage, ServiceStage, Stage, StageParams  # noqa: F401

    assert issubclass(curate.ServiceStage, curate.Stage) and issubclass(curate.ExportStage, curate.Stage)


def test_the_manifest_records_a_use_that_loads_the_stage_again(tmp_path):
    """A custom stage's `use:` in the manifest is module:Class, so the recorded pipeline runs again."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(["a", "drop b", "c"])))
    run = curate.run({"name": "p", "input": str(source), "output": str(tmp_path / "a"), "stages": [Shout("shout")]}, executor="in-process")
    recorded = run.manifest["pipeline"]["stages"][0]
    assert recorded["use"] == "tests.helpers.stages:Shout"
    again = curate.run({"name": "p", "input": str(source), "output": str(tmp_path / "b"), "stages": [recorded]}, executor="in-process")
    assert again.kept().collect().equals(run.kept().collect())
