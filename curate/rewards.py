"""Reward functions for the trainers, with the checker `verify` used: a policy is then paid by the same
rule its pass rates were measured with (verl's default math reward compares normalised strings, so
`0.5` against `\\frac{1}{2}` scores 0 there and 1 here).

The answer is extracted as `verify` does (last `\\boxed{}`, "final answer is", `#### x`, `A: x`, "the answer
is") from the solution part of a thinking model's response (`<think>…</think>`, Sky-T1 tags; see
curate/text/reasoning.py): a rollout cut inside its thought is paid nothing, as `verify` calls it truncated. It is
checked with math-verify in the killable worker processes of `curate/answers/verifier.py`, bounded per item
whatever the model wrote. Safe from any number of threads (each call takes a worker no other thread is
using: verl's reward managers and OpenRLHF call from threads), from forked processes (a child starts
its own workers) and from asyncio (the `a...` functions). Each worker checks at start that this
environment's math-verify gives curate's verdicts (see verifier.CANARIES), and stops with one line
if it does not. This module needs neither Ray nor polars: `pip install --no-deps curate` beside
`math-verify` is all a trainer's environment needs (see the README).

    verl:      reward.custom_reward_function.path=$(python -c 'import curate.rewards as r; print(r.__file__)') \\
               reward.custom_reward_function.name=compute_score        # naive and batch reward managers alike
    TRL:       GRPOTrainer(..., reward_funcs=[curate.rewards.accuracy_reward])   # reads the `solution` column
    OpenRLHF:  --reward.remote_url $(python -c 'import curate.rewards as r; print(r.__file__)')  # reward_func
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from curate.answers.verifier import CORRECT, EXTRACTORS, shared_checkers
from curate.text.reasoning import solution_of

TIMEOUT = 5.0  # seconds per check, as verify's default


def score(response: str | None, reference: str | None, timeout: float = TIMEOUT) -> float:
    """1.0 when the response's final answer equals the reference (math-verify), else 0.0."""
    return scores([response], [reference], timeout)[0]


def scores(responses: Sequence[str | None], references: Sequence[Any], timeout: float = TIMEOUT) -> list[float]:
    """`score` over a batch: one round trip to one worker for all of them."""
    parts = [solution_of(r) for r in responses]  # verify's rule: the answer is in the solution; none if cut inside the thought
    todo = [i for i, (r, ref) in enumerate(zip(responses, references)) if r and ref is not None and str(ref).strip() and not parts[i][1]]
    found = shared_checkers(timeout).check_responses([(str(references[i]), parts[i][0]) for i in todo], EXTRACTORS) if todo else []
    out = [0.0] * len(responses)
    for i, (_, verdict) in zip(todo, found):
        out[i] = 1.0 if verdict == CORRECT else 0.0
    return out


async def ascores(responses: Sequence[str | None], references: Sequence[Any], timeout: float = TIMEOUT) -> list[float]:
    """`scores` for asyncio code: the check runs in a thread, the event loop goes on."""
    return await asyncio.to_thread(scores, responses, references, timeout)


def compute_score(
    data_source: str | None = None,
    solution_str: str | None = None,
    ground_truth: str | None = None,
    extra_info: dict[str, Any] | None = None,
    *,
    data_sources: list[str] | None = None,
    solution_strs: list[str] | None = None,
    ground_truths: list[str] | None = None,
    extra_infos: list[Any] | None = None,
    **_: Any,
) -> float | list[float]:
    """verl's custom reward function (reward_model.ground_truth of curate's verl export): one score for
    the naive manager's (data_source, solution_str, ground_truth, extra_info), a list for the batch
    manager's plural keywords."""
    if solution_strs is not None:
        return scores(list(solution_strs), list(ground_truths if ground_truths is not None else [None] * len(solution_strs)))
    return score(solution_str, ground_truth)


compute_score_batch = compute_score


async def acompute_score(*args: Any, **kwargs: Any) -> float | list[float]:
    return await asyncio.to_thread(compute_score, *args, **kwargs)


def _text(completion: Any) -> str | None:
    """A completion as TRL passes it: a string, or (conversational) a list of messages."""
    if completion is None or isinstance(completion, str):
        return completion
    return completion[-1].get("content") if completion else None


def accuracy_reward(completions: list[Any], solution: list[Any], **_: Any) -> list[float]:
    """TRL GRPO: completions are strings or lists of messages; `solution` is the column curate's trl
    export writes (the reference in `$...$`, which TRL's own accuracy_reward needs too)."""
    return scores([_text(c) for c in completions], list(solution))


async def async_accuracy_reward(completions: list[Any], solution: list[Any], **_: Any) -> list[float]:
    return await ascores([_text(c) for c in completions], list(solution))


def reward_func(queries: list[str], prompts: list[str], labels: list[str], **_: Any) -> dict[str, Any]:
    """OpenRLHF's reward file (`label` of curate's openrlhf export), in the dict form of its recent
    versions: rewards, scores (0-1, for dynamic filtering) and extra_logs. A query is the prompt and
    the response; the response is what follows the prompt."""
    import torch  # OpenRLHF's own dependency

    responses = [q[len(p) :] if q.startswith(p) else q for q, p in zip(queries, prompts)]
    rewards = torch.tensor(scores(responses, list(labels)), dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards, "extra_logs": {"accuracy": rewards.mean()}}


__all__ = ["accuracy_reward", "acompute_score", "ascores", "async_accuracy_reward", "compute_score", "compute_score_batch", "reward_func", "score", "scores"]
