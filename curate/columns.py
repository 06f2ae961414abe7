"""Column names shared by every floor: the public ones of the run directory and the runner's private ones.

Private columns start with `__curate_`; they never reach kept/ or removed/.
"""

STAGE = "stage"
REASON = "reason"
DUPLICATE_OF = "duplicate_of"
# Columns of quarantined records (reason bad_input), which could not be read as records.
ERROR = "input_error"
SOURCE = "input_position"
RAW = "input_raw"
# Columns every file in removed/ has, whatever the stage.
REMOVED_COLUMNS = (STAGE, REASON, DUPLICATE_OF)
# Names an input field may not have (input.rename fixes a clash).
RESERVED_FIELDS = (*REMOVED_COLUMNS, ERROR, SOURCE, RAW)
# The reason of every record that could not be read (input.on_error: quarantine).
BAD_INPUT = "bad_input"
# The pseudo-stage that reads and validates the input.
INPUT_STAGE = "input"

ORDER = "__curate_order"
"""Int64 input position: chunk index << 36 | line (or row) within the chunk. Sorting by it is input order."""
DROP = "__curate_drop"
"""Set by a map stage: a reason string removes the record, null keeps it."""
DROP_DUPLICATE_OF = "__curate_drop_duplicate_of"
"""Set by a group stage's reduce: the id of the record that was kept instead."""
FAILED = "__curate_failed"
"""Optionally set by a map stage: List(String) of every rule the record fails. Each is counted in the
stage's `failed` stats; the record is removed once, under DROP (the first failing rule)."""
TRACES = "__curate_traces"
"""List(Struct) of a record's generated samples, one struct per sample (see stages/generate.py). Never in
kept/ or removed/: each file written there has its records' traces, one row per (id, sample), in traces/."""
KEY = "__curate_key"
"""UInt64 key of a group stage: records are partitioned by KEY % partitions and reduced together."""
ID = "__curate_id"
"""String record id in key frames."""

ORDER_CHUNK_SHIFT = 36


def is_private(column: str) -> bool:
    return column.startswith("__curate_")
