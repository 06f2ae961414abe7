"""What the runner's tasks report: a typed result per task kind, whose JSON form is the task's
done-marker (a resumed run reads it back instead of running the task again)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from curate.runner import ledger

StageParts = dict[str, dict[str, Any]]
"""Per stage, this task's counts (in, out, removed by reason, counters, seconds, ...): the ledger's input."""

RESULT_TYPES: dict[str, type[TaskResult]] = {}


@dataclass
class TaskResult:
    """What a task reports; its JSON form is the task's done-marker."""

    counts_records: ClassVar[bool] = True
    """Whether `progress` counts records for the progress display."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        RESULT_TYPES[cls.__name__] = cls

    @property
    def progress(self) -> int:
        return int(getattr(self, "rows", 0))

    def to_json(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> TaskResult:
        data = dict(data)
        cls = RESULT_TYPES[data.pop("type")]
        return cls._from_fields(data)

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> TaskResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class InputPart:
    """A shard of the input, as ingest wrote it (or, `virtual`, its schema only: Parquet is read again)."""

    shard: str
    rows: int
    lo: int
    hi: int
    part: int
    virtual: bool


@dataclass
class IngestResult(TaskResult):
    chunk: int
    parts: list[InputPart]
    lines: int
    records: int
    bad: int
    errors: dict[str, int]
    """Bad-input messages and their counts (the first MAX_ERROR_KINDS kinds)."""
    fields: list[str] | None
    """The field names of the chunk's records, for error messages."""
    ids: ledger.Fingerprint
    shuffle: dict[str, list[str]]
    """Id-check partition -> this chunk's files of ids."""
    stages: StageParts

    def __post_init__(self) -> None:
        self.ids = _fingerprint(self.ids)

    @property
    def progress(self) -> int:
        return self.records + self.bad

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> TaskResult:
        return cls(**{**data, "parts": [InputPart(**p) for p in data["parts"]]})


@dataclass
class DigestResult(TaskResult):
    counts_records: ClassVar[bool] = False
    sha256: str
    chunks: dict[str, str]
    """Per Parquet chunk index, the SHA-256 of its row groups."""


@dataclass
class IdCheckResult(TaskResult):
    counts_records: ClassVar[bool] = False
    decisions: list[str]
    ids_delta: ledger.Fingerprint
    seconds: float

    def __post_init__(self) -> None:
        self.ids_delta = _fingerprint(self.ids_delta)


@dataclass
class SegmentResult(TaskResult):
    shard: str
    rows: int
    stages: StageParts
    shuffle: dict[str, dict[str, str]] | None = None
    """Key set name -> partition -> file, when the segment ends at a group stage."""
    output: str | None = None
    rider_shuffle: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Per riding group stage (`planning.Segment.riders`): its key set name -> partition -> file."""
    read_seconds: float = 0.0
    """Reading the shard (again, after ingest) and applying earlier decisions to it."""
    write_seconds: float = 0.0


@dataclass
class ServiceBatchResult(TaskResult):
    shard: str
    rows: int
    lo: int
    hi: int
    output: str | None
    stages: StageParts


@dataclass
class StepResult(TaskResult):
    files: dict[str, str]
    counters: dict[str, float]
    rows: int
    stages: StageParts


@dataclass
class VerifyResult(TaskResult):
    rows: int
    ids: ledger.Fingerprint
    by_reason: dict[str, int]
    """"stage\treason" -> removed records, read back from removed/."""

    def __post_init__(self) -> None:
        self.ids = _fingerprint(self.ids)


@dataclass
class ConformResult(TaskResult):
    rows: int


def _fingerprint(value: Any) -> ledger.Fingerprint:
    """An id fingerprint as a tuple again (JSON gives it back as a list)."""
    count, first, second = value
    return (int(count), int(first), int(second))
