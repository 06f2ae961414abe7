"""Pipeline configuration: YAML (or a dict) to a typed, validated `PipelineConfig`.

Everything is checked before any work starts, and every error is one line naming the file, the line,
the stage and the key: `pipelines/x.yaml:14: stage 'exact' (exact_dedup): unknown key 'feild' (did you
mean 'field'?)`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.constructor import ConstructorError

from curate import safe_yaml
from curate.columns import INPUT_STAGE, REMOVED_COLUMNS, RESERVED_FIELDS
from curate.errors import ConfigError
from curate.safe_yaml import MAX_BYTES, BoundedLoader
from curate.stages import BUILTIN, ExportStage, Stage, stage_type

FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "json", "parquet")
_STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MAX_STAGE_NAME = 100
_TOP_KEYS = ("name", "description", "input", "output", "stages")


class InputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: list[str]
    """Files, directories or globs (`data/**/*.jsonl`); relative paths are relative to the working directory."""
    format: Literal["jsonl", "jsonl.gz", "jsonl.zst", "json", "parquet"] | None = None
    """Inferred from each file's extension when absent (`.json`: one JSON list of records, read whole)."""
    id_field: str = "id"
    """The field holding a record's unique id. Records without one get an id generated from content."""
    text_fields: list[str] = []
    """Fields that must be strings in every record; the fields that stages work on are added automatically."""
    on_error: Literal["fail", "quarantine"] = "fail"
    """`fail`: a bad record stops the run before any output. `quarantine`: it goes to removed/ as `bad_input`."""
    max_bad_fraction: float = Field(0.5, ge=0, le=1)
    """With `on_error: quarantine`, the run fails (before any stage) when more than this share of the
    input is bad, or when every record of a file is bad for one reason: that is a wrong pipeline (a
    field the input does not have), not bad data. 1 turns both checks off."""
    chunk_bytes: int | None = Field(default=None, ge=1)
    """Input bytes per read task; default: total / 64, between 4 MB and 64 MB. Smaller bounds memory per task."""
    rename: dict[str, str] = {}
    """Input field -> name in the pipeline, for fields that clash with the run directory's columns or a stage's."""

    @field_validator("rename")
    @classmethod
    def _distinct_targets(cls, value: dict[str, str]) -> dict[str, str]:
        targets = list(value.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValueError(f"two fields renamed to {twice[0]!r}")
        return value

    @field_validator("id_field")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_FIELDS:
            raise ValueError(f"{value!r} is a column removed/ adds; rename the field with input.rename")
        return value

    @field_validator("path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value or any(not p for p in value):
            raise ValueError("give at least one non-empty path or glob")
        return value


@dataclass
class PipelineConfig:
    name: str
    input: InputConfig
    output: str
    stages: list[Stage]
    description: str = ""
    source: str = "<python>"
    """Where the configuration came from, for messages."""
    id_field_explicit: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def text_fields(self) -> list[str]:
        """Declared text fields plus every input field a stage needs as text (not those an earlier stage writes)."""
        fields = list(self.input.text_fields)
        written: set[str] = set()
        for stage in self.stages:
            fields += [f for f in stage.text_fields() if f not in fields and f not in written]
            written.update(stage.writes())
        return fields

    def resolved(self) -> dict[str, Any]:
        """The configuration as it will run: for the manifest and for resume fingerprints."""
        return {
            "name": self.name,
            "description": self.description,
            "input": self.input.model_dump(mode="json"),
            "id_required": self.id_field_explicit,
            "text_fields": self.text_fields(),
            "output": self.output,
            "stages": [stage.describe() for stage in self.stages],
        }


# ---------------------------------------------------------------- YAML with line numbers


class _Mapping(dict):
    """A dict that remembers where each key came from: its line (1-based), or the `--set` that set it."""

    line: int = 0
    lines: dict[Any, int | str]


class _Loader(BoundedLoader):
    pass


_MERGE = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> _Mapping:
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
    loader.flatten_mapping(node)  # keys merged in with `<<:` come first; the mapping's own keys override them
    merged = len(node.value) - own
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.lines = {}
    own_keys: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"{loader.name}:{line}: keys are names, not {type(key).__name__} values ({key!r})")
        if index >= merged:
            if key in own_keys:
                raise ConfigError(f"{loader.name}:{line}: duplicate key {key!r} (first at line {mapping.lines[key]})")
            own_keys.add(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(mapping: Any, key: Any = None) -> int | str | None:
    if not isinstance(mapping, _Mapping):
        return None
    return mapping.lines.get(key, mapping.line) if key is not None else mapping.line


def _where(source: str, line: int | str | None) -> str:
    """`file:line`, or the `--set` argument that gave the value."""
    if isinstance(line, str):
        return line
    return f"{source}:{line}" if line else source


# ---------------------------------------------------------------- loading


def load_pipeline(
    path: str | Path,
    *,
    overrides: list[str] | None = None,
    input: str | list[str] | None = None,
    output: str | None = None,
) -> PipelineConfig:
    """Read a pipeline YAML file, apply `--set`/`--input`/`--output` overrides and validate it."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such pipeline file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read: {err}") from None
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: a pipeline file of {len(text) >> 20} MB? (at most {MAX_BYTES >> 20} MB)")
    loader = _Loader(text)
    loader.name = source
    try:
        raw = loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"{_where(source, line)}: invalid YAML: {err.problem or err.context}") from None
    finally:
        loader.dispose()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a pipeline is a mapping with keys {', '.join(_TOP_KEYS)}")
    return build_pipeline(raw, source=source, overrides=overrides, input=input, output=output)


def build_pipeline(
    raw: dict[str, Any],
    *,
    source: str = "<python>",
    overrides: list[str] | None = None,
    input: str | list[str] | None = None,
    output: str | None = None,
) -> PipelineConfig:
    """Validate a pipeline given as a dict (from YAML or Python). Stages may be dicts or `Stage` objects."""
    raw = _copy_mapping(raw)
    for override in overrides or []:
        _apply_override(raw, override)
    if input is not None:
        current = raw.get("input") or {}
        raw["input"] = _copy_mapping(current if isinstance(current, dict) else {"path": current})
        raw["input"]["path"] = input
        raw["input"].lines["path"] = "--input"
    if output is not None:
        raw["output"] = output
        raw.lines["output"] = "--output"

    for key in raw:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{_where(source, _line(raw, key))}: unknown key {key!r}{_suggest(key, _TOP_KEYS)}")
    for key in ("name", "input", "output", "stages"):
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(f"{_where(source, _line(raw))}: missing required key {key!r}")
    for key in ("name", "output"):
        if not isinstance(raw[key], str):
            raise ConfigError(f"{_where(source, _line(raw, key))}: {key!r} must be a string")

    input_raw = raw["input"]
    if isinstance(input_raw, str):
        input_raw = {"path": input_raw}
    if not isinstance(input_raw, dict):
        raise ConfigError(f"{_where(source, _line(raw, 'input'))}: 'input' must be a mapping or a path")
    try:
        input_cfg = InputConfig.model_validate(dict(input_raw))
    except ValidationError as err:
        raise ConfigError(_explain_validation(err, source, input_raw, "input", InputConfig)) from None

    stages_raw = raw["stages"]
    if not isinstance(stages_raw, list) or not stages_raw:
        raise ConfigError(f"{_where(source, _line(raw, 'stages'))}: 'stages' must be a non-empty list")
    stages = [_build_stage(item, index, source) for index, item in enumerate(stages_raw)]

    seen: dict[str, int] = {}
    for index, stage in enumerate(stages):
        folded = stage.name.lower()  # file names: one file system's 'Exact' is another's 'exact'
        if folded in seen:
            line = _line(stages_raw[index], "name")
            first = stages[seen[folded]].name
            same = f"stage name {stage.name!r} is used twice" if first == stage.name else f"stage names {first!r} and {stage.name!r} differ only in case (they name files)"
            raise ConfigError(f"{_where(source, line)}: {same} (stage {seen[folded] + 1} and {index + 1})")
        seen[folded] = index
    enabled = [_enabled(item, source) for item in stages_raw]
    stages_raw = [item for item, on in zip(stages_raw, enabled) if on]
    stages = [stage for stage, on in zip(stages, enabled) if on]
    if not stages:
        raise ConfigError(f"{_where(source, _line(raw, 'stages'))}: every stage is disabled (enabled: false)")
    _check_columns(stages, source, stages_raw)
    _check_exports(stages, source, stages_raw)

    return PipelineConfig(
        name=raw["name"],
        description=str(raw.get("description") or ""),
        input=input_cfg,
        output=raw["output"],
        stages=stages,
        source=source,
        id_field_explicit="id_field" in input_raw,
        raw=raw,
    )


def _build_stage(item: Any, index: int, source: str) -> Stage:
    if isinstance(item, Stage):
        _check_stage_name(item.name, source, None)
        return item
    if not isinstance(item, dict):
        raise ConfigError(f"{source}: stage {index + 1} must be a mapping with 'name' and 'use'")
    line = _line(item)
    name, use = item.get("name"), item.get("use")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{_where(source, line)}: stage {index + 1} has no 'name'")
    _check_stage_name(name, source, _line(item, "name"))
    if not isinstance(use, str) or not use:
        raise ConfigError(f"{_where(source, line)}: stage {name!r} has no 'use' (one of: {', '.join(sorted(BUILTIN))})")
    try:
        cls = stage_type(use)
    except KeyError:
        hint = _suggest(use, list(BUILTIN)) or f" (built-in types: {', '.join(sorted(BUILTIN))}; or module:Class)"
        raise ConfigError(f"{_where(source, _line(item, 'use'))}: stage {name!r}: unknown stage type {use!r}{hint}") from None
    except Exception as err:  # the module itself failed to import: say why
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(f"{_where(source, _line(item, 'use'))}: stage {name!r}: cannot load {use!r}: {type(err).__name__}: {first}") from None
    params = {k: v for k, v in item.items() if k not in ("name", "use", "enabled")}
    try:
        stage = cls(name, cls.Params.model_validate(params))
    except ValidationError as err:
        raise ConfigError(_explain_validation(err, source, item, f"stage {name!r} ({use})", cls.Params)) from None
    stage.use = use  # as written: the manifest's pipeline runs again as it is
    return stage


def _enabled(item: Any, source: str) -> bool:
    """`enabled: false` keeps a stage in the file but out of the run (`--set NAME.enabled=false`)."""
    if not isinstance(item, dict) or "enabled" not in item:
        return True
    if not isinstance(item["enabled"], bool):
        raise ConfigError(f"{_where(source, _line(item, 'enabled'))}: stage {item.get('name')!r}: 'enabled' must be true or false")
    return item["enabled"]


def _check_stage_name(name: str, source: str, line: int | str | None) -> None:
    """Stage names become file names in the run directory (removed/NAME-..., traces/ after them,
    exports/NAME/): they must not collide with curate's own (kept/part-...) or be too long for one."""
    if not _STAGE_NAME.match(name):
        raise ConfigError(f"{_where(source, line)}: stage name {name!r}: use letters, digits, '_' and '-'")
    if len(name) > MAX_STAGE_NAME:
        raise ConfigError(f"{_where(source, line)}: stage name {name[:20]!r}...: at most {MAX_STAGE_NAME} characters (it names files)")
    if name.lower() == INPUT_STAGE:
        raise ConfigError(f"{_where(source, line)}: stage name {name!r} is reserved for reading the input")
    if name.lower() == "part" or name.lower().startswith("part-"):
        raise ConfigError(f"{_where(source, line)}: stage name {name!r}: names 'part' and 'part-...' are reserved (kept/ and traces/ files are named part-...)")


def _check_columns(stages: list[Stage], source: str, stages_raw: list[Any]) -> None:
    """Columns a stage writes must not clash with the run directory's own or an earlier stage's."""
    written: dict[str, str] = {}
    for stage, item in zip(stages, stages_raw):
        where = _where(source, _line(item))
        for column in stage.writes():
            if column in REMOVED_COLUMNS:
                raise ConfigError(f"{where}: stage {stage.name!r} writes column {column!r}, which removed/ reserves")
            if column in written:
                raise ConfigError(f"{where}: stage {stage.name!r} writes column {column!r}, already written by stage {written[column]!r}")
            written[column] = stage.name
        for column in stage.reads():
            later = [s.name for s in stages[stages.index(stage) + 1 :] if column in s.writes()]
            if later and column not in written:
                raise ConfigError(f"{where}: stage {stage.name!r} reads {column!r} before stage {later[0]!r} writes it")


def _check_exports(stages: list[Stage], source: str, stages_raw: list[Any]) -> None:
    """Exports write the finished run: they come last, and read only what earlier stages made."""
    for index, (stage, item) in enumerate(zip(stages, stages_raw)):
        if not isinstance(stage, ExportStage):
            continue
        where = _where(source, _line(item))
        later = [s.name for s in stages[index + 1 :] if not isinstance(s, ExportStage)]
        if later:
            raise ConfigError(f"{where}: stage {stage.name!r} ({stage.use}) writes the finished run and must come after every other stage (stage {later[0]!r} follows it)")
        earlier = [s for s in stages[:index] if not isinstance(s, ExportStage)]
        for name in getattr(stage.params, "include_removed", []):
            if name not in {s.name for s in earlier}:
                raise ConfigError(f"{_where(source, _line(item, 'include_removed'))}: stage {stage.name!r}: include_removed names {name!r}, which is not an earlier stage")
    provided: list[dict[str, Any]] = []  # what the stages before this one offer it
    for stage, item in zip(stages, stages_raw):
        for need in stage.needs():
            if not any(need in offer for offer in provided):
                raise ConfigError(f"{_where(source, _line(item))}: stage {stage.name!r} ({stage.use}) needs {need} from an earlier stage, and none before it provides them (verify provides verdicts)")
        if isinstance(stage, ExportStage):
            stage.params = stage.params.model_copy(update=inherited_defaults(stage.params, provided))
        provided.append(stage.provides())


def inherited_defaults(params: Any, provided: list[dict[str, Any]]) -> dict[str, Any]:
    """What a stage takes from the stages before it (their `provides()`), unless set: each earlier
    stage's offer, restricted to the parameters this one has, is taken whole when none of it is set,
    the last stage's winning. An export thus trains a policy on the prompt (and system prompt) its pass
    rates were measured with, against the reference the last verify stage checked."""
    given: set[str] = getattr(params, "model_fields_set", set())
    fields = getattr(type(params), "model_fields", {})
    update: dict[str, Any] = {}
    for offer in provided:
        group = {k: v for k, v in offer.items() if k in fields}
        if group and not set(group) & given:
            update.update(group)
    return update


def _explain_validation(err: ValidationError, source: str, mapping: Any, what: str, model: type[BaseModel]) -> str:
    """The first pydantic error as one line with the key's line; the count of the others."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = [part for part in first["loc"] if not isinstance(part, int)]
    node, line = mapping, _line(mapping)
    for part in loc:
        line = _line(node, part) or line
        node = node.get(part) if isinstance(node, dict) else None
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        fields = _fields_at(model, loc[:-1])
        message = f"unknown key {key!r}{_suggest(str(loc[-1]), fields)}"
    elif first["type"] == "missing":
        message = f"missing required key {key!r}"
    else:
        message = f"key {key!r}: {first['msg']}"
        if "input" in first and not isinstance(first["input"], (dict, list)):
            message += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{_where(source, line)}: {what}: {message}{more}"


def _fields_at(model: type[BaseModel], path: list[Any]) -> list[str]:
    for part in path:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------- --set overrides


def _apply_override(raw: _Mapping, override: str) -> None:
    """`STAGE.PARAM[.SUB]=VALUE`, `input.KEY=VALUE`, `name=VALUE` or `output=VALUE`; VALUE is YAML."""
    where = f"--set {override}"
    target, sep, value_text = override.partition("=")
    if not sep or not target:
        raise ConfigError(f"{where}: expected STAGE.PARAM=VALUE")
    try:
        value = safe_yaml.load(value_text, where) if value_text.strip() else ""
    except ConstructorError as err:  # refused (an alias bomb), not merely unparsable text
        raise ConfigError(f"{where}: {err.problem}") from None
    except yaml.YAMLError:
        value = value_text
    head, *path = target.split(".")
    if head in ("name", "output", "description") and not path:
        raw[head] = value
        raw.lines[head] = where
        return
    if head == "input":
        if not path:
            raise ConfigError(f"{where}: expected input.KEY=VALUE")
        current = raw.get("input") or {}
        raw["input"] = container = _copy_mapping(current if isinstance(current, dict) else {"path": current})
    else:
        stages = raw.get("stages") or []
        names = [s.get("name") if isinstance(s, dict) else getattr(s, "name", None) for s in stages]
        if head not in names:
            raise ConfigError(f"{where}: no stage named {head!r} (stages: {', '.join(str(n) for n in names)})")
        if not path:
            raise ConfigError(f"{where}: expected {head}.PARAM=VALUE")
        index = names.index(head)
        if not isinstance(stages[index], dict):
            raise ConfigError(f"{where}: stage {head!r} is a Python object; set its parameters in Python")
        stages = list(stages)
        stages[index] = container = _copy_mapping(stages[index])
        raw["stages"] = stages
    for part in path[:-1]:
        inner = container.get(part)
        container[part] = inner = _copy_mapping(inner if isinstance(inner, dict) else {})
        container.lines.setdefault(part, where)
        container = inner
    container[path[-1]] = value
    container.lines[path[-1]] = where


def _copy_mapping(mapping: dict[str, Any]) -> _Mapping:
    copy = _Mapping(mapping)
    copy.line = getattr(mapping, "line", 0)
    copy.lines = dict(getattr(mapping, "lines", {}))
    return copy
