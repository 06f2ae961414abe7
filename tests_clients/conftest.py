"""The trainers' own code over curate's outputs, in the trainers' environment (`make test-clients`).

This environment (.venv-clients) has verl, TRL, transformers, datasets and OpenRLHF, and curate
installed with `--no-deps` (no Ray, no polars): exactly what a trainer's machine has. Runs are made
with curate's own environment (`CURATE_BIN`, default .venv/bin), as a user would make them before
training. Nothing is downloaded: the tokenizer is trained here, the models are randomly initialised.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CURATE_SHARED_DATA", ROOT.parent / "shared" / "data"))
QWEN = SHARED / "math" / "traces" / "qwen25math_math_cot_100x8.jsonl"


def curate_bin() -> Path:
    return Path(os.environ.get("CURATE_BIN", ROOT / ".venv" / "bin"))


def curate_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """curate's command line in curate's own environment (Ray and polars are there, not here)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("CURATE_FAULT", None)
    result = subprocess.run([str(curate_bin() / "curate"), *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=900)
    assert result.returncode == 0, f"curate {' '.join(args)}: {result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`make demo`'s math-rl run (the problems' own solutions verified), with all four exports."""
    if not (curate_bin() / "curate").exists():
        pytest.skip(f"curate's environment is not at {curate_bin()} (run `make test-clients`, which makes it)")
    root = tmp_path_factory.mktemp("demo")
    curate_cli("demo-data", str(root / "data"))
    run = root / "math-rl"
    curate_cli(
        "run", "pipelines/math-rl.yaml", "--input", str(root / "data" / "problems-*"), "--output", str(run), "--quiet",
        "--set", f"decontaminate.against=[{root / 'data' / 'benchmark.jsonl'}]", "--set", "decontaminate.n=13",
        "--set", "generate.enabled=false", "--set", "verify.response_field=solutions",
    )
    for fmt in ("openrlhf", "trl"):
        curate_cli("export", str(run), "--format", fmt, "--to", str(run / "exports" / fmt))
    return run


def qwen_traces() -> tuple[list[str], list[str], list[bool]]:
    """The 800 real Qwen2.5-Math-7B responses to 100 MATH problems, with the grader's labels."""
    if not QWEN.exists():
        pytest.skip(f"needs the real traces at {QWEN} (../shared/data; see its README)")
    responses, references, labels = [], [], []
    for line in QWEN.read_text().splitlines():
        record = json.loads(line)
        responses += record["response"]
        references += [record["answer"]] * len(record["response"])
        labels += [bool(s) for s in record["score"]]
    return responses, references, labels


@pytest.fixture(scope="session")
def qwen():
    return qwen_traces()


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    """A byte-level BPE tokenizer trained here on the demo problems and the real traces (lossless:
    decode(encode(text)) == text, which the reward managers rely on), with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    if QWEN.exists():
        texts += [r for line in QWEN.read_text().splitlines() for r in json.loads(line)["response"]]
    texts += ["Solve the problem. Put the final answer in \\boxed{}.", "What is 1 + 1? \\boxed{2}"] * 50
    model = Tokenizer(models.BPE(unk_token=None))
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    special = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    model.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=1024, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<|pad|>", eos_token="<|endoftext|>", bos_token=None)
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    path = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(path)
    return tokenizer


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer, tmp_path_factory):
    """A randomly initialised two-layer Qwen2-shaped model, saved with the tokenizer (no model hub)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, tie_word_embeddings=True,
    )
    path = tmp_path_factory.mktemp("tiny-model")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def readme_block(heading: str, language: str) -> str:
    """The first ```language code block after `heading` in the README: what users copy is what is tested."""
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    fence = f"```{language}\n"
    begin = text.index(fence, start) + len(fence)
    return text[begin : text.index("```", begin)]
