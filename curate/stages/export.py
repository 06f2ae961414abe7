"""`export`: the kept records as a trainer's dataset: verl, OpenRLHF, TRL (RL prompt sets) or SFT chat data.

Runs once the run's ledger balances, over kept/ (and, for SFT, the verified samples in traces/); writes
`train` and `validation` files under `to` and an `export.json` that says what was written and what was
left out and why. The split is by record id (a hash with `split_seed`): deterministic, the same for
every format, and stable as records come and go, so a problem's SFT traces and its RL prompt are
always on the same side (with `validation` a share; a count ranks the ids of one export). The row builders below are pure functions over polars frames;
`curate/exporting.py` streams the run through them.

    verl      Parquet: data_source, prompt [{role, content}], ability, reward_model {style: rule,
              ground_truth}, extra_info {split, index, id, pass_rate, n_samples, ...metadata}
    openrlhf  JSONL: input (the prompt; messages when there is a system prompt), label, datasource, metadata
    trl       Parquet: prompt [{role, content}], solution, metadata columns (TRL hands extra columns to
              reward functions as keyword arguments)
    sft       JSONL: messages [user, assistant] with a verified trace; reasoning in <think>…</think> or
              as the assistant message's `reasoning_content`
"""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.columns import TRACES
from curate.prompts import DEFAULT_PROMPT, render_messages, template_fields
from curate.stages.base import ExportStage, StageParams

FORMATS = ("verl", "openrlhf", "trl", "sft")
SPLITS = ("train", "validation")
MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
DEFAULT_METADATA = ("pass_rate", "n_correct", "n_samples")
# verl routes a row to its reward function by data_source; this one gets its rule-based math reward
# (\boxed answer vs ground_truth) with no reward code of your own.
VERL_MATH_SOURCE = "DigitalLearningGmbH/MATH-lighteval"


class ExportParams(StageParams):
    format: Literal["verl", "openrlhf", "trl", "sft"]
    to: str | None = None
    """A directory; default OUT/exports/<stage name>. Holds train.* and validation.* and export.json."""
    problem_field: str = "problem"
    answer_field: str = "answer"
    """The reference answer: verl's ground_truth, OpenRLHF's label, TRL's solution."""
    prompt: str = DEFAULT_PROMPT
    """The user message, a template over the record's fields: keep it the one `generate` sampled with."""
    system: str | None = None
    validation: float = Field(0.05, ge=0)
    """A share of the records (below 1: each record by its id's hash, so about that share, and every
    export of the run agrees), or a count (1 and up: exactly that many); 0 writes no validation file."""
    split_seed: int = 0
    metadata: list[str] | None = None
    """Record fields carried along (verl: in extra_info). Default: pass_rate, n_correct, n_samples where present."""
    data_source: str | None = None
    """verl's data_source / OpenRLHF's datasource / a TRL column. Default: for verl the name its built-in
    math reward answers to (DigitalLearningGmbH/MATH-lighteval); else the pipeline's name."""
    data_source_field: str | None = None
    """Take the data source from this field of each record instead."""
    ability: str = "math"
    select: str = "shortest_correct"
    """sft: `all_correct`, `shortest_correct` (fewest completion tokens) or `best:<trace field>` (highest first)."""
    max_per_problem: int | None = Field(None, ge=1)
    """sft: traces per problem; default 1, all for all_correct."""
    reasoning: Literal["think", "field"] = "think"
    """sft: a separate reasoning goes inside <think>…</think> before the answer, or into `reasoning_content`."""
    include_removed: list[str] = []
    """Also export the records these stages removed (sft from `difficulty`'s too_easy problems, say)."""

    @field_validator("validation")
    @classmethod
    def _fraction_or_count(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError("a fraction below 1 or a whole count")
        return value

    @field_validator("select")
    @classmethod
    def _selection(cls, value: str) -> str:
        if value not in ("all_correct", "shortest_correct") and not (value.startswith("best:") and value[5:].strip()):
            raise ValueError("all_correct, shortest_correct or best:<trace field>")
        return value

    @model_validator(mode="after")
    def _prompt_has_a_field(self) -> ExportParams:
        if not template_fields(self.prompt, self.system):
            raise ValueError("prompt: use the problem's field, as in {{problem}}")
        return self


class Export(ExportStage):
    use = "export"
    Params = ExportParams
    params: ExportParams

    def reads(self) -> tuple[str, ...]:
        p = self.params
        fields = [*template_fields(p.prompt, p.system), p.answer_field] if p.format != "sft" else [*template_fields(p.prompt, p.system), TRACES]
        return tuple(dict.fromkeys(fields + ([p.data_source_field] if p.data_source_field else []) + list(p.metadata or [])))

    def file_format(self) -> str:
        return "jsonl" if self.params.format in ("openrlhf", "sft") else "parquet"

    def needs_traces(self) -> bool:
        return self.params.format == "sft"

    def split(self) -> tuple[float, int]:
        return self.params.validation, self.params.split_seed

    def rows(self, records: pl.DataFrame, split: str, first_index: int, id_field: str, traces: pl.DataFrame | None = None, source: str = "curate") -> tuple[pl.DataFrame, dict[str, int]]:
        """The rows of `records` (one split, in order) in this format, numbered from `first_index`; and
        what was left out, by reason."""
        p = self.params
        metadata = [c for c in (p.metadata if p.metadata is not None else DEFAULT_METADATA) if c in records.columns]
        messages = [render_messages(p.prompt, p.system, row) for row in records.iter_rows(named=True)]
        skipped = {"empty_prompt": sum(m is None for m in messages)}
        if p.format == "sft":
            return _sft(self, records, messages, traces, id_field, metadata, skipped)
        answers = records[p.answer_field].cast(pl.String).to_list()
        usable = [m is not None and a is not None and a.strip() != "" for m, a in zip(messages, answers)]
        skipped["no_reference"] = sum(m is not None and not u for m, u in zip(messages, usable))
        mask = pl.Series(usable, dtype=pl.Boolean)
        chosen = records.filter(mask)
        prompts = [m for m, u in zip(messages, usable) if u]
        truths = [a.strip() for a, u in zip(answers, usable) if u]
        default_source = p.data_source or (VERL_MATH_SOURCE if p.format == "verl" else source)
        sources = chosen[p.data_source_field].cast(pl.String).fill_null(default_source) if p.data_source_field else pl.Series([default_source] * chosen.height, dtype=pl.String)
        index = pl.int_range(first_index, first_index + chosen.height, dtype=pl.Int64, eager=True)
        ids = chosen[id_field].cast(pl.String)
        meta = [chosen[c] for c in metadata]
        if p.format == "verl":
            out = pl.DataFrame(
                {
                    "data_source": sources,
                    "prompt": pl.Series(prompts, dtype=MESSAGES),
                    "ability": pl.Series([p.ability] * chosen.height, dtype=pl.String),
                    "reward_model": pl.DataFrame({"style": ["rule"] * chosen.height, "ground_truth": truths}, schema={"style": pl.String, "ground_truth": pl.String}).to_struct("reward_model"),
                    "extra_info": pl.DataFrame([pl.Series("split", [split] * chosen.height, dtype=pl.String), index.alias("index"), ids.alias("id"), *meta]).to_struct("extra_info")
                    if chosen.height
                    else pl.Series("extra_info", [], dtype=pl.Struct({"split": pl.String, "index": pl.Int64, "id": pl.String, **{c: records[c].dtype for c in metadata}})),
                }
            )
        elif p.format == "openrlhf":
            inputs: Any = pl.Series(prompts, dtype=MESSAGES) if p.system else pl.Series([m[-1]["content"] for m in prompts], dtype=pl.String)
            out = pl.DataFrame([inputs.alias("input"), pl.Series("label", truths, dtype=pl.String), sources.alias("datasource"), ids.alias("id"), *meta])
        else:  # trl
            out = pl.DataFrame([pl.Series("prompt", prompts, dtype=MESSAGES), pl.Series("solution", truths, dtype=pl.String), ids.alias("id"), sources.alias("data_source"), *meta])
        return out, {k: v for k, v in skipped.items() if v}


def _sft(stage: Export, records: pl.DataFrame, messages: list[Any], traces: pl.DataFrame | None, id_field: str, metadata: list[str], skipped: dict[str, int]) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per selected verified trace: the problem's prompt, then the trace as the assistant's turn."""
    p = stage.params
    by_id: dict[str, list[dict[str, Any]]] = {}
    if traces is not None and traces.height:
        usable = pl.col("correct").fill_null(False) & pl.col("response").is_not_null()
        if "truncated" in traces.columns:  # a corpus's own responses (verify's response_field) have no such field
            usable = usable & ~pl.col("truncated").fill_null(False)
        correct = traces.filter(usable)
        for row in correct.iter_rows(named=True):
            by_id.setdefault(str(row[id_field]), []).append(row)
    cap = p.max_per_problem or (None if p.select == "all_correct" else 1)
    rows: list[dict[str, Any]] = []
    no_correct = 0
    for record, prompt in zip(records.iter_rows(named=True), messages):
        if prompt is None:
            continue
        candidates = by_id.get(str(record[id_field]), [])
        if not candidates:
            no_correct += 1
            continue
        for sample in _select(candidates, p.select)[:cap]:
            answer, reasoning = sample["response"], sample.get("reasoning")
            if reasoning and p.reasoning == "think":
                reply = {"role": "assistant", "content": f"<think>\n{reasoning.strip()}\n</think>\n\n{answer.strip()}"}
            elif reasoning:
                reply = {"role": "assistant", "content": answer, "reasoning_content": reasoning}
            else:
                reply = {"role": "assistant", "content": answer}
            rows.append({"messages": [*prompt, reply], "id": str(record[id_field]), "sample": sample["sample"], **{c: record[c] for c in metadata}})
    skipped["no_correct_trace"] = no_correct
    schema = {"messages": pl.Object, "id": pl.String, "sample": pl.Int32, **{c: records[c].dtype for c in metadata}}
    out = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return out, {k: v for k, v in skipped.items() if v}


def _select(samples: list[dict[str, Any]], select: str) -> list[dict[str, Any]]:
    if select == "all_correct":
        return sorted(samples, key=lambda s: s["sample"])
    if select == "shortest_correct":
        return sorted(samples, key=lambda s: (_length(s), s["sample"]))
    field = select[5:].strip()
    if samples and field not in samples[0]:
        raise ValueError(f"select {select!r}: traces have no field {field!r} (they have: {', '.join(sorted(samples[0]))})")
    return sorted(samples, key=lambda s: (s[field] is None or (isinstance(s[field], float) and math.isnan(s[field])), -(s[field] or 0), s["sample"]))


def _length(sample: dict[str, Any]) -> float:
    """Completion tokens where the endpoint reported them, else characters / 4 (a corpus's own solutions)."""
    if sample.get("completion_tokens") is not None:
        return float(sample["completion_tokens"])
    return (len(sample.get("response") or "") + len(sample.get("reasoning") or "")) / 4


__all__ = ["FORMATS", "SPLITS", "VERL_MATH_SOURCE", "Export", "ExportParams"]
