"""Reading and validating input, without Ray: every bad-input case, in both modes, and chunking."""

import json
from pathlib import Path

import polars as pl
import pytest

from curate.columns import ERROR, ORDER, RAW, SOURCE
from curate.errors import InputError
from curate.io import ChunkRead, ReadOptions, find_input_files, infer_format, plan_chunks, read_chunk
from tests.conftest import write_jsonl


def read(patterns, quarantine=False, chunk_bytes=1 << 20, text_fields=("text",), id_field="id", id_explicit=False, rename=None, part_bytes=64 << 20):
    files = find_input_files([str(p) for p in patterns])
    options = ReadOptions(list(text_fields), id_field, id_explicit, quarantine, rename or {}, part_bytes)
    records, bad = [], []
    for chunk in plan_chunks(files, chunk_bytes):
        for batch in read_chunk(chunk, options, ChunkRead()):
            if batch.records.height:
                records.append(batch.records)
            if batch.bad is not None:
                bad.append(batch.bad)
    records = pl.concat(records, how="diagonal_relaxed") if records else pl.DataFrame()
    bad = pl.concat(bad) if bad else None
    return records, bad


BAD_CASES = [
    ("malformed JSON", b'{"text": "b"', "malformed JSON: Expecting ',' delimiter"),
    ("not an object", b"[1, 2]", "not a JSON object (found a list)"),
    ("missing text field", b'{"other": 1}', "missing text field 'text'"),
    ("number as text", b'{"text": 5}', "field 'text' is a number, expected a string"),
    ("boolean as text", b'{"text": true}', "field 'text' is a boolean, expected a string"),
    ("object as text", b'{"text": {"a": 1}}', "field 'text' is an object, expected a string"),
    ("null text", b'{"text": null}', "field 'text' is null, expected a string"),
    ("invalid UTF-8", b'{"text": "caf\xe9"}', "invalid UTF-8"),
    ("NaN", b'{"text": "a", "x": NaN}', "malformed JSON: NaN is not valid JSON"),
    ("lone surrogate", b'{"text": "\\ud800"}', "unpaired UTF-16 surrogate"),
    ("lone surrogate elsewhere", b'{"text": "a", "x": "\\ud800"}', "unpaired UTF-16 surrogate"),
    ("id is a list", b'{"text": "a", "id": [1]}', "id field 'id' is a list"),
    # the edges an attack campaign found (issue 12): each at its own line, and quarantinable
    ("number beyond float64", b'{"text": "a", "n": 1e400}', "malformed JSON: the number 1e400 is beyond the range of a 64-bit float"),
    ("negative number beyond float64", b'{"text": "a", "n": -2E+999}', "malformed JSON: the number -2E+999 is beyond the range"),
    ("id with a fraction", b'{"text": "a", "id": 7.0}', "id field 'id' is 7.0, a number with a fraction or an exponent; ids are strings or integers"),
    ("id with an exponent", b'{"text": "a", "id": 1e3}', "id field 'id' is 1e3, a number with a fraction or an exponent"),
    ("id negative zero", b'{"text": "a", "id": -0.0}', "id field 'id' is -0.0, a number with a fraction or an exponent"),
    ("id with the position prefix", b'{"text": "a", "id": "@input:in.jsonl:1"}', "id '@input:in.jsonl:1': ids starting with '@input:' are reserved"),
]


@pytest.mark.parametrize("name, line, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_record_fails_with_file_and_line(tmp_path, name, line, message):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "good one"}, {"text": "good two"}, line, {"text": "good three"}])
    with pytest.raises(InputError) as caught:
        read([path])
    text = str(caught.value)
    assert text.startswith(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}:3: {message}"), text
    assert "\n" not in text and "quarantine" in text


@pytest.mark.parametrize("name, line, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_record_is_quarantined_with_its_raw_line(tmp_path, name, line, message):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "good one"}, {"text": "good two"}, line, {"text": "good three"}])
    records, bad = read([path], quarantine=True)
    assert records["text"].to_list() == ["good one", "good two", "good three"]
    assert bad.height == 1
    row = bad.row(0, named=True)
    assert row["id"] == "@input:in.jsonl:3" and row[SOURCE].endswith("in.jsonl:3")
    assert row[ERROR].startswith(message)
    assert row[RAW] == line.decode("utf-8", errors="backslashreplace")


def test_line_numbers_are_right_in_later_chunks(tmp_path):
    lines = [{"text": f"record number {i} " + "x" * 50} for i in range(3000)]
    lines[2500] = b'{"text": 12}'
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    files = find_input_files([str(path)])
    assert len(plan_chunks(files, 20_000)) > 5
    with pytest.raises(InputError, match=r"in.jsonl:2501: field 'text' is a number"):
        read([path], chunk_bytes=20_000)
    _, bad = read([path], quarantine=True, chunk_bytes=20_000)
    assert bad["id"].to_list() == ["@input:in.jsonl:2501"]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 500, 1 << 20])
def test_chunking_never_loses_splits_or_repeats_a_record(tmp_path, chunk_bytes):
    records = [{"id": i, "text": f"line {i} " * (i % 7)} for i in range(300)]
    lines = [json.dumps(r) for r in records]
    lines.insert(50, "")  # blank lines are skipped but keep line numbers
    lines.insert(120, "   \t")
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines))  # no trailing newline
    got, bad = read([path], chunk_bytes=chunk_bytes)
    assert bad is None
    assert got["id"].to_list() == [str(i) for i in range(300)]
    assert got["text"].to_list() == [r["text"] for r in records]
    assert got[ORDER].is_sorted() and got[ORDER].n_unique() == 300


def test_ids_are_strings_and_generated_when_absent(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "same"}, {"text": "same"}, {"id": 7, "text": "x"}])
    got, _ = read([path])
    ids = got["id"].to_list()
    assert ids[2] == "7" and len(ids[0]) == 20 and ids[0] != ids[1]  # identical records still get distinct ids
    again, _ = read([path])
    assert again["id"].to_list() == ids  # stable across runs


def test_explicit_id_field_must_be_present(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"uid": "a", "text": "x"}, {"text": "y"}])
    with pytest.raises(InputError, match="in.jsonl:2: missing id field 'uid'"):
        read([path], id_field="uid", id_explicit=True)


def test_bom_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\r\n{"text": "b"}\r\n')
    got, _ = read([path])
    assert got["text"].to_list() == ["a", "b"]


def test_mixed_non_text_types_are_combined_not_rejected(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "a", "answer": 3}, {"text": "b", "answer": "\\frac{1}{2}"}])
    got, _ = read([path])
    assert got["answer"].to_list() == ["3", "\\frac{1}{2}"]


def test_numeric_looking_strings_are_fine(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "42"}, {"text": "true"}, {"text": "-1.5e3"}])
    got, _ = read([path])
    assert got["text"].to_list() == ["42", "true", "-1.5e3"]


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst"])
def test_compressed_jsonl(tmp_path, suffix):
    path = write_jsonl(tmp_path / f"in.{suffix}", [{"text": f"r{i}"} for i in range(1000)] + [b'{"text": 1}'])
    with pytest.raises(InputError, match=rf"in.{suffix}:1001: field 'text' is a number"):
        read([path])
    got, bad = read([path], quarantine=True)
    assert got.height == 1000 and bad["id"].to_list() == [f"@input:in.{suffix}:1001"]


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match="in.jsonl.gz: truncated gzip data"):
        read([path])
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\xff" * 64)
    with pytest.raises(InputError, match="bad.jsonl.zst: corrupt zstd data"):
        read([path])


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_archive_is_never_a_silent_end_of_file(tmp_path, suffix, keep):
    """Cut anywhere (even where a line ends), an archive that stops early is an error naming the file."""
    path = write_jsonl(tmp_path / f"in.{suffix}", [{"text": f"record number {i} " + "z" * (i % 50)} for i in range(60_000)])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match=rf"in.{suffix}: truncated .* after line \d+"):
        read([path], quarantine=True)


def test_zstd_with_several_frames(tmp_path):
    import zstandard

    frames = b"".join(zstandard.ZstdCompressor().compress(f'{{"text": "frame {i}"}}\n'.encode()) for i in range(3))
    (tmp_path / "in.jsonl.zst").write_bytes(frames)
    got, _ = read([tmp_path / "in.jsonl.zst"])
    assert got["text"].to_list() == ["frame 0", "frame 1", "frame 2"]


def test_integers_beyond_int128_are_kept_exactly(tmp_path):
    huge = 10**40 + 1
    path = write_jsonl(tmp_path / "in.jsonl", [b'{"id": %d, "text": "t", "n": %d}' % (huge, huge), {"id": 2, "text": "u", "n": 1}])
    got, _ = read([path], id_explicit=True)
    assert got["id"].to_list() == [str(huge), "2"]
    assert got["n"].to_list() == [str(huge), "1"]


def test_slow_path_combines_types_as_the_fast_path_does(tmp_path):
    records = [{"text": "a", "answer": [1]}, {"text": "b", "answer": "x"}]
    fast, _ = read([write_jsonl(tmp_path / "fast.jsonl", records)])
    slow, bad = read([write_jsonl(tmp_path / "slow.jsonl", records + ["garbage"])], quarantine=True)
    assert bad.height == 1 and slow.drop(ORDER, "id").equals(fast.drop(ORDER, "id"))
    literal = write_jsonl(tmp_path / "lit.jsonl", [{"text": "a \\ud800 literal, not an escape"}, {"text": "b", "answer": [1]}, {"text": "c", "answer": "x"}])
    got, _ = read([literal])
    assert got["text"][0] == "a \\ud800 literal, not an escape"


def test_rename_swaps_and_clashes(tmp_path):
    records = [{"a": "A", "b": "B", "text": "t"}]
    for name, extra in (("fast.jsonl", []), ("slow.jsonl", ["garbage"])):
        got, _ = read([write_jsonl(tmp_path / name, records + extra)], quarantine=True, rename={"a": "b", "b": "a"})
        assert got.row(0, named=True)["a"] == "B" and got.row(0, named=True)["b"] == "A"
    with pytest.raises(InputError, match="input.rename: 'body' -> 'text', but the input already has a field 'text'"):
        read([write_jsonl(tmp_path / "clash.jsonl", [{"body": "x", "text": "y"}])], rename={"body": "text"})


def test_reserved_field_names_and_deep_nesting(tmp_path):
    with pytest.raises(InputError, match="input field '__curate_order': names starting with '__curate_' are curate's own"):
        read([write_jsonl(tmp_path / "r.jsonl", [{"text": "t", "__curate_order": 1}])])
    for depth in (70, 1000):
        deep = b'{"text": "t", "x": ' + b"[" * depth + b"]" * depth + b"}"
        got, bad = read([write_jsonl(tmp_path / f"d{depth}.jsonl", [{"text": "ok", "x": [1]}, deep])], quarantine=True)
        assert got["text"].to_list() == ["ok"]
        assert bad[ERROR][0] in ("nested deeper than 64 levels", "malformed JSON: nested too deeply")


def test_empty_parquet_file_has_no_chunks(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    assert plan_chunks(find_input_files([str(tmp_path / "empty.parquet")]), 1 << 20) == []


def test_run_directory_and_repeated_paths_are_not_input(tmp_path):
    for name in ["data/a.jsonl", "data/run/kept/part.parquet", "data/run/_work/input/x.parquet", "data/.cache/b.jsonl"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = find_input_files([str(tmp_path / "data"), str(tmp_path / "data" / "a.jsonl"), str(tmp_path / "data" / "**" / "*")], exclude=tmp_path / "data" / "run")
    assert [f.relpath for f in found] == ["a.jsonl"]
    with pytest.raises(InputError, match="is inside the run directory"):
        find_input_files([str(tmp_path / "data" / "run" / "kept" / "part.parquet")], exclude=tmp_path / "data" / "run")


def test_parquet_checks_types_and_nulls(tmp_path):
    pl.DataFrame({"id": [1, 2, 3], "text": ["a", None, "c"]}).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(InputError, match="a.parquet:row 2: field 'text' is null"):
        read([tmp_path / "a.parquet"])
    got, bad = read([tmp_path / "a.parquet"], quarantine=True)
    assert got["id"].to_list() == ["1", "3"]
    assert bad["id"].to_list() == ["@input:a.parquet:row 2"] and json.loads(bad[RAW][0]) == {"id": 2, "text": None}

    pl.DataFrame({"text": [1, 2]}).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(InputError, match="b.parquet:row 1: field 'text' is Int64, expected a string"):
        read([tmp_path / "b.parquet"])
    _, bad = read([tmp_path / "b.parquet"], quarantine=True)
    assert bad.height == 2

    pl.DataFrame({"text": ["x", "y"]}, schema={"text": pl.Categorical}).write_parquet(tmp_path / "c.parquet")
    got, _ = read([tmp_path / "c.parquet"])
    assert got["text"].dtype == pl.String and got["text"].to_list() == ["x", "y"]


def test_parquet_row_groups_become_chunks(tmp_path):
    frame = pl.DataFrame({"text": [f"row {i}" for i in range(10_000)]})
    frame.write_parquet(tmp_path / "a.parquet", row_group_size=1000)
    files = find_input_files([str(tmp_path / "a.parquet")])
    assert len(plan_chunks(files, 1)) == 10
    got, _ = read([tmp_path / "a.parquet"], chunk_bytes=1)
    assert got["text"].to_list() == frame["text"].to_list()


def test_rename(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"body": "a", "reason": "r"}])
    got, _ = read([path], text_fields=("text",), rename={"body": "text", "reason": "why"})
    assert got.columns[:2] == ["text", "why"]


def test_finding_files(tmp_path):
    for name in ["b.jsonl", "a.jsonl", "sub/c.parquet", "notes.txt", "_hidden.jsonl"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    by_dir = [Path(f.path).name for f in find_input_files([str(tmp_path)])]
    assert by_dir == ["a.jsonl", "b.jsonl", "c.parquet"]
    assert [f.relpath for f in find_input_files([str(tmp_path / "**" / "*.parquet")])] == ["c.parquet"]
    with pytest.raises(InputError, match="no files match"):
        find_input_files([str(tmp_path / "*.csv")])
    with pytest.raises(InputError, match="no such file or directory"):
        find_input_files([str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="cannot tell the format"):
        find_input_files([str(tmp_path / "notes.txt")])
    assert infer_format("x.JSONL.ZST") == "jsonl.zst" and infer_format("x.ndjson") == "jsonl"


def within(seconds, function):
    """Run `function` in a daemon thread; fail (instead of hanging the suite) if it does not return."""
    import threading

    box = {}

    def target():
        try:
            box["value"] = function()
        except BaseException as err:  # re-raised below
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not return within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst"])
def test_compressed_streams_end_when_the_data_ends(tmp_path, suffix):
    empty = write_jsonl(tmp_path / f"empty.{suffix}", [])
    got, bad = within(20, lambda: read([empty]))
    assert got.height == 0 and bad is None
    lines = [{"text": f"r{i:04d}"} for i in range(1000)]  # 16 bytes a line
    exact = write_jsonl(tmp_path / f"exact.{suffix}", lines)
    for part_bytes in (16_000, 8_000, 4_096, 1_000_000):  # parts that end exactly at the end of the data, and not
        got, _ = within(20, lambda part_bytes=part_bytes: read([exact], part_bytes=part_bytes))
        assert got["text"].to_list() == [r["text"] for r in lines]


@pytest.mark.parametrize("neighbour", [b'"a"', b"5", b"null", None], ids=["string", "integer", "null", "alone"])
@pytest.mark.parametrize("value", [b"1.5", b"7.0", b"1e3", b"-0.0", b"2E5", b"true", b"[1, 2]", b'{"k": 1}'])
def test_an_id_must_be_a_string_or_an_integer_whatever_its_neighbours(tmp_path, value, neighbour):
    """One rule, whichever path the chunk takes: polars alone would turn 7.0 beside "a" into "7"."""
    lines = ([b'{"id": ' + neighbour + b', "text": "x"}'] if neighbour else []) + [b'{"id": ' + value + b', "text": "y"}']
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    with pytest.raises(InputError, match=rf"in.jsonl:{len(lines)}: id field 'id' is"):
        read([path])
    _, bad = read([path], quarantine=True)
    assert bad["id"].to_list() == [f"@input:in.jsonl:{len(lines)}"]
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"id": "a", "text": "x"}, {"id": 7, "text": "y"}, b'{"id": -0, "text": "z"}'])
    assert read([mixed])[0]["id"].to_list() == ["a", "7", "0"]


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "jsonl.zst"])
@pytest.mark.parametrize("chunk_bytes", [97, 1 << 20])
def test_lines_ending_in_a_bare_cr(tmp_path, suffix, chunk_bytes):
    """Old Mac line ends: every record read, bad lines named at their own line."""
    lines = [json.dumps({"id": f"r{i}", "text": f"record {i}"}).encode() for i in range(300)]
    lines[150] = b'{"id": "r150", "text": 5}'
    data = b"\r".join(lines) + b"\r"
    path = tmp_path / f"in.{suffix}"
    if suffix == "jsonl.gz":
        import gzip
        data = gzip.compress(data)
    elif suffix == "jsonl.zst":
        import zstandard
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    with pytest.raises(InputError, match=rf"in.{suffix}:151: field 'text' is a number"):
        read([path], chunk_bytes=chunk_bytes)
    got, bad = read([path], quarantine=True, chunk_bytes=chunk_bytes)
    assert got["id"].to_list() == [f"r{i}" for i in range(300) if i != 150]
    assert bad["id"].to_list() == [f"@input:in.{suffix}:151"]


def test_a_binary_text_column_is_quarantined_not_a_panic(tmp_path, capfd):
    pl.DataFrame({"id": ["a", "b"], "text": [b"x\xff", b"y"], "blob": [[b"\x00"], [b"\x01"]]}).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(InputError, match="a.parquet:row 1: field 'text' is Binary, expected a string"):
        read([tmp_path / "a.parquet"])
    _, bad = read([tmp_path / "a.parquet"], quarantine=True)
    assert bad["id"].to_list() == ["@input:a.parquet:row 1", "@input:a.parquet:row 2"]
    assert json.loads(bad[RAW][0]) == {"id": "a", "text": "eP8=", "blob": ["AA=="]}  # binary as base64
    assert "panicked" not in capfd.readouterr().err


def test_the_nesting_limit_does_not_depend_on_neighbours(tmp_path):
    deep = b'{"id": "b", "text": "y", "d": ' + b"[" * 80 + b"]" * 80 + b"}"
    alone = write_jsonl(tmp_path / "alone.jsonl", [deep])
    beside = write_jsonl(tmp_path / "beside.jsonl", [{"id": "a", "text": "x", "d": "s"}, deep])
    for path in (alone, beside):
        with pytest.raises(InputError, match="nested deeper than 64 levels"):
            read([path])
    braces = write_jsonl(tmp_path / "latex.jsonl", [{"text": "\\frac{" * 70 + "}" * 70}])  # inside a string: fine
    assert read([braces])[0].height == 1


def test_long_numbers_in_text_do_not_change_how_types_combine(tmp_path):
    records = [{"id": "a", "text": "x", "ans": {"k": 1}}, {"id": "b", "text": "y", "ans": "s"}]
    plain, _ = read([write_jsonl(tmp_path / "plain.jsonl", records)])
    digits = "1234567890" * 4
    with_digits, _ = read([write_jsonl(tmp_path / "digits.jsonl", records + [{"id": "z", "text": f"what is {digits} mod 7"}])])
    assert with_digits.head(2).drop(ORDER).equals(plain.drop(ORDER))
    huge = write_jsonl(tmp_path / "huge.jsonl", records + [b'{"id": "h", "text": "t", "ans": ' + digits.encode() + b"}"])
    assert read([huge])[0]["ans"].to_list()[2] == digits


def test_a_huge_integer_is_not_a_string(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [b'{"id": "a", "text": 1234567890123456789012345678901234567890}'])
    with pytest.raises(InputError, match="in.jsonl:1: field 'text' is a number, expected a string"):
        read([path])


@pytest.mark.parametrize(
    "frame, write",
    [
        (pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "n": [1, 2, 3]}), {}),
        (pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", None, "z"]}), {}),  # a null: the full read reports it
        (pl.DataFrame({"text": ["x", "y", "x"]}), {}),  # no ids: generated from the text
        (pl.DataFrame({"id": [1, 2, 3], "text": ["x", "y", "z"]}, schema={"id": pl.Int64, "text": pl.Categorical}), {}),
        (pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]}), {"statistics": False}),
        (pl.DataFrame({"id": [f"r{i}" for i in range(5000)], "text": [f"t{i}" for i in range(5000)]}), {"row_group_size": 700}),
    ],
)
def test_light_parquet_reads_agree_with_full_reads(tmp_path, frame, write):
    path = tmp_path / "a.parquet"
    frame.write_parquet(path, **write)
    options = ReadOptions(["text"], "id", False, True, {}, part_bytes=20_000)
    for chunk in plan_chunks(find_input_files([str(path)]), 10_000):
        full = list(read_chunk(chunk, options, ChunkRead()))
        light = list(read_chunk(chunk, options, ChunkRead(), light=True))
        assert len(full) == len(light)
        for f, lit in zip(full, light):
            assert f.records.select(ORDER, "id").equals(lit.records.select(ORDER, "id"))
            assert (f.bad is None) == (lit.bad is None)
            assert dict(f.records.schema) == (lit.schema or dict(lit.records.schema))


# ---------------------------------------------------------------- JSON lists (.json)

ELEMENT_CASES = [c for c in BAD_CASES if c[0] not in ("malformed JSON", "invalid UTF-8")]


def test_json_list_reads_as_the_same_records_as_jsonl(tmp_path):
    records = [{"id": f"r{i}", "text": f"line {i}\nwith a break", "n": i, "tags": ["a", "b"][: i % 3]} for i in range(50)]
    (tmp_path / "a.json").write_text(json.dumps(records, indent=2))
    write_jsonl(tmp_path / "b" / "a.jsonl", records)
    listed, _ = read([tmp_path / "a.json"])
    lined, _ = read([tmp_path / "b" / "a.jsonl"])
    assert infer_format("x/train.json") == "json"
    assert listed.drop(ORDER).equals(lined.drop(ORDER))


@pytest.mark.parametrize("name, element, message", ELEMENT_CASES, ids=[c[0] for c in ELEMENT_CASES])
def test_bad_element_of_a_json_list_is_quarantined_at_its_line(tmp_path, name, element, message):
    good = '  {"id": "ok1", "text": "fine"}'
    path = tmp_path / "in.json"
    path.write_bytes(b"[\n" + good.encode() + b",\n  " + element + b",\n" + good.replace("ok1", "ok2").encode() + b"\n]\n")
    records, bad = read([path], quarantine=True)
    assert records["id"].to_list() == ["ok1", "ok2"]
    assert bad.height == 1 and message in bad[ERROR][0], bad[ERROR][0]
    assert bad[SOURCE][0].endswith("in.json:3") and bad[RAW][0] == element.decode("utf-8", "backslashreplace")
    with pytest.raises(InputError, match=r"in\.json:3: "):
        read([path])


@pytest.mark.parametrize("content, message", [
    (b'{"text": "a"}', r"in\.json:1: a \.json input must hold one JSON list of records"),
    (b'[{"text": "a"},\n]', r"in\.json:2: not a JSON list: a ',' before the closing"),
    (b'[{"text": "a"}', r"in\.json: not a JSON list: it ends before its closing"),
    (b'[{"text": "a"}]\nx', r"in\.json:2: text after the JSON list's closing"),
    (b'[{"text": "a"} {"text": "b"}]', r"in\.json:1: not a JSON list: expected ',' or"),
    (b'[\n{"text": "a",}]', r"in\.json:2:\d+: not a JSON list: "),
    (b'[{"text": "caf\xe9"}]', r"in\.json:1: not UTF-8 text"),
    (b"[" * 100000, r"in\.json:1: "),
])
def test_a_broken_json_list_is_one_line_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "in.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read([path], quarantine=True)


def test_empty_json_list_and_empty_file(tmp_path):
    (tmp_path / "a.json").write_text(" [ ] \n")
    (tmp_path / "b.json").write_text("")
    records, bad = read([tmp_path / "a.json", tmp_path / "b.json"], quarantine=True)
    assert records.height == 0 and bad is None


def test_directory_walk_reports_what_it_skips(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "x"}])
    (tmp_path / "in" / "notes.csv").write_text("a,b\n")
    (tmp_path / "in" / ".hidden.jsonl").write_text("{}\n")
    (tmp_path / "in" / "_tmp").mkdir()
    (tmp_path / "in" / "_tmp" / "b.jsonl").write_text("{}\n")
    skipped: list = []
    files = find_input_files([str(tmp_path / "in")], skipped=skipped)
    assert [f.relpath for f in files] == ["a.jsonl"]
    why = {Path(s["path"]).name: s["why"] for s in skipped}
    assert why["notes.csv"].startswith("unknown extension") and why[".hidden.jsonl"].startswith("hidden") and why["b.jsonl"].startswith("hidden: '_tmp'")
