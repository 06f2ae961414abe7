"""The trace-quality stages (trace_format, trace_repetition, trace_language, trace_length,
trace_behaviour): each on hand-made samples, through the runner, on the real long chain-of-thought
traces with planted defects, and against the plain-Python detectors of the benchmark; and the SFT
selections that read their scores."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.columns import DROP, TRACES
from curate.stages import stage_type
from curate.stages.traces import QUALITY_ISSUES
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
SKY = "<|begin_of_thought|>\n\n{thought}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n{solution}\n\n<|end_of_solution|>"
PROSE = [
    "First I write the equation in standard form and collect the terms that contain the unknown on one side.",
    "Then I divide both sides by the coefficient, which is allowed because it is not zero in this problem.",
    "Let me check the result by substituting it back into the original equation: both sides agree.",
    "So the value we were looking for is the one computed above, and nothing else satisfies the conditions.",
    "The second condition says that the number is even, so only half of the candidates remain to be tested.",
    "We now count the remaining cases one by one and add them up, taking care not to count any case twice.",
]


def sky(thought: str, solution: str = "Therefore the answer is \\boxed{6}.") -> str:
    return SKY.format(thought=thought, solution=solution)


def apply(use: str, rows: list[dict], **settings) -> tuple[pl.DataFrame, dict]:
    """One stage's `apply` on rows (a stage is a function over a frame)."""
    stage = stage_type(use)(use, **settings)
    stage.prepare()
    out = stage.apply(pl.DataFrame(rows))
    assert isinstance(out, tuple)
    return out


def samples(frame: pl.DataFrame) -> list[list[dict]]:
    return frame[TRACES].to_list()


# ------------------------------------------------------------------ trace_format


def test_format_names_each_defect_and_removes_a_problem_only_when_no_sample_passes():
    good = sky("\n\n".join(PROSE))
    rows = [
        {"r": [good, good[: len(good) // 2]]},  # one sample cut: the problem keeps its good one
        {"r": [good[: len(good) // 2]]},  # cut inside the thought
        {"r": [good.replace("<|end_of_thought|>", "")]},  # the thought's closing tag lost, an answer follows
        {"r": [good.replace("<|end_of_solution|>", "")]},  # the solution never closed
        {"r": [sky("   ")]},  # an empty thought
        {"r": ["Just an answer: \\boxed{6}."]},  # no thought block (require_thought)
        {"r": [sky("I think it is \\boxed{6}.", "So it is six.")]},  # the answer only in the thought
        {"r": ["<think>" + PROSE[0] + "</think>The answer is \\boxed{6}."]},
        {"r": [PROSE[0] + "</think>The answer is \\boxed{6}."]},  # R1-Distill: the prompt opened the thought
        {"r": ["<think>" + PROSE[0] + "</think>"]},  # thought, then nothing
        {"r": None},  # no samples: kept, no evidence
    ]
    out, counters = apply("trace_format", rows, response_field="r", require_thought=True)
    assert out[DROP].to_list() == [None, "truncated", "unclosed_thought", "truncated", "empty_thought", "no_thought",
                                   "answer_outside_solution", None, None, "truncated", None]
    assert out["format_passing"].to_list() == [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, None]
    first = samples(out)[0]
    assert [s[QUALITY_ISSUES] for s in first] == [[], ["truncated"]] and [s["format"] for s in first] == ["sky", "sky"]
    assert counters["samples"] == 11 and counters["failures"]["truncated"] == 4
    assert out[TRACES][10] is None


def test_format_finish_reason_several_answers_and_mid_sentence():
    rows = [{TRACES: [
        {"sample": 0, "response": "x = 2, so \\boxed{2}.", "finish_reason": "length"},
        {"sample": 1, "response": "Either \\boxed{2} or \\boxed{3}.", "finish_reason": "stop"},
        {"sample": 2, "response": "We have x = 2 and then we multiply by", "finish_reason": "stop"},
        {"sample": 3, "response": "**Final Answer:** 3 bushels", "finish_reason": "stop"},
    ]}]
    out, _ = apply("trace_format", rows, max_answers=1)
    issues = [s[QUALITY_ISSUES] for s in samples(out)[0]]
    assert issues == [["truncated"], ["several_answers"], ["truncated"], []]
    assert [s["boxed_answers"] for s in samples(out)[0]] == [1, 2, 0, 0]
    out, _ = apply("trace_format", rows)  # several answers are a score unless max_answers is set
    assert [s[QUALITY_ISSUES] for s in samples(out)[0]][1] == []


def test_issues_accumulate_across_stages_and_empty_lists_stay():
    loop = sky("\n\n".join(PROSE + ["Wait, no, for n=4, the number is 6."] * 30))
    rows = [{"r": [sky("\n\n".join(PROSE)), loop]}, {"r": []}]
    out, _ = apply("trace_format", rows, response_field="r")
    out = out.drop(DROP)
    stage = stage_type("trace_repetition")("rep")
    out, _ = stage.apply(out)
    assert [s[QUALITY_ISSUES] for s in samples(out)[0]] == [[], ["repetition"]]
    assert out[DROP].to_list() == [None, None] and out["repetition_passing"].to_list() == [1, None]
    assert out[TRACES][1].to_list() == []


# ------------------------------------------------------------------ trace_repetition


def test_repetition_needs_detectors_to_agree():
    normal = sky("\n\n".join(PROSE + [PROSE[2]]))  # a check restated once: one detector at most
    one_line_loop = sky("\n\n".join(PROSE + ["Wait, no, for n=4, the number is 6."] * 40))
    inline_loop = sky(" ".join(PROSE) + " " + " ".join(["so the sum is 35, which is fine, but"] * 60))
    out, _ = apply("trace_repetition", [{"r": t} for t in (normal, one_line_loop, inline_loop)], response_field="r")
    scored = [s[0] for s in samples(out)]
    assert [s["repetition_detectors"] >= 2 for s in scored] == [False, True, True]
    assert out[DROP].to_list() == [None, "repetition", "repetition"]
    assert scored[1]["tail_repeats"] > 0.9 and scored[1]["top_ngram_repeats"] >= 35
    out, _ = apply("trace_repetition", [{"r": one_line_loop}], response_field="r", min_detectors=5)
    assert out["repetition_detectors_min"][0] < 5 or out[DROP][0] == "repetition"


# ------------------------------------------------------------------ trace_language


def test_language_flags_foreign_paragraphs_against_the_problems_own_language():
    french = "Maintenant, je dois vérifier si cette valeur satisfait bien l'équation de départ. En remplaçant x par trois, on obtient cinq et non zéro comme je l'espérais."
    chinese = "我们需要重新计算这个问题，因为前面的结果与题目的条件不一致。"
    english = "\n\n".join(PROSE)
    rows = [
        {"q": "Solve the equation for the unknown x and check your answer.", "r": sky(english)},
        {"q": "Solve the equation for the unknown x and check your answer.", "r": sky(english + "\n\n" + french)},
        {"q": "Solve the equation for the unknown x and check your answer.", "r": sky(english + "\n\n" + chinese)},
        {"q": "Solve the equation for the unknown x and check your answer.", "r": sky(english.replace("equation", "equation 即"))},  # a word, not a paragraph
        {"q": "小明有5个苹果，吃了2个，又买了3个，现在有几个苹果？请写出计算过程。", "r": sky(chinese + "\n\n" + chinese, "所以答案是 $\\boxed{6}$。")},  # Chinese problem, Chinese trace
        {"q": "Compute $\\frac{1}{2} + \\frac{1}{3}$ and simplify the result completely.", "r": sky(english + "\n\n$$\\sum_{n=1}^\\infty \\frac{F_{n+1}}{F_n F_{n+2}} = abd + bcd + abcd$$")},
    ]
    out, _ = apply("trace_language", rows, response_field="r", problem_field="q")
    scored = [s[0] for s in samples(out)]
    assert out[DROP].to_list() == [None, "mixed_language", "mixed_language", None, None, None]
    assert [s["foreign_language"] for s in scored][:3] == [None, "fr", "zh"]
    assert scored[1]["foreign_paragraphs"] == 1 and 0 < scored[1]["foreign_share"] < 0.5


# ------------------------------------------------------------------ trace_length


def _tokenizer(path: Path) -> Path:
    """A small BPE tokenizer trained here, saved as tokenizer.json (nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(PROSE * 20, trainers.BpeTrainer(vocab_size=200, special_tokens=["[UNK]"]))
    tokenizer.save(str(path))
    return path


def test_length_counts_tokens_of_a_local_tokenizer_and_flags_outliers(tmp_path):
    from tokenizers import Tokenizer

    path = _tokenizer(tmp_path / "tokenizer.json")
    short = sky(PROSE[0], "So \\boxed{6}.")
    long = sky("\n\n".join(PROSE * 12), "So \\boxed{6}.")
    rows = [{"r": [short, short, short, short, long]}, {"r": [short, long]}]
    out, _ = apply("trace_length", rows, response_field="r", tokenizer=str(path))
    first = samples(out)[0]
    expected = len(Tokenizer.from_file(str(path)).encode(PROSE[0], add_special_tokens=False).ids)
    assert first[0]["thought_tokens"] == expected and first[0]["thought_chars"] == len(PROSE[0])
    assert [s[QUALITY_ISSUES] for s in first] == [[], [], [], [], ["length_outlier"]]
    assert first[4]["length_ratio"] > 4 and samples(out)[1][1]["length_ratio"] is None  # two samples say nothing
    assert out[DROP].to_list() == [None, None]
    out, _ = apply("trace_length", rows, response_field="r", max_chars=200)
    assert out[DROP].to_list() == [None, None] and samples(out)[1][1][QUALITY_ISSUES] == ["too_long"]


def test_length_settings_fail_with_one_line(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_tokens counts tokens"):
        stage_type("trace_length")("l", max_tokens=100)
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    stage = stage_type("trace_length")("l", tokenizer=str(bad))
    with pytest.raises(ValueError, match=r"tokenizer .*tokenizer.json: not a tokenizer.json it can read"):
        stage.prepare()


# ------------------------------------------------------------------ trace_behaviour


def test_behaviour_counts_reflection_verification_and_alternatives():
    thought = "\n\n".join([
        "The sum is 35.", "Wait, that double counts the corner.", "Hmm, let me check the corner again.",
        "Alternatively, count the complement.", "Let me verify: 34 + 1 = 35 and the corner was counted twice, so 34 it is; a double-check: 34 = 35 - 1.",
    ])
    out, _ = apply("trace_behaviour", [{"r": sky(thought, "So \\boxed{34}.")}, {"r": "The answer is \\boxed{3}."}], response_field="r")
    first, plain = samples(out)[0][0], samples(out)[1][0]
    assert (first["reflections"], first["verifications"], first["alternatives"], first["checks_answer"]) == (2, 3, 1, True)
    assert (plain["reflections"], plain["verifications"], plain["checks_answer"]) == (0, 0, False)
    assert out[DROP].to_list() == [None, None]  # a score, not a filter
    out, _ = apply("trace_behaviour", [{"r": sky(thought, "So \\boxed{34}.")}, {"r": "The answer is \\boxed{3}."}], response_field="r", min_verifications=1)
    assert out[DROP].to_list() == [None, "no_self_verification"]


# ------------------------------------------------------------------ through the runner, and the SFT selections


def _problems(tmp_path: Path) -> Path:
    good = sky("\n\n".join(PROSE[:3]), "So \\boxed{6}.")
    verifying = sky("\n\n".join(PROSE + ["Let me verify this once more: 6 works, let me double-check the second condition too."]), "So \\boxed{6}.")
    loop = sky("\n\n".join(PROSE[:2] + ["Wait, no, for n=4, the number is 6."] * 40), "So \\boxed{6}.")
    other = sky("\n\n".join([PROSE[4], PROSE[5], "We now count the cases and find 6."]), "So \\boxed{6}.")
    rows = [
        {"id": "p1", "question": "What is 2 + 4? Explain each step of the computation.", "answer": "6", "responses": [loop, verifying, good, other]},
        {"id": "p2", "question": "What is 3 + 3? Explain each step of the computation.", "answer": "6", "responses": [loop]},
        {"id": "p3", "question": "What is 1 + 5? Explain each step of the computation.", "answer": "6", "responses": [good.replace("<|end_of_solution|>", "")]},
        # each stage passes one of its samples, no sample passes both: kept, but no clean trace to export
        {"id": "p4", "question": "What is 6 + 0? Explain each step of the computation.", "answer": "6", "responses": [loop, good.replace("<|end_of_solution|>", "")]},
    ]
    return write_jsonl(tmp_path / "in.jsonl", rows)


def _pipeline(tmp_path: Path, select: str, **export) -> curate.Run:
    stages = [
        {"name": "format", "use": "trace_format", "response_field": "responses", "require_thought": True},
        {"name": "repetition", "use": "trace_repetition"},
        {"name": "language", "use": "trace_language", "problem_field": "question"},
        {"name": "length", "use": "trace_length"},
        {"name": "behaviour", "use": "trace_behaviour"},
        {"name": "verify", "use": "verify", "reference_field": "answer"},
        {"name": "sft", "use": "export", "format": "sft", "prompt": "{{question}}", "select": select, "validation": 0, **export},
    ]
    return curate.run({"name": "t", "input": str(_problems(tmp_path)), "output": str(tmp_path / select.replace(":", "_")), "stages": stages}, executor="in-process", overwrite=True)


def _exported(run: curate.Run) -> list[dict]:
    return [json.loads(line) for line in (run.path / "exports" / "sft" / "train.jsonl").read_text().splitlines()]


def test_the_runner_keeps_scores_in_traces_and_removes_problems_without_a_clean_sample(tmp_path):
    run = _pipeline(tmp_path, "shortest_correct")
    removed = run.removed().collect()
    assert dict(zip(removed["id"], removed["reason"])) == {"p2": "repetition", "p3": "truncated"}  # p4 kept: one sample passes each
    traces = run.traces().collect()
    assert {"repetition_detectors", "foreign_share", "length_ratio", "verifications", QUALITY_ISSUES, "verdict"} <= set(traces.columns)
    p1 = traces.filter(pl.col("id") == "p1").sort("sample")
    assert p1[QUALITY_ISSUES].to_list() == [["repetition"], [], [], []] and p1["correct"].to_list() == [True] * 4
    assert run.stage_stats("repetition")["failures"] == {"repetition": 3}  # p1, p2 and p4 have a loop
    rows = _exported(run)
    assert [r["id"] for r in rows] == ["p1"] and "Wait, no" not in rows[0]["messages"][1]["content"]  # the loop is not clean
    assert json.loads((run.path / "exports" / "sft" / "export.json").read_text())["left_out"] == {"no_clean_trace": 1}  # p4


def test_sft_selections(tmp_path):
    verifying = _exported(_pipeline(tmp_path, "most_verifications"))
    assert "Let me verify this once more" in verifying[0]["messages"][1]["content"]
    bounded = _exported(_pipeline(tmp_path, "most_verifications", max_length=100))  # the verifying trace is longer than 400 characters
    assert "Let me verify this once more" not in bounded[0]["messages"][1]["content"]
    diverse = [r["messages"][1]["content"] for r in _exported(_pipeline(tmp_path, "diverse", max_per_problem=2))]
    # the shortest (`other`), then the one least like it: `good`, not `verifying`, which repeats it
    assert len(diverse) == 2 and "count the cases" in diverse[0] and "Let me verify this once more" not in diverse[1]
    dirty = _exported(_pipeline(tmp_path, "all_correct", require_clean=False))
    assert len(dirty) == 6  # p1's four correct samples, the loop among them, and p4's two


def test_sft_left_out_says_why(tmp_path):
    run = _pipeline(tmp_path, "shortest_correct", max_length=10, include_removed=["repetition"])
    left_out = json.loads((run.path / "exports" / "sft" / "export.json").read_text())["left_out"]
    # p1: none short enough; p4: none clean; p2 (removed by repetition, exported all the same): never verified
    assert left_out == {"no_short_enough_trace": 1, "no_clean_trace": 1, "no_correct_trace": 1}


# ------------------------------------------------------------------ real traces


def test_planted_defects_are_caught_and_clean_traces_kept(shared_data):
    """Targets (issue 17): >= 95% of defects planted in real clean traces caught, <= 3% of the clean
    correct traces flagged by any stage."""
    from benchmarks.trace_defects import KINDS, measure

    result = measure(per_kind=150, seed=1, shared=shared_data)
    assert result["clean"]["n"] >= 600
    caught = {kind: result[kind]["flagged"] / result[kind]["n"] for kind in KINDS}
    assert all(share >= 0.95 for share in caught.values()), caught
    assert result["clean"]["flagged"] / result["clean"]["n"] <= 0.03, result["clean"]


def test_detectors_equal_the_plain_python_reference_on_real_traces(shared_data):
    from benchmarks.trace_quality_speed import reference_scores, stage_scores

    rows = pl.read_ndjson(shared_data / "math" / "traces" / "long_cot" / "sky_t1_math.jsonl", infer_schema_length=None)
    rows = rows.sample(400, seed=3).select("question", "response")
    ours, theirs = stage_scores(rows), reference_scores(rows)
    assert ours.columns == theirs.columns
    for column in ours.columns:
        a, b = ours[column].to_list(), theirs[column].to_list()
        mismatched = [i for i, (x, y) in enumerate(zip(a, b)) if (x != y and not (isinstance(x, float) and isinstance(y, float) and abs(x - y) < 1e-9))]
        assert not mismatched, f"{column}: {len(mismatched)} differ, first {a[mismatched[0]]!r} vs {b[mismatched[0]]!r}"


def test_the_long_cot_pipeline_on_real_traces(tmp_path, shared_data):
    """pipelines/long-cot-sft.yaml on a seeded fifth of the real traces: each stage removes what it
    says, and the SFT rows are clean, verified traces of the problems kept."""
    lines = (shared_data / "math" / "traces" / "long_cot" / "sky_t1_math.jsonl").read_text().splitlines()
    picked = random.Random(0).sample(lines, 600)
    source = tmp_path / "sky.jsonl"
    source.write_text("\n".join(picked) + "\n")
    run = curate.run(ROOT / "pipelines" / "long-cot-sft.yaml", input=str(source), output=tmp_path / "run", executor="in-process")
    by_stage = {s["name"]: s for s in run.stats["stages"]}
    assert by_stage["format"]["removed"]["no_thought"] > 150 and by_stage["format"]["removed"]["truncated"] > 100
    kept = run.kept().collect()
    traces = run.traces().collect().filter(pl.col("id").is_in(kept["id"].implode()))
    assert traces[QUALITY_ISSUES].list.len().max() == 0  # one sample per record: a kept record's sample passed every stage
    rows = [json.loads(line) for name in ("train", "validation") for line in (run.path / "exports" / "sft" / f"{name}.jsonl").read_text().splitlines()]
    assert len(rows) == int(traces["correct"].sum()) > 50
    assert all("<|begin_of_thought|>" in r["messages"][1]["content"] for r in rows)
