"""Reading input: finding files, cutting them into chunks, parsing and validating records; atomic writes.

One module a job, each importing only those listed before it:

- `discovery`: input files (`InputFile`): paths, directories and globs expanded, formats, line terminators.
- `chunks`: chunk planning (`Chunk`, `plan_chunks`, `estimated_records`) and the digests that pin what was read.
- `records`: what a read takes and gives (`ReadOptions`, `Batch`, `ChunkRead`); the rules on field names.
- `ids`: generated ids, `ORDER`, quarantined records (`bad_records`, `POSITION_ID_PREFIX`, `rows_as_json`).
- `parse`: JSONL lines to records: the fast path, and the slow one that checks each line.
- `jsonl`: JSONL chunks read as lines: byte ranges, compressed streams, `.json` lists of records.
- `parquet`: Parquet chunks: row groups read and checked as columns; the light read.
- `read`: `read_chunk`, which reads a chunk by its file's format.
- `schema`: schemas across chunks and files, polars' and Arrow's (`union_schema`, `common_schema`, ...).
- `write`: atomic writes: `write_parquet`, `write_public`, `write_json`.

The names below are the package's; import them from `curate.io`.
"""

from __future__ import annotations

from curate.io.chunks import Chunk, DigestSpec, check_unchanged, chunk_digest, digest_file, estimated_records, plan_chunks
from curate.io.discovery import InputFile, find_input_files, infer_format
from curate.io.ids import POSITION_ID_PREFIX, bad_records, generate_ids, rows_as_json
from curate.io.read import read_chunk
from curate.io.records import Batch, ChunkRead, ReadOptions
from curate.io.schema import common_schema, conform, conform_table, plain_schema, union_schema
from curate.io.write import write_json, write_parquet, write_public

__all__ = [
    "POSITION_ID_PREFIX", "Batch", "Chunk", "ChunkRead", "DigestSpec", "InputFile", "ReadOptions", "bad_records", "check_unchanged",
    "chunk_digest", "common_schema", "conform", "conform_table", "digest_file", "estimated_records", "find_input_files", "generate_ids",
    "infer_format", "plain_schema", "plan_chunks", "read_chunk", "rows_as_json", "union_schema", "write_json", "write_parquet", "write_public",
]
