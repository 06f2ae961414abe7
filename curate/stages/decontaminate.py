"""decontaminate: remove records that share a word n-gram with a benchmark's texts.

The benchmark n-gram index is built once, on the driver (`prepare`), and shipped to the workers once
per phase. Scores first: `<stage>_matches` (how many of the record's n-grams occur in a benchmark) and
`<stage>_source` (the benchmark file of the first one) stay on every record, so a stricter
`min_matches` can be applied later without recomputing.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.columns import DROP
from curate.ngrams import NgramIndex
from curate.tables import read_table
from curate.stages.base import MapStage, StageParams

REASON_PREFIX = "contaminated:"


class DecontaminateParams(StageParams):
    field: str = "text"
    """The record field checked."""
    against: list[str]
    """Benchmark files (paths or globs): JSONL, JSON (a list of objects) or Parquet."""
    fields: list[str] = ["problem", "question", "prompt", "text"]
    """The benchmark fields indexed: every one of these a file has (at least one is required)."""
    n: int = Field(13, ge=1, le=64)
    """Words per n-gram (13 as in GPT-3's decontamination; 8 is common for math)."""
    min_words: int = Field(6, ge=1)
    """A benchmark text shorter than n words is matched whole if it has at least this many words, else skipped."""
    min_matches: int = Field(1, ge=1)
    """Remove a record when at least this many of its n-grams occur in a benchmark."""

    @field_validator("against")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one benchmark file")
        return value


class Decontaminate(MapStage):
    use = "decontaminate"
    Params = DecontaminateParams
    params: DecontaminateParams

    def __init__(self, name: str, params: StageParams | None = None, **kwargs: Any):
        super().__init__(name, params, **kwargs)
        self.index: NgramIndex | None = None
        self.sources: list[dict[str, Any]] = []

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def writes(self) -> tuple[str, ...]:
        return (f"{self.name}_matches", f"{self.name}_source")

    def reasons(self) -> tuple[str, ...]:
        return tuple(REASON_PREFIX + s["name"] for s in self.sources) or (REASON_PREFIX + "<benchmark file>",)

    def histograms(self) -> dict[str, list[float]]:
        return {f"{self.name}_matches": [0, 1, 2, 5, 10, 20, 50, 100, 1000]}

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.sources:  # which files, as found: part of the run's fingerprint, so a changed benchmark is not resumed
            described["benchmarks"] = self.sources
        return described

    def prepare(self) -> None:
        if self.index is not None:
            return
        paths = _benchmark_files(self.params.against)
        names = _short_names(paths)
        texts, owners = [], []
        for number, path in enumerate(paths):
            frame = read_table(path)
            present = [f for f in self.params.fields if f in frame.columns]
            if not present:
                raise ValueError(f"{path}: none of the fields {self.params.fields} (it has {', '.join(frame.columns)}); set `fields`")
            for field in present:
                column = frame[field]
                if column.dtype != pl.String:
                    column = column.cast(pl.String, strict=False)
                column = column.drop_nulls()
                texts.append(column)
                owners.append(np.full(len(column), number, dtype=np.int32))
            stat = path.stat()
            self.sources.append({"name": names[number], "path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "texts": frame.height, "fields": present})
        self.index = NgramIndex.build(pl.concat(texts), np.concatenate(owners), self.params.n, self.params.min_words)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.index is None:
            self.prepare()
        matches, first = self.index.match(df[self.params.field])
        names = pl.Series([s["name"] for s in self.sources], dtype=pl.String)
        source = names.gather(np.maximum(first, 0)).set(pl.Series(first < 0), None) if len(names) else pl.Series([None] * df.height, dtype=pl.String)
        hit = pl.Series(matches >= self.params.min_matches)
        return df.with_columns(
            pl.Series(f"{self.name}_matches", matches, dtype=pl.UInt32),
            source.alias(f"{self.name}_source"),
        ).with_columns(pl.when(hit).then(pl.lit(REASON_PREFIX) + pl.col(f"{self.name}_source")).otherwise(None).alias(DROP))


def _benchmark_files(patterns: list[str]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else ([pattern] if Path(pattern).exists() else [])
        matched = [m for m in matched if Path(m).is_file()]
        if not matched:
            raise ValueError(f"against: no benchmark files match {pattern!r}")
        found.extend(Path(m).resolve() for m in matched)
    return list(dict.fromkeys(found))


def _short_names(paths: list[Path]) -> list[str]:
    """File names, or paths relative to their common folder where two files share a name."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    root = Path(*Path(paths[0]).parts[: len(Path(paths[0]).parts) - 1])
    for p in paths[1:]:
        while root not in p.parents:
            root = root.parent
    return [str(p.relative_to(root)) for p in paths]
