"""JSONL lines to records. Parsing takes a fast path (polars' NDJSON reader over a whole chunk) and checks
what it cannot see: polars turns `{"text": 5}` into "5", so text values that look like JSON scalars are
re-checked with pyarrow's typed reader. Anything odd sends the chunk down the slow path, one
`json.loads` per line, which names the exact line and reason."""

from __future__ import annotations

import functools
import io
import json
import math
import re
from collections.abc import Callable, Iterator

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.io.chunks import Chunk
from curate.io.ids import POSITION_ID_PREFIX, bad_records, finish_records
from curate.io.records import Batch, ReadOptions, check_rename, check_reserved, rename

# Text values polars may have produced from a JSON number, boolean, object or list (it turns them into
# text); only these need the typed re-check.
_COERCED_LIKE = r"(?s)^(?:[-+0-9.eE]+|true|false|[\[{].*)$"
# ...and for ids, which may be integers: anything but digits that looks like a JSON value
_ID_COERCED_LIKE = r"(?s)^(?:-?[0-9]*[.eE][-+0-9.eE]*|true|false|[\[{].*)$"
# Integers polars cannot hold (beyond Int128) come back as null: such chunks take the slow path, where
# they are kept exactly, as text.
_HUGE_INT = re.compile(rb"[0-9]{39,}")
# ...as a JSON number, that is, after `:`, `,` or `[` (a quoted number may match too: the slow path sorts it out)
_HUGE_NUMBER = r"[:,\[]\s*-?[0-9]{39,}"
_MAX_DEPTH = 64
# polars decodes a lone high surrogate escape to NUL instead of failing: such chunks take the slow path.
_LONE_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    if len(data) and data.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _record_lines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indexes of the lines that are not blank (JSON whitespace only)."""
    if not len(starts):
        return starts
    view = np.frombuffer(data, dtype=np.uint8)
    nonempty = ends > starts
    first = np.zeros(len(starts), dtype=np.uint8)
    first[nonempty] = view[starts[nonempty]]
    record = first == ord("{")
    for i in np.flatnonzero(~record & nonempty):
        record[i] = bool(data[starts[i] : ends[i]].strip(b" \t\r"))
    return np.flatnonzero(record)


def parse_jsonl(
    data: bytes, offset: int, first_line: int, chunk: Chunk, options: ReadOptions, line_of: Callable[[int], int], positions: np.ndarray | None = None
) -> Iterator[Batch]:
    """`positions`: each line's position in its file, where that is not `offset` plus its place in
    `data` (a JSON list's elements, re-encoded one per line)."""
    starts, ends = _line_bounds(data)
    lines = _record_lines(data, starts, ends)
    if not len(lines):
        return
    records = _parse_fast(data, len(lines), options)
    bad = None
    if records is None:
        records, lines, bad = _parse_slow(data, starts, ends, lines, first_line, chunk, options, line_of)
    if records.height:
        at = offset + starts[lines] if positions is None else positions[lines]
        records = finish_records(records, chunk, first_line + lines, at, options)
    yield Batch(records, bad)


def _parse_fast(data: bytes, expected: int, options: ReadOptions) -> pl.DataFrame | None:
    """The whole block at once, or None when anything needs a closer look."""
    try:
        text = data.decode("utf-8")
        frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:  # any parse problem: the slow path finds and names it
        return None
    if (b"\\ud" in data or b"\\uD" in data) and _LONE_HIGH_SURROGATE.search(data):
        return None
    if frame.height != expected:
        return None
    if pl.Series([text]).str.contains(_HUGE_NUMBER).item():  # Rust regex: ~5x Python's here
        return None
    if _any_too_deep(data, text):
        return None
    frame = rename(frame, options)
    suspect = False
    for name in options.text_fields:
        if name not in frame.columns or frame[name].dtype != pl.String or frame[name].null_count():
            return None
        suspect = suspect or bool(frame[name].str.contains(_COERCED_LIKE).any())
    if options.id_field in frame.columns:
        ids = frame[options.id_field]
        if not (ids.dtype == pl.String or ids.dtype.is_integer() or ids.dtype == pl.Null):
            return None
        if options.id_explicit and ids.null_count():
            return None
        if ids.dtype == pl.String and bool(ids.str.starts_with(POSITION_ID_PREFIX).any()):
            return None
        # polars writes 7.0 or 1e3 beside string ids as "7" or "1000": any id written as a number with
        # a fraction or an exponent sends the chunk to the line-by-line check, which refuses it
        if _float_id_pattern(options).search(data):
            return None
        # polars turns a float, boolean, list or object beside string ids into text: those need a look
        suspect = suspect or (ids.dtype == pl.String and bool(ids.str.contains(_ID_COERCED_LIKE).any()))
    elif options.id_explicit:
        return None
    if suspect and not _typed_fields_hold(data, options):
        return None
    return frame


@functools.lru_cache(maxsize=16)
def _float_id_literal(name: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(json.dumps(name).encode()) + rb"\s*:\s*-?[0-9]+(?:\.|[eE])")


def _float_id_pattern(options: ReadOptions) -> re.Pattern[bytes]:
    back = {target: source for source, target in options.rename.items()}
    return _float_id_literal(back.get(options.id_field, options.id_field))


def _typed_fields_hold(data: bytes, options: ReadOptions) -> bool:
    """pyarrow's typed reader rejects a number, boolean, list or object where a string is declared;
    polars would have turned it into text. Ids may be strings or integers."""
    import pyarrow as pa
    import pyarrow.json as pj

    back = {target: source for source, target in options.rename.items()}
    names = [back.get(name, name) for name in options.text_fields]
    parse = pj.ParseOptions(explicit_schema=pa.schema([(n, pa.string()) for n in names]), unexpected_field_behavior="ignore")
    read = pj.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20))
    try:
        pj.read_json(io.BytesIO(data), parse_options=parse, read_options=read)
    except Exception:
        return False
    id_name = back.get(options.id_field, options.id_field)
    for id_type in (pa.string(), pa.int64()):
        try:  # all string, or all integer (with nulls) is fine; a mix of the two is checked line by line
            parse = pj.ParseOptions(explicit_schema=pa.schema([(id_name, id_type)]), unexpected_field_behavior="ignore")
            pj.read_json(io.BytesIO(data), parse_options=parse, read_options=read)
            return True
        except Exception:
            continue
    return False


class _Reject(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _Reject(f"{name} is not valid JSON")


class _Float(float):
    """A JSON number with a fraction or an exponent, as written (for messages about ids)."""

    literal: str


def _float(literal: str) -> float:
    value = _Float(literal)
    if math.isinf(value):
        raise _Reject(f"the number {literal[:40]} is beyond the range of a 64-bit float")
    value.literal = literal
    return value


def _first_wins(pairs: list[tuple[str, object]]) -> dict:
    """Duplicate keys keep the first value, as polars does."""
    result: dict = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


_JSON_TYPE = {bool: "a boolean", int: "a number", float: "a number", _Float: "a number", list: "a list", dict: "an object", type(None): "null"}


def _check_record(raw: bytes, options: ReadOptions) -> str | None:
    """What is wrong with one line, or None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"invalid UTF-8 (byte {err.start + 1} of the line)"
    if raw.count(b"[") + raw.count(b"{") > _MAX_DEPTH and _json_depth(raw) > _MAX_DEPTH:
        return f"nested deeper than {_MAX_DEPTH} levels"
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_float, object_pairs_hook=_first_wins)
    except _Reject as err:
        return f"malformed JSON: {err}"
    except json.JSONDecodeError as err:
        return f"malformed JSON: {err.msg} (column {err.colno})"
    except RecursionError:  # not reached with _MAX_DEPTH far below Python's limit; kept as a guard
        return f"nested deeper than {_MAX_DEPTH} levels"
    if not isinstance(obj, dict):
        return f"not a JSON object (found {_JSON_TYPE.get(type(obj), type(obj).__name__)})"
    if "\\ud" in text.lower():
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "unpaired UTF-16 surrogate escape (not valid Unicode)"
    if options.rename:
        check_rename({k: v for k, v in options.rename.items() if k in obj}, list(obj))
        obj = {options.rename.get(k, k): v for k, v in obj.items()}
    check_reserved(list(obj))
    for name in options.text_fields:
        if name not in obj:
            return f"missing text field {name!r}"
        value = obj[name]
        if not isinstance(value, str):
            return f"field {name!r} is {_JSON_TYPE.get(type(value), type(value).__name__)}, expected a string"
    id_value = obj.get(options.id_field)
    if id_value is None:
        if options.id_explicit:
            return f"missing id field {options.id_field!r}"
    elif isinstance(id_value, _Float):  # 7.0 is not 7: one rule, whatever the neighbouring records
        return f"id field {options.id_field!r} is {id_value.literal}, a number with a fraction or an exponent; ids are strings or integers"
    elif isinstance(id_value, bool) or not isinstance(id_value, (str, int)):
        return f"id field {options.id_field!r} is {_JSON_TYPE.get(type(id_value), type(id_value).__name__)}, expected a string or an integer"
    elif isinstance(id_value, str) and id_value.startswith(POSITION_ID_PREFIX):
        return f"id {id_value[:60]!r}: ids starting with {POSITION_ID_PREFIX!r} are reserved for quarantined records"
    return None


def _json_depth(raw: bytes) -> int:
    """Nesting depth of a JSON text, brackets inside strings not counted; no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _any_too_deep(data: bytes, text: str) -> bool:
    """Only lines with more than _MAX_DEPTH opening brackets can be too deep: counted in Rust, then exact."""
    if data.count(b"[") + data.count(b"{") <= _MAX_DEPTH:
        return False
    lines = pl.Series([text]).str.split("\n").explode()
    many = lines.str.count_matches(r"[\[{]") > _MAX_DEPTH
    return any(_json_depth(line.encode("utf-8")) > _MAX_DEPTH for line in lines.filter(many).to_list())


def _huge_ints_as_text(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if not -(2**127) <= value < 2**127 else value
    if isinstance(value, dict):
        return {k: _huge_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_huge_ints_as_text(v) for v in value]
    return value


def _parse_slow(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    lines: np.ndarray,
    first_line: int,
    chunk: Chunk,
    options: ReadOptions,
    line_of: Callable[[int], int],
) -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame | None]:
    good: list[int] = []
    bad_lines: list[int] = []
    errors: list[str] = []
    for index in lines.tolist():
        problem = _check_record(data[starts[index] : ends[index]], options)
        if problem is None:
            good.append(index)
            continue
        if not options.quarantine:
            where = f"{chunk.file.display}:{line_of(first_line + index)}"
            raise InputError(f"{where}: {problem} (set input.on_error: quarantine to route bad records to removed/)")
        bad_lines.append(index)
        errors.append(problem)
    records = _frame_of_good_lines([data[starts[i] : ends[i]] for i in good], chunk, options, lambda: line_of(first_line + good[0]))
    bad = None
    if bad_lines:
        numbers = [str(line_of(first_line + i)) for i in bad_lines]
        raws = [data[starts[i] : ends[i]].decode("utf-8", errors="backslashreplace") for i in bad_lines]
        bad = bad_records(chunk, options, numbers, errors, raws, first_line + np.asarray(bad_lines, dtype=np.int64))
    return records, np.asarray(good, dtype=np.int64), bad


def _frame_of_good_lines(lines: list[bytes], chunk: Chunk, options: ReadOptions, first_line: Callable[[], int]) -> pl.DataFrame:
    """The valid lines of a chunk, combined by the same parser as the fast path, so that types come out
    the same whichever path a chunk took. Lines holding integers beyond Int128 are re-encoded first,
    with those integers as text (under the file's own field names: renaming comes after)."""
    if not lines:
        return pl.DataFrame()
    lines = [
        json.dumps(_huge_ints_as_text(json.loads(line, object_pairs_hook=_first_wins)), ensure_ascii=False).encode("utf-8")
        if _HUGE_INT.search(line)
        else line
        for line in lines
    ]
    try:
        return rename(pl.read_ndjson(io.BytesIO(b"\n".join(lines)), infer_schema_length=None), options)
    except InputError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{chunk.file.display}: records from line {first_line()} on cannot be combined ({first})") from None
