"""The `curate` command as users run it: one-line errors, help, stats, explain, overrides."""

import json

import pytest

from tests.conftest import run_cli, write_jsonl

PIPELINE = """\
name: cli
input:
  path: {input}
output: {output}
stages:
  - name: exact
    use: exact_dedup
    field: text
  - name: short
    use: filter
    keep: "length(text) > 3"
    reason: too_short
"""


def setup(tmp_path, records=None):
    write_jsonl(tmp_path / "in" / "a.jsonl", records or [
        {"id": "a", "text": "hello world"},
        {"id": "b", "text": "Hello  World"},
        {"id": "c", "text": "abc"},
        {"id": "d", "text": "something else"},
    ])
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(input=tmp_path / "in" / "*.jsonl", output=tmp_path / "out"))
    return path


def one_line_error(result, code=2):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def test_run_stats_explain(tmp_path, ray_address):
    pipeline = setup(tmp_path)
    result = run_cli("run", str(pipeline), "--ray-address", ray_address)
    assert result.returncode == 0, result.stderr
    assert "exact_duplicate" in result.stdout and "too_short" in result.stdout

    stats = run_cli("stats", str(tmp_path / "out"))
    assert stats.returncode == 0 and "exact_dedup" in stats.stdout
    data = json.loads(run_cli("stats", str(tmp_path / "out"), "--json").stdout)
    assert data["input"] == 4 and data["kept"] == 2 and data["removed"] == 2

    explain = run_cli("explain", str(tmp_path / "out"), "b")
    assert explain.returncode == 0
    assert "removed" in explain.stdout and "exact_duplicate" in explain.stdout and "duplicate of a" in explain.stdout
    answer = json.loads(run_cli("explain", str(tmp_path / "out"), "b", "--json").stdout)
    assert answer["stage"] == "exact" and answer["duplicate"]["status"] == "kept"
    assert one_line_error(run_cli("explain", str(tmp_path / "out"), "zzz"), code=1).startswith("error: ")


def test_set_input_and_output_overrides(tmp_path, ray_address):
    pipeline = setup(tmp_path)
    other = write_jsonl(tmp_path / "other" / "x.jsonl", [{"id": "z", "text": "ab"}, {"id": "y", "text": "abcdef"}])
    result = run_cli(
        "run", str(pipeline), "--ray-address", ray_address, "--input", str(other), "--output", str(tmp_path / "o2"),
        "--set", "short.keep=length(text) > 1", "--set", "exact.normalize.casefold=false", "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    data = json.loads((tmp_path / "o2" / "stats.json").read_text())
    assert data["kept"] == 2
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text())
    assert manifest["pipeline"]["stages"][1]["keep"] == "length(text) > 1"
    assert manifest["pipeline"]["stages"][0]["normalize"]["casefold"] is False


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("field: text", "feild: text"), "p.yaml:8: stage 'exact' (exact_dedup): unknown key 'feild' (did you mean 'field'?)"),
        (("use: filter", "use: filtre"), "stage 'short': unknown stage type 'filtre' (did you mean 'filter'?)"),
    ],
)
def test_config_errors_are_one_line(tmp_path, edit, expected):
    pipeline = setup(tmp_path)
    pipeline.write_text(pipeline.read_text().replace(*edit))
    assert expected in one_line_error(run_cli("run", str(pipeline)))


@pytest.mark.parametrize(
    "lines, expected",
    [
        ([b'{"id": "a", "text": "ok"}', b'{"id": "b", "text": '], "a.jsonl:2: malformed JSON"),
        ([b'{"id": "a", "text": "ok"}', b'{"id": "b"}'], "a.jsonl:2: missing text field 'text'"),
        ([b'{"id": "a", "text": 1}'], "a.jsonl:1: field 'text' is a number, expected a string"),
        ([b'{"id": "a", "text": "\xc3\x28"}'], "a.jsonl:1: invalid UTF-8"),
        ([], "a.jsonl: empty file"),
        ([b'{"id": "a", "text": "x"}', b'{"id": "a", "text": "y"}'], "a.jsonl:2: duplicate id 'a'"),
    ],
    ids=["malformed", "missing-field", "non-string", "invalid-utf8", "empty-file", "duplicate-id"],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, ray_address, lines, expected):
    pipeline = setup(tmp_path, [])
    write_jsonl(tmp_path / "in" / "a.jsonl", lines)
    message = one_line_error(run_cli("run", str(pipeline), "--ray-address", ray_address))
    assert expected in message
    assert not (tmp_path / "out").exists()


def test_missing_input_and_missing_pipeline(tmp_path):
    pipeline = setup(tmp_path)
    assert "no files match" in one_line_error(run_cli("run", str(pipeline), "--input", str(tmp_path / "none" / "*.jsonl")))
    assert "no such pipeline file" in one_line_error(run_cli("run", str(tmp_path / "nope.yaml")))
    assert "not a completed curate run directory" in one_line_error(run_cli("stats", str(tmp_path)), code=2)


def test_help_is_complete():
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("run", "stats", "explain", "demo-data"):
        assert command in top.stdout
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "Usage: curate " + command in sub.stdout
    run_help = run_cli("run", "--help").stdout
    for option in ("--input", "--output", "--set", "--ray-address", "--overwrite", "--quiet", "--num-cpus"):
        assert option in run_help
    assert run_cli("--version").stdout.startswith("curate ")
