"""Stage types, by the name a pipeline's `use:` gives them. One file per type; `module:Class` loads a custom one."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from curate.stages.base import ExportStage, GroupStage, MapStage, ServiceStage, Stage, StageParams

_BUILTIN_PATHS = {
    "classifier": "curate.stages.classifier:Classifier",
    "decontaminate": "curate.stages.decontaminate:Decontaminate",
    "difficulty": "curate.stages.difficulty:Difficulty",
    "exact_dedup": "curate.stages.exact_dedup:ExactDedup",
    "export": "curate.stages.export:Export",
    "filter": "curate.stages.filter:Filter",
    "filter_set": "curate.stages.filter_set:FilterSet",
    "generate": "curate.stages.generate:Generate",
    "hack_check": "curate.stages.hack_check:HackCheck",
    "keep_top": "curate.stages.keep_top:KeepTop",
    "language": "curate.stages.language:Language",
    "minhash_dedup": "curate.stages.minhash_dedup:MinHashDedup",
    "step_labels": "curate.stages.step_labels:StepLabels",
    "trace_behaviour": "curate.stages.trace_behaviour:TraceBehaviour",
    "trace_format": "curate.stages.trace_format:TraceFormat",
    "trace_language": "curate.stages.trace_language:TraceLanguage",
    "trace_length": "curate.stages.trace_length:TraceLength",
    "trace_repetition": "curate.stages.trace_repetition:TraceRepetition",
    "verify": "curate.stages.verify:Verify",
}


class _Builtin(Mapping[str, type[Stage]]):
    """The built-in stage types by `use:` name, each module imported when a pipeline first uses it:
    reading a pipeline that dedups needs neither openai (generate) nor fastText (language)."""

    def __getitem__(self, use: str) -> type[Stage]:
        module_name, _, class_name = _BUILTIN_PATHS[use].partition(":")
        cls: type[Stage] = getattr(importlib.import_module(module_name), class_name)
        return cls

    def __contains__(self, use: object) -> bool:
        return use in _BUILTIN_PATHS

    def __iter__(self) -> Iterator[str]:
        return iter(_BUILTIN_PATHS)

    def __len__(self) -> int:
        return len(_BUILTIN_PATHS)


BUILTIN: Mapping[str, type[Stage]] = _Builtin()

__all__ = ["BUILTIN", "ExportStage", "GroupStage", "MapStage", "ServiceStage", "Stage", "StageParams", "stage_type"]


def stage_type(use: str) -> type[Stage]:
    """The class for `use`: a built-in name, or `package.module:ClassName` for a stage of your own."""
    if use in BUILTIN:
        return BUILTIN[use]
    if ":" not in use:
        raise KeyError(use)
    module_name, _, class_name = use.partition(":")
    if not module_name or not class_name:
        raise KeyError(use)
    cls = getattr(importlib.import_module(module_name), class_name, None)  # import errors reach the user as they are
    if not (isinstance(cls, type) and issubclass(cls, (MapStage, GroupStage, ServiceStage, ExportStage))):
        raise KeyError(use)
    return cls
