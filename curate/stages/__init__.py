"""Stage types, by the name a pipeline's `use:` gives them. One file per type; `module:Class` loads a custom one."""

from __future__ import annotations

import importlib

from curate.stages.base import ExportStage, GroupStage, MapStage, ServiceStage, Stage, StageParams
from curate.stages.classifier import Classifier
from curate.stages.decontaminate import Decontaminate
from curate.stages.difficulty import Difficulty
from curate.stages.exact_dedup import ExactDedup
from curate.stages.export import Export
from curate.stages.filter import Filter
from curate.stages.filter_set import FilterSet
from curate.stages.generate import Generate
from curate.stages.hack_check import HackCheck
from curate.stages.keep_top import KeepTop
from curate.stages.language import Language
from curate.stages.minhash_dedup import MinHashDedup
from curate.stages.verify import Verify

BUILTIN: dict[str, type[Stage]] = {cls.use: cls for cls in (Classifier, Decontaminate, Difficulty, ExactDedup, Export, Filter, FilterSet, Generate, HackCheck, KeepTop, Language, MinHashDedup, Verify)}

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
