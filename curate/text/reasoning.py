"""Reasoning traces cut into their thought and their solution, whatever the format the model wrote:

    think   `<think>…</think>` then the solution (DeepSeek-R1, QwQ, Qwen3); the opening tag may be in the
            prompt (R1-Distill's chat template ends the prompt with `<think>`), so a `</think>` alone opens
            the trace at its start
    sky     `<|begin_of_thought|>…<|end_of_thought|>` `<|begin_of_solution|>…<|end_of_solution|>`
            (Sky-T1, the Bespoke/OpenThoughts traces)
    field   the thought in a field of its own (`reasoning_content`, as OpenAI-compatible servers return
            it for reasoning models), the solution in the response
    plain   no thought block: the whole response is the solution (short chain of thought)

`auto` decides per trace, in that order of evidence (a reasoning field, think tags, Sky-T1 tags, none).
Every trace stage and `verify` read the part they need: an answer is looked for in the solution, so a
trace cut off inside its thought has none, however many numbers its thinking wrote.

`split_traces` is vectorised over a polars Series (no Python per trace), for stages; `solution_of` is
the same rule for one response in plain Python, for the reward functions, which run in a trainer's
environment without polars (`tests/test_trace_format.py` holds the two to the same answers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FORMATS = ("auto", "think", "sky", "field", "plain")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SKY_THOUGHT_OPEN, SKY_THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"
SKY_SOLUTION_OPEN, SKY_SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"

SPLIT_SCHEMA = {
    "format": "String",
    "thought": "String",
    "solution": "String",
    "thought_open": "Boolean",
    "thought_closed": "Boolean",
    "solution_closed": "Boolean",
}
"""What `split_traces` returns per trace: the format found; the thought (null when the trace has no
thought block) and the solution (empty when the trace never reached one); whether a thought block was
opened and closed; whether a solution block that has a closing tag (Sky-T1's) was closed (null for
formats without one)."""


def split_traces(responses: pl.Series, reasoning: pl.Series | None = None, format: str = "auto") -> pl.DataFrame:
    """One row per response (same order), with `SPLIT_SCHEMA`'s columns. `reasoning`: the separate
    reasoning field of each response (`format: field`, or where `auto` finds it non-empty)."""
    import polars as pl

    if format not in FORMATS:
        raise ValueError(f"unknown trace format {format!r} (known: {', '.join(FORMATS)})")
    text = pl.col("response").fill_null("")
    frame = pl.DataFrame({"response": responses.cast(pl.String), "reasoning": reasoning.cast(pl.String) if reasoning is not None else pl.Series([None] * len(responses), dtype=pl.String)})
    has_field = pl.col("reasoning").is_not_null() & (pl.col("reasoning").str.len_chars() > 0)
    has_think = text.str.contains(THINK_OPEN, literal=True) | text.str.contains(THINK_CLOSE, literal=True)
    has_sky = text.str.contains(SKY_THOUGHT_OPEN, literal=True) | text.str.contains(SKY_SOLUTION_OPEN, literal=True)
    detected = {
        "auto": pl.when(has_field).then(pl.lit("field")).when(has_think).then(pl.lit("think")).when(has_sky).then(pl.lit("sky")).otherwise(pl.lit("plain")),
        "think": pl.lit("think"), "sky": pl.lit("sky"), "field": pl.lit("field"), "plain": pl.lit("plain"),
    }[format]
    frame = frame.with_columns(detected.alias("format"))
    think = _think(text)
    sky = _sky(text)
    field = {
        "thought": pl.col("reasoning"),
        "solution": text,
        "thought_open": has_field,
        "thought_closed": has_field,
        "solution_closed": pl.lit(None, pl.Boolean),
    }
    plain = {
        "thought": pl.lit(None, pl.String),
        "solution": text,
        "thought_open": pl.lit(False),
        "thought_closed": pl.lit(False),
        "solution_closed": pl.lit(None, pl.Boolean),
    }
    by_format = pl.col("format")
    columns = []
    for name in ("thought", "solution", "thought_open", "thought_closed", "solution_closed"):
        columns.append(
            pl.when(by_format == "think").then(think[name])
            .when(by_format == "sky").then(sky[name])
            .when(by_format == "field").then(field[name])
            .otherwise(plain[name])
            .cast(getattr(pl, SPLIT_SCHEMA[name]))
            .alias(name)
        )
    return frame.with_columns(columns).select(list(SPLIT_SCHEMA))


def solution_of(response: str | None, reasoning: str | None = None, format: str = "auto") -> tuple[str, bool]:
    """(the solution part, whether the trace was cut inside its thought) of one response: `split_traces`'
    rule without polars."""
    if format not in FORMATS:
        raise ValueError(f"unknown trace format {format!r} (known: {', '.join(FORMATS)})")
    text = response or ""
    if format == "auto":
        format = ("field" if reasoning else "think" if THINK_OPEN in text or THINK_CLOSE in text
                  else "sky" if SKY_THOUGHT_OPEN in text or SKY_SOLUTION_OPEN in text else "plain")
    if format in ("plain", "field"):
        return text, False
    if format == "think":
        if THINK_CLOSE not in text:
            return "", True
        return text.split(THINK_CLOSE, 1)[1].strip(), False
    opened, closed = SKY_THOUGHT_OPEN in text, SKY_THOUGHT_CLOSE in text
    solution = text.split(SKY_SOLUTION_OPEN, 1)[1].split(SKY_SOLUTION_CLOSE, 1)[0].strip() if SKY_SOLUTION_OPEN in text else ""
    return solution, opened and not closed


def _after(text: pl.Expr, tag: str) -> pl.Expr:
    """The text after the first `tag` (null when absent). (Split, not find + slice: `str.find` counts
    bytes and `str.slice` characters.)"""
    return text.str.splitn(tag, 2).struct.field("field_1")


def _before(text: pl.Expr, tag: str) -> pl.Expr:
    """The text before the first `tag` (the whole text when absent)."""
    return text.str.splitn(tag, 2).struct.field("field_0")


def _think(text: pl.Expr) -> dict[str, pl.Expr]:
    import polars as pl

    opened_here = text.str.contains(THINK_OPEN, literal=True)
    closed = text.str.contains(THINK_CLOSE, literal=True)
    body = pl.when(opened_here).then(_after(text, THINK_OPEN)).otherwise(text)  # the prompt may have opened it
    return {
        "thought": _before(body, THINK_CLOSE).str.strip_chars(),
        "solution": pl.when(closed).then(_after(text, THINK_CLOSE).str.strip_chars()).otherwise(pl.lit("")),
        "thought_open": opened_here | closed,
        "thought_closed": closed,
        "solution_closed": pl.lit(None, pl.Boolean),
    }


def _sky(text: pl.Expr) -> dict[str, pl.Expr]:
    import polars as pl

    opened = text.str.contains(SKY_THOUGHT_OPEN, literal=True)
    closed = text.str.contains(SKY_THOUGHT_CLOSE, literal=True)
    has_solution = text.str.contains(SKY_SOLUTION_OPEN, literal=True)
    thought_body = pl.when(opened).then(_after(text, SKY_THOUGHT_OPEN)).otherwise(pl.lit(""))
    thought = _before(_before(thought_body, SKY_THOUGHT_CLOSE), SKY_SOLUTION_OPEN)
    solution = pl.when(has_solution).then(_before(_after(text, SKY_SOLUTION_OPEN), SKY_SOLUTION_CLOSE)).otherwise(pl.lit(""))
    return {
        "thought": pl.when(opened).then(thought.str.strip_chars()),
        "solution": solution.str.strip_chars(),
        "thought_open": opened,
        "thought_closed": closed,
        "solution_closed": pl.when(has_solution).then(text.str.contains(SKY_SOLUTION_CLOSE, literal=True)),
    }


__all__ = ["FORMATS", "SPLIT_SCHEMA", "solution_of", "split_traces"]
