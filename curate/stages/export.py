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
    trl       Parquet: prompt [{role, content}], solution (the answer in `$...$`, as TRL's accuracy_reward
              parses it), metadata columns (TRL hands extra columns to reward functions as keyword arguments)
    sft       JSONL: messages [user, assistant] with a verified trace; reasoning in <think>…</think> or
              as the assistant message's `reasoning_content`
    prm_trl   Parquet, TRL's stepwise supervision (PRMTrainer): prompt, completions (the steps), labels
              (a bool per step), one row per labelled trace (step_labels)
    prm_openrlhf  JSONL, OpenRLHF's process reward data: input (the prompt, then each step followed by
              " ки"), value ("+" or "-" per step)
    prm_steps JSONL, one row per step, for reading: id, sample, step, text, label, score, the answers
              its completions reached
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.columns import TRACES
from curate.llm.prompts import DEFAULT_PROMPT, messages_column, template_fields
from curate.stages.base import ExportStage, StageParams
from curate.stages.traces import QUALITY_ISSUES

FORMATS = ("verl", "openrlhf", "trl", "sft", "prm_trl", "prm_openrlhf", "prm_steps")
PRM_FORMATS = ("prm_trl", "prm_openrlhf", "prm_steps")
PLACEHOLDER = "ки"
"""OpenRLHF's step marker in Math-Shepherd's data (`--placeholder_token ки --reward_tokens + -`)."""
SELECTIONS = ("shortest_correct", "all_correct", "most_verifications", "diverse")
SPLITS = ("train", "validation")
DEFAULT_METADATA = ("pass_rate", "n_correct", "n_samples")
# verl routes a row to its reward function by data_source; this one gets its rule-based math reward
# (\boxed answer vs ground_truth) with no reward code of your own.
VERL_MATH_SOURCE = "DigitalLearningGmbH/MATH-lighteval"


class ExportParams(StageParams):
    format: Literal["verl", "openrlhf", "trl", "sft", "prm_trl", "prm_openrlhf", "prm_steps"]
    to: str | None = None
    """A directory; default OUT/exports/<stage name>. Holds train.* and validation.* and export.json."""
    answer_field: str = "answer"
    """The reference answer: verl's ground_truth, OpenRLHF's label, TRL's solution. Default: the verify
    stage's reference_field, if there is one."""
    prompt: str = DEFAULT_PROMPT
    """The user message, a template over the record's fields. Default: the prompt of the generate stage
    before it (or of the run, for `curate export`), so a policy trains on the prompt its pass rates
    were measured with; `generate`'s default without one."""
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
    """sft, which correct traces of a problem become rows (see README, "Long chain-of-thought"):
    `shortest_correct` (fewest completion tokens: concise answers), `all_correct`,
    `most_verifications` (the most self-verification markers, from trace_behaviour: traces that check
    their work, as k0-math's), `diverse` (up to `max_per_problem` correct traces as unlike each other
    as their word 5-grams allow, shortest first: several ways to the answer), or `best:<trace field>`
    (highest first)."""
    max_per_problem: int | None = Field(None, ge=1)
    """sft: traces per problem; default 1, all for all_correct, 4 for diverse."""
    require_clean: bool = True
    """sft: only traces that passed every trace-quality stage that ran (no `quality_issues`); traces
    from a run without trace stages have none."""
    max_length: int | None = Field(None, ge=1)
    """sft: leave out traces longer than this many completion tokens (characters / 4 where the
    endpoint reported none): with `most_verifications`, the most checking within a length budget."""
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
        if value not in SELECTIONS and not (value.startswith("best:") and value[5:].strip()):
            raise ValueError(f"{', '.join(SELECTIONS)} or best:<trace field>")
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
        fields = [*template_fields(p.prompt, p.system), p.answer_field] if not self.needs_traces() else [*template_fields(p.prompt, p.system), TRACES]
        return tuple(dict.fromkeys(fields + ([p.data_source_field] if p.data_source_field else []) + list(p.metadata or [])))

    def file_format(self) -> str:
        return "jsonl" if self.params.format in ("openrlhf", "sft", "prm_openrlhf", "prm_steps") else "parquet"

    def needs_traces(self) -> bool:
        return self.params.format in ("sft", *PRM_FORMATS)

    def needs(self) -> tuple[str, ...]:
        # an SFT export takes verified samples only; a PRM export, labelled steps
        return ("step_labels",) if self.params.format in PRM_FORMATS else ("verdicts",) if self.needs_traces() else ()

    def split(self) -> tuple[float, int]:
        return self.params.validation, self.params.split_seed

    def rows(self, records: pl.DataFrame, split: str, first_index: int, id_field: str, traces: pl.DataFrame | None = None, source: str = "curate") -> tuple[pl.DataFrame, dict[str, int]]:
        """The rows of `records` (one split, in order) in this format, numbered from `first_index`; and
        what was left out, by reason."""
        p = self.params
        metadata = [c for c in (p.metadata if p.metadata is not None else DEFAULT_METADATA) if c in records.columns]
        prompts = messages_column(p.prompt, p.system, records)
        default_source = p.data_source or (VERL_MATH_SOURCE if p.format == "verl" else source)
        frame = records.select(
            pl.col(id_field).cast(pl.String).alias(_ID),
            prompts.alias(_PROMPT),
            (pl.col(p.data_source_field).cast(pl.String).fill_null(default_source) if p.data_source_field else pl.lit(default_source, dtype=pl.String)).alias(_SOURCE),
            *metadata,
        )
        skipped = {"empty_prompt": prompts.null_count()}
        if p.format == "sft":
            return _sft(self, frame.filter(pl.col(_PROMPT).is_not_null()), traces, id_field, metadata, skipped)
        if p.format in PRM_FORMATS:
            return _prm(p.format, frame.filter(pl.col(_PROMPT).is_not_null()), traces, id_field, metadata, skipped)
        truth = records[p.answer_field].cast(pl.String).str.strip_chars()
        usable = truth.is_not_null() & (truth != "")
        skipped["no_reference"] = int((prompts.is_not_null() & ~usable).sum())
        frame = frame.with_columns(truth.alias(_TRUTH)).filter(pl.col(_PROMPT).is_not_null() & usable)
        frame = frame.with_columns(pl.int_range(first_index, first_index + pl.len(), dtype=pl.Int64).alias(_INDEX))
        if p.format == "verl":
            out = frame.select(
                pl.col(_SOURCE).alias("data_source"),
                pl.col(_PROMPT).alias("prompt"),
                pl.lit(p.ability, dtype=pl.String).alias("ability"),
                pl.struct(pl.lit("rule", dtype=pl.String).alias("style"), pl.col(_TRUTH).alias("ground_truth")).alias("reward_model"),
                pl.struct(pl.lit(split, dtype=pl.String).alias("split"), pl.col(_INDEX).alias("index"), pl.col(_ID).alias("id"), *metadata).alias("extra_info"),
            )
        elif p.format == "openrlhf":
            # OpenRLHF wraps a string input as the user turn; a system prompt needs the message list
            prompt = pl.col(_PROMPT) if p.system else pl.col(_PROMPT).list.last().struct.field("content")
            out = frame.select(prompt.alias("input"), pl.col(_TRUTH).alias("label"), pl.col(_SOURCE).alias("datasource"), pl.col(_ID).alias("id"), *metadata)
        else:  # trl
            out = frame.select(pl.col(_PROMPT).alias("prompt"), _math_mode(pl.col(_TRUTH)).alias("solution"), pl.col(_ID).alias("id"), pl.col(_SOURCE).alias("data_source"), *metadata)
        return out, {k: v for k, v in skipped.items() if v}


def _math_mode(answer: pl.Expr) -> pl.Expr:
    """The answer in `$...$` unless it is in math mode already: TRL's own accuracy_reward parses the
    solution as LaTeX and skips a row whose solution it cannot (on the 800 real Qwen traces, bare
    answers: 40 skipped, 694 agree with the grader; in `$...$`: 799). curate's rewards read both."""
    in_math = answer.str.starts_with("$") | answer.str.starts_with("\\(") | answer.str.starts_with("\\[") | answer.str.contains("\\boxed", literal=True)
    return pl.when(in_math).then(answer).otherwise(pl.lit("$") + answer + pl.lit("$"))


_ID, _PROMPT, _SOURCE, _TRUTH, _INDEX, _ORDER, _RANK, _LENGTH = (f"__export_{n}" for n in ("id", "prompt", "source", "truth", "index", "order", "rank", "length"))


def _sft(stage: Export, records: pl.DataFrame, traces: pl.DataFrame | None, id_field: str, metadata: list[str], skipped: dict[str, int]) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per selected verified trace: the problem's prompt, then the trace as the assistant's turn.
    Selection happens in polars: only the chosen traces ever become rows."""
    p = stage.params
    cap = p.max_per_problem or (None if p.select == "all_correct" else 4 if p.select == "diverse" else 1)
    chosen, left_out = _select(traces, id_field, p, cap)
    joined = records.with_row_index(_ORDER).join(chosen, on=_ID, how="inner").sort(_ORDER, _RANK)
    without = records.filter(~pl.col(_ID).is_in(joined[_ID].unique().implode()))[_ID]
    # why a problem has no row: its best excuse (a correct trace left out is a better one than none)
    for why, counted in (("not_clean", "no_clean_trace"), ("too_long", "no_short_enough_trace")):
        excused = without.is_in(left_out[why].implode())
        skipped[counted] = int(excused.sum())
        without = without.filter(~excused)
    skipped["no_correct_trace"] = without.len()
    answer = pl.col("response")
    reasoning = pl.col("reasoning") if "reasoning" in joined.columns else pl.lit(None, dtype=pl.String)
    has_reasoning = reasoning.is_not_null() & (reasoning.str.strip_chars() != "")
    if p.reasoning == "think":
        content = pl.when(has_reasoning).then(pl.concat_str(pl.lit("<think>\n"), reasoning.str.strip_chars(), pl.lit("\n</think>\n\n"), answer.str.strip_chars())).otherwise(answer)
        reply = pl.struct(pl.lit("assistant").alias("role"), content.alias("content"))
        turns = pl.col(_PROMPT)
    else:  # every turn gets the field (Arrow and HF datasets give each message the same keys); null but on the reply
        reply = pl.struct(pl.lit("assistant").alias("role"), answer.alias("content"), pl.when(has_reasoning).then(reasoning).alias("reasoning_content"))
        turns = pl.col(_PROMPT).list.eval(pl.element().struct.with_fields(pl.lit(None, dtype=pl.String).alias("reasoning_content")))
    out = joined.select(pl.concat_list(turns, reply).alias("messages"), pl.col(_ID).alias("id"), pl.col("sample").cast(pl.Int32), *metadata)
    return out, {k: v for k, v in skipped.items() if v}


def _prm(format: str, records: pl.DataFrame, traces: pl.DataFrame | None, id_field: str, metadata: list[str], skipped: dict[str, int]) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per labelled trace (prm_trl, prm_openrlhf) or per labelled step (prm_steps): the steps
    of its solution, cut where step_labels cut them, with their labels."""
    columns = ("sample", "response", "step_starts", "step_ends", "step_labels", "step_scores", "step_answers")
    if traces is None or "step_labels" not in traces.columns:
        labelled = pl.DataFrame(schema={_ID: pl.String, **{c: pl.Null for c in columns}})
    else:
        labelled = traces.filter(pl.col("step_labels").is_not_null()).select(pl.col(id_field).cast(pl.String).alias(_ID), *columns)
    joined = records.with_row_index(_ORDER).join(labelled, on=_ID, how="inner").sort(_ORDER, "sample")
    skipped["no_step_labels"] = records.height - joined[_ID].n_unique()
    texts = [[response[a:b].strip() for a, b in zip(starts, ends)] for response, starts, ends in joined.select("response", "step_starts", "step_ends").iter_rows()]
    prompt = pl.col(_PROMPT).list.last().struct.field("content")
    if format == "prm_steps":
        rows = joined.select(pl.col(_ID).alias("id"), pl.col("sample").cast(pl.Int32), pl.Series("steps", texts, dtype=pl.List(pl.String)),
                             "step_labels", "step_scores", "step_answers", *metadata)
        out = rows.with_columns(pl.int_ranges(pl.col("steps").list.len(), dtype=pl.Int32).alias("step")).explode("steps", "step_labels", "step_scores", "step_answers", "step")
        out = out.select("id", "sample", "step", pl.col("steps").alias("text"), pl.col("step_labels").alias("label"), pl.col("step_scores").alias("score"),
                         pl.col("step_answers").alias("answers"), *metadata)
    elif format == "prm_trl":
        out = joined.select(prompt.alias("prompt"), pl.Series("completions", texts, dtype=pl.List(pl.String)), pl.col("step_labels").alias("labels"),
                            pl.col(_ID).alias("id"), pl.col("sample").cast(pl.Int32), *metadata)
    else:
        inputs = [question + "\n" + "".join(f"{step} {PLACEHOLDER}\n" for step in steps).rstrip("\n") for question, steps in zip(joined.select(prompt).to_series().to_list(), texts)]
        values = [["+" if label else "-" for label in labels] for labels in joined["step_labels"].to_list()]
        out = joined.select(pl.Series("input", inputs, dtype=pl.String), pl.Series("value", values, dtype=pl.List(pl.String)), pl.col(_ID).alias("id"),
                            pl.col("sample").cast(pl.Int32), *metadata)
    return out, {k: v for k, v in skipped.items() if v}


def _select(traces: pl.DataFrame | None, id_field: str, p: ExportParams, cap: int | None) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """The chosen correct, untruncated samples: `_ID`, their trace fields, and `_RANK` (0 = first
    choice); and the ids of problems whose correct traces were all left out, by why (`not_clean`: a
    trace stage failed them; `too_long`: past `max_length`)."""
    none = {"not_clean": pl.Series(_ID, [], dtype=pl.String), "too_long": pl.Series(_ID, [], dtype=pl.String)}
    if traces is None or not traces.height:
        return pl.DataFrame(schema={_ID: pl.String, "sample": pl.Int32, "response": pl.String, _RANK: pl.UInt32}), none
    select = p.select
    usable = pl.col("correct").fill_null(False) & pl.col("response").is_not_null()
    if "truncated" in traces.columns:  # a corpus's own responses (verify's response_field) have no such field
        usable = usable & ~pl.col("truncated").fill_null(False)
    candidates = traces.filter(usable).with_columns(pl.col(id_field).cast(pl.String).alias(_ID), _length(traces).alias(_LENGTH)).drop(id_field)
    left_out = dict(none)
    if p.require_clean and QUALITY_ISSUES in candidates.columns:
        clean = pl.col(QUALITY_ISSUES).list.len().fill_null(0) == 0
        left_out["not_clean"] = candidates.filter(~clean)[_ID].unique()
        candidates = candidates.filter(clean)
        left_out["not_clean"] = left_out["not_clean"].filter(~left_out["not_clean"].is_in(candidates[_ID].implode()))
    if p.max_length is not None:
        short = pl.col(_LENGTH) <= p.max_length
        left_out["too_long"] = candidates.filter(~short)[_ID].unique()
        candidates = candidates.filter(short)
        left_out["too_long"] = left_out["too_long"].filter(~left_out["too_long"].is_in(candidates[_ID].implode()))
    if select == "all_correct":
        order, descending = [pl.col("sample")], [False]
    elif select in ("shortest_correct", "diverse"):
        order, descending = [pl.col(_LENGTH), pl.col("sample")], [False, False]
    elif select == "most_verifications":
        if "verifications" not in candidates.columns:
            raise ValueError("select most_verifications: the traces have no verifications (add a trace_behaviour stage before verify)")
        order, descending = [pl.col("verifications"), pl.col(_LENGTH), pl.col("sample")], [True, False, False]
    else:
        field = select[5:].strip()
        if field not in candidates.columns:
            raise ValueError(f"select {select!r}: traces have no field {field!r} (they have: {', '.join(sorted(c for c in traces.columns if c != id_field))})")
        order, descending = [pl.col(field).fill_nan(None), pl.col("sample")], [True, False]
    ranked = candidates.sort([pl.col(_ID), *order], descending=[False, *descending], nulls_last=True)
    if select == "diverse":
        ranked = _diverse(ranked)
    ranked = ranked.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(_ID).alias(_RANK)).drop(_LENGTH)
    return (ranked.filter(pl.col(_RANK) < cap) if cap else ranked), left_out


def _diverse(ranked: pl.DataFrame) -> pl.DataFrame:
    """Each problem's traces reordered greedily, shortest first, then each time the one least like any
    chosen (the highest MinHash-estimated Jaccard of word 5-grams to a chosen one, lowest first)."""
    from curate.text.minhash import MinHasher

    text = pl.concat_str(pl.col("reasoning").fill_null(""), pl.col("response").fill_null(""), separator="\n") if "reasoning" in ranked.columns else pl.col("response").fill_null("")
    signatures, _ = MinHasher(num_perm=64).signatures(ranked.select(text).to_series())
    ids = ranked[_ID].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, np.int64)
    order: list[int] = []
    for start, stop in zip(starts.tolist(), np.r_[starts[1:], len(ids)].tolist()):
        chosen = [start]
        left = list(range(start + 1, stop))
        closest = (signatures[left] == signatures[start]).mean(axis=1) if left else np.zeros(0)
        while left:
            pick = int(np.argmin(closest))  # ties: the shorter (left keeps the length order)
            chosen.append(left.pop(pick))
            closest = np.delete(closest, pick)
            if left:
                closest = np.maximum(closest, (signatures[left] == signatures[chosen[-1]]).mean(axis=1))
        order.extend(chosen)
    return ranked[order]


def _length(traces: pl.DataFrame) -> pl.Expr:
    """Completion tokens where the endpoint reported them, else characters / 4 (a corpus's own solutions)."""
    characters = pl.col("response").str.len_chars().cast(pl.Float64)
    if "reasoning" in traces.columns:
        characters = characters + pl.col("reasoning").str.len_chars().fill_null(0).cast(pl.Float64)
    if "completion_tokens" in traces.columns:
        return pl.coalesce(pl.col("completion_tokens").cast(pl.Float64), characters / 4)
    return characters / 4


__all__ = ["FORMATS", "PLACEHOLDER", "PRM_FORMATS", "SPLITS", "VERL_MATH_SOURCE", "Export", "ExportParams"]
