"""Accounting: every record is kept, or removed by a named stage with a reason. Checked at the end of
every run, before anything is published.

Ids are checked without gathering them: the input's ids are proven unique by a shuffle when they are
read, and the multiset of ids in kept/ + removed/ must equal the input's. Multisets are compared by
fingerprint: the count and two independently seeded 64-bit hash sums (mod 2^64), which sum per file
and per task. A lost and a duplicated record would have to cancel in both sums (~2^-128) to pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from curate.errors import LedgerError

_SEEDS = (0x1ED6_E001, 0x1ED6_E002)
_MASK = (1 << 64) - 1

Fingerprint = tuple[int, int, int]
EMPTY: Fingerprint = (0, 0, 0)


def id_fingerprint(ids: pl.Series) -> Fingerprint:
    if not len(ids):
        return EMPTY
    ids = ids.cast(pl.String)
    sums = [int(ids.hash(seed=seed).to_numpy().sum(dtype=np.uint64)) for seed in _SEEDS]
    return (len(ids), sums[0], sums[1])


def add(a: Fingerprint, b: Fingerprint) -> Fingerprint:
    return (a[0] + b[0], (a[1] + b[1]) & _MASK, (a[2] + b[2]) & _MASK)


def subtract(a: Fingerprint, b: Fingerprint) -> Fingerprint:
    return (a[0] - b[0], (a[1] - b[1]) & _MASK, (a[2] - b[2]) & _MASK)


@dataclass
class StageCount:
    name: str
    use: str
    into: int = 0
    out: int = 0
    removed: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    failed: Counter | None = None
    """Every rule that failed, per rule (a record failing several counts under each); removal counts only the first."""
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    """The reasons the stage declares (`Stage.reasons`): the only ones it may remove records for."""

    def add(self, part: dict[str, Any]) -> None:
        self.into += part.get("in", 0)
        self.out += part.get("out", 0)
        self.removed.update(part.get("removed", {}))
        self.seconds += part.get("seconds", 0.0)
        if "failed" in part:
            self.failed = (self.failed or Counter()) + Counter(part["failed"])
        sum_counters(self.extra, part.get("counters", {}))
        for column, histogram in part.get("histograms", {}).items():
            total = self.histograms.setdefault(column, {"edges": histogram["edges"], "counts": [0] * len(histogram["counts"]), "null": 0})
            total["counts"] = [a + b for a, b in zip(total["counts"], histogram["counts"])]
            total["null"] += histogram["null"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "use": self.use,
            "in": self.into,
            "out": self.out,
            "removed": dict(sorted(self.removed.items())),
            **({"reasons": list(self.reasons)} if self.reasons else {}),
            "seconds": round(self.seconds, 3),
            **({"failed": dict(sorted(self.failed.items()))} if self.failed is not None else {}),
            **({"histograms": self.histograms} if self.histograms else {}),
            **self.extra,
        }


class Ledger:
    """Sums the partial counts that tasks report, per stage, and checks that they balance."""

    def __init__(self, stages: list[tuple[str, str]], reasons: dict[str, tuple[str, ...]] | None = None):
        self.stages = {name: StageCount(name, use, reasons=(reasons or {}).get(name, ())) for name, use in stages}

    def add(self, parts: dict[str, dict[str, Any]]) -> None:
        for name, part in parts.items():
            self.stages[name].add(part)

    def check_counts(self, total_input: int, kept: int) -> None:
        """Per stage in = out + removed; each stage gets what the previous one passed on; input = kept + removed."""
        previous_out, previous_name = total_input, "the input"
        for stage in self.stages.values():
            removed = sum(stage.removed.values())
            if stage.into != stage.out + removed:
                raise LedgerError(f"stage {stage.name!r}: {stage.into} in != {stage.out} out + {removed} removed")
            if stage.into != previous_out:
                raise LedgerError(f"stage {stage.name!r} received {stage.into} records but {previous_name} passed on {previous_out}")
            previous_out, previous_name = stage.out, f"stage {stage.name!r}"
        if previous_out != kept:
            raise LedgerError(f"{previous_name} passed on {previous_out} records but {kept} were kept")
        removed_total = sum(sum(s.removed.values()) for s in self.stages.values())
        if total_input != kept + removed_total:
            raise LedgerError(f"input {total_input} != kept {kept} + removed {removed_total}")

    def removed_by_stage_reason(self) -> dict[tuple[str, str], int]:
        return {(s.name, reason): n for s in self.stages.values() for reason, n in s.removed.items() if n}

    def removed_by_reason(self) -> dict[str, int]:
        """Removed records by reason, over all stages."""
        totals: dict[str, int] = {}
        for (_, reason), count in self.removed_by_stage_reason().items():
            totals[reason] = totals.get(reason, 0) + count
        return dict(sorted(totals.items()))

    def stage_dicts(self) -> list[dict[str, Any]]:
        return [stage.as_dict() for stage in self.stages.values()]


def sum_counters(total: dict[str, Any], part: dict[str, Any]) -> None:
    """A stage's own counters, summed key by key; dicts of counters recursively; peaks (`peak_*`) by maximum."""
    for key, value in part.items():
        if isinstance(value, dict):
            sum_counters(total.setdefault(key, {}), value)
        elif key.startswith("peak_"):
            total[key] = max(total.get(key, value), value)
        else:
            total[key] = round(total.get(key, 0) + value, 6)


def check_files(
    ledger: Ledger,
    input_ids: Fingerprint,
    kept_rows: int,
    kept_ids: Fingerprint,
    removed_ids: Fingerprint,
    removed_counts: dict[tuple[str, str], int],
) -> None:
    """What is on disk must be what the stages reported, and hold every input id exactly once."""
    expected_kept = list(ledger.stages.values())[-1].out if ledger.stages else input_ids[0]
    if kept_rows != expected_kept:
        raise LedgerError(f"kept/ holds {kept_rows} records but the stages kept {expected_kept}")
    expected = ledger.removed_by_stage_reason()
    if removed_counts != expected:
        differ = sorted(set(expected.items()) ^ set(removed_counts.items()))
        raise LedgerError(f"removed/ does not match the stage counts: {differ[:4]}")
    if add(kept_ids, removed_ids) != input_ids:
        found = kept_ids[0] + removed_ids[0]
        raise LedgerError(f"the ids in kept/ and removed/ ({found}) are not exactly the input's ({input_ids[0]}): records were lost or duplicated")
