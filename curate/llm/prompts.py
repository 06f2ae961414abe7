"""Chat prompts from templates over a record's fields: `{{problem}}` is the record's `problem`; single
braces (`\\boxed{}`) are literal. Shared by `generate`, `hack_check` and the exports, so that a policy
trains on the prompt its pass rates were measured with."""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

DEFAULT_PROMPT = "{{problem}}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def template_fields(*templates: str | None) -> tuple[str, ...]:
    """The record fields the templates use, in order of first use."""
    return tuple(dict.fromkeys(m.group(1) for t in templates if t for m in _FIELD.finditer(t)))


def render_messages(prompt: str, system: str | None, row: dict[str, Any]) -> list[dict[str, str]] | None:
    """The chat messages for a record; None when a field the templates use is null or blank."""
    values = {}
    for name in template_fields(prompt, system):
        value = row.get(name)
        text = value if isinstance(value, str) else None if value is None else json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
        if text is None or not text.strip():
            return None
        values[name] = text

    def render(template: str) -> str:
        return _FIELD.sub(lambda m: values[m.group(1)], template)

    messages = [{"role": "system", "content": render(system)}] if system else []
    return messages + [{"role": "user", "content": render(prompt)}]


def messages_column(prompt: str, system: str | None, records: pl.DataFrame) -> pl.Series:
    """`render_messages` over a frame, as a List(Struct{role, content}) column: null where a field the
    templates use is null or blank. In polars when those fields are strings (one pass, no Python rows)."""
    fields = template_fields(prompt, system)
    if any(records.schema.get(f) != pl.String for f in fields):
        rendered = [render_messages(prompt, system, row) for row in records.select(fields).iter_rows(named=True)]
        return pl.Series("messages", rendered, dtype=MESSAGES)
    blank = pl.any_horizontal([pl.col(f).is_null() | (pl.col(f).str.strip_chars() == "") for f in fields]) if fields else pl.lit(False)
    turns = [pl.struct(pl.lit("system").alias("role"), _rendered(system).alias("content"))] if system else []
    turns.append(pl.struct(pl.lit("user").alias("role"), _rendered(prompt).alias("content")))
    return records.select(pl.when(~blank).then(pl.concat_list(turns)).alias("messages"))["messages"]


def _rendered(template: str) -> pl.Expr:
    parts: list[pl.Expr] = []
    position = 0
    for match in _FIELD.finditer(template):
        if match.start() > position:
            parts.append(pl.lit(template[position : match.start()]))
        parts.append(pl.col(match.group(1)))
        position = match.end()
    if position < len(template) or not parts:
        parts.append(pl.lit(template[position:]))
    return pl.concat_str(parts)


MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))

__all__ = ["DEFAULT_PROMPT", "MESSAGES", "messages_column", "render_messages", "template_fields"]
