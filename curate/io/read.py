"""`read_chunk`, how every chunk is read: by its file's format, to `parquet` or `jsonl`, an OS error
becoming an input error that names the file."""

from __future__ import annotations

from collections.abc import Iterator

from curate.errors import InputError
from curate.io.chunks import Chunk
from curate.io.jsonl import read_json_list, read_jsonl_range, read_jsonl_stream
from curate.io.parquet import read_parquet
from curate.io.records import Batch, ChunkRead, ReadOptions


def read_chunk(chunk: Chunk, options: ReadOptions, summary: ChunkRead, light: bool = False) -> Iterator[Batch]:
    """Valid (and, when quarantining, bad) records of a chunk, in parts of about `options.part_bytes`.

    `light` (Parquet): validate from the id column and row-group statistics, reading text only where
    they cannot tell; the parts are the same as a full read's, which is what later reads do.
    """
    try:
        if chunk.file.format == "parquet":
            yield from read_parquet(chunk, options, summary, light)
        elif chunk.file.format == "jsonl":
            yield from read_jsonl_range(chunk, options, summary)
        elif chunk.file.format == "json":
            yield from read_json_list(chunk, options, summary)
        else:
            yield from read_jsonl_stream(chunk, options, summary)
    except OSError as err:
        raise InputError(f"{chunk.file.display}: cannot read: {err.strerror or err}") from None
