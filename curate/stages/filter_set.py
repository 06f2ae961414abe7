"""filter_set: apply every rule of a named filter set (filters/NAME.yaml) to one field.

Score first: each rule's score becomes a column `<stage>_<score>` on every record, kept and removed, so
thresholds can be changed later without recomputing. A record failing several rules is counted under
each (stats: `failed`) and removed once, under the first failing rule in the set's order (`removed`).
With `rewrite: true`, kept records get the set's rewritten text in the field (C4's kept lines);
`<stage>_rewrite_kept` says what share of each text that is, and the stage's `rewrite` stats how many
characters and lines the kept records lost.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import field_validator, model_validator

from curate.answers.verifier import reference_answer
from curate.columns import DROP, FAILED
from curate.rules import REWRITES, SCORES
from curate.rules import sets as filter_sets
from curate.stages.base import WARM_UP_TEXTS, MapStage, StageParams, Threshold


class FilterSetParams(StageParams):
    path: str
    """A filter set: a YAML file, or the name of one of the project's (gopher-quality, c4, ...)."""
    field: str = "text"
    answer_field: str | None = None
    """For rules on the reference answer (`field: answer` in the set); without it they are skipped."""
    answer_extract: bool = False
    """The answer field holds worked solutions (GSM8K's end in `#### 18`): rules on the answer judge
    the final answer found in it, extracted as verify's `reference_extract` does (`####` first)."""
    skip: list[str] = []
    """Reasons of rules not to apply."""
    thresholds: dict[str, dict[str, float | None]] = {}
    """A rule's bounds for this run, by reason: `{too_few_sentences: {min: 3}}` (on the command line,
    `--set c4.thresholds.too_few_sentences.min=3`); null removes a bound. `curate report` shows what
    each value would keep, from the scores of an earlier run."""
    rewrite: bool = False
    """Write the set's rewritten text (its `rewrite:`) into `field` for the records it keeps, as the
    original filter does (C4 passes on only the lines it keeps). Removed records keep their text."""

    @field_validator("path")
    @classmethod
    def _loads(cls, value: str) -> str:
        filter_sets.load(value)  # a typo in the set fails with the pipeline's configuration errors
        return value

    @model_validator(mode="after")
    def _skipped_rules_exist(self) -> FilterSetParams:
        loaded = filter_sets.load(self.path)
        unknown = sorted(set(self.skip) - {r.reason for r in loaded.rules})
        if unknown:
            raise ValueError(f"skip: no rule {', '.join(unknown)} in {self.path}")
        unknown = sorted(set(self.thresholds) - {r.reason for r in loaded.rules})
        if unknown:
            raise ValueError(f"thresholds: no rule {', '.join(unknown)} in {self.path} (rules: {', '.join(r.reason for r in loaded.rules)})")
        for reason, bounds in self.thresholds.items():
            rule = next(r for r in loaded.rules if r.reason == reason)
            if set(bounds) - {"min", "max"}:
                raise ValueError(f"thresholds.{reason}: only min and max can be set (got {', '.join(sorted(set(bounds) - {'min', 'max'}))})")
            if {**rule.model_dump(include={"min", "max"}), **bounds} == {"min": None, "max": None}:
                raise ValueError(f"thresholds.{reason}: a rule needs min, max or both")
        if self.rewrite and loaded.rewrite is None:
            raise ValueError(f"rewrite: {self.path} names no rewrite (only sets that remove parts of texts, like c4, do)")
        return self


class FilterSet(MapStage):
    use = "filter_set"
    Params = FilterSetParams
    params: FilterSetParams

    def __init__(self, name: str, params: StageParams | None = None, **kwargs: Any):
        super().__init__(name, params, **kwargs)
        self.set = filter_sets.load(self.params.path)
        self.rules = [
            r.model_copy(update=self.params.thresholds.get(r.reason, {}))
            for r in self.set.rules if r.reason not in self.params.skip and (r.field == "text" or self.params.answer_field)
        ]

    def _column(self, rule: filter_sets.Rule) -> str:
        return f"{self.name}_{rule.column_suffix}"

    def _field(self, rule: filter_sets.Rule) -> str:
        if rule.field == "answer":
            if self.params.answer_extract:
                return _EXTRACTED
            assert self.params.answer_field is not None  # rules on the answer are kept only with an answer field
            return self.params.answer_field
        return self.params.field

    def text_fields(self) -> tuple[str, ...]:
        return (self.params.field,)

    def reads(self) -> tuple[str, ...]:
        return (self.params.field,) + ((self.params.answer_field,) if self.params.answer_field else ())

    def writes(self) -> tuple[str, ...]:
        rewrite = (f"{self.name}_rewrite_kept",) if self.params.rewrite else ()
        return tuple(dict.fromkeys(self._column(r) for r in self.rules)) + rewrite

    def reasons(self) -> tuple[str, ...]:
        return tuple(r.reason for r in self.rules)

    def histograms(self) -> dict[str, list[float]]:
        return {self._column(r): _edges(r) for r in self.rules}

    def thresholds(self) -> list[Threshold]:
        return [Threshold(self._column(r), r.reason, min=r.min, max=r.max, setting=f"thresholds.{r.reason}.{{side}}") for r in self.rules]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "rules": [r.model_dump(exclude_none=True) for r in self.rules]}

    def warm_up(self) -> None:
        answers = {self.params.answer_field: ["1", "2"]} if self.params.answer_field else {}
        self.apply(pl.DataFrame({self.params.field: list(WARM_UP_TEXTS)} | answers))

    def apply(self, df: pl.DataFrame) -> pl.DataFrame | tuple[pl.DataFrame, dict[str, Any]]:
        solution_field = self.params.answer_field if self.params.answer_extract and any(r.field == "answer" for r in self.rules) else None
        if solution_field:
            solutions = df[solution_field].cast(pl.String).to_list()
            df = df.with_columns(pl.Series(_EXTRACTED, [reference_answer(s) for s in solutions], dtype=pl.String))
        scores = {}
        for rule in self.rules:
            column = self._column(rule)
            if column not in scores:
                scores[column] = SCORES[rule.score](pl.col(self._field(rule)), **rule.args).cast(pl.Float64).alias(column)
        scored = df.lazy().with_columns(scores.values())
        failing = []
        for rule in self.rules:
            value = pl.col(self._column(rule))
            fails = pl.lit(False)
            if rule.min is not None:
                fails = fails | (value < rule.min)
            if rule.max is not None:
                fails = fails | (value > rule.max)
            failing.append(pl.when(fails.fill_null(False) & value.is_not_nan()).then(pl.lit(rule.reason)))
        decided = scored.with_columns(
            pl.coalesce(failing).alias(DROP),
            pl.concat_list(failing).list.drop_nulls().alias(FAILED),
        )
        counters: dict[str, Any] = {}
        if self.params.rewrite:
            assert self.set.rewrite is not None  # FilterSetParams refuses `rewrite` for a set without one
            field, share = self.params.field, f"{self.name}_rewrite_kept"
            decided = decided.with_columns(REWRITES[self.set.rewrite](pl.col(field)).alias(_REWRITTEN))
            before, after = pl.col(field).str.len_chars(), pl.col(_REWRITTEN).str.len_chars()
            # score first: the share of the text the rewrite keeps, on every record (removed ones too)
            decided = decided.with_columns(pl.when(before > 0).then(after / before).alias(share))
            kept = decided.filter(pl.col(DROP).is_null()).select(
                (pl.col(field) != pl.col(_REWRITTEN)).sum().alias("records_changed"),
                before.sum().alias("chars_in"), after.sum().alias("chars_out"),
                (pl.col(field).str.count_matches("\n") + 1).sum().alias("lines_in"),
                (pl.col(_REWRITTEN).str.count_matches("\n") + 1).sum().alias("lines_out"),
            ).collect()
            counters = {"rewrite": {k: int(v or 0) for k, v in kept.row(0, named=True).items()}}
            decided = decided.with_columns(pl.when(pl.col(DROP).is_null()).then(pl.col(_REWRITTEN)).otherwise(pl.col(field)).alias(field)).drop(_REWRITTEN)
        out = decided.collect()
        out = out.drop(_EXTRACTED) if solution_field else out
        return (out, counters) if counters else out


_EXTRACTED = "__curate_extracted_answer"
_REWRITTEN = "__curate_rewritten"


def _edges(rule: filter_sets.Rule) -> list[float]:
    """The rule's bins, or ten around its threshold(s): fixed per rule, so that shards' histograms add up."""
    if rule.bins:
        return list(rule.bins)
    if rule.max == 0 and rule.min is None:  # a yes/no score
        return [0.0, 0.5, 1.0]
    low = rule.min if rule.min is not None else 0.0
    high = rule.max if rule.max is not None else low * 4 if low > 0 else 1.0
    if rule.min is not None and rule.max is None:
        low, high = 0.0, rule.min * 2 if rule.min > 0 else 1.0
    elif rule.min is None:
        assert rule.max is not None  # a rule has min, max or both
        low, high = 0.0, rule.max * 2 if rule.max > 0 else 1.0
    step = (high - low) / 10
    return [round(low + i * step, 6) for i in range(11)]
