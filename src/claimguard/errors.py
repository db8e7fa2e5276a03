"""Error policy in one place.

Expected failures (bad input, bad usage, missing files) raise :class:`UserError`:
the CLI prints one paragraph — what went wrong, where, and how to fix it — and
exits 2 without a traceback. Anything else is a bug: exit 1, traceback only with
``--debug``. Library code raises; only ``cli.py`` decides exit codes.
"""

from __future__ import annotations

import errno
import os

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USER = 2
EXIT_DRIFT = 3
EXIT_QUARANTINE = 4
# 128 + signal number, as shells report a process ended by that signal
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class UserError(Exception):
    """A failure the user can fix: says what, where, and how to fix it."""

    exit_code = EXIT_USER

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        if self.where:
            parts.append(f"Where: {self.where}.")
        if self.fix:
            parts.append(f"Fix: {self.fix.rstrip('.')}.")
        return " ".join(parts)


class InputFileError(UserError):
    """A whole input file cannot be read (missing, empty, not a table, not UTF-8, ...)."""


class ConfigError(UserError):
    """A config or mapping file is invalid (unknown key, wrong type, bad YAML)."""


class ModelError(UserError):
    """A model bundle cannot be used for this data (incompatible version, missing features)."""


class DriftError(UserError):
    """Scored data drifted beyond the configured limits and --fail-on-drift was given."""

    exit_code = EXIT_DRIFT


class QuarantineLimitError(UserError):
    """More of an input table was quarantined than scoring.max_quarantine_share allows."""

    exit_code = EXIT_QUARANTINE


class OutputError(UserError):
    """Outputs cannot be written: the disk is full or the location is not writable."""


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def output_error(exc: OSError, where: str | os.PathLike[str]) -> OutputError | None:
    """The :class:`OutputError` for a full disk or an unwritable output, else None.

    ``where`` is the output the user asked for (the folder or file named by ``--out``).
    """
    if exc.errno in _NO_SPACE:
        return OutputError(
            "No space left on the device (or the disk quota is exceeded) while writing the "
            "outputs; nothing was replaced",
            where=str(where),
            fix="free some space on that disk, or choose an --out folder on another disk",
        )
    if exc.errno in _NOT_WRITABLE:
        reason = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return OutputError(
            f"The output location is not writable ({reason}); nothing was replaced",
            where=str(where),
            fix="choose another --out folder, or fix the folder's permissions "
            "(or remount it read-write)",
        )
    return None
