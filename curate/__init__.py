"""curate: Ray-parallel curation of text and math problems into clean training data for reasoning models.

The public names load on first use, so `curate --help` does not pay for importing Ray.
"""

from importlib import import_module, metadata
from typing import Any

try:
    __version__ = metadata.version("curate")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

_EXPORTS = {
    "Pipeline": "curate.api",
    "Run": "curate.results",
    "open_run": "curate.results",
    "run": "curate.api",
    "ConfigError": "curate.errors",
    "CurateError": "curate.errors",
    "InputError": "curate.errors",
    "LedgerError": "curate.errors",
    "RunDirError": "curate.errors",
    "StageError": "curate.errors",
    "ExportStage": "curate.stages.base",
    "GroupStage": "curate.stages.base",
    "MapStage": "curate.stages.base",
    "ServiceStage": "curate.stages.base",
    "Stage": "curate.stages.base",
    "StageParams": "curate.stages.base",
    # the columns a stage reads and writes to talk to the runner (see curate/columns.py)
    "DROP": "curate.columns",
    "DROP_DUPLICATE_OF": "curate.columns",
    "FAILED": "curate.columns",
    "ID": "curate.columns",
    "KEY": "curate.columns",
    "ORDER": "curate.columns",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
