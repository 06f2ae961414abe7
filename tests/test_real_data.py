"""Real data from ../shared/data (skipped when absent)."""

import re
import unicodedata

import polars as pl
import pytest

import curate


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


@pytest.mark.slow
def test_gutenberg_books_filed_twice_are_exact_duplicates(tmp_path, ray_address, shared_data):
    books = sorted((shared_data / "gutenberg").glob("*.parquet"))
    run = curate.run(
        {
            "name": "gutenberg-exact",
            "input": {"path": [str(p) for p in books], "id_field": "id"},
            "output": str(tmp_path / "out"),
            "stages": [{"name": "exact", "use": "exact_dedup", "field": "text"}],
        },
        ray_address=ray_address,
    )
    everything = pl.concat([pl.read_parquet(p, columns=["id", "text"]) for p in books])
    later_copies = everything.filter(pl.col("text").is_duplicated() & (pl.int_range(pl.len()).over("text") > 0))
    assert later_copies.height >= 50  # the collection's real duplicates: the same book filed under two authors

    removed = run.removed().collect()
    assert run.stats["input"] == everything.height == run.stats["kept"] + run.stats["removed"]
    assert set(later_copies["id"]) <= set(removed["id"])
    texts = dict(zip(everything["id"], everything["text"]))
    for record_id, duplicate_of in zip(removed["id"], removed["duplicate_of"]):
        assert normalise(texts[record_id]) == normalise(texts[duplicate_of])
    kept_ids = run.kept().select("id").collect()["id"]
    assert kept_ids.to_list() == [i for i in everything["id"] if i not in set(removed["id"])]  # input order


def test_json_list_inputs_and_a_directory_walks_skips(tmp_path, ray_address, shared_data):
    """MATH train and AIME are published as JSON lists: they are input as they are; a directory input
    says which files it skipped (long_cot/ holds two licence files beside its traces)."""
    import json

    math_train = shared_data / "math" / "math" / "train.json"
    aime = shared_data / "math" / "aime" / "aime_1983_2023.json"
    run = curate.run(
        {
            "name": "json-lists",
            "input": {"path": [str(math_train), str(aime), str(shared_data / "math" / "traces" / "long_cot")], "text_fields": []},
            "output": str(tmp_path / "out"),
            "stages": [{"name": "all", "use": "filter", "keep": "true", "reason": "never"}],
        },
        ray_address=ray_address,
    )
    listed = len(json.loads(math_train.read_text())) + len(json.loads(aime.read_text()))
    lines = sum(len(p.read_text().splitlines()) for p in (shared_data / "math" / "traces" / "long_cot").glob("*.jsonl"))
    assert run.stats["input"] == run.stats["kept"] == listed + lines
    assert run.stats["input_files"] == 4
    skipped = run.stats["input_skipped"]
    assert skipped["files"] == 2 and set(skipped["by_why"]) == {"unknown extension (set input.format to read it)"}
    assert sorted(p.rsplit("/", 1)[1] for p in skipped["paths"]) == ["LICENSE-SkyThought", "LICENSE-thought-anchors.md"]
    first = run.kept().head(1).collect()
    assert first["problem"][0] == json.loads(math_train.read_text())[0]["problem"]
