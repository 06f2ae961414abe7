"""Reward functions for the trainers: the verify stage's checker, in verl's, TRL's and OpenRLHF's signatures."""

from __future__ import annotations

import json

from curate.rewards import accuracy_reward, compute_score, reward_func, score, scores
from curate.stages.export import VERL_MATH_SOURCE


def test_scores_as_verify_does():
    assert score("... so the answer is \\boxed{\\frac{1}{2}}.", "0.5") == 1.0  # verl's string reward pays 0 here
    assert score("\\boxed{3}", "4") == 0.0
    assert score("no answer at all", "4") == 0.0 and score(None, "4") == 0.0 and score("\\boxed{4}", None) == 0.0
    assert scores(["\\boxed{4}", "#### 4", "\\boxed{5}"], ["4", "4", "4"]) == [1.0, 1.0, 0.0]


def test_trainer_signatures():
    assert compute_score(VERL_MATH_SOURCE, "We get \\boxed{10000}.", "10{,}000", extra_info={"split": "train", "index": 0}) == 1.0
    conversational = [[{"role": "assistant", "content": "\\boxed{2}"}], [{"role": "assistant", "content": "\\boxed{3}"}]]
    assert accuracy_reward(conversational, solution=["2", "2"], prompts=["a", "b"]) == [1.0, 0.0]
    assert accuracy_reward(["\\boxed{x^2}"], ["x^2"]) == [1.0]


def test_openrlhf_reward_file(monkeypatch):
    """torch is OpenRLHF's, not curate's: a stand-in with the one call the file makes."""
    import sys
    import types

    fake = types.ModuleType("torch")
    fake.float32 = "float32"
    fake.tensor = lambda values, dtype=None: types.SimpleNamespace(values=list(values), dtype=dtype, mean=lambda: sum(values) / len(values))
    monkeypatch.setitem(sys.modules, "torch", fake)
    out = reward_func(["Q: 1+1? so \\boxed{2}", "Q: 1+2? \\boxed{4}"], ["Q: 1+1?", "Q: 1+2?"], ["2", "3"])
    assert out["rewards"].values == [1.0, 0.0] and out["scores"] is out["rewards"] and out["extra_logs"]["accuracy"] == 0.5
    # the prompt is cut off: an answer boxed in the prompt is not the model's
    assert reward_func(["Is it \\boxed{2}? I think 5."], ["Is it \\boxed{2}?"], ["2"])["rewards"].values == [0.0]


def test_agrees_with_the_graders_on_real_traces(shared_data):
    """The 800 Qwen2.5-Math MATH responses: the reward pays what the verify stage counts correct."""
    path = shared_data / "math/traces/qwen25math_math_cot_100x8.jsonl"
    responses, references, labels = [], [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        responses += record["response"]
        references += [record["answer"]] * len(record["response"])
        labels += record["score"]
    paid = scores(responses, references)
    disagree = [i for i, (p, label) in enumerate(zip(paid, labels)) if p != float(bool(label))]
    # the grader's errors, as in test_verify: 10000 against 10{,}000, eight `4:30 \\text{ p.m.}` against `\\text{4:30 p.m.}`
    assert len(paid) == 800 and len(disagree) == 9 and {references[i] for i in disagree} == {"10{,}000", "\\text{4:30 p.m.}"}


def _qwen(shared_data):
    responses, references = [], []
    for line in (shared_data / "math/traces/qwen25math_math_cot_100x8.jsonl").read_text().splitlines():
        record = json.loads(line)
        responses += record["response"]
        references += [record["answer"]] * len(record["response"])
    return responses, references


def _one_each(pair):
    return score(*pair)


def test_threads_processes_and_asyncio_pay_what_one_at_a_time_pays(shared_data):
    """The 800 real traces scored one at a time, then as trainers call: 16 threads of single calls
    (verl's naive manager, OpenRLHF), threads of batches, forked processes, asyncio. One verifier
    shared without a lock once paid 126-212 of 400 wrongly from 8 threads."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    from curate.rewards import ascores, compute_score

    responses, references = _qwen(shared_data)
    sequential = [score(r, g) for r, g in zip(responses, references)]
    assert sum(sequential) > 700
    with ThreadPoolExecutor(16) as threads:
        assert list(threads.map(score, responses, references)) == sequential
        batches = [(responses[i : i + 25], references[i : i + 25]) for i in range(0, 800, 25)]
        paid = threads.map(lambda b: compute_score(data_sources=["x"] * len(b[0]), solution_strs=b[0], ground_truths=b[1], extra_infos=[{}] * len(b[0])), batches)
        assert [s for batch in paid for s in batch] == sequential

    async def gathered():
        return await asyncio.gather(*(ascores(responses[i : i + 10], references[i : i + 10]) for i in range(0, 800, 10)))

    assert [s for batch in asyncio.run(gathered()) for s in batch] == sequential
    with multiprocessing.get_context("fork").Pool(3) as processes:  # the parent's workers are not theirs
        assert processes.map(_one_each, list(zip(responses, references)), chunksize=20) == sequential


def test_verl_batch_manager_signature():
    from curate.rewards import compute_score_batch

    got = compute_score_batch(data_sources=["a", "b"], solution_strs=["\\boxed{2}", "\\boxed{3}"], ground_truths=["2", "2"], extra_infos=[None, None])
    assert got == [1.0, 0.0]


def test_a_rollout_cut_inside_its_thought_is_paid_nothing():
    """The reward pays by verify's rule: the answer is in the solution part of a thinking model's
    response, so a rollout cut inside its thought earns nothing for a right guess written there."""
    from curate.rewards import scores

    rollouts = ["<think>\nIt is \\boxed{4}? let me check, 2+2", "<think>\nIt is 4.\n</think>\n\\boxed{4}", "Just \\boxed{4}",
                "<|begin_of_thought|>\n\\boxed{4} maybe", "<|begin_of_thought|>\nok<|end_of_thought|>\n<|begin_of_solution|>\n\\boxed{4}\n<|end_of_solution|>"]
    assert scores(rollouts, ["4"] * 5) == [0.0, 1.0, 1.0, 0.0, 1.0]
