"""Typed errors. Domain code raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class BanwatchError(Exception):
    """A problem the user can fix; the CLI prints it without a traceback and exits 1."""


class WatchlistError(BanwatchError):
    """A watchlist problem, located by file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ConfigError(BanwatchError):
    """A setting or environment variable has an unusable value."""


class StoreError(BanwatchError):
    """The database cannot be opened or used as asked."""


class InvalidWatchlist(BanwatchError):
    """Every problem found in one watchlist file, reported together so one edit can fix them all."""

    def __init__(self, problems: list[WatchlistError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
