"""TRL 1.16.0's own trainers over curate's exports: GRPO for two steps with curate's reward and with
TRL's own accuracy reward, SFT for two steps; TRL's accuracy reward on the real traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import curate.rewards
from tests_clients.conftest import QWEN, curate_cli


def _grpo(model_dir: Path, train_file: Path, reward, out: Path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    train = load_dataset("parquet", data_files=str(train_file), split="train")
    config = GRPOConfig(
        output_dir=str(out), max_steps=2, per_device_train_batch_size=4, num_generations=4, max_completion_length=12,
        learning_rate=1e-4, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, bf16=False, seed=0,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[reward], train_dataset=train, args=config)
    trainer.train()
    return trainer


@pytest.mark.parametrize("which", ["curate", "trl"])
def test_grpo_two_steps_on_the_trl_export(demo_run, tiny_model_dir, tmp_path, which):
    from trl.rewards import accuracy_reward

    calls = []
    reward = curate.rewards.accuracy_reward if which == "curate" else accuracy_reward

    def counted(completions, solution, **kwargs):
        calls.append((len(completions), list(solution)))
        return reward(completions=completions, solution=solution, **kwargs)

    counted.__name__ = f"{which}_accuracy"
    trainer = _grpo(tiny_model_dir, demo_run / "exports" / "trl" / "train.parquet", counted, tmp_path)
    assert trainer.state.global_step == 2
    assert calls and all(n == 4 for n, _ in calls)
    assert all(s.startswith("$") and s.endswith("$") for _, solutions in calls for s in solutions)
    logged = [entry for entry in trainer.state.log_history if f"rewards/{which}_accuracy/mean" in entry]
    assert logged, trainer.state.log_history


def test_sft_two_steps_on_the_sft_export(demo_run, tiny_model_dir, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    train = load_dataset("json", data_files=str(demo_run / "exports" / "sft" / "train.jsonl"), split="train")
    assert train.column_names[0] == "messages" and train[0]["messages"][-1]["role"] == "assistant"
    config = SFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, max_length=256, report_to=[], save_strategy="no", use_cpu=True, bf16=False, logging_steps=1)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        train_dataset=train, args=config,
    )
    trainer.train()
    assert trainer.state.global_step == 2 and any("loss" in entry for entry in trainer.state.log_history)


@pytest.fixture(scope="module")
def qwen_trl_export(tmp_path_factory):
    """curate's trl export of the 100 real MATH problems behind the Qwen traces (an export-only run)."""
    if not QWEN.exists():
        pytest.skip(f"needs the real traces at {QWEN}")
    root = tmp_path_factory.mktemp("qwen")
    pipeline = root / "p.yaml"
    pipeline.write_text(
        f"name: qwen\ninput: {{path: {QWEN}, id_field: idx}}\noutput: {root / 'run'}\n"
        "stages:\n  - {name: trl, use: export, format: trl, prompt: '{{question}}', answer_field: answer, validation: 0, metadata: []}\n"
    )
    curate_cli("run", str(pipeline), "--quiet")
    return root / "run" / "exports" / "trl" / "train.parquet"


def test_trls_accuracy_reward_reads_the_exported_solution(qwen_trl_export):
    """On the 800 real traces, TRL's own reward on the exported solution agrees with the grader on 799
    (bare answers: 40 skipped, 694 agree), and curate's reward pays the same on both forms."""
    from datasets import load_dataset
    from trl.rewards import accuracy_reward

    solution = {str(r["id"]): r["solution"] for r in load_dataset("parquet", data_files=str(qwen_trl_export), split="train")}
    completions, solutions, bare, labels = [], [], [], []
    for line in QWEN.read_text().splitlines():
        record = json.loads(line)
        for response, label in zip(record["response"], record["score"]):
            completions.append([{"role": "assistant", "content": response}])
            solutions.append(solution[str(record["idx"])])
            bare.append(record["answer"])
            labels.append(bool(label))
    assert len(completions) == 800 and all(s.startswith("$") for s in solutions)
    trl_paid = accuracy_reward(completions, solutions)
    assert sum(p is None for p in trl_paid) == 0
    assert sum((p == 1.0) == label for p, label in zip(trl_paid, labels)) == 799
    ours = curate.rewards.accuracy_reward(completions, solutions)
    assert ours == curate.rewards.accuracy_reward(completions, bare)
    # 9 disagreements, each the grader's error: 10000 against 10{,}000, eight `4:30 \\text{ p.m.}` against `\\text{4:30 p.m.}`
    assert sum((p == 1.0) == label for p, label in zip(ours, labels)) == 791
