"""OpenRLHF 0.11.2's own code: the README's flags through its argument parser, its prompt dataset over
curate's openrlhf export, and its reward-function executor with curate.rewards as the function file."""

from __future__ import annotations

import argparse
import ast
import asyncio
import datetime
import importlib.util
import os
import shlex
import types
from pathlib import Path

import curate.rewards
from tests_clients.conftest import readme_block


def _parser() -> argparse.ArgumentParser:
    """train_ppo_ray's own parser, built by its own code: the statements of its `__main__` block up to
    parse_args (the module itself imports vLLM, which a CPU machine does not have)."""
    origin = importlib.util.find_spec("openrlhf.cli.train_ppo_ray").origin
    tree = ast.parse(Path(origin).read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    body = []
    for statement in main.body:
        if "parse_args" in ast.unparse(statement):
            break
        body.append(statement)
    namespace = {"argparse": argparse, "datetime": datetime.datetime, "os": os}
    exec(compile(ast.Module(body=body, type_ignores=[]), origin, "exec"), namespace)
    return namespace["parser"]


def _readme_args(run: Path):
    from openrlhf.utils.config import hierarchize

    command = readme_block("#### OpenRLHF", "sh").replace("\\\n", " ")
    command = command.replace("$(python -c 'import curate.rewards as r; print(r.__file__)')", curate.rewards.__file__)
    command = command.replace("OUT/exports/openrlhf/", f"{run}/exports/openrlhf/")
    tokens = shlex.split(command)
    flags = tokens[tokens.index("openrlhf.cli.train_ppo_ray") + 1 :]
    return hierarchize(_parser().parse_args(flags))  # an unknown flag exits here with argparse's message


def test_readme_flags_parse_with_the_installed_parser(demo_run):
    args = _readme_args(demo_run)
    assert args.data.prompt_dataset.endswith("train.jsonl") and Path(args.data.prompt_dataset).exists()
    assert (args.data.input_key, args.data.label_key, args.data.apply_chat_template) == ("input", "label", True)
    assert args.reward.remote_url == curate.rewards.__file__


def _strategy(args):
    return types.SimpleNamespace(args=args, is_rank_0=lambda: True, print=lambda *a, **k: None)


def test_prompt_dataset_over_the_export(demo_run, tokenizer):
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets

    args = _readme_args(demo_run)
    strategy = _strategy(args)
    data = blending_datasets(args.data.prompt_dataset, None, strategy, dataset_split="train")
    dataset = PromptDataset(data, tokenizer, strategy, input_template=None)
    assert len(dataset) == len(Path(args.data.prompt_dataset).read_text().splitlines()) > 100
    sources, prompts, labels, _ = dataset.collate_fn([dataset[i] for i in range(4)])
    assert all(p.startswith("<|im_start|>user\n") and p.endswith("<|im_start|>assistant\n") for p in prompts)
    assert all(isinstance(label, str) and label for label in labels) and len(set(sources)) == 1


def test_reward_function_file_under_openrlhfs_executor(demo_run, qwen, tokenizer):
    """SingleTurnAgentExecutor loads the file as OpenRLHF does and calls reward_func from threads
    (asyncio.to_thread per sample): all 800 in flight equal a sequential run."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    args = _readme_args(demo_run)
    executor = SingleTurnAgentExecutor(remote_rm_url=args.reward.remote_url)
    assert executor.reward_func is not None
    responses, references, _ = qwen
    prompt = "<|im_start|>user\nSolve it.<|im_end|>\n<|im_start|>assistant\n"
    sequential = curate.rewards.scores(responses, references)

    async def everything():
        return await asyncio.gather(*(executor._fetch_rewards_via_func([prompt + r], [prompt], [ref]) for r, ref in zip(responses, references)))

    for _ in range(2):
        paid = [float(out[0]["rewards"][0]) for out in asyncio.run(everything())]
        assert paid == sequential


def test_one_rollout_through_execute(demo_run, tokenizer):
    """The whole single-turn path: tokenise, 'generate' (a stand-in engine returning a fixed answer),
    decode the query, pay it with curate's reward_func."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    args = _readme_args(demo_run)
    executor = SingleTurnAgentExecutor(remote_rm_url=args.reward.remote_url)
    answer = tokenizer("So the answer is $\\boxed{\\frac{1}{2}}$.", add_special_tokens=False)["input_ids"]

    class Engine:
        async def generate(self, prompt_ids, params, multi_modal_data=None):
            output = types.SimpleNamespace(token_ids=answer, finish_reason="stop", logprobs=None)
            return types.SimpleNamespace(outputs=[output])

    params = types.SimpleNamespace(max_tokens=64, logprobs=None)
    prompt = "<|im_start|>user\nWhat is 1/2?<|im_end|>\n<|im_start|>assistant\n"
    right = asyncio.run(executor.execute(prompt, "0.5", params, 512, tokenizer, Engine()))
    wrong = asyncio.run(executor.execute(prompt, "0.25", params, 512, tokenizer, Engine()))
    assert float(right["reward"][0]) == 1.0 and float(wrong["reward"][0]) == 0.0
    assert right["extra_logs"]["accuracy"] == 1.0
