"""Reward functions for the trainers, with the checker `verify` used: a policy is then paid by the same
rule its pass rates were measured with (verl's default math reward compares normalised strings, so
`0.5` against `\\frac{1}{2}` scores 0 there and 1 here).

The answer is extracted as `verify` does (last `\\boxed{}`, "final answer is", `#### x`, `A: x`) and
checked with math-verify in the killable worker process of `curate/verifier.py`: safe from any thread
(math-verify's own alarms are not), and bounded per item whatever the model wrote.

    verl:      custom_reward_function.path=$(python -c 'import curate.rewards as r; print(r.__file__)') \\
               custom_reward_function.name=compute_score
    TRL:       GRPOTrainer(..., reward_funcs=[curate.rewards.accuracy_reward])   # reads the `solution` column
    OpenRLHF:  --remote_rm_url $(python -c 'import curate.rewards as r; print(r.__file__)')  # reward_func
"""

from __future__ import annotations

from typing import Any

from curate.verifier import CORRECT, EXTRACTORS, shared_pool

TIMEOUT = 5  # seconds per check, as verify's default


def score(response: str | None, reference: str | None, timeout: int = TIMEOUT) -> float:
    """1.0 when the response's final answer equals the reference (math-verify), else 0.0."""
    return scores([response], [reference], timeout)[0]


def scores(responses: list[str | None], references: list[str | None], timeout: int = TIMEOUT) -> list[float]:
    """`score` over a batch: one round trip to the worker for all of them."""
    todo = [i for i, (r, ref) in enumerate(zip(responses, references)) if r and ref is not None and str(ref).strip()]
    found = shared_pool(timeout).check_responses([(str(references[i]), responses[i]) for i in todo], EXTRACTORS) if todo else []
    out = [0.0] * len(responses)
    for i, (_, verdict) in zip(todo, found):
        out[i] = 1.0 if verdict == CORRECT else 0.0
    return out


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict[str, Any] | None = None, **_: Any) -> float:
    """verl's custom reward function signature (reward_model.ground_truth of curate's verl export)."""
    return score(solution_str, ground_truth)


def accuracy_reward(completions: list[Any], solution: list[str], **_: Any) -> list[float]:
    """TRL GRPO: completions are strings or (conversational) lists of messages; `solution` is the column
    curate's trl export writes."""
    texts = [c if isinstance(c, str) else (c[-1].get("content") if c else None) for c in completions]
    return scores(texts, list(solution))


def reward_func(queries: list[str], prompts: list[str], labels: list[str], **_: Any) -> dict[str, Any]:
    """OpenRLHF's reward file (`label` of curate's openrlhf export), in the dict form of its recent
    versions: rewards, scores (0-1, for dynamic filtering) and extra_logs. A query is the prompt and
    the response; the response is what follows the prompt."""
    import torch  # OpenRLHF's own dependency

    responses = [q[len(p) :] if q.startswith(p) else q for q, p in zip(queries, prompts)]
    rewards = torch.tensor(scores(responses, list(labels)), dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards, "extra_logs": {"accuracy": rewards.mean()}}


__all__ = ["accuracy_reward", "compute_score", "reward_func", "score", "scores"]
