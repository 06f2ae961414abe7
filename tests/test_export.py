"""Exports: each trainer's schema exactly (Arrow types included), the deterministic split shared by every
format, SFT selection, what is left out counted, and the `curate export` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from curate.errors import ConfigError
from curate.exporting import SUMMARY, check_destination, validation_ids
from curate.stages.export import VERL_MATH_SOURCE, Export
from tests.conftest import run_cli, write_jsonl

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
PROMPT_END = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."


def problem(i: int) -> dict:
    """p%4 == 0: all three solutions correct (too_easy); 1: none (unsolved); else two of three, of different lengths."""
    answer = 2 * i + 1
    right_long = f"First add {i} and {i + 1}. Checking the sum once more. It is {answer}.\n\nThe answer is \\boxed{{{answer}}}."
    right_short = f"{i} + {i + 1} = {answer}, so \\boxed{{{answer}}}."
    wrong = f"I think it is \\boxed{{{answer + 1}}}."
    solutions = {0: [right_long, right_short, right_short], 1: [wrong, wrong, wrong]}.get(i % 4, [right_long, wrong, right_short])
    return {"id": f"p{i:02d}", "problem": f"Compute {i} plus {i + 1}. What is the result?", "answer": str(answer), "solutions": solutions}


PROBLEMS = [problem(i) for i in range(40)]
EXPORTS = """
  - {name: verify, use: verify, response_field: solutions}
  - {name: difficulty, use: difficulty}
  - {name: verl, use: export, format: verl, validation: 0.25}
  - {name: openrlhf, use: export, format: openrlhf, validation: 0.25}
  - {name: trl, use: export, format: trl, validation: 0.25}
  - {name: sft, use: export, format: sft, validation: 0.25, include_removed: [difficulty]}
  - {name: sft_all, use: export, format: sft, select: all_correct, validation: 0, to: %s}
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, ray_address) -> Path:
    root = tmp_path_factory.mktemp("export")
    write_jsonl(root / "in.jsonl", PROBLEMS)
    (root / "p.yaml").write_text(f"name: exp\ninput: {root / 'in.jsonl'}\noutput: {root / 'run'}\nstages:" + EXPORTS % (root / "all"))
    curate.run(root / "p.yaml", ray_address=ray_address)
    return root


def kept_ids() -> set[str]:
    return {p["id"] for i, p in enumerate(PROBLEMS) if i % 4 in (2, 3)}


def test_verl_schema_and_values(exported):
    train, validation = (pq.read_table(exported / "run" / "exports" / "verl" / f"{s}.parquet") for s in ("train", "validation"))
    assert train.schema.equals(pa.schema([
        ("data_source", pa.string()),
        ("prompt", MESSAGES),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("id", pa.string()), ("pass_rate", pa.float64()), ("n_correct", pa.int32()), ("n_samples", pa.int32())])),
    ]))
    assert validation.schema.equals(train.schema)
    rows = train.to_pylist() + validation.to_pylist()
    assert {r["extra_info"]["id"] for r in rows} == kept_ids()
    by_id = {p["id"]: p for p in PROBLEMS}
    for row in rows:
        source = by_id[row["extra_info"]["id"]]
        assert row["data_source"] == VERL_MATH_SOURCE and row["ability"] == "math"
        assert row["prompt"] == [{"role": "user", "content": source["problem"] + PROMPT_END}]
        assert row["reward_model"] == {"style": "rule", "ground_truth": source["answer"]}
        assert row["extra_info"]["pass_rate"] == pytest.approx(2 / 3) and row["extra_info"]["n_samples"] == 3
    for split, table in (("train", train), ("validation", validation)):
        info = table.column("extra_info").to_pylist()
        assert [x["split"] for x in info] == [split] * len(info) and [x["index"] for x in info] == list(range(len(info)))
    summary = json.loads((exported / "run" / "exports" / "verl" / SUMMARY).read_text())
    assert summary["records"] == 20 and summary["files"]["train"]["rows"] + summary["files"]["validation"]["rows"] == 20 and summary["left_out"] == {}


def test_openrlhf_and_trl_schemas(exported):
    lines = [json.loads(x) for s in ("train", "validation") for x in (exported / "run" / "exports" / "openrlhf" / f"{s}.jsonl").read_text().splitlines()]
    assert {tuple(r) for r in lines} == {("input", "label", "datasource", "id", "pass_rate", "n_correct", "n_samples")}
    assert {r["id"] for r in lines} == kept_ids() and all(r["input"].endswith(PROMPT_END) and r["datasource"] == "exp" for r in lines)
    assert all(r["label"] == str(2 * int(r["id"][1:]) + 1) for r in lines)
    trl = pq.read_table(exported / "run" / "exports" / "trl" / "train.parquet")
    assert trl.schema.equals(pa.schema([("prompt", MESSAGES), ("solution", pa.string()), ("id", pa.string()), ("data_source", pa.string()), ("pass_rate", pa.float64()), ("n_correct", pa.int32()), ("n_samples", pa.int32())]))
    assert all(r["solution"] == "$" + str(2 * int(r["id"][1:]) + 1) + "$" for r in trl.to_pylist())  # math mode, as TRL parses it


def test_sft_shortest_correct_with_removed_problems_and_the_shared_split(exported):
    sft = {s: [json.loads(x) for x in (exported / "run" / "exports" / "sft" / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "validation")}
    rows = sft["train"] + sft["validation"]
    # too_easy problems (removed by difficulty) included; unsolved ones have no correct trace
    assert {r["id"] for r in rows} == {p["id"] for i, p in enumerate(PROBLEMS) if i % 4 != 1}
    for row in rows:
        user, assistant = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant" and set(assistant) == {"role", "content"}
        i = int(row["id"][1:])
        assert assistant["content"] == f"{i} + {i + 1} = {2 * i + 1}, so \\boxed{{{2 * i + 1}}}."  # the shortest correct one
    summary = json.loads((exported / "run" / "exports" / "sft" / SUMMARY).read_text())
    assert summary["records"] == 40 and summary["left_out"] == {"no_correct_trace": 10}
    # one split for every export: a problem held out of RL is held out of SFT
    verl_validation = {r["extra_info"]["id"] for r in pq.read_table(exported / "run" / "exports" / "verl" / "validation.parquet").to_pylist()}
    assert verl_validation and {r["id"] for r in sft["validation"]} & kept_ids() == verl_validation
    openrlhf_validation = {json.loads(x)["id"] for x in (exported / "run" / "exports" / "openrlhf" / "validation.jsonl").read_text().splitlines()}
    assert openrlhf_validation == verl_validation


def test_sft_all_correct_elsewhere_and_without_validation(exported):
    rows = [json.loads(x) for x in (exported / "all" / "train.jsonl").read_text().splitlines()]
    assert not (exported / "all" / "validation.jsonl").exists()
    assert len(rows) == 20 * 2 and all(r["id"] in kept_ids() for r in rows)
    assert [r["sample"] for r in rows if r["id"] == "p02"] == [0, 2]


def test_changed_export_is_rewritten_without_rerunning(exported, ray_address):
    stats_before = json.loads((exported / "run" / "stats.json").read_text())
    manifest_before = (exported / "run" / "manifest.json").read_text()
    config = (exported / "p.yaml").read_text().replace("format: trl, validation: 0.25", "format: trl, validation: 3")
    (exported / "p2.yaml").write_text(config)
    run = curate.run(exported / "p2.yaml", ray_address=ray_address)
    assert (exported / "run" / "manifest.json").read_text() == manifest_before
    assert run.stats["seconds"] == stats_before["seconds"]
    assert run.stats["exports"]["trl"]["files"]["validation"]["rows"] == 3
    assert run.stats["exports"]["verl"] == stats_before["exports"]["verl"]
    assert pq.read_table(exported / "run" / "exports" / "trl" / "validation.parquet").num_rows == 3


# ---------------------------------------------------------------- rows, unit by unit


def records(**extra) -> pl.DataFrame:
    return pl.DataFrame({"id": ["a", "b", "c"], "problem": ["P1", "P2", "  "], "answer": ["1", None, "3"], **extra})


def test_left_out_records_are_counted():
    out, left_out = Export("x", format="verl").rows(records(), "train", 0, "id")
    assert out["extra_info"].struct.field("id").to_list() == ["a"]
    assert left_out == {"empty_prompt": 1, "no_reference": 1}


def test_system_prompt_data_source_field_and_metadata():
    frame = records(origin=["aops", None, "x"], level=[1, 2, 3])
    out, _ = Export("x", format="openrlhf", system="Be brief.", data_source_field="origin", metadata=["level"]).rows(frame, "train", 0, "id")
    row = out.row(0, named=True)
    assert row["input"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "P1" + PROMPT_END}]
    assert row["datasource"] == "aops" and row["level"] == 1 and "pass_rate" not in out.columns
    out, _ = Export("x", format="verl", data_source="mine", prompt="Q: {{problem}}").rows(frame, "train", 7, "id")
    assert out.row(0, named=True)["data_source"] == "mine" and out["prompt"].to_list()[0][0]["content"] == "Q: P1"
    assert out["extra_info"].struct.field("index").to_list() == [7]


def traces() -> pl.DataFrame:
    return pl.DataFrame({
        "id": ["a", "a", "a", "b"],
        "sample": pl.Series([0, 1, 2, 0], dtype=pl.Int32),
        "response": ["\\boxed{1}", "so \\boxed{1}", "\\boxed{1}", "\\boxed{2}"],
        "reasoning": ["long thought " * 5, "short thought", None, "x"],
        "completion_tokens": [60, 10, 50, 5],
        "truncated": [False, False, True, False],
        "score": [0.2, 0.9, 1.0, 0.5],
        "correct": [True, True, True, False],
    })


def test_sft_reasoning_in_think_or_as_a_field():
    frame = pl.DataFrame({"id": ["a", "b"], "problem": ["P1", "P2"]})
    out, left_out = Export("x", format="sft").rows(frame, "train", 0, "id", traces())
    assert out.height == 1 and left_out == {"no_correct_trace": 1}
    assert out["messages"].to_list()[0][1] == {"role": "assistant", "content": "<think>\nshort thought\n</think>\n\nso \\boxed{1}"}
    out, _ = Export("x", format="sft", reasoning="field").rows(frame, "train", 0, "id", traces())
    assert out["messages"].to_list()[0][1] == {"role": "assistant", "content": "so \\boxed{1}", "reasoning_content": "short thought"}


def test_sft_selection_and_cap():
    frame = pl.DataFrame({"id": ["a"], "problem": ["P1"]})
    pick = lambda **kw: Export("x", format="sft", **kw).rows(frame, "train", 0, "id", traces())[0]["sample"].to_list()
    assert pick(select="all_correct") == [0, 1]  # the truncated sample is never exported
    assert pick(select="all_correct", max_per_problem=1) == [0]
    assert pick(select="best:score") == [1] and pick(select="best:score", max_per_problem=5) == [1, 0]
    assert pick(select="shortest_correct", max_per_problem=2) == [1, 0]
    with pytest.raises(ValueError, match="no field 'nope'"):
        pick(select="best:nope")


def test_validation_ids_are_deterministic_and_independent_of_order():
    ids = pl.Series([f"r{i}" for i in range(2000)])
    chosen = validation_ids(ids, 0.1, 0)
    assert chosen == validation_ids(ids.reverse(), 0.1, 0) and 150 < len(chosen) < 250
    assert validation_ids(ids.head(1000), 0.1, 0) == {i for i in chosen if int(i[1:]) < 1000}  # each id's side is its own
    assert validation_ids(ids, 0.1, 1) != chosen
    assert len(validation_ids(ids, 25, 0)) == 25 and validation_ids(ids, 0, 0) == set()


@pytest.mark.parametrize("bad", [{"validation": 1.5}, {"select": "best:"}, {"select": "longest"}, {"prompt": "no field"}, {"format": "csv"}, {"max_per_problem": 0}])
def test_bad_parameters(bad):
    with pytest.raises(ValueError):
        Export("x", **{"format": "verl", **bad})


def test_destination_checks(tmp_path):
    check_destination(tmp_path / "new", overwrite=False)
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / ".train.parquet.partial").write_text("half")  # an export killed midway: written again
    check_destination(tmp_path / "killed", overwrite=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(curate.CurateError, match="holds no export"):
        check_destination(tmp_path / "mine", overwrite=True)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / SUMMARY).write_text("{}")
    with pytest.raises(curate.CurateError, match="--overwrite"):
        check_destination(tmp_path / "old", overwrite=False)
    check_destination(tmp_path / "old", overwrite=True)


# ---------------------------------------------------------------- configuration and the CLI


@pytest.mark.parametrize(
    "stages, message",
    [
        ("  - {name: rl, use: export, format: verl}\n  - {name: f, use: filter, keep: 'true', reason: r}\n", "must come after every other stage"),
        ("  - {name: sft, use: export, format: sft}\n", "works on the samples of a generate stage|needs verdicts from an earlier stage.*verify provides verdicts"),
        ("  - {name: rl, use: export, format: verl, include_removed: [nope]}\n", "include_removed names 'nope'"),
    ],
)
def test_export_configuration_errors(tmp_path, stages, message):
    from curate.config import build_pipeline

    with pytest.raises(ConfigError, match=message):
        build_pipeline({"name": "x", "input": "in.jsonl", "output": str(tmp_path / "o"), "stages": [*__import__("yaml").safe_load(stages)]})


def test_cli_export(exported, tmp_path):
    result = run_cli("export", str(exported / "run"), "--format", "trl", "--to", str(tmp_path / "trl"), "--validation", "0")
    assert result.returncode == 0, result.stderr
    assert "trl export of 20 records" in result.stdout and pq.read_table(tmp_path / "trl" / "train.parquet").num_rows == 20
    again = run_cli("export", str(exported / "run"), "--format", "trl", "--to", str(tmp_path / "trl"))
    assert again.returncode != 0 and again.stderr.strip().splitlines() == [f"error: export to {tmp_path / 'trl'}: holds an earlier export; pass --overwrite to replace it"]
    sft = run_cli("export", str(exported / "run"), "--format", "sft", "--to", str(tmp_path / "sft"), "--include-removed", "difficulty", "--select", "all_correct", "--set", "max_per_problem=1")
    assert sft.returncode == 0, sft.stderr
    assert sum(len((tmp_path / "sft" / f).read_text().splitlines()) for f in ("train.jsonl", "validation.jsonl")) == 30
    for args, expected in (
        (["--format", "csv"], "error: export: format: Input should be"),
        (["--format", "verl", "--set", "answer_field=solution"], "error: export verl: the kept records of"),
        (["--format", "sft", "--select", "best:nope"], "error: export 'export-sft': select 'best:nope': traces have no field 'nope'"),
    ):
        bad = run_cli("export", str(exported / "run"), "--to", str(tmp_path / "bad"), *args)
        assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith(expected), bad.stderr


# ---------------------------------------------------------------- an export that fails


class FailsOnce(Export):
    """An export whose first attempt dies halfway (a full disk, a kill): `use: tests.test_export:FailsOnce`."""

    def rows(self, *args, **kwargs):
        flag = Path(os.environ["CURATE_TEST_FAILED_ONCE"])  # a file: pytest and the stage loader import this module apart
        if not flag.exists():
            flag.write_text("failed once")
            raise OSError("No space left on device")
        return super().rows(*args, **kwargs)


def test_a_failed_export_resumes_without_redoing_the_run(tmp_path, ray_address, monkeypatch):
    monkeypatch.setenv("CURATE_TEST_FAILED_ONCE", str(tmp_path / "failed"))
    write_jsonl(tmp_path / "in.jsonl", PROBLEMS)
    (tmp_path / "p.yaml").write_text(
        f"name: exp\ninput: {tmp_path / 'in.jsonl'}\noutput: {tmp_path / 'run'}\nstages:\n"
        "  - {name: verify, use: verify, response_field: solutions}\n  - {name: difficulty, use: difficulty}\n"
        "  - {name: rl, use: 'tests.test_export:FailsOnce', format: verl, validation: 0.25}\n"
    )
    with pytest.raises(Exception, match="No space left"):
        curate.run(tmp_path / "p.yaml", ray_address=ray_address)
    assert not (tmp_path / "run" / "stats.json").exists() and (tmp_path / "run" / "_work").exists()  # nothing published
    assert not list((tmp_path / "run" / "exports" / "rl").glob("*.parquet"))  # no half-written file in place
    run = curate.run(tmp_path / "p.yaml", ray_address=ray_address)
    assert run.stats["tasks"]["resumed"] == run.stats["tasks"]["total"]  # only the export was done again
    rows = sum(pq.read_table(tmp_path / "run" / "exports" / "rl" / f"{s}.parquet").num_rows for s in ("train", "validation"))
    assert rows == 20 == run.stats["exports"]["rl"]["records"]


# ---------------------------------------------------------------- review: exports on disk, schemas, defaults


def test_an_export_changed_or_damaged_on_disk_is_written_again(exported, ray_address):
    rl = exported / "run" / "exports" / "verl"
    result = run_cli("export", str(exported / "run"), "--format", "openrlhf", "--to", str(rl), "--overwrite")  # a user's own export over it
    assert result.returncode == 0, result.stderr
    run = curate.run(exported / "p.yaml", ray_address=ray_address)
    assert sorted(p.name for p in rl.iterdir()) == ["export.json", "train.parquet", "validation.parquet"]
    assert json.loads((rl / SUMMARY).read_text())["format"] == "verl" == run.stats["exports"]["verl"]["format"]
    (exported / "run" / "exports" / "sft" / "train.jsonl").unlink()
    curate.run(exported / "p.yaml", ray_address=ray_address)
    assert (exported / "run" / "exports" / "sft" / "train.jsonl").exists()


@pytest.mark.parametrize(
    "exports, message",
    [
        ("  - {name: a, use: export, format: verl, to: %(root)s/same}\n  - {name: b, use: export, format: trl, to: %(root)s/same}\n", "both export to"),
        ("  - {name: a, use: export, format: verl, to: %(root)s/run/kept}\n", "inside the run directory"),
    ],
)
def test_export_destinations_are_checked_before_the_run(tmp_path, ray_address, exports, message):
    write_jsonl(tmp_path / "in.jsonl", PROBLEMS[:4])
    (tmp_path / "p.yaml").write_text(f"name: exp\ninput: {tmp_path / 'in.jsonl'}\noutput: {tmp_path / 'run'}\nstages:\n" + exports % {"root": tmp_path})
    with pytest.raises(curate.CurateError, match=message):
        curate.run(tmp_path / "p.yaml", ray_address=ray_address)
    assert not (tmp_path / "run" / "kept").exists()


def test_records_removed_early_get_null_scores_in_one_schema(tmp_path, ray_address):
    """include_removed of a stage before difficulty: those records have no pass_rate; every file has it."""
    write_jsonl(tmp_path / "in.jsonl", PROBLEMS)
    (tmp_path / "p.yaml").write_text(
        f"name: exp\ninput: {tmp_path / 'in.jsonl'}\noutput: {tmp_path / 'run'}\nstages:\n"
        "  - {name: early, use: filter, keep: \"id >= 'p10'\", reason: early}\n"
        "  - {name: verify, use: verify, response_field: solutions}\n  - {name: difficulty, use: difficulty}\n"
        "  - {name: trl, use: export, format: trl, include_removed: [early], validation: 0.25}\n"
        "  - {name: verl, use: export, format: verl, include_removed: [early], validation: 0.25}\n"
    )
    curate.run(tmp_path / "p.yaml", ray_address=ray_address)
    for name in ("trl", "verl"):
        tables = [pq.read_table(tmp_path / "run" / "exports" / name / f"{s}.parquet") for s in ("train", "validation")]
        assert tables[0].schema.equals(tables[1].schema)
        rows = tables[0].to_pylist() + tables[1].to_pylist()
        info = [r if name == "trl" else r["extra_info"] for r in rows]
        assert len(rows) == 10 + 16 and {"pass_rate", "n_samples"} <= set(info[0])  # p10-p39 with i % 4 in (2, 3) kept
        assert sorted(i["id"] for i in info if i["pass_rate"] is None) == [f"p{i:02d}" for i in range(10)]


def test_exports_take_the_prompt_generate_sampled_with_and_verify_reference(tmp_path):
    from curate.config import build_pipeline

    stages = [
        {"name": "generate", "use": "generate", "model": "m", "prompt": "Solve: {{question}}", "system": "Be exact."},
        {"name": "verify", "use": "verify", "reference_field": "solution"},
        {"name": "rl", "use": "export", "format": "verl"},
        {"name": "mine", "use": "export", "format": "trl", "prompt": "Q: {{question}}", "to": str(tmp_path / "mine")},
    ]
    config = build_pipeline({"name": "x", "input": "in.jsonl", "output": str(tmp_path / "o"), "stages": stages})
    rl, mine = config.stages[2].params, config.stages[3].params
    assert (rl.prompt, rl.system, rl.answer_field) == ("Solve: {{question}}", "Be exact.", "solution")
    assert (mine.prompt, mine.system, mine.answer_field) == ("Q: {{question}}", None, "solution")


def test_curate_export_takes_the_runs_prompt_and_checks_include_removed(exported, tmp_path):
    manifest = json.loads((exported / "run" / "manifest.json").read_text())
    manifest["pipeline"]["stages"].insert(0, {"name": "generate", "use": "generate", "prompt": "Solve: {{problem}}", "system": None})
    manifest["provides"]["generate"] = {"prompt": "Solve: {{problem}}", "system": None}
    (exported / "run" / "manifest.json").write_text(json.dumps(manifest))
    try:
        summary = curate.open_run(exported / "run").export("trl", tmp_path / "trl", validation=0)
        assert summary["stage"]["prompt"] == "Solve: {{problem}}"
        assert pq.read_table(tmp_path / "trl" / "train.parquet").column("prompt").to_pylist()[0][0]["content"].startswith("Solve: Compute")
    finally:
        manifest["pipeline"]["stages"].pop(0)
        manifest["provides"].pop("generate")
        (exported / "run" / "manifest.json").write_text(json.dumps(manifest))
    bad = run_cli("export", str(exported / "run"), "--format", "verl", "--to", str(tmp_path / "x"), "--include-removed", "nope")
    assert bad.returncode != 0 and bad.stderr.startswith("error: export verl: include_removed names 'nope', which is not a stage of")
    inside = run_cli("export", str(exported / "run"), "--format", "verl", "--to", str(exported / "run" / "kept" / "x"))
    assert inside.returncode != 0 and "inside the run directory" in inside.stderr


def test_a_held_out_share_that_selects_nothing_still_writes_the_validation_file(tmp_path):
    from curate.exporting import export_run

    pl.DataFrame({"id": ["a"], "problem": ["P"], "answer": ["1"]}).write_parquet(tmp_path / "part.parquet")
    summary = export_run(Export("x", format="verl", validation=0.01), [tmp_path / "part.parquet"], None, "id", tmp_path / "out", run="r", source="s")
    assert summary["files"]["validation"]["rows"] == 0
    table = pq.read_table(tmp_path / "out" / "validation.parquet")
    assert table.num_rows == 0 and table.schema.equals(pq.read_table(tmp_path / "out" / "train.parquet").schema)


def test_trl_solution_in_math_mode_once():
    """TRL's accuracy_reward parses `solution` as LaTeX: bare answers get `$...$`, math mode is kept."""
    from curate.stages.export import _math_mode

    answers = ["3", "\\frac{1}{2}", "$3$", "\\(x\\)", "\\[y\\]", "\\boxed{4}", "\\$18.90", "25\\%"]
    got = pl.select(_math_mode(pl.lit(pl.Series(answers)))).to_series().to_list()
    assert got == ["$3$", "$\\frac{1}{2}$", "$3$", "\\(x\\)", "\\[y\\]", "\\boxed{4}", "$\\$18.90$", "$25\\%$"]
