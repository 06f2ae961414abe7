"""Named filter sets: YAML files in filters/ that name rules (a score, a threshold, a reason) and say
where each comes from. `use: filter_set` applies one (curate/stages/filter_set.py)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curate import safe_yaml
from curate.rules import REWRITES, SCORES

FILTERS_DIR = Path(__file__).resolve().parents[2] / "filters"
"""The project's own sets, found by name (`path: gopher-quality`) from a source checkout."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(pattern=r"^[a-z0-9_:.-]+$")
    """Machine-readable; a record failing the rule is removed with it (if no earlier rule failed)."""
    score: str
    args: dict[str, Any] = {}
    field: Literal["text", "answer"] = "text"
    """Which of the stage's fields the score reads: `field` (text) or `answer_field` (answer)."""
    min: float | None = None
    """Fails when the score is below (null scores never fail)."""
    max: float | None = None
    """Fails when the score is above; for a yes/no score, `max: 0` fails when it is yes."""
    bins: list[float] | None = None
    """Histogram bin edges for stats (default: ten bins around the threshold; yes/no for `max: 0`)."""
    source: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Rule:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r} (known: {', '.join(sorted(SCORES))})")
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.bins is not None and (len(self.bins) < 2 or any(b <= a for a, b in zip(self.bins, self.bins[1:]))):
            raise ValueError("bins: at least two edges, increasing")
        return self

    @property
    def column_suffix(self) -> str:
        """The score's column name after the stage's name: score, its arguments, its field."""
        parts = [self.score] + [f"{k}{v}" for k, v in sorted(self.args.items())] + (["answer"] if self.field == "answer" else [])
        return "_".join(str(p) for p in parts)


class FilterSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    source: str = ""
    rewrite: str | None = None
    """A registered rewrite (curate.rules.REWRITES): the text the original filter passes on, when it
    removes parts of texts (C4's lines). The stage writes it into the field with `rewrite: true`."""
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_reasons(self) -> FilterSet:
        if self.rewrite is not None and self.rewrite not in REWRITES:
            raise ValueError(f"unknown rewrite {self.rewrite!r} (known: {', '.join(sorted(REWRITES)) or 'none'})")
        reasons = [r.reason for r in self.rules]
        repeated = sorted({r for r in reasons if reasons.count(r) > 1})
        if repeated:
            raise ValueError(f"reasons must be distinct: {', '.join(repeated)}")
        return self


def find(path: str) -> Path:
    """`path` as given, or a set of the project's own by name (`gopher-quality`)."""
    given = Path(path)
    if given.is_file():
        return given
    for candidate in (FILTERS_DIR / path, FILTERS_DIR / f"{path}.yaml"):
        if candidate.is_file():
            return candidate
    own = ", ".join(sorted(p.stem for p in FILTERS_DIR.glob("*.yaml"))) if FILTERS_DIR.is_dir() else "none found"
    raise ValueError(f"path: no filter set {path!r} (a YAML file, or one of: {own})")


def load(path: str) -> FilterSet:
    """The set at `path`, parsed once per file version (a stage's config checks and its constructor all ask)."""
    found = find(path)
    stat = found.stat()
    return _parse(found, found.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _parse(found: Path, resolved: Path, mtime_ns: int, size: int) -> FilterSet:
    """`found` as the user named it (for messages); the rest is the cache key."""
    try:
        data = safe_yaml.load(found.read_text(encoding="utf-8"), str(found))
        return FilterSet.model_validate(data)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None)
        raise ValueError(f"{found}{f':{mark.line + 1}' if mark else ''}: invalid YAML{f': {problem}' if problem else ''}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{found}: {where}: {first['msg']}") from None
