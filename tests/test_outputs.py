"""The run directory's files read whole by the standard readers (issue 13): every file of removed/ has
every column of the run, and no file has Arrow's `large_` types (datasets 2.x cannot load them).
`datasets` itself is tested in the client suite (tests_clients/), which has it installed."""


import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from curate import io as cio
from curate.layout import RunLayout
from tests.conftest import pipeline, write_jsonl


def _records(n: int = 240) -> list:
    records: list = []
    for i in range(n):
        text = f"record {i % 150} about things" + " more" * (i % 3) + (" drop" if i % 11 == 0 else "")
        records.append({"id": f"r{i}", "text": text, "tags": [f"t{i % 3}"], "n": i})
    records.insert(40, "{not json")
    return records


def _large(kind: pa.DataType) -> bool:
    if pa.types.is_large_string(kind) or pa.types.is_large_list(kind) or pa.types.is_string_view(kind) or pa.types.is_large_binary(kind):
        return True
    if pa.types.is_list(kind):
        return _large(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_large(kind.field(i).type) for i in range(kind.num_fields))
    return False


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_address):
    tmp_path = tmp_path_factory.mktemp("outputs")
    write_jsonl(tmp_path / "in" / "a.jsonl", _records())
    stages = [
        {"name": "exact", "use": "exact_dedup", "field": "text"},
        {"name": "shout", "use": "tests.helpers.stages:Shout"},  # adds `shout`, removes texts with "drop"
        {"name": "words", "use": "tests.helpers.stages:WordCount"},  # adds `n_words` after both removals
        {"name": "short", "use": "filter", "keep": "n_words > 4", "reason": "short"},
    ]
    return curate.run(pipeline(tmp_path, stages, on_error="quarantine"), ray_address=ray_address)


def test_every_removed_file_has_every_column_of_the_run(finished):
    removed = sorted((finished.path / "removed").glob("*.parquet"))
    stages = {RunLayout.removed_stage(p) for p in removed}
    assert stages == {"input", "exact", "shout", "short"}, stages
    schemas = {str(pq.read_schema(p)) for p in removed}
    assert len(schemas) == 1, schemas
    names = pq.read_schema(removed[0]).names
    kept = pq.read_schema(next((finished.path / "kept").glob("*.parquet"))).names
    assert names[: len(kept)] == kept
    assert set(names[len(kept) :]) == {"input_error", "input_position", "input_raw", "stage", "reason", "duplicate_of"}
    assert names[-3:] == ["stage", "reason", "duplicate_of"]


def test_standard_readers_read_removed_whole(finished):
    folder = finished.path / "removed"
    expected = finished.stats["removed"]
    table = pq.read_table(folder)
    frame = pd.read_parquet(folder)
    glob = pl.read_parquet(folder / "*.parquet")
    for columns, rows in ((table.column_names, table.num_rows), (list(frame.columns), len(frame)), (glob.columns, glob.height)):
        assert rows == expected
        assert {"shout", "n_words", "input_error", "input_raw", "duplicate_of"} <= set(columns)
    by_stage = glob.group_by("stage").agg(pl.col("n_words").null_count().alias("no_words"), pl.len().alias("rows"), pl.col("input_raw").is_not_null().sum().alias("raw"))
    rows = {r["stage"]: r for r in by_stage.to_dicts()}
    # a stage's removals have nulls in the columns of later stages, values in their own and earlier ones
    assert rows["exact"]["no_words"] == rows["exact"]["rows"] and rows["short"]["no_words"] == 0
    assert rows["input"]["raw"] == 1 and sum(r["raw"] for r in rows.values()) == 1
    shouted = glob.filter(pl.col("stage") == "shout")
    assert shouted.height and (shouted["shout"] == shouted["text"].str.to_uppercase()).all()


def test_no_large_arrow_types_in_any_output(finished):
    files = [p for p in finished.path.rglob("*.parquet")]
    assert any(p.parent.name == "kept" for p in files) and any(p.parent.name == "removed" for p in files)
    for path in files:
        schema = pq.read_schema(path)
        assert not [f for f in schema if _large(f.type)], f"{path}: {schema}"


def test_run_api_reads_the_conformed_files(finished):
    removed = finished.removed().collect()
    assert removed.height == finished.stats["removed"]
    assert finished.removed(stage="exact").collect().height == sum(sum(s["removed"].values()) for s in finished.stats["stages"] if s["name"] == "exact") > 0
    assert finished.kept().collect().height == finished.stats["kept"]


# ---------------------------------------------------------------- the writer, in one process


def test_write_public_slices_and_plain_types(tmp_path, monkeypatch):
    frame = pl.DataFrame({
        "id": [f"r{i}" for i in range(1000)],
        "text": ["word " * (i % 37) for i in range(1000)],
        "steps": [[f"s{j}" for j in range(i % 4)] for i in range(1000)],
        "samples": [[{"response": f"x{i}", "score": float(i)}] for i in range(1000)],
    })
    monkeypatch.setattr("curate.io.write._SLICE_BYTES", 4096)  # many row groups, each cast on its own
    path = tmp_path / "f.parquet"
    cio.write_public(frame, path)
    assert pq.ParquetFile(path).num_row_groups > 10
    schema = pq.read_schema(path)
    assert schema.field("text").type == pa.string() and schema.field("steps").type == pa.list_(pa.string())
    assert schema.field("samples").type.value_type.field("response").type == pa.string()
    assert pl.read_parquet(path).equals(frame)
    assert not list(tmp_path.glob(".*tmp"))


def test_common_schema_fills_and_promotes():
    a = pa.schema([("id", pa.large_string()), ("score", pa.null()), ("stage", pa.string())])
    b = pa.schema([("id", pa.string()), ("extra", pa.int32()), ("score", pa.float64())])
    schema = cio.common_schema([a, b], last=("stage",))
    assert schema.names == ["id", "score", "extra", "stage"]
    assert schema.field("score").type == pa.float64() and schema.field("id").type == pa.string()
    table = cio.conform_table(pa.table({"id": ["x"]}), schema)
    assert table.column_names == schema.names and table.column("extra").null_count == 1


def test_common_schema_names_a_column_files_disagree_on():
    with pytest.raises(TypeError, match="score"):
        cio.common_schema([pa.schema([("score", pa.string())]), pa.schema([("score", pa.struct([("a", pa.int8())]))])])


def test_an_all_null_list_field_survives_the_conform_rewrite(tmp_path):
    """A list field whose items are all null (a grader's unused `report`) is list<null> in Parquet;
    pyarrow 26 corrupts such a column cast to its own type, which the conform step used to do."""
    rows = [{"id": f"r{i}", "text": f"record {i}", "n": i, "report": [None] * (i % 4 + 1)} for i in range(40)]
    write_jsonl(tmp_path / "in" / "a.jsonl", rows)
    spec = pipeline(tmp_path, [{"name": "odd", "use": "filter", "keep": "n % 3 <> 0", "reason": "multiple_of_3"},
                               {"name": "shout", "use": "tests.helpers.stages:Shout"}])
    run = curate.run(spec, executor="in-process", report=False)
    for folder in ("kept", "removed"):
        table = pq.read_table(run.path / folder)
        table.validate(full=True)
        assert table.column("report").to_pylist() == [[None] * (int(i[1:]) % 4 + 1) for i in table.column("id").to_pylist()]
    assert run.stats["removed_by_reason"]["multiple_of_3"] == 14
