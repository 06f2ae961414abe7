"""What every trace-quality stage shares (not a stage itself): each sample scored on its own, the
scores written into the sample (in traces/, beside verify's verdicts), each sample's failures added to
its `quality_issues`, and the problem removed only when none of its samples passes.

A trace stage's file holds its rule: `score(samples, records)` gets one row per sample, with the
sample's fields, its thought and solution (`curate/text/reasoning.py`), `OWNER` (the record's
position in the batch) and the record's own fields it asked for; it returns the score columns and
`ISSUE`, the sample's failure (null when it passes). This module does the rest: the samples of a field
of the input when `response_field` is set, the columns back into the samples, the per-record count of
passing samples and the record's reason (its samples' most common failure).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import polars as pl

from curate.columns import DROP, TRACES
from curate.stages.base import MapStage, StageParams
from curate.text.reasoning import split_traces

QUALITY_ISSUES = "quality_issues"
"""The sample field that lists every trace stage's failures of the sample (`repetition`,
`truncated`, ...): empty for a sample that passed them all; what an SFT export's `require_clean` reads."""
OWNER, ISSUE = "__trace_owner", "__trace_issue"
TEXT = "__trace_text"
"""The sample's whole text: its separate reasoning (if any) and its response, as the model wrote them."""


class TraceParams(StageParams):
    response_field: str | None = None
    """Read a field of the input (a string, or a list of strings: one sample each) as the samples, and
    write them as traces, instead of the samples of a preceding generate stage."""
    trace_format: Literal["auto", "think", "sky", "field", "plain"] = "auto"
    """How a sample's thought is told from its solution (curate/text/reasoning.py)."""


def samples_of(df: pl.DataFrame, field: str) -> pl.Series:
    """Responses a corpus ships, as samples: a string is one sample, a list of strings one each."""
    column = pl.col(field)
    if df.schema[field] == pl.List(pl.String):
        samples = column.list.eval(pl.struct(pl.int_range(pl.len(), dtype=pl.Int32).alias("sample"), pl.element().alias("response")))
    else:
        one = pl.struct(pl.lit(0, dtype=pl.Int32).alias("sample"), column.cast(pl.String).alias("response"))
        samples = pl.when(column.is_null()).then(None).otherwise(pl.concat_list(one))
    return df.select(samples.alias(TRACES)).to_series()


def check_response_field(schema: dict[str, pl.DataType], field: str | None) -> None:
    if field and schema.get(field) not in (pl.String, pl.List(pl.String), pl.Null):
        raise ValueError(f"response_field {field!r} must hold a string or a list of strings, not {schema.get(field)}")


class TraceStage(MapStage):
    """A stage that judges each sample's trace. Subclasses set `kind` (the per-record columns are
    `<kind>_passing` and the stage's summary scores), declare `sample_scores` and implement `score`."""

    kind: ClassVar[str] = ""
    params: TraceParams

    def sample_scores(self) -> dict[str, pl.DataType]:
        """The fields the stage adds to every sample, with their types."""
        raise NotImplementedError

    def record_fields(self) -> tuple[str, ...]:
        """Record fields `score` needs beside the samples (the problem, for its language)."""
        return ()

    def summaries(self) -> dict[str, pl.Expr]:
        """Per-record columns over the record's scored samples (an aggregation: the best sample's score,
        for a threshold the report can move)."""
        return {}

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        """`samples`: one row per sample (its fields, `thought`, `solution`, `format`, `thought_open`,
        `thought_closed`, `solution_closed`, `TEXT`, `OWNER`, the record fields). Returns the same rows
        in the same order with the score columns and `ISSUE`."""
        raise NotImplementedError

    def reads(self) -> tuple[str, ...]:
        return (self.params.response_field or TRACES, *self.record_fields())

    def writes(self) -> tuple[str, ...]:
        created = (TRACES,) if self.params.response_field else ()
        return (*created, f"{self.kind}_passing", *self.summaries())

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        check_response_field(schema, self.params.response_field)

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        p = self.params
        traces = samples_of(df, p.response_field) if p.response_field else df[TRACES]
        listed = traces.dtype
        assert isinstance(listed, pl.List) and isinstance(listed.inner, pl.Struct)
        fields = dict(listed.inner.to_schema())
        lengths = traces.list.len().fill_null(0)
        owners = pl.int_range(df.height, dtype=pl.Int64, eager=True).alias(OWNER)
        flat = pl.DataFrame([owners, traces]).filter(lengths > 0).explode(TRACES).unnest(TRACES)
        reasoning = flat["reasoning"] if "reasoning" in flat.columns else None
        parts = _split(flat["response"], reasoning, p.trace_format)
        text = pl.concat_str(pl.col("reasoning").fill_null(""), pl.lit("\n\n"), pl.col("response").fill_null("")) if reasoning is not None else pl.col("response").fill_null("")
        flat = pl.concat([flat.with_columns(text.alias(TEXT)), parts.drop([c for c in parts.columns if c in flat.columns])], how="horizontal")
        if self.record_fields():
            flat = flat.with_columns(df.select(self.record_fields())[flat[OWNER]])
        scored = self.score(flat)
        new = self.sample_scores()
        no_issues = pl.lit([], dtype=pl.List(pl.String))
        issues = pl.col(QUALITY_ISSUES).fill_null(no_issues) if QUALITY_ISSUES in fields else no_issues
        scored = scored.with_columns(pl.when(pl.col(ISSUE).is_null()).then(issues).otherwise(pl.concat_list(issues, pl.col(ISSUE))).alias(QUALITY_ISSUES))
        sample_columns = [*[f for f in fields if f not in new and f != QUALITY_ISSUES], *new, QUALITY_ISSUES]
        rebuilt = _relisted(scored.select(sample_columns), lengths, traces.is_null())
        per_record = scored.group_by(OWNER).agg(
            pl.col(ISSUE).is_null().sum().cast(pl.Int32).alias(f"{self.kind}_passing"),
            pl.col(ISSUE).drop_nulls().mode().sort().first().alias(DROP),
            *[expr.alias(name) for name, expr in self.summaries().items()],
        )
        # a record without samples has no evidence either way: kept, with null summaries
        merged = pl.DataFrame([owners]).join(per_record, on=OWNER, how="left", maintain_order="left").select(
            *[c for c in per_record.columns if c not in (OWNER, DROP)],
            pl.when(pl.col(f"{self.kind}_passing") > 0).then(None).otherwise(pl.col(DROP)).alias(DROP),
        )
        counters = {"samples": flat.height, "samples_failed": int(scored[ISSUE].is_not_null().sum()),
                    "failures": {k: v for k, v in scored[ISSUE].drop_nulls().value_counts().iter_rows()}}
        return df.with_columns(rebuilt, *merged.get_columns()), counters


def _relisted(values: pl.DataFrame, lengths: pl.Series, nulls: pl.Series) -> pl.Series:
    """The scored samples (in the order `explode` gave them) back into one list per record, with the
    records' own lengths: Arrow offsets, no grouping."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths.cast(pl.Int64).to_numpy(), out=offsets[1:])
    inner = values.to_struct(TRACES).to_arrow()
    if isinstance(inner, pa.ChunkedArray):
        inner = inner.combine_chunks()
    listed = pa.LargeListArray.from_arrays(pa.array(offsets), inner, mask=pa.array(nulls.to_numpy()))
    return pl.Series(TRACES, listed).cast(pl.List(pl.Struct(values.schema)))


_LAST_SPLIT: list[tuple[tuple[Any, ...], pl.Series, pl.DataFrame]] = []


def _split(responses: pl.Series, reasoning: pl.Series | None, format: str) -> pl.DataFrame:
    """`split_traces`, remembered for the last batch: the trace stages of a segment see the same
    samples one after the other, and the split is a fifth of their work. The key is the responses'
    content (a hash per row, compared in full), never their address."""
    hashes = responses.hash(seed=1)
    if reasoning is not None:
        hashes = hashes ^ reasoning.hash(seed=2)
    key = (format, len(responses), reasoning is not None)
    for cached_key, cached_hashes, parts in _LAST_SPLIT:
        if cached_key == key and cached_hashes.equals(hashes):
            return parts
    parts = split_traces(responses, reasoning, format)
    _LAST_SPLIT[:] = [(key, hashes, parts)]
    return parts


__all__ = ["ISSUE", "OWNER", "QUALITY_ISSUES", "TEXT", "TraceParams", "TraceStage", "check_response_field", "samples_of"]
