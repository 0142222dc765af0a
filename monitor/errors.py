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


def database_error(exc: BaseException, path: str, busy_timeout: float | None = None) -> StoreError | None:
    """The one-line StoreError for a failure of the database file itself — locked past the busy timeout,
    full, an I/O error, no space left — naming the file and what to do; None for any other error.

    The transaction that met it was rolled back: nothing of it was written."""
    import errno
    import sqlite3

    msg = str(exc)
    rolled_back = "its transaction was rolled back"
    if isinstance(exc, sqlite3.OperationalError):
        if "database is locked" in msg or "database table is locked" in msg:
            waited = f" for more than {busy_timeout:g}s" if busy_timeout is not None else ""
            return StoreError(f"{path}: database is locked: another process held its write lock{waited}; "
                              f"{rolled_back}. Run again when that process is done, or wait longer with "
                              "BANWATCH_BUSY_TIMEOUT (seconds)")
        if "is full" in msg:  # SQLITE_FULL: "database or disk is full"
            return StoreError(f"{path}: database or disk is full: {rolled_back}. Free space on its disk "
                              "(or prune old history: banwatch prune) and run again")
        if "disk I/O error" in msg:
            return StoreError(f"{path}: disk I/O error: {rolled_back}. Check the disk and the file's "
                              "permissions, then run again")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"{path}: no space left on the device: {rolled_back}. Free space and run again")
    return None
