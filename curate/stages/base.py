"""What a stage is. A stage file holds only its rule: the runner reads, writes, counts, times and shuffles.

Two kinds:

* `MapStage` sees one batch at a time: `apply(df)` returns the same rows in the same order, with the
  columns the stage declares in `writes()` added, and optionally a `DROP` column whose non-null value is
  the machine-readable reason the record is removed. Scores stay on the record, so a user can
  re-threshold later without recomputing.
* `ServiceStage` waits on a remote service (an LLM endpoint), not the CPU: the runner runs it in
  long-lived async actors, each streaming batches through `apply_async` with several batches in
  flight, so that the service never idles between batches. Same contract as `MapStage.apply`.
* `GroupStage` needs every record at once (dedup). `keys(df)` computes per-record keys: one frame, or
  several by name, each with a UInt64 `KEY`; the runner splits each by `KEY % partitions` across the
  cluster (to disk). `decide(engine, keys)` then describes, on the driver, rounds of partitioned
  reduces over those datasets (see `curate.engine`) and returns the records to remove. Most group
  stages need one round: they implement `reduce(keys)` and keep the default `decide`. Nothing ever
  gathers all records on one process.
* `ExportStage` writes the finished run in a trainer's format (verl, OpenRLHF, TRL, SFT chat data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from curate.engine import Dataset, Engine

WARM_UP_TEXTS = ("Warm up the kernels.\nA second line.", "réchauffer")
"""What `Stage.warm_up` runs the kernels on: one ASCII text and one not, so both paths of the text
preparation run."""


@dataclass(frozen=True)
class Threshold:
    """A bound on a score column beyond which the stage removes a record (score first, threshold later).
    Declared by the stage (`Stage.thresholds`) and recorded in the manifest, so that `curate report`
    draws it on the column's kept-vs-removed histogram and counts, from the stored scores alone, what
    other bounds would keep. A null or NaN score never fails."""

    column: str
    reason: str
    """What a record failing it is removed for (`<...>` stands for any text, as in `Stage.reasons`)."""
    min: float | None = None
    """Removed below it (at it too when `strict`)."""
    max: float | None = None
    """Removed above it (at it too when `strict`)."""
    strict: bool = False
    when: str | None = None
    """A polars SQL condition over the record's columns that must also hold for it to be removed
    (decontaminate's other conditions, language's score bound only where the language was determined)."""
    setting: str | None = None
    """The parameter that moves the bound, for `--set STAGE.<setting>=VALUE` ("{side}" stands for min
    or max): what `curate report` tells a user to run after picking a value."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}


class StageParams(BaseModel):
    """A stage's typed parameters: unknown keys and bad values fail before any work."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage:
    use: str = ""
    """The `use:` name that loads this type (built-in name, or module:Class)."""
    Params: ClassVar[type[StageParams]] = StageParams

    def __init__(self, name: str, params: StageParams | None = None, **kwargs: Any):
        self.name = name
        self.params = params if params is not None else self.Params(**kwargs)
        if not _loadable(type(self).use):  # a stage of your own: the manifest records a `use:` that loads it again
            self.use = f"{type(self).__module__}:{type(self).__qualname__}"

    def reads(self) -> tuple[str, ...]:
        """Fields the stage reads; each must come from the input or an earlier stage."""
        return self.text_fields()

    def text_fields(self) -> tuple[str, ...]:
        """Fields that must be strings in every input record (validated when the input is read)."""
        return ()

    def writes(self) -> tuple[str, ...]:
        """Columns the stage adds to every record it sees."""
        return ()

    def reasons(self) -> tuple[str, ...]:
        """Every reason the stage can remove a record for; `<...>` stands for any text (`language:<code>`).
        Enforced: a removal for another reason fails the run, naming the stage. `curate stats --stage`
        lists them, with the records each removed."""
        return ()

    def provides(self) -> dict[str, Any]:
        """What later stages may take from this one, by parameter name: an export inherits each group
        it does not set (generate's prompt and system prompt; verify's reference field)."""
        return {}

    def needs(self) -> tuple[str, ...]:
        """Keys of `provides()` some earlier stage must offer (an SFT export needs verify's verdicts)."""
        return ()

    def check_schema(self, schema: dict[str, pl.DataType]) -> None:
        """Called with the columns the stage will see, once the input is read and before any stage runs;
        raise ValueError to stop the run with a configuration error."""

    def prepare(self) -> None:
        """One-off work on the driver before the run (load or build a model, an index), kept on `self`:
        the runner ships the stage to the workers once per phase. Raise ValueError or OSError for a
        configuration error."""

    def warm_up(self) -> None:
        """Run, on the driver, the compiled (numba) kernels the stage's tasks will call, on a tiny input
        through the same code path (so with the same argument types): the runner does it in a thread
        while Ray starts, and the workers then load the kernels from numba's on-disk cache instead of
        each compiling them (3-10 s per process the first time after an install)."""

    def histograms(self) -> dict[str, list[float]]:
        """Score column -> bin edges. The runner counts every record the stage sees into fixed bins
        (values below the first edge in the first bin, above the last in the last; nulls and NaN apart)
        and stores the sums in stats.json."""
        return {}

    def thresholds(self) -> list[Threshold]:
        """The score bounds the stage removes records by, for `curate report`'s histograms and what-if
        tables; stages whose removals are not bounds on a score (dedup, an expression filter) have none."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "use": self.use or type(self).__qualname__, **self.params.model_dump(mode="json")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.params!r})"


def _loadable(use: str) -> bool:
    from curate.stages import BUILTIN

    return ":" in use or use in BUILTIN


def undeclared_reasons(stage: Stage, reasons: Iterable[str]) -> list[str]:
    """The reasons among `reasons` that `stage.reasons()` does not declare."""
    patterns = [re.compile("".join(".+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]*>)", declared) if part) + r"\Z") for declared in stage.reasons()]
    return sorted(r for r in set(reasons) if not any(p.match(r) for p in patterns))


def check_reasons(stage: Stage, reasons: Iterable[str]) -> None:
    """A removal for a reason the stage does not declare fails here, naming the stage."""
    from curate.errors import StageError

    unknown = undeclared_reasons(stage, reasons)
    if unknown:
        declared = ", ".join(stage.reasons()) or "none"
        raise StageError(f"stage {stage.name!r} ({stage.use}) removed records for reason {unknown[0]!r}, which its reasons() does not declare (declared: {declared})")


class MapStage(Stage):
    def apply(self, df: pl.DataFrame) -> pl.DataFrame | tuple[pl.DataFrame, dict[str, Any]]:
        """Optionally with counters (numbers, or dicts of numbers), summed over batches into the stage's stats."""
        raise NotImplementedError


class ServiceStage(Stage):
    def actors(self) -> list[dict[str, Any]]:
        """One entry per actor to start (an endpoint, a replica): handed to `open`. Call after `prepare`."""
        return [{}]

    def batch_records(self) -> int:
        """Records per batch handed to an actor; several batches are in flight per actor."""
        return 256

    async def open(self, actor: dict[str, Any], run_dir: str) -> Any:
        """Inside the actor, once: its client state (a connection pool, a cache), passed to every call."""
        return None

    async def apply_async(self, state: Any, df: pl.DataFrame) -> pl.DataFrame | tuple[pl.DataFrame, dict[str, Any]]:
        """As `MapStage.apply`, optionally with counters (numbers, or dicts of numbers) summed into the stage's stats."""
        raise NotImplementedError

    async def close(self, state: Any) -> dict[str, Any]:
        """At the end of the phase: the actor's own counters, summed into the stage's stats."""
        return {}


class GroupStage(Stage):
    keys_per_record = False
    """Every key row holds the `ORDER` of one record and depends on that record alone. Then, right after
    another group stage, this stage's keys are computed in that stage's segment (one read of the
    shards for both) and the earlier stage's removals are taken out of them before this one reduces."""

    def keys(self, df: pl.DataFrame) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """Keys of the records of `df`, which has their fields plus `ORDER` (input position) and `ID`
        (the record id as a string). Any number of rows; each frame needs a UInt64 `KEY`. One frame is
        named "keys"; to co-partition a frame with an engine dataset split `by` column c, use
        `KEY = c.hash()`."""
        raise NotImplementedError

    def reduce(self, keys: pl.DataFrame) -> pl.DataFrame:
        """From all keys of one partition, the records to remove: `ORDER`, `DROP` (reason), `DROP_DUPLICATE_OF`."""
        raise NotImplementedError

    def decide(self, engine: Engine, keys: dict[str, Dataset]) -> Dataset:
        """The records to remove (`ORDER`, `DROP`, `DROP_DUPLICATE_OF`), as a dataset. Default: one reduce."""
        decisions, _ = engine.reduce("reduce", [keys["keys"]], self.reduce)
        return decisions


class ExportStage(Stage):
    """Writes the finished run as a dataset (a trainer's format), once the ledger balances: always last in
    a pipeline, removes nothing. `rows` turns one run file's records (one split) into output rows."""

    def file_format(self) -> str:
        """`parquet` or `jsonl`."""
        raise NotImplementedError

    def needs_traces(self) -> bool:
        """Whether the export reads traces/ (the verified samples) besides the records."""
        return False

    def split(self) -> tuple[float, int]:
        """(validation share below 1, or count; seed) of the train/validation split."""
        return 0.0, 0

    def rows(self, records: pl.DataFrame, split: str, first_index: int, id_field: str, traces: pl.DataFrame | None = None, source: str = "curate") -> tuple[pl.DataFrame, dict[str, int]]:
        """The output rows for `records`, numbered from `first_index` within `split`; and the count of
        records left out, by reason."""
        raise NotImplementedError
