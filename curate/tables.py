"""Small side tables read whole on the driver (benchmark sets, labelled training data): JSONL, JSON, Parquet.

Unlike pipeline input (curate/io/), these are read in one piece, every value as text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl


def read_table(path: Path) -> pl.DataFrame:
    """A file as a frame of text columns: JSONL, JSON (a list of objects, or an object of lists), Parquet."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        if name.endswith(".json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = data if isinstance(data, list) else data.get("data", data) if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise ValueError("expected a JSON list of objects")
            return pl.from_dicts([{k: _text(v) for k, v in row.items()} for row in rows if isinstance(row, dict)], infer_schema_length=None)
        rows = []
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"line {line_number}: malformed JSON: {err.msg}") from None
                    if isinstance(row, dict):
                        rows.append({k: _text(v) for k, v in row.items()})
        return pl.from_dicts(rows, infer_schema_length=None)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as err:
        raise ValueError(f"{path}: cannot read it: {str(err).splitlines()[0]}") from None
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _text(value: Any) -> str | None:
    """Benchmark fields are indexed as text; numbers and nested values by their JSON form."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
