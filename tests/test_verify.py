"""`verify` and `difficulty`: answer extraction, agreement with the graders' labels on real model
traces, adversarial answers inside the time bound, and pass rates."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.answers.verifier import CORRECT, TIMEOUT, VerifierPool, extract_answer
from curate.columns import DROP, TRACES
from curate.stages.difficulty import Difficulty
from tests.conftest import write_jsonl

QWEN = "math/traces/qwen25math_math_cot_100x8.jsonl"
GSM8K = "math/traces/gsm8k_gpt3_solutions.jsonl"


@pytest.fixture(scope="module")
def pool():
    pool = VerifierPool(timeout=4)
    yield pool
    pool.close()


@pytest.mark.parametrize(
    "text, methods, expected",
    [
        ("so \\boxed{\\frac{1}{2}} and finally \\boxed{\\sqrt{\\frac{a}{b}}}.", None, "\\sqrt{\\frac{a}{b}}"),
        ("\\fbox{7}", None, "7"),
        ("The final answer is $\\frac{3}{4}$.", None, "\\frac{3}{4}"),
        ("Therefore, the final answer is: \\boxed{12}. I hope it is correct.", None, "12"),
        ("48/2 = 24\n#### 1,024", None, "1024"),
        ("She has 9 eggs.\nA: 18", None, "18"),
        ("no answer here", None, None),
        ("\\boxed{}", None, None),
        ("\\boxed{1} then A: 2", ["answer_line", "boxed"], "2"),
        # long chain-of-thought solutions (Sky-T1): headings, lists, prose, bold, a sentence after the answer
        ("**Final Answer**\n\nThe area is 12.", None, "The area is 12"),
        ("Thus, the final answers are: 3 and 5", None, "3 and 5"),
        ("**Final answer for Subproblem 1:** 3 bushels", None, "3 bushels"),
        ("So the answer is 7.", None, "7"),
        ("Final answer: **700°C**", None, "700°C"),
        ("The final answer is 0.5. But in my earlier balancing, the coefficient is 1", None, "0.5"),
        ("So the answer is 7.", ["boxed", "final_answer", "gsm8k", "answer_line"], None),  # `answer_is` is a method of its own
    ],
)
def test_extract_answer(text, methods, expected):
    assert extract_answer(text, methods) == expected if methods else extract_answer(text) == expected


def test_qwen_traces_agree_with_the_grader(pool, shared_data):
    """800 real responses with the Qwen grader's verdicts: every disagreement is the grader's error."""
    items, labels = [], []
    for line in (shared_data / QWEN).open():
        record = json.loads(line)
        for response, score in zip(record["response"], record["score"]):
            items.append((record["answer"], extract_answer(response) or ""))
            labels.append(bool(score))
    verdicts = pool.check(items)
    disagreements = [(items[i], labels[i]) for i, v in enumerate(verdicts) if (v == CORRECT) != labels[i]]
    assert len(items) == 800 and 1 - len(disagreements) / 800 >= 0.985
    # the grader is wrong each time: the answers equal the reference (a \\text{} time read as words since issue 17)
    assert sorted(set(disagreements)) == [(("10{,}000", "10000"), False), (("\\text{4:30 p.m.}", "4:30 \\text{ p.m.}"), False)]
    assert len(disagreements) == 9


def test_gsm8k_solutions_agree_with_their_labels(pool, shared_data):
    items, labels = [], []
    for line in (shared_data / GSM8K).open():
        record = json.loads(line)
        gold = extract_answer(record["ground_truth"], ["answer_line"])
        for value in record.values():
            if isinstance(value, dict) and "solution" in value:
                items.append((gold, extract_answer(value["solution"], ["answer_line"]) or ""))
                labels.append(bool(value["is_correct"]))
    verdicts = pool.check(items)
    agree = sum((v == CORRECT) == label for v, label in zip(verdicts, labels))
    assert len(items) == 5276 and agree / len(items) >= 0.999


def test_math500_solutions_verify_and_wrong_answers_do_not(pool, shared_data):
    records = [json.loads(line) for line in (shared_data / "math/math500/test.jsonl").open()]
    right = pool.check([(r["answer"], extract_answer(r["solution"]) or "") for r in records])
    assert sum(v == CORRECT for v in right) / len(records) >= 0.995
    # each reference against another problem's answer (skipping the ones that happen to be equal as text)
    pairs = [(r["answer"], records[(i + 1) % len(records)]["answer"]) for i, r in enumerate(records)]
    pairs = [(a, b) for a, b in pairs if a.strip() != b.strip()]
    wrong = pool.check(pairs)
    assert sum(v != CORRECT for v in wrong) / len(pairs) >= 0.995


ADVERSARIAL = [
    "2^{2^{2^{2^{2^{20}}}}}",
    "10^{10^{10^{10}}}!",
    "(" * 5000 + "1" + ")" * 5000,
    "\\frac{" * 2000 + "1" + "}{2}" * 2000,
    "x+" * 50_000 + "1",  # 100 kB
    "\\sqrt{" * 3000 + "2" + "}" * 3000,
    "１２３",  # full-width digits
    "1\u200b2",  # a zero-width space
    "\u202e321",  # right-to-left override
    "\\begin{pmatrix}" + "&".join(["x^{99}"] * 400) + "\\end{pmatrix}",
]


def test_adversarial_answers_each_within_the_bound_and_the_pool_survives():
    pool = VerifierPool(timeout=1)
    try:
        pool.check([("1", "1+0")])  # the worker's imports are not the items' time
        for answer in ADVERSARIAL:
            started = time.monotonic()
            verdict = pool.check([("7", answer)])[0]
            assert time.monotonic() - started <= pool.timeout + 1.5, (answer[:40], verdict)
            assert verdict != CORRECT
        assert pool.check([("\\frac{1}{2}", "0.5"), ("3", "4")]) == [CORRECT, "wrong"]
    finally:
        pool.close()


def test_an_overrun_inside_math_verify_is_a_timeout_not_wrong(pool):
    """math-verify's own alarm reports an overrun as False (wrong); the worker's timer says timeout."""
    assert pool.check([("7", "2^{2^{2^{2^{2^{20}}}}}")]) == [TIMEOUT]


@pytest.mark.parametrize("response", [
    "\\boxed{" * 10_000,                        # every \boxed unclosed: was quadratic (131 s at timeout 1)
    "\\boxed{" * 5_000 + "x" + "}" * 4_999,      # nested, the outermost never closed
    "the final answer is" + " " * 200_000,       # nothing after the marker
    "#### 1" + "\n" * 200_000 + "\t" * 100,       # blank lines after a GSM8K answer
    "A: 1" + " \n" * 100_000 + "x",               # a long blank tail after an answer line
    "\n" * 300_000 + "####",                     # a marker with nothing after it, after blank lines
])
def test_extraction_is_linear_and_inside_the_deadline(response):
    pool = VerifierPool(timeout=1)
    try:
        (_, verdict), = pool.check_responses([("1", response)])
        assert verdict in ("no_answer", "wrong", "correct"), (response[:20], verdict)  # found or not, never timed out
    finally:
        pool.close()


def test_a_killed_worker_is_replaced_and_costs_no_item(pool):
    pool.check([("1", "1.0")])
    pool.process.kill()
    pool.process.wait()
    before = pool.restarts
    verdicts = pool.check([("2", "\\sqrt{4}"), ("3", "9/3"), ("5", "6")])
    assert pool.restarts == before + 1
    assert verdicts == [CORRECT, CORRECT, "wrong"]


class _StopsItsFirstNewWorker(VerifierPool):
    """A worker that hangs (stopped, as if deep in C) on the first item after its start."""

    stopped = False

    def _start(self) -> None:
        super()._start()
        if not self.stopped:
            self.stopped = True
            os.kill(self.process.pid, signal.SIGSTOP)


def test_a_new_worker_gets_no_extra_time():
    """The deadline of an item sent to a worker that just started is timeout + 1 s like any other
    (a new worker once had 120 s more, for its imports: 129.5 s to time out)."""
    pool = _StopsItsFirstNewWorker(timeout=1)
    try:
        started = time.monotonic()
        verdicts = pool.check([("1", "1.0"), ("2", "2.0")])
        elapsed = time.monotonic() - started
        assert verdicts == [TIMEOUT, CORRECT] and pool.restarts == 1
        assert elapsed < 30, elapsed  # two start-ups and one deadline of 2 s; never the old 120 s grace
    finally:
        pool.close()


def test_fractional_timeouts_work():
    pool = VerifierPool(timeout=0.5)
    try:
        assert pool.check([("\\frac{1}{2}", "0.5"), ("7", "2^{2^{2^{2^{2^{20}}}}}")]) == [CORRECT, TIMEOUT]
    finally:
        pool.close()


# ---------------------------------------------------------------- stages


def frame_of(samples: list[list[dict]]) -> pl.DataFrame:
    return pl.DataFrame({"id": [str(i) for i in range(len(samples))], TRACES: samples})


def test_difficulty_pass_rates_and_reasons():
    ok, bad = {"correct": True, "extracted_answer": "1"}, {"correct": False, "extracted_answer": "2"}
    unknown = {"correct": None, "extracted_answer": None}
    frame = frame_of([[ok, ok], [bad, bad], [ok, bad, bad, bad], [unknown], [ok, unknown, bad]])
    out = Difficulty("d").apply(frame)
    assert out["pass_rate"].to_list() == [1.0, 0.0, 0.25, None, 0.5]
    assert out["n_samples"].to_list() == [2, 2, 4, 0, 2]
    assert out[DROP].to_list() == ["too_easy", "unsolved", None, "no_verified_samples", None]
    bounded = Difficulty("d", min_pass_rate=0.3, keep_solved=True).apply(frame)
    assert bounded[DROP].to_list() == [None, "unsolved", "too_hard", "no_verified_samples", None]


def test_difficulty_majority_pseudo_labels():
    def answers(*values):
        return [{"extracted_answer": v, "verdict": None, "correct": None} for v in values]

    frame = frame_of([answers("4", "4", "4", "5"), answers("1", "2", "3", "4"), answers("\\frac12", "\\dfrac12", "7", None)])
    out = Difficulty("d", mode="majority", majority_threshold=0.5, keep_solved=True).apply(frame)
    assert out["pseudo_label"].to_list() == ["4", None, "\\frac12"]
    assert out["pass_rate"].to_list() == [0.75, None, 0.5]
    assert out[DROP].to_list() == [None, "no_majority", None]


def test_verify_and_difficulty_on_shipped_responses(tmp_path, shared_data, ray_address):
    """The path the demo takes without an endpoint: responses the corpus ships, verified through the runner."""
    records = [json.loads(line) for line in (shared_data / QWEN).open()][:40]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"q{r['idx']}", "problem": r["question"], "answer": r["answer"], "responses": r["response"]} for r in records])
    config = {
        "name": "v",
        "input": str(tmp_path / "in.jsonl"),
        "output": str(tmp_path / "out"),
        "stages": [{"name": "verify", "use": "verify", "response_field": "responses"}, {"name": "difficulty", "use": "difficulty"}],
    }
    run = curate.run(config, ray_address=ray_address)
    traces = pl.read_parquet(tmp_path / "out" / "traces" / "*.parquet")
    assert traces.height == 320 and {"extracted_answer", "correct", "verdict"} <= set(traces.columns)
    labels = {(f"q{r['idx']}", i): bool(s) for r in records for i, s in enumerate(r["score"])}
    agree = sum(labels[(row["id"], row["sample"])] == row["correct"] for row in traces.iter_rows(named=True))
    disagree = {row["id"] for row in traces.iter_rows(named=True) if labels[(row["id"], row["sample"])] != row["correct"]}
    assert agree >= 311 and {r["answer"] for r in records if f"q{r['idx']}" in disagree} <= {"10{,}000", "\\text{4:30 p.m.}"}  # the grader's errors
    rates = traces.group_by("id").agg(pl.col("correct").mean().alias("rate"))
    expected = {i: ("too_easy" if r == 1 else "unsolved" if r == 0 else None) for i, r in rates.iter_rows()}
    removed = run.removed().collect()
    assert dict(zip(removed["id"], removed["reason"])) == {i: r for i, r in expected.items() if r}
    assert run.stats["stages"][1]["verdicts"]["correct"] == traces["correct"].sum()


def test_reference_extract_takes_gsm8k_marker_first():
    """A GSM8K train solution says "the final answer is 15 gallons * 8 pints ..." before `#### 120`:
    the dataset's own marker is the reference."""
    import polars as pl

    from curate.stages.verify import VerifyParams, reference_answers

    df = pl.DataFrame({"answer": ["... the final answer is 15 gallons * 8 pints / gallon = <<15*8=120>>120 pints\n#### 120", "so \\boxed{7}", None]})
    assert reference_answers(df, VerifyParams(reference_field="answer", reference_extract=True)) == ["120", "7", None]


def _verdicts(responses: list[str], reference: str = "4", trace_format: str = "auto", tmp_path=None) -> list[tuple[str | None, str]]:
    from curate.testing import run_stage

    rows = [{"id": f"r{i}", "answer": reference, "response": r} for i, r in enumerate(responses)]
    result = run_stage({"name": "verify", "use": "verify", "response_field": "response", "trace_format": trace_format}, rows, workdir=tmp_path)
    assert result.stats["in"] == len(rows)
    traces = pl.read_parquet(tmp_path / "run" / "traces" / "*.parquet").sort("id")
    return list(zip(traces["extracted_answer"], traces["verdict"]))


def test_verify_takes_the_answer_from_the_solution_part(tmp_path):
    """A long trace's thinking writes many candidate answers; only its solution states the final one,
    and a trace cut inside its thought has none (truncated), however many numbers it wrote."""
    responses = [
        "<think>\nMaybe \\boxed{5}? No, wait: 2+2 is 4.\n</think>\n\nSo the answer is \\boxed{4}.",  # R1: solution after </think>
        "Maybe \\boxed{4}... hmm, let me check again, perhaps it is",  # plain, without tags: the whole response
        "<think>\nSo it is \\boxed{4}, let me double-check that, 2+2=",  # cut inside its thought
        "<|begin_of_thought|>\n\nIt is \\boxed{5}? No.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4}\n\n<|end_of_solution|>",
        "<|begin_of_thought|>\n\nclearly \\boxed{4} then, unless",  # Sky-T1, cut inside its thought
    ]
    assert _verdicts(responses, tmp_path=tmp_path / "auto") == [("4", "correct"), ("4", "correct"), (None, "truncated"), ("4", "correct"), (None, "truncated")]
    # `plain`: the whole response, as before there were thinking models
    assert [v for _, v in _verdicts(responses, trace_format="plain", tmp_path=tmp_path / "plain")] == ["correct"] * 5  # the cut ones credited too


def test_the_r1_distill_traces_agree_with_their_labels(tmp_path, shared_data):
    """40 full DeepSeek-R1-Distill traces (`<think>` format), one correct and one wrong per problem and model: 40/40."""
    rows = [json.loads(line) for line in (shared_data / "math" / "traces" / "long_cot" / "r1_distill_thought_anchors.jsonl").read_text().splitlines()]
    from curate.testing import run_stage

    frame = pl.DataFrame({"id": [f"r{i:02d}" for i in range(len(rows))], "answer": [str(r["answer"]) for r in rows], "response": [r["response"] for r in rows]})
    run_stage({"name": "verify", "use": "verify", "response_field": "response"}, frame, workdir=tmp_path)
    traces = pl.read_parquet(tmp_path / "run" / "traces" / "*.parquet").sort("id")
    assert traces["correct"].to_list() == [bool(r["score"]) for r in rows]


@pytest.mark.parametrize(
    "reference, answer, verdict",
    [
        ("700", "700°C", "correct"), ("3", "3 bushels", "correct"), ("12", "12^{\\mathrm{th}}\\text{ grade}", "correct"),
        ("12", "12 \\text{cm}", "correct"), ("90", "90^\\circ", "correct"), ("SRMC=LRMC", "\\text{SRMC} = \\text{LRMC}", "correct"),
        ("-2,-2", "a = -2, b = -2", "correct"),
        ("5", "5x", "wrong"), ("6630", "6630.65 \\text{ Å}", "wrong"), ("7", "7 \\text{ or } 8", "wrong"),
    ],
)
def test_answers_with_units_words_and_names(pool, reference, answer, verdict):
    """A number with its unit or an ordinal (`700°C`, `12^{\\text{th}}\\text{ grade}`) is the bare number the reference
    holds; `\\text{}` words and named values (`a = -2, b = -2`) read as themselves; `5x` is not 5."""
    assert pool.check([(reference, answer)])[0] == verdict


def test_the_sky_t1_traces_agree_but_for_reviewed_label_errors(tmp_path, shared_data):
    """3,289 Sky-T1 long-CoT responses against the set's evaluator. Every disagreement is in
    tests/fixtures/long_cot_disagreements.jsonl, read one by one and classified: the evaluator's errors
    (crediting a trace with no stated final answer through its last number, or a truncated one; missing an
    equal answer) are excluded, and the rest must agree at 99.5% or better. A disagreement not in the list
    fails the test: it must be read and classified first."""
    from curate.testing import run_stage

    rows = [json.loads(line) for line in (shared_data / "math" / "traces" / "long_cot" / "sky_t1_math.jsonl").read_text().splitlines()]
    reviewed = {r["id"]: r for r in map(json.loads, (Path(__file__).parent / "fixtures" / "long_cot_disagreements.jsonl").read_text().splitlines())}
    frame = pl.DataFrame({"id": [f"r{i:05d}" for i in range(len(rows))], "answer": [str(r["answer"]) for r in rows], "response": [r["response"] for r in rows]})
    run_stage({"name": "verify", "use": "verify", "response_field": "response"}, frame, workdir=tmp_path)
    traces = pl.read_parquet(tmp_path / "run" / "traces" / "*.parquet").sort("id")
    disagree = {i for i, c, r in zip(traces["id"], traces["correct"].fill_null(False), rows) if c != bool(r["score"])}
    assert not disagree - set(reviewed), f"unreviewed disagreements: {sorted(disagree - set(reviewed))}"
    label_errors = {i for i in disagree if reviewed[i]["category"].startswith("label:")}
    agreement = (len(rows) - len(disagree)) / (len(rows) - len(label_errors))
    assert agreement >= 0.995, f"{agreement:.2%}"
