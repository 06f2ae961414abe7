"""Chat prompts from templates over a record's fields: `{{problem}}` is the record's `problem`; single
braces (`\\boxed{}`) are literal. Shared by `generate`, `hack_check` and the exports, so that a policy
trains on the prompt its pass rates were measured with."""

from __future__ import annotations

import json
import re
from typing import Any

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


__all__ = ["DEFAULT_PROMPT", "render_messages", "template_fields"]
