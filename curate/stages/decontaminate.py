"""decontaminate: remove records that hold a benchmark item, scored item by item.

Each record is compared with the benchmark item it overlaps most: `<stage>_overlap` is the share of
that item's word n-grams found in the record (1.0 for a copy, re-typed or embedded in a longer text;
a few hundredths for a problem that only shares stock phrasing), `<stage>_longest` the longest run of
words they share, `<stage>_matches` how many of the item's n-grams matched. N-grams found in
`common_items` or more benchmark items ("express your answer as a common fraction") are ignored, and
a record is a leak only if it also has the item's numbers (`<stage>_numbers`): the same template
with other numbers is another problem.
Scores first: every record keeps these, and a removed one also the benchmark file, the item's id and
text and some matched n-grams, which `curate explain` shows; a stricter `min_overlap` can be applied
later without recomputing. The index is built once, on the driver (`prepare`).
"""

from __future__ import annotations

import glob
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.columns import DROP
from curate.stages.base import WARM_UP_TEXTS, MapStage, StageParams, Threshold
from curate.tables import read_table
from curate.text.ngrams import ItemIndex, words_of
from curate.text.normalize import NUMBER

REASON_PREFIX = "contaminated:"
SHOWN_NGRAMS = 5


class DecontaminateParams(StageParams):
    field: str = "text"
    """The record field checked."""
    against: list[str]
    """Benchmark files (paths or globs): JSONL, JSON (a list of objects) or Parquet."""
    fields: list[str] = ["problem", "question", "prompt", "text"]
    """The benchmark fields indexed: every one of these a file has (at least one is required)."""
    id_fields: list[str] = ["id", "unique_id", "problem_id", "idx", "ID"]
    """Where a benchmark item's id is (the first a file has); else its row number."""
    n: int = Field(13, ge=1, le=64)
    """Words per n-gram (13 as in GPT-3's decontamination; 8 is common for math)."""
    min_words: int = Field(6, ge=1)
    """A benchmark text shorter than n words is matched whole if it has at least this many words, else skipped."""
    min_overlap: float = Field(0.5, gt=0, le=1)
    """Remove a record holding at least this share of one benchmark item's n-grams."""
    min_matches: int = Field(1, ge=1)
    """...and at least this many of them."""
    min_numbers: float = Field(1.0, ge=0, le=1)
    """...and at least this share of the item's numbers (as a multiset): the same words with other
    numbers are another problem from the same template, not a leak (MATH train has 45 such against
    MATH-500). 0 turns the check off."""
    common_items: int = Field(10, ge=2)
    """An n-gram in this many distinct benchmark items or more is phrasing, not content: ignored."""

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
        self.index: ItemIndex | None = None
        self.sources: list[dict[str, Any]] = []
        self.item_source: np.ndarray = np.empty(0, np.int32)
        self.item_ids: list[str] = []
        self.item_texts: list[str] = []

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def writes(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_{c}" for c in ("overlap", "matches", "longest", "numbers", "source", "item", "item_text", "ngrams"))

    def reasons(self) -> tuple[str, ...]:
        return tuple(REASON_PREFIX + s["name"] for s in self.sources) or (REASON_PREFIX + "<benchmark file>",)

    def thresholds(self) -> list[Threshold]:
        p, name = self.params, self.name
        also = f"{name}_matches >= {p.min_matches} AND {name}_numbers >= {p.min_numbers} AND {name}_source IS NOT NULL"
        return [Threshold(f"{name}_overlap", REASON_PREFIX + "<benchmark>", max=p.min_overlap, strict=True, when=also, setting="min_overlap")]

    def histograms(self) -> dict[str, list[float]]:
        return {f"{self.name}_overlap": [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]}

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
        texts: list[str] = []
        seen: dict[str, int] = {}
        sources, ids = [], []
        for number, path in enumerate(paths):
            frame = read_table(path)
            present = [f for f in self.params.fields if f in frame.columns]
            if not present:
                raise ValueError(f"{path}: none of the fields {self.params.fields} (it has {', '.join(frame.columns)}); set `fields`")
            id_field = next((f for f in self.params.id_fields if f in frame.columns), None)
            row_ids = frame[id_field].cast(pl.String).to_list() if id_field else [f"row {i + 1}" for i in range(frame.height)]
            for field in present:
                for row, text in enumerate(frame[field].cast(pl.String, strict=False).to_list()):
                    if not text or text in seen:  # the same text in two files is one item (not "common")
                        continue
                    seen[text] = len(texts)
                    texts.append(text)
                    sources.append(number)
                    ids.append(row_ids[row] if row_ids[row] is not None else f"row {row + 1}")
            stat = path.stat()
            self.sources.append({"name": names[number], "path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "texts": frame.height, "fields": present})
        self.index = ItemIndex.build(pl.Series(texts, dtype=pl.String), self.params.n, self.params.min_words, self.params.common_items)
        self.item_source = np.asarray(sources, dtype=np.int32)
        self.item_ids, self.item_texts = ids, texts

    def warm_up(self) -> None:
        if self.index is not None:
            self.index.overlap(pl.Series(WARM_UP_TEXTS))

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.index is None:
            self.prepare()
        assert self.index is not None
        texts = df[self.params.field]
        found = self.index.overlap(texts)
        item = found["item"]
        hit = item >= 0
        names = [s["name"] for s in self.sources]
        source = [names[self.item_source[i]] if i >= 0 else None for i in item.tolist()]
        rows = texts.to_list()
        shown = [self._shared_ngrams(t, i) if i >= 0 else None for t, i in zip(rows, item.tolist())]
        numbers = np.array([_numbers_share(self.item_texts[i], t) if i >= 0 else 0.0 for t, i in zip(rows, item.tolist())], dtype=np.float64)
        p, name = self.params, self.name
        contaminated = hit & (found["coverage"] >= p.min_overlap) & (found["matched"] >= p.min_matches) & (numbers >= p.min_numbers)
        return df.with_columns(
            pl.Series(f"{name}_overlap", np.round(found["coverage"], 4), dtype=pl.Float64),
            pl.Series(f"{name}_matches", found["matched"], dtype=pl.UInt32),
            pl.Series(f"{name}_longest", found["longest"], dtype=pl.UInt32),
            pl.Series(f"{name}_numbers", np.round(numbers, 4), dtype=pl.Float64),
            pl.Series(f"{name}_source", source, dtype=pl.String),
            pl.Series(f"{name}_item", [self.item_ids[i] if i >= 0 else None for i in item.tolist()], dtype=pl.String),
            pl.Series(f"{name}_item_text", [self.item_texts[i] if i >= 0 else None for i in item.tolist()], dtype=pl.String),
            pl.Series(f"{name}_ngrams", shown, dtype=pl.List(pl.String)),
        ).with_columns(pl.when(pl.Series(contaminated)).then(pl.lit(REASON_PREFIX) + pl.col(f"{name}_source")).otherwise(None).alias(DROP))

    def _shared_ngrams(self, text: str | None, item: int) -> list[str]:
        """A few n-grams the record shares with the item, in the record's order (for people to read)."""
        n = self.params.n
        theirs = words_of(self.item_texts[item])
        if len(theirs) < n:
            return [" ".join(theirs)]
        wanted = {tuple(theirs[i : i + n]) for i in range(len(theirs) - n + 1)}
        mine = words_of(text or "")
        out: list[str] = []
        for i in range(len(mine) - n + 1):
            gram = tuple(mine[i : i + n])
            if gram in wanted and " ".join(gram) not in out:
                out.append(" ".join(gram))
                if len(out) == SHOWN_NGRAMS:
                    break
        return out


_NUMBER = re.compile(NUMBER)


def _numbers_share(item: str, text: str | None) -> float:
    """The share of the item's numbers (a multiset: `2` twice counts twice) that the text has too."""
    theirs = Counter(_NUMBER.findall(item))
    if not theirs:
        return 1.0
    mine = Counter(_NUMBER.findall(text or ""))
    return sum((theirs & mine).values()) / sum(theirs.values())


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
