"""The trace-format layer (curate/text/reasoning.py): each reasoning format cut into thought and
solution, on hand-made traces and on the real long chain-of-thought sets."""

from __future__ import annotations

import json

import polars as pl
import pytest

from curate.text.reasoning import split_traces


def _one(response: str | None, reasoning: str | None = None, format: str = "auto") -> dict:
    return split_traces(pl.Series([response], dtype=pl.String), pl.Series([reasoning], dtype=pl.String), format).row(0, named=True)


@pytest.mark.parametrize(
    "response, reasoning, expected",
    [
        ("<think>\nLet me add.\n</think>\n\nThe answer is \\boxed{4}.", None, ("think", "Let me add.", "The answer is \\boxed{4}.", True, True, None)),
        ("Let me add. 2+2=4.\n</think>\nSo \\boxed{4}", None, ("think", "Let me add. 2+2=4.", "So \\boxed{4}", True, True, None)),  # opened by the prompt
        ("<think>\nLet me add, 2+2 is 4, wait", None, ("think", "Let me add, 2+2 is 4, wait", "", True, False, None)),  # cut inside its thought
        ("<|begin_of_thought|>\n\nHmm 4.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4}\n\n<|end_of_solution|>", None,
         ("sky", "Hmm 4.", "\\boxed{4}", True, True, True)),
        ("<|begin_of_thought|>\n\nHmm 4.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4} and then", None, ("sky", "Hmm 4.", "\\boxed{4} and then", True, True, False)),
        ("<|begin_of_thought|>\n\nHmm, maybe 4, maybe", None, ("sky", "Hmm, maybe 4, maybe", "", True, False, None)),
        ("So \\boxed{4}.", "I add 2 and 2.", ("field", "I add 2 and 2.", "So \\boxed{4}.", True, True, None)),
        ("2 + 2 = 4, so the answer is 4.", None, ("plain", None, "2 + 2 = 4, so the answer is 4.", False, False, None)),
        ("2 + 2 = 4.", "", ("plain", None, "2 + 2 = 4.", False, False, None)),  # an empty reasoning field is no thought
        (None, None, ("plain", None, "", False, False, None)),
    ],
)
def test_each_format_is_cut_into_thought_and_solution(response, reasoning, expected):
    row = _one(response, reasoning)
    assert (row["format"], row["thought"], row["solution"], row["thought_open"], row["thought_closed"], row["solution_closed"]) == expected


def test_a_named_format_overrides_detection_and_unknown_ones_are_refused():
    assert _one("<think>a</think>b", format="plain")["solution"] == "<think>a</think>b"
    assert _one("no tags at all", format="think")["solution"] == ""  # a think trace that never closed its thought
    with pytest.raises(ValueError, match="unknown trace format 'xml'"):
        split_traces(pl.Series(["x"]), format="xml")


def test_the_real_r1_distill_traces(shared_data):
    path = shared_data / "math" / "traces" / "long_cot" / "r1_distill_thought_anchors.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    parts = split_traces(pl.Series([r["response"] for r in rows]))
    assert set(parts["format"]) == {"think"} and parts["thought_closed"].all()
    for row, part in zip(rows, parts.iter_rows(named=True)):
        before, _, after = row["response"].partition("</think>")
        assert part["thought"] == before.strip() and part["solution"] == after.strip() and "\\boxed" in part["solution"]


def test_the_real_sky_t1_traces(shared_data):
    """Counted another way (plain string search per trace): tags opened, closed, solutions reached."""
    path = shared_data / "math" / "traces" / "long_cot" / "sky_t1_math.jsonl"
    responses = [json.loads(line)["response"] for line in path.read_text().splitlines()]
    parts = split_traces(pl.Series(responses))
    opened = ["<|begin_of_thought|>" in r for r in responses]
    reached = ["<|begin_of_solution|>" in r for r in responses]
    assert parts["thought_open"].to_list() == opened
    is_sky = [a or b for a, b in zip(opened, reached)]
    assert parts["thought_closed"].to_list() == [sky and "<|end_of_thought|>" in r for sky, r in zip(is_sky, responses)]
    sky = [i for i, f in enumerate(parts["format"]) if f == "sky"]
    assert len(sky) == sum(is_sky)
    for i in sky:
        solution = parts["solution"][i]
        if reached[i]:
            expected = responses[i].split("<|begin_of_solution|>", 1)[1].split("<|end_of_solution|>", 1)[0].strip()
            assert solution == expected
        else:
            assert solution == ""  # cut before its solution: nothing to take an answer from
    plain = [i for i, f in enumerate(parts["format"]) if f == "plain"]
    assert all(parts["solution"][i] == responses[i] and parts["thought"][i] is None for i in plain)
    assert sum(1 for i in sky if not reached[i]) > 500  # the set's many traces truncated inside their thought


def test_the_plain_python_rule_gives_the_same_solutions(shared_data):
    """`solution_of` (for the rewards, without polars) against `split_traces` on every real trace and the hand-made ones."""
    from curate.text.reasoning import solution_of

    responses = ["<think>a</think>b", "a</think>b", "<think>a", "<|begin_of_thought|>a", "<|begin_of_thought|>a<|end_of_thought|>", "x", ""]
    for name in ("sky_t1_math.jsonl", "r1_distill_thought_anchors.jsonl"):
        path = shared_data / "math" / "traces" / "long_cot" / name
        responses += [json.loads(line)["response"] for line in path.read_text().splitlines()]
    parts = split_traces(pl.Series(responses))
    cut = (parts["thought_open"] & ~parts["thought_closed"]).to_list()
    assert [solution_of(r) for r in responses] == list(zip(parts["solution"].to_list(), cut))
