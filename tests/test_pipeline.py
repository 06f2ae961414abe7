"""Pipelines end to end on the session's Ray: the run directory contract and the ledger."""

import json
import threading
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.errors import ConfigError, InputError, RunDirError, StageError
from tests.conftest import pipeline, write_jsonl
from tests.helpers.stages import Crashes, LosesRows, Shout, UndeclaredColumn


def corpus(n=200):
    """Records with exact duplicates (after normalisation) at known places."""
    records = []
    for i in range(n):
        if i % 10 == 3:
            records.append({"id": f"r{i}", "text": f"  Document   {i - 3} ABOUT things", "n": i})
        else:
            records.append({"id": f"r{i}", "text": f"document {i} about things", "n": i})
    return records


def run(tmp_path, stages=None, *, ray_address, overwrite=False, **input_options):
    return curate.run(pipeline(tmp_path, stages, **input_options), ray_address=ray_address, overwrite=overwrite)


def test_run_directory_contract(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(100))
    write_jsonl(tmp_path / "in" / "b.jsonl.zst", corpus(200)[100:])
    stages = [
        {"name": "exact", "use": "exact_dedup", "field": "text"},
        {"name": "odd", "use": "filter", "keep": "n % 7 <> 0", "reason": "multiple_of_7"},
    ]
    result = run(tmp_path, stages, ray_address=ray_address)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [".curate-run", ".lock", "kept", "manifest.json", "removed", "report.html", "stats.json"]

    stats = json.loads((out / "stats.json").read_text())
    assert stats["input"] == 200 and stats["kept"] + stats["removed"] == 200
    by_name = {s["name"]: s for s in stats["stages"]}
    assert [s["name"] for s in stats["stages"]] == ["input", "exact", "odd"]
    assert by_name["exact"]["removed"] == {"exact_duplicate": 20}
    assert by_name["odd"]["in"] == 180 and by_name["odd"]["out"] == stats["kept"]
    for stage in stats["stages"]:
        assert stage["in"] == stage["out"] + sum(stage["removed"].values())
        assert {"name", "use", "in", "out", "removed", "seconds"} <= set(stage)
    assert stats["ledger"] == "balanced"

    kept = result.kept().collect()
    removed = result.removed().collect()
    assert kept.columns == ["id", "text", "n"]  # every input field, nothing private
    assert kept["n"].is_sorted()  # input order
    assert set(kept["id"]) | set(removed["id"]) == {f"r{i}" for i in range(200)}
    assert kept.height + removed.height == 200 and removed["id"].n_unique() == removed.height
    dups = removed.filter(pl.col("stage") == "exact")
    assert all(d == f"r{int(i[1:]) - 3}" for i, d in zip(dups["id"], dups["duplicate_of"]))
    assert set(removed.filter(pl.col("stage") == "odd")["reason"]) == {"multiple_of_7"}
    assert removed.filter(pl.col("stage") == "odd")["duplicate_of"].null_count() == removed.filter(pl.col("stage") == "odd").height

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pipeline"]["stages"][0] == {"name": "exact", "use": "exact_dedup", "field": "text", "normalize": {"nfkc": True, "casefold": True, "whitespace": True}}
    assert [Path(f["path"]).name for f in manifest["inputs"]] == ["a.jsonl", "b.jsonl.zst"]
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["inputs"])
    assert {"polars", "ray", "python", "curate"} <= set(manifest["versions"])
    assert manifest["started"] <= manifest["finished"]


def test_explain(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(20))
    result = run(tmp_path, ray_address=ray_address)
    answer = result.explain("r13")
    assert answer["status"] == "removed" and answer["stage"] == "exact" and answer["reason"] == "exact_duplicate"
    assert answer["duplicate"]["id"] == "r10" and answer["duplicate"]["status"] == "kept"
    assert result.explain("r10")["status"] == "kept"
    with pytest.raises(curate.CurateError, match="no record with id 'nope'"):
        result.explain("nope")


def test_results_do_not_depend_on_task_or_partition_sizes(tmp_path, ray_address, monkeypatch):
    records = corpus(3000)
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    one = run(tmp_path / "one", ray_address=ray_address, path=str(tmp_path / "in" / "*"))
    monkeypatch.setattr("curate.runner.planning.KEYS_PER_PARTITION", 100)
    many = run(tmp_path / "many", ray_address=ray_address, path=str(tmp_path / "in" / "*"), chunk_bytes=3000)
    assert len(list((tmp_path / "many" / "out" / "kept").iterdir())) > 20
    assert one.kept().collect().equals(many.kept().collect())
    assert one.removed().collect().sort("id").equals(many.removed().collect().sort("id"))


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"id": "x", "text": "unterminated', "malformed JSON"),
        (b'{"id": "x"}', "missing text field 'text'"),
        (b'{"id": "x", "text": 3.5}', "field 'text' is a number"),
        (b'{"id": "x", "text": "bad \xff byte"}', "invalid UTF-8"),
    ],
)
def test_bad_input_fails_before_any_output_or_is_quarantined(tmp_path, ray_address, line, message):
    records = corpus(50)
    write_jsonl(tmp_path / "in" / "a.jsonl", records[:30] + [line] + records[30:])
    with pytest.raises(InputError, match=rf"a.jsonl:31: {message}"):
        run(tmp_path, ray_address=ray_address)
    assert not (tmp_path / "out").exists()

    result = run(tmp_path, ray_address=ray_address, on_error="quarantine")
    assert result.stats["input"] == 51 and result.stats["stages"][0]["removed"] == {"bad_input": 1}
    bad = result.removed(stage="input").collect()
    assert bad["id"].to_list() == ["@input:a.jsonl:31"] and bad["reason"].to_list() == ["bad_input"]
    assert bad["input_error"][0].startswith(message) and bad["input_position"][0].endswith("a.jsonl:31")


def test_empty_file_and_missing_path(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(10))
    (tmp_path / "in" / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="empty.jsonl: empty file"):
        run(tmp_path, ray_address=ray_address)
    assert not (tmp_path / "out").exists()
    assert run(tmp_path, ray_address=ray_address, on_error="quarantine").stats["input"] == 10

    (tmp_path / "in2").mkdir()
    (tmp_path / "in2" / "blank.jsonl").write_text("\n\n  \n")
    with pytest.raises(InputError, match="blank.jsonl: empty file"):
        run(tmp_path / "x", ray_address=ray_address, path=str(tmp_path / "in2" / "*"))
    with pytest.raises(InputError, match="no files match"):
        run(tmp_path / "y", ray_address=ray_address, path=str(tmp_path / "nowhere" / "*.jsonl"))


def test_duplicate_ids(tmp_path, ray_address):
    records = corpus(30)
    records[20]["id"] = "r5"
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    with pytest.raises(InputError, match=r"a.jsonl:21: duplicate id 'r5' \(first at .*a.jsonl:6\)"):
        run(tmp_path, ray_address=ray_address)
    result = run(tmp_path, ray_address=ray_address, on_error="quarantine")
    bad = result.removed(stage="input").collect()
    assert bad["id"].to_list() == ["@input:a.jsonl:21"] and "duplicate id 'r5'" in bad["input_error"][0]
    assert json.loads(bad["input_raw"][0])["text"] == records[20]["text"]
    assert result.stats["input"] == 30 and result.stats["stages"][0]["out"] == 29


def test_rerun_is_a_no_op_and_a_changed_config_needs_overwrite(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(20))
    first = run(tmp_path, ray_address=ray_address)
    stamp = (tmp_path / "out" / "stats.json").stat().st_mtime_ns
    again = run(tmp_path, ray_address=ray_address)
    assert again.stats == first.stats and (tmp_path / "out" / "stats.json").stat().st_mtime_ns == stamp
    changed = [{"name": "exact", "use": "exact_dedup", "field": "text", "normalize": {"casefold": False}}]
    with pytest.raises(RunDirError, match="completed run of a different pipeline"):
        run(tmp_path, changed, ray_address=ray_address)
    # --overwrite clears the old run's reports with it (a comparison page too), keeps other files
    (tmp_path / "out" / "report-against-other.html").write_text("old")
    (tmp_path / "out" / "notes-report.html").write_text("mine")
    assert run(tmp_path, changed, ray_address=ray_address, overwrite=True).stats["removed"] < first.stats["removed"]
    assert not (tmp_path / "out" / "report-against-other.html").exists() and (tmp_path / "out" / "notes-report.html").read_text() == "mine"
    assert "casefold: false" in (tmp_path / "out" / "report.html").read_text()


def test_refuses_a_foreign_directory(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(5))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a curate run directory"):
        run(tmp_path, ray_address=ray_address, overwrite=True)
    assert (tmp_path / "out" / "precious.txt").exists()


def test_python_stage_objects(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "keep me"}, {"id": "2", "text": "drop me"}, {"id": "3", "text": "Keep me"}])
    result = run(tmp_path, [Shout("shout"), {"name": "exact", "use": "exact_dedup", "field": "shout"}], ray_address=ray_address)
    assert result.kept().collect().to_dicts() == [{"id": "1", "text": "keep me", "shout": "KEEP ME"}]
    removed = result.removed().collect().sort("id")
    assert removed["reason"].to_list() == ["has_drop", "exact_duplicate"]
    assert removed["shout"].to_list() == ["DROP ME", "KEEP ME"]  # scores and added columns travel with removed records


@pytest.mark.parametrize(
    "stage, message",
    [
        (LosesRows("loses"), "must return the same records in the same order"),
        (UndeclaredColumn("adds"), r"added columns \['surprise'\] that writes\(\) does not declare"),
        (Crashes("crash"), r"stage 'crash' \(.*\) failed on shard 000000-00000: ValueError: boom \(at stages.py:\d+\)"),
    ],
)
def test_stage_contract_violations_fail_loudly(tmp_path, ray_address, stage, message):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(10))
    with pytest.raises(StageError, match=message):
        run(tmp_path, [stage], ray_address=ray_address)
    assert not (tmp_path / "out" / "kept").exists() and not (tmp_path / "out" / "stats.json").exists()


def test_field_checks_after_reading(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "a", "reason": "x"}])
    with pytest.raises(ConfigError, match="input field 'reason' clashes"):
        run(tmp_path, ray_address=ray_address)
    assert run(tmp_path, ray_address=ray_address, rename={"reason": "why"}).kept().collect().columns == ["id", "text", "why"]
    with pytest.raises(ConfigError, match="reads field 'nope', which neither the input nor an earlier stage has"):
        run(tmp_path / "b", [{"name": "f", "use": "filter", "keep": "nope > 1"}], ray_address=ray_address, path=str(tmp_path / "in" / "*"), rename={"reason": "why"})


def test_parquet_and_mixed_schemas(tmp_path, ray_address):
    pl.DataFrame({"id": ["p1", "p2"], "text": ["alpha", "beta"], "score": [0.5, 0.7]}).write_parquet(tmp_path / "a.parquet")
    write_jsonl(tmp_path / "b.jsonl", [{"id": "j1", "text": "ALPHA", "extra": [1, 2]}, {"id": "j2", "text": "gamma", "score": 1}])
    result = curate.run(pipeline(tmp_path, path=[str(tmp_path / "a.parquet"), str(tmp_path / "b.jsonl")]), ray_address=ray_address)
    kept = result.kept().collect()
    assert kept["id"].to_list() == ["p1", "p2", "j2"]
    assert kept.schema["score"] == pl.Float64 and kept["score"].to_list() == [0.5, 0.7, 1.0]
    assert result.explain("j1")["duplicate"]["id"] == "p1"


def test_group_stages_back_to_back_and_mixed_schemas(tmp_path, ray_address):
    """Shards that no map stage rewrites keep pointing at the input: the unified schema must still apply."""
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": f"a{i}", "text": f"Text {i % 30}", "x": i} for i in range(60)])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": f"b{i}", "text": f"text {i % 45}", "y": "s"} for i in range(60)])
    stages = [
        {"name": "cased", "use": "exact_dedup", "field": "text", "normalize": {"casefold": False}},
        {"name": "folded", "use": "exact_dedup", "field": "text"},
        {"name": "keep_all", "use": "filter", "keep": "true"},
        {"name": "again", "use": "exact_dedup", "field": "text"},
    ]
    result = run(tmp_path, stages, ray_address=ray_address, chunk_bytes=500)
    removed = result.stats["removed_by_reason"]
    assert result.stats["kept"] == 45 and removed == {"exact_duplicate": 75}
    by_name = {s["name"]: s for s in result.stats["stages"]}
    assert by_name["cased"]["removed"] == {"exact_duplicate": 30 + 15} and by_name["folded"]["removed"] == {"exact_duplicate": 30}
    assert by_name["again"]["removed"] == {}
    schemas = {tuple(pl.read_parquet_schema(p).items()) for p in (tmp_path / "out" / "kept").glob("*.parquet")}
    assert len(schemas) == 1
    assert result.kept().collect().columns == ["id", "text", "x", "y"]


def test_a_file_named_inside_the_run_directory_is_refused(tmp_path, ray_address):
    write_jsonl(tmp_path / "data" / "a.jsonl", corpus(5))
    write_jsonl(tmp_path / "data" / "run" / "stray.jsonl", corpus(5))
    config = pipeline(tmp_path, path=[str(tmp_path / "data" / "a.jsonl"), str(tmp_path / "data" / "run" / "stray.jsonl")])
    config["output"] = str(tmp_path / "data" / "run")
    with pytest.raises(InputError, match="stray.jsonl is inside the run directory"):
        curate.run(config, ray_address=ray_address)


def test_everything_quarantined_still_completes_when_asked(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", ["garbage", "{bad", b'{"id": "x", "text": 5}'])
    with pytest.raises(InputError, match=r"^input: 3 of 3 records \(100%\) are bad input, more than input.max_bad_fraction \(0.5\)"):
        run(tmp_path, ray_address=ray_address, on_error="quarantine")
    assert not (tmp_path / "out" / "kept").exists()
    result = run(tmp_path, ray_address=ray_address, on_error="quarantine", max_bad_fraction=1)
    assert result.stats["kept"] == 0 and result.stats["removed_by_reason"] == {"bad_input": 3}
    assert result.kept().collect().height == 0


def test_a_wrong_field_is_a_wrong_pipeline_not_bad_data(tmp_path, ray_address):
    """Every record of a file bad for one reason (a stage reads `problem`; the input has `question`):
    the run fails with one line naming the reason and the fields the records have, even though
    the other file is fine and the share is under max_bad_fraction."""
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": f"a{i}", "problem": f"p {i}", "answer": "1"} for i in range(30)])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": f"b{i}", "question": f"q {i}", "answer": "1"} for i in range(10)])
    stages = [{"name": "exact", "use": "exact_dedup", "field": "problem"}]
    with pytest.raises(InputError) as caught:
        run(tmp_path, stages, ray_address=ray_address, on_error="quarantine")
    message = str(caught.value)
    assert "\n" not in message and "b.jsonl: all 10 records are bad input for one reason, missing text field 'problem'" in message, message
    assert "its records have the fields id, question, answer" in message
    result = run(tmp_path, stages, ray_address=ray_address, on_error="quarantine", max_bad_fraction=1)
    assert result.stats["kept"] == 30 and result.stats["removed_by_reason"] == {"bad_input": 10}


def test_a_few_bad_records_are_quarantined_as_before(tmp_path, ray_address):
    records: list = [{"id": f"r{i}", "text": f"t {i}"} for i in range(20)] + ["{bad"] * 9
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    assert run(tmp_path, ray_address=ray_address, on_error="quarantine").stats["removed_by_reason"] == {"bad_input": 9}  # 31%


def test_position_ids_never_clash_with_real_ids(tmp_path, ray_address):
    """A quarantined record's id is its position under a prefix no real id may have: real ids that
    look like positions ("a.jsonl:2", once the form of a position id) are just ids."""
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"id": "a.jsonl:2", "text": "z"}, "{bad", {"id": "a.jsonl:4", "text": "w"}])
    result = run(tmp_path, ray_address=ray_address, on_error="quarantine")
    assert result.kept().collect()["id"].to_list() == ["a", "a.jsonl:2", "a.jsonl:4"]
    assert sorted(result.removed(stage="input").collect()["id"]) == ["@input:a.jsonl:2", "@input:a.jsonl:4"]


def test_a_repeated_id_keeps_the_record_as_read(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "a", "text": "x", "n": 1}, {"id": "a", "text": "y"}])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": "b", "text": "z", "m": "other file"}])
    result = run(tmp_path, ray_address=ray_address, on_error="quarantine")
    as_read = json.loads(result.removed(stage="input").collect()["input_raw"][0])
    assert {k: v for k, v in as_read.items() if v is not None} == {"id": "a", "text": "y"}  # not the other file's "m"
    assert "m" not in as_read


def test_run_directory_inside_a_directory_input(tmp_path, ray_address):
    write_jsonl(tmp_path / "data" / "a.jsonl", corpus(20))
    config = pipeline(tmp_path, path=str(tmp_path / "data"))
    config["output"] = str(tmp_path / "data" / "run")
    first = curate.run(config, ray_address=ray_address)
    again = curate.run(config, ray_address=ray_address)  # the run's own files are not input: still complete
    assert again.stats == first.stats and first.stats["input"] == 20


def test_filter_must_be_boolean_before_any_stage_runs(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(5))
    with pytest.raises(ConfigError, match=r"stage 'f' \(filter\): keep expression 'length\(text\)' gives UInt32, not a boolean"):
        run(tmp_path, [{"name": "f", "use": "filter", "keep": "length(text)"}], ray_address=ray_address)
    assert not (tmp_path / "out").exists()


def test_filter_on_a_score_an_earlier_stage_writes(tmp_path, ray_address):
    """Score first, threshold later: the README's pattern."""
    from tests.helpers.stages import WordCount

    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "one"}, {"id": "2", "text": "two words"}, {"id": "3", "text": "and three words"}])
    result = run(tmp_path, [WordCount("count"), {"name": "enough", "use": "filter", "keep": "n_words >= 2", "reason": "few_words"}], ray_address=ray_address)
    assert result.kept().collect()["n_words"].to_list() == [2, 3]
    assert result.removed().collect().select("id", "n_words", "reason").rows() == [("1", 1, "few_words")]


def test_stages_warm_up_on_the_driver_before_any_task_runs_them(tmp_path, ray_address, monkeypatch):
    """Each stage's warm_up (its kernels compiled once, on the driver) runs in a thread while Ray starts
    and the input is read, and the first stage task waits for it; here it is still going when the
    reads and the id check are done."""
    from curate.runner.runner import Runner

    events, read = [], threading.Event()
    check_ids, run_segments = Runner._check_ids, Runner._run_segments

    def warm_up(self):
        read.wait(timeout=60)
        time.sleep(0.5)
        events.append(("warmed", threading.current_thread().name))

    def after_check_ids(self, *args, **kwargs):
        try:
            return check_ids(self, *args, **kwargs)
        finally:
            read.set()

    def segments(self, *args, **kwargs):
        events.append(("segments", threading.current_thread().name))
        return run_segments(self, *args, **kwargs)

    monkeypatch.setattr(Shout, "warm_up", warm_up)
    monkeypatch.setattr(Runner, "_check_ids", after_check_ids)
    monkeypatch.setattr(Runner, "_run_segments", segments)
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(20))
    assert run(tmp_path, [Shout("s")], ray_address=ray_address).stats["kept"] == 20
    assert events == [("warmed", "curate-warm-up"), ("segments", "MainThread")]


def test_a_completed_run_whose_cleanup_was_interrupted_is_complete(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(20))
    first = run(tmp_path, ray_address=ray_address)
    (tmp_path / "out" / "_work" / "done").mkdir(parents=True)  # as if killed while deleting _work
    (tmp_path / "out" / "_work" / "plan.json").write_text(json.dumps({"fingerprint": "x", "started": "2026-01-01T00:00:00+00:00"}))
    again = run(tmp_path, ray_address=ray_address)
    assert again.stats == first.stats and not (tmp_path / "out" / "_work").exists()


def test_requiring_ids_is_part_of_what_a_run_is(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "no id"}, {"id": "x", "text": "has one"}])
    assert run(tmp_path, ray_address=ray_address).stats["kept"] == 2
    with pytest.raises(RunDirError, match="different pipeline"):
        run(tmp_path, ray_address=ray_address, id_field="id")
