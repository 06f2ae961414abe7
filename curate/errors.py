"""Errors a user can act on. Each renders as one line: where (file, line, key) and what."""


class CurateError(Exception):
    """Base class: the CLI prints `error: <message>` and exits non-zero without a traceback."""

    exit_code = 1


class ConfigError(CurateError):
    """A pipeline file, an override or an argument is wrong; raised before any work starts."""

    exit_code = 2


class InputError(CurateError):
    """An input record or file is bad and `input.on_error` is `fail`."""

    exit_code = 2


class RunDirError(CurateError):
    """The output directory cannot be used (another run, a foreign directory, a lock)."""

    exit_code = 2


class StageError(CurateError):
    """A stage raised or broke its contract (changed rows, undeclared columns)."""


class LedgerError(CurateError):
    """The accounting invariant failed: records would be lost or duplicated. Nothing is published."""
