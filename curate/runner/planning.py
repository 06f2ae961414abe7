"""Planning: how much input a task reads, how a pipeline is cut into segments, how many partitions a
shuffle has. Everything here depends on the input and the pipeline only, never on the cluster, so a
run's outputs are the same on 1 or 100 workers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from curate.errors import ConfigError
from curate.io import Chunk, InputFile, ReadOptions
from curate.runner.tasks import DecisionSet
from curate.stages.base import GroupStage, MapStage, ServiceStage

CHUNK_MIN = 4 << 20
CHUNK_MAX = 64 << 20
CHUNKS_WANTED = 64
KEYS_PER_PARTITION = 500_000
IDS_PER_PARTITION = 1_000_000
VERIFY_FILES_PER_TASK = 64


@dataclass
class Shard:
    name: str
    base: str
    rows: int
    lo: int
    hi: int
    settled: list[DecisionSet]
    raw: bool = False
    """`base` is an input part, not yet given the unified schema."""
    source: tuple[Chunk, int, ReadOptions, str] | None = None
    """A Parquet input part is not copied: it is read again from its chunk of the input, whose bytes
    must still have the SHA-256 the run found when it read them first."""


@dataclass
class Segment:
    """One pass over the shards: map stages, then what ends the pass (a group stage's keys, a service
    stage's input, or None: writing kept/)."""

    maps: list[MapStage]
    boundary: GroupStage | ServiceStage | None
    riders: list[GroupStage] = field(default_factory=list)
    """Group stages right after `boundary` with keys per record: their keys are computed in this
    pass too, and each reduces after the one before it, on keys without that one's removals."""


def segments(stages: list[Any]) -> list[Segment]:
    """Cut the stage list at each group or service stage: [maps…, group], [maps…, service], …, [maps…, None].
    A group stage that follows another with no map stage between, and whose keys are per record,
    rides in the earlier one's segment instead of a segment of its own (the shards are read once)."""
    cut: list[Segment] = []
    maps: list[MapStage] = []
    for stage in stages:
        if isinstance(stage, GroupStage) and not maps and cut and isinstance(cut[-1].boundary, GroupStage) and stage.keys_per_record:
            cut[-1].riders.append(stage)
        elif isinstance(stage, (GroupStage, ServiceStage)):
            cut.append(Segment(maps, stage))
            maps = []
        elif isinstance(stage, MapStage):
            maps.append(stage)
        else:
            raise ConfigError(f"stage {stage.name!r}: {type(stage).__name__} is not a MapStage, GroupStage or ServiceStage")
    cut.append(Segment(maps, None))
    return cut


def chunk_bytes(files: list[InputFile], configured: int | None) -> int:
    """About CHUNKS_WANTED tasks per phase, each reading 4–64 MB (or what the pipeline sets)."""
    if configured:
        return configured
    total = sum(f.size for f in files)
    return max(CHUNK_MIN, min(CHUNK_MAX, math.ceil(total / CHUNKS_WANTED)))


def id_partitions(estimated_records: int) -> int:
    """At least two: the reduce never holds a whole (small) input on one core; results do not depend on it."""
    return max(2, min(1024, math.ceil(estimated_records / IDS_PER_PARTITION)))


def key_partitions(rows: int) -> int:
    return max(1, min(1024, math.ceil(rows / KEYS_PER_PARTITION)))


def batches(paths: list[str], size: int = VERIFY_FILES_PER_TASK) -> list[list[str]]:
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def chunk_sources(chunks: list[Chunk], lines: list[int]) -> list[tuple[str, str, int, str]]:
    """Per chunk, where its records are in the input: (display path, relative path, first line, unit)."""
    sources, line = [], 1
    for chunk, read in zip(chunks, lines):
        if chunk.start == 0 or chunk.file.format != "jsonl":
            line = 1
        if chunk.file.format == "parquet":
            sources.append((chunk.file.display, chunk.file.relpath, chunk.first_row + 1, "row"))
        elif chunk.file.format == "json":  # a JSON list's records by their place in it
            sources.append((chunk.file.display, chunk.file.relpath, 1, "item"))
        else:
            sources.append((chunk.file.display, chunk.file.relpath, line, "line"))
            line += read
    return sources
