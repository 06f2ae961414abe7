from pathlib import Path

import pytest

from curate.config import build_pipeline, load_pipeline
from curate.errors import ConfigError
from curate.stages.exact_dedup import ExactDedup

GOOD = """\
name: t
input:
  path: data/*.jsonl
output: runs/t
stages:
  - name: exact
    use: exact_dedup
    field: text
"""


def load(tmp_path: Path, text: str, overrides=None):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_pipeline(path, overrides=overrides)


def error(tmp_path: Path, text: str, overrides=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(tmp_path / "p.yaml"), "p.yaml")


def test_good_pipeline(tmp_path):
    config = load(tmp_path, GOOD)
    assert config.name == "t" and config.input.path == ["data/*.jsonl"]
    assert isinstance(config.stages[0], ExactDedup)
    assert config.text_fields() == ["text"]
    assert not config.id_field_explicit


def test_typo_in_stage_key_names_file_line_stage_and_suggests(tmp_path):
    assert error(tmp_path, GOOD.replace("field: text", "feild: text")) == "p.yaml:8: stage 'exact' (exact_dedup): unknown key 'feild' (did you mean 'field'?)"


def test_bad_nested_value(tmp_path):
    text = GOOD.replace("field: text", "field: text\n    normalize:\n      casefold: maybe")
    assert error(tmp_path, text).startswith("p.yaml:10: stage 'exact' (exact_dedup): key 'normalize.casefold': Input should be a valid boolean")


def test_typo_in_input_key(tmp_path):
    text = GOOD.replace("  path: data/*.jsonl", "  path: data/*.jsonl\n  on_eror: quarantine")
    assert error(tmp_path, text) == "p.yaml:4: input: unknown key 'on_eror' (did you mean 'on_error'?)"


def test_bad_input_value(tmp_path):
    text = GOOD.replace("  path: data/*.jsonl", "  path: data/*.jsonl\n  on_error: skip")
    assert error(tmp_path, text).startswith("p.yaml:4: input: key 'on_error': Input should be 'fail' or 'quarantine'")


def test_unknown_top_key_missing_key_and_unknown_stage_type(tmp_path):
    assert error(tmp_path, GOOD + "extra: 1\n") == "p.yaml:9: unknown key 'extra'"
    assert error(tmp_path, GOOD.replace("output: runs/t\n", "")) == "p.yaml:1: missing required key 'output'"
    assert error(tmp_path, GOOD.replace("exact_dedup", "exact_dedupe")) == "p.yaml:7: stage 'exact': unknown stage type 'exact_dedupe' (did you mean 'exact_dedup'?)"


def test_duplicate_yaml_key_and_duplicate_stage_names(tmp_path):
    assert error(tmp_path, GOOD.replace("field: text", "field: text\n    field: x")) == "p.yaml:9: duplicate key 'field' (first at line 8)"
    twice = GOOD + "  - name: exact\n    use: filter\n    keep: 'true'\n"
    assert error(tmp_path, twice) == "p.yaml:9: stage name 'exact' is used twice (stage 1 and 2)"


def test_reserved_and_unsafe_stage_names(tmp_path):
    assert "reserved" in error(tmp_path, GOOD.replace("name: exact", "name: input"))
    assert "use letters" in error(tmp_path, GOOD.replace("name: exact", "name: a/b"))
    assert "use letters" in error(tmp_path, GOOD.replace("name: exact", "name: a.b"))  # '.' would make --set ambiguous
    assert "reserved for reading the input" in error(tmp_path, GOOD.replace("name: exact", "name: Input"))
    # kept/part-*.parquet and traces/ named after them: a stage 'part' would overwrite other records' traces
    for name in ("part", "PART", "part-1", "Part-x"):
        assert error(tmp_path, GOOD.replace("name: exact", f"name: {name}")) == f"p.yaml:6: stage name {name!r}: names 'part' and 'part-...' are reserved (kept/ and traces/ files are named part-...)"
    assert "at most 100 characters" in error(tmp_path, GOOD.replace("name: exact", "name: " + "x" * 101))
    assert load(tmp_path, GOOD.replace("name: exact", "name: partial")).stages[0].name == "partial"
    twice = GOOD + "  - name: Exact\n    use: filter\n    keep: 'true'\n"
    assert error(tmp_path, twice) == "p.yaml:9: stage names 'exact' and 'Exact' differ only in case (they name files) (stage 1 and 2)"


def test_an_error_in_a_set_value_names_the_set(tmp_path):
    assert error(tmp_path, GOOD, ["input.on_error=skip"]).startswith("--set input.on_error=skip: input: key 'on_error'")
    assert error(tmp_path, GOOD, ["exact.normalize.nfkc=perhaps"]).startswith("--set exact.normalize.nfkc=perhaps: stage 'exact'")


def test_yaml_keys_must_be_names_and_merges_may_be_overridden(tmp_path):
    assert error(tmp_path, GOOD + "5: 1\n") == "p.yaml:9: keys are names, not int values (5)"
    assert error(tmp_path, GOOD + "? [a, b]\n: 1\n") == "p.yaml:9: keys are names, not list values (['a', 'b'])"
    merged = GOOD + "  - &base\n    name: f1\n    use: filter\n    keep: 'true'\n  - <<: *base\n    name: f2\n"
    assert [s.name for s in load(tmp_path, merged).stages] == ["exact", "f1", "f2"]


def test_a_custom_stage_module_that_fails_to_import_says_why(tmp_path):
    text = GOOD.replace("use: exact_dedup", "use: no_such_module_here:Stage")
    assert error(tmp_path, text) == "p.yaml:7: stage 'exact': cannot load 'no_such_module_here:Stage': ModuleNotFoundError: No module named 'no_such_module_here'"


def test_missing_required_stage_key_and_bad_sql(tmp_path):
    assert error(tmp_path, GOOD + "  - name: f\n    use: filter\n") == "p.yaml:9: stage 'f' (filter): missing required key 'keep'"
    message = error(tmp_path, GOOD + "  - name: f\n    use: filter\n    keep: 'length(text >'\n")
    assert message.startswith("p.yaml:11: stage 'f' (filter): key 'keep': Value error, not a valid SQL expression")


def test_invalid_yaml_and_missing_file(tmp_path):
    assert error(tmp_path, "name: [").startswith("p.yaml:1: invalid YAML")
    with pytest.raises(ConfigError, match="no such pipeline file"):
        load_pipeline(tmp_path / "nope.yaml")


def test_set_overrides(tmp_path):
    config = load(tmp_path, GOOD, ["exact.field=problem", "exact.normalize.casefold=false", "input.on_error=quarantine", "output=elsewhere"])
    assert config.stages[0].params.field == "problem"
    assert config.stages[0].params.normalize.casefold is False
    assert config.input.on_error == "quarantine" and config.output == "elsewhere"


def test_set_errors(tmp_path):
    assert error(tmp_path, GOOD, ["near.threshold=0.7"]) == "--set near.threshold=0.7: no stage named 'near' (stages: exact)"
    assert error(tmp_path, GOOD, ["exact.field"]) == "--set exact.field: expected STAGE.PARAM=VALUE"
    assert "unknown key 'feild'" in error(tmp_path, GOOD, ["exact.feild=x"])


def test_stage_may_not_read_a_column_a_later_stage_writes():
    from tests.helpers.stages import Shout

    raw = {"name": "x", "input": "a.jsonl", "output": "o", "stages": [{"name": "f", "use": "filter", "keep": "shout <> ''"}, Shout("s")]}
    with pytest.raises(ConfigError, match="reads 'shout' before stage 's' writes it"):
        build_pipeline(raw)


def test_python_stage_objects_and_custom_types():
    from tests.helpers.stages import Shout

    config = build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": [Shout("s"), {"name": "slow", "use": "tests.helpers.stages:Slow", "seconds": 0}]})
    assert [s.name for s in config.stages] == ["s", "slow"]
    with pytest.raises(ConfigError, match="unknown stage type 'tests.helpers.stages:Nope'"):
        build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": [{"name": "n", "use": "tests.helpers.stages:Nope"}]})


def test_explicit_id_field_is_remembered():
    config = build_pipeline({"name": "x", "input": {"path": "a.jsonl", "id_field": "uid"}, "output": "o", "stages": [{"name": "f", "use": "filter", "keep": "true"}]})
    assert config.id_field_explicit and config.input.id_field == "uid"


def test_shipped_pipelines_parse():
    root = Path(__file__).resolve().parents[1] / "pipelines"
    for path in root.glob("*.yaml"):
        load_pipeline(path)


def test_rename_targets_must_be_distinct_and_ids_not_reserved(tmp_path):
    text = GOOD.replace("  path: data/*.jsonl", "  path: data/*.jsonl\n  rename: {p: z, q: z}")
    assert "two fields renamed to 'z'" in error(tmp_path, text)
    text = GOOD.replace("  path: data/*.jsonl", "  path: data/*.jsonl\n  id_field: reason")
    assert "'reason' is a column removed/ adds" in error(tmp_path, text)


def test_filters_that_look_across_records_are_refused(tmp_path):
    for keep in ("length(text) > avg(length(text))", "a > covar_samp(a, b)", "corr(a, b) > 0", "row_number() over () > 1", "count(*) > 1"):
        text = GOOD + f"  - name: f\n    use: filter\n    keep: '{keep}'\n"
        assert "must look at one record at a time" in error(tmp_path, text), keep


def test_filter_check_against_the_input_schema():
    import polars as pl

    from curate.stages.filter import Filter

    Filter("f", keep="length(text) > 3 AND n > 1").check_schema({"text": pl.String, "n": pl.Int64})
    Filter("f", keep="score > 0.5").check_schema({"text": pl.String})  # an earlier stage writes score: later
    with pytest.raises(ValueError, match="gives UInt32, not a boolean"):
        Filter("f", keep="length(text)").check_schema({"text": pl.String})


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &d0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &d{i} [" + ", ".join([f"*d{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_alias_bombs_are_refused_with_their_line(tmp_path):
    """Nine levels of ten aliases: 10^9 values once expanded; refused before anything is built."""
    text = "bombs:\n" + "".join("  " + line + "\n" for line in _bomb().splitlines())
    message = error(tmp_path, GOOD.replace("name: t\n", "name: t\n" + text.replace("bombs:", "x-bombs:")))
    assert message.startswith("p.yaml:") and "aliases expand it past 100,000 values (an alias bomb?)" in message
    # in a stage parameter, and through --set
    inner = "extra_body:\n" + "".join("      " + line + "\n" for line in _bomb().splitlines())
    assert "alias bomb" in error(tmp_path, GOOD.replace("    field: text\n", "    field: text\n    " + inner))
    flat = "{" + ", ".join(line.replace(": &", ": &").replace("a", "k", 1) for line in _bomb().splitlines()) + "}"
    assert "alias bomb" in error(tmp_path, GOOD, [f"exact.field={flat}"])


def test_a_recursive_alias_is_refused(tmp_path):
    assert "an alias refers to a node that contains it" in error(tmp_path, GOOD.replace("name: t\n", "name: t\ndescription: &loop [1, *loop]\n"))


def test_ordinary_anchors_still_work(tmp_path):
    config = load(tmp_path, GOOD.replace("    field: text\n", "    field: &f text\n") + "  - name: again\n    use: exact_dedup\n    field: *f\n")
    assert [s.params.field for s in config.stages] == ["text", "text"]
