"""Errors a user can act on. The CLI prints their message on one line and exits 1."""

from __future__ import annotations


class SpanguardError(Exception):
    """Base for every error spanguard reports to a user rather than crashing on."""


class ConfigError(SpanguardError):
    """A config file that cannot be used; the message names the file, line and key."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, key: str | None = None
    ) -> None:
        where = ":".join(str(part) for part in (path, line) if part is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (key: {key})" if key else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.path = path
        self.line = line
        self.key = key
