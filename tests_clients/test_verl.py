"""verl 0.9.1's own code over curate's verl export and with curate's reward function."""

from __future__ import annotations

import asyncio
import re
import shlex
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

import curate.rewards
from tests_clients.conftest import readme_block


def _verl_config():
    from omegaconf import OmegaConf

    path = resources.files("verl.trainer.config") / "_generated_ppo_trainer.yaml"
    return OmegaConf.load(str(path))


def _readme_overrides(run: Path) -> dict[str, str]:
    """The `key=value` overrides of the README's verl command, with OUT and the reward path filled in."""
    command = readme_block("#### verl", "sh").replace("\\\n", " ")
    command = command.replace("$(python -c 'import curate.rewards as r; print(r.__file__)')", curate.rewards.__file__).replace("OUT/", f"{run}/")
    return dict(token.split("=", 1) for token in shlex.split(command) if re.match(r"^[a-z_]+(\.[a-z_]+)+=", token))


def test_readme_overrides_are_keys_of_verls_config(demo_run):
    from omegaconf import OmegaConf

    config = _verl_config()
    overrides = _readme_overrides(demo_run)
    assert {"data.train_files", "reward.custom_reward_function.path", "reward.custom_reward_function.name"} <= set(overrides)
    missing = object()
    for key in overrides:
        assert OmegaConf.select(config, key, default=missing) is not missing, f"README's verl override {key} is not in verl's config"
    assert Path(overrides["data.train_files"]).exists() and Path(overrides["reward.custom_reward_function.path"]).exists()


def test_rlhf_dataset_and_collate_over_the_export(demo_run, tokenizer, tmp_path):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    data = _verl_config().data
    overrides = _readme_overrides(demo_run)
    config = OmegaConf.merge(data, {"cache_dir": str(tmp_path), "max_prompt_length": 512, "filter_overlong_prompts": False})
    dataset = RLHFDataset(data_files=[overrides["data.train_files"]], tokenizer=tokenizer, config=config)
    rows = __import__("pyarrow.parquet", fromlist=["x"]).read_table(overrides["data.train_files"]).num_rows
    assert len(dataset) == rows > 100
    batch = collate_fn([dataset[i] for i in range(8)])
    assert set(batch["data_source"]) == {"DigitalLearningGmbH/MATH-lighteval"}
    truths = [r["ground_truth"] for r in batch["reward_model"]]
    assert all(isinstance(t, str) and t for t in truths)
    assert [e["id"] for e in batch["extra_info"]] and all(0 <= e["pass_rate"] <= 1 for e in batch["extra_info"])
    messages = dataset.dataframe[0]["prompt"] if hasattr(dataset, "dataframe") else None
    assert messages is None or messages[-1]["role"] == "user"


def _data_proto(tokenizer, responses: list[str], references: list[str]):
    """What verl's rollout hands the reward managers: prompts, right-padded responses, a mask."""
    from verl import DataProto

    encoded = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    width = max(len(e) for e in encoded)
    response_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    prompt_ids = torch.full((len(encoded), 4), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), 4 + width), dtype=torch.long)
    mask[:, :4] = 1
    for i, ids in enumerate(encoded):
        response_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, 4 : 4 + len(ids)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": mask, "input_ids": torch.cat([prompt_ids, response_ids], dim=1)},
        non_tensors={
            "data_source": np.array(["DigitalLearningGmbH/MATH-lighteval"] * len(encoded), dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": ref} for ref in references], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(encoded))], dtype=object),
        },
    )


def _manager_config(demo_run, name: str):
    from omegaconf import OmegaConf

    config = _verl_config()
    for key, value in _readme_overrides(demo_run).items():
        OmegaConf.update(config, key, value)
    OmegaConf.update(config, "reward.reward_manager.name", name)
    return config


def test_naive_reward_manager_threads_pay_what_a_sequential_run_pays(demo_run, tokenizer, qwen):
    """verl's default manager, loaded as verl loads it: every sample's compute_score in the event
    loop's thread pool, all 800 in flight at once."""
    from verl.trainer.ppo.reward import load_reward_manager

    responses, references, labels = qwen
    sequential = curate.rewards.scores(responses, references)
    manager = load_reward_manager(_manager_config(demo_run, "naive"), tokenizer)
    data = _data_proto(tokenizer, responses, references)
    assert [tokenizer.decode(data[i].batch["responses"][: len(tokenizer(r, add_special_tokens=False)["input_ids"])]) for i, r in enumerate(responses[:5])] == responses[:5]

    async def everything():
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(len(data))))

    for attempt in range(2):
        paid = [r["reward_score"] for r in manager.loop.run_until_complete(everything())]
        assert paid == sequential, f"attempt {attempt}: {sum(a != b for a, b in zip(paid, sequential))} of 800 differ"
    disagree = [i for i, (p, label) in enumerate(zip(paid, labels)) if (p == 1.0) != label]
    # the grader's own errors: 10000 against 10{,}000, and eight `4:30 \\text{ p.m.}` against `\\text{4:30 p.m.}`
    assert len(disagree) == 9 and {references[i] for i in disagree} == {"10{,}000", "\\text{4:30 p.m.}"}


def test_batch_reward_manager_calls_with_plural_keywords(tokenizer, qwen):
    from verl.workers.reward_manager.batch import BatchRewardManager

    responses, references, _ = qwen
    manager = BatchRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=curate.rewards.compute_score)
    data = _data_proto(tokenizer, responses[:200], references[:200])
    tensor = manager(data)
    lengths = data.batch["attention_mask"][:, 4:].sum(dim=1)
    paid = [float(tensor[i, lengths[i] - 1]) for i in range(len(data))]
    assert paid == curate.rewards.scores(responses[:200], references[:200])
    assert curate.rewards.compute_score_batch is curate.rewards.compute_score


def test_curate_rewards_imports_without_ray_or_polars():
    import importlib.util
    import subprocess
    import sys

    assert importlib.util.find_spec("polars") is None and importlib.util.find_spec("curate") is not None
    code = "import sys, curate.rewards as r; print(r.score('so \\\\boxed{\\\\frac12}', '0.5'), sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'polars', 'numba', 'openai')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0 []"


@pytest.mark.parametrize("workers", [16])
def test_verls_threaded_pattern_plain_threads(qwen, workers):
    """The pattern behind both managers and OpenRLHF, at 16 threads, twice: equal to sequential."""
    from concurrent.futures import ThreadPoolExecutor

    responses, references, _ = qwen
    sequential = curate.rewards.scores(responses, references)
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(2):
            threaded = list(pool.map(lambda pair: curate.rewards.compute_score("x", pair[0], pair[1], {}), zip(responses, references)))
            assert threaded == sequential
