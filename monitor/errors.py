"""Typed errors. Domain code raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class BanwatchError(Exception):
    """A problem the user can fix; the CLI prints it without a traceback and exits 1."""


class WatchlistError(BanwatchError):
    """A watchlist problem, located by file, line (and, where one character is at fault, its column) and field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str,
                 column: int | None = None) -> None:
        self.path, self.line, self.field, self.message, self.column = path, line, field, message, column
        where = path if line is None else f"{path}:{line}" if column is None else f"{path}:{line}:{column}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ConfigError(BanwatchError):
    """A setting or environment variable has an unusable value."""


class StoreError(BanwatchError):
    """The database cannot be opened or used as asked.

    `fault`: what happened, naming the file, without the advice to run again (the service, which tries again
    by itself, logs this part); the whole message when not given."""

    def __init__(self, message: str, fault: str | None = None) -> None:
        super().__init__(message)
        self.fault = fault or message


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

    def error(fault: str, sep: str, advice: str) -> StoreError:
        return StoreError(f"{path}: {fault}{sep}{rolled_back}. {advice}", f"{path}: {fault}{sep}{rolled_back}")

    if isinstance(exc, sqlite3.OperationalError):
        if "database is locked" in msg or "database table is locked" in msg:
            waited = f" for more than {busy_timeout:g}s" if busy_timeout is not None else ""
            return error(f"database is locked: another process held its write lock{waited}", "; ",
                         "Run again when that process is done, or wait longer with BANWATCH_BUSY_TIMEOUT (seconds)")
        if "is full" in msg:  # SQLITE_FULL: "database or disk is full"
            return error("database or disk is full", ": ",
                         "Free space on its disk (or prune old history: banwatch prune) and run again")
        if "disk I/O error" in msg:
            return error("disk I/O error", ": ", "Check the disk and the file's permissions, then run again")
        if "readonly database" in msg:  # SQLITE_READONLY: the file (or its directory, for the WAL) is read-only
            return error("the database is read-only", ": ",
                         "Give this user write access to the file and its directory, then run again")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in msg or "not a database" in msg):
        return error("the database file is corrupt", ": ",
                     "Restore it from a backup (`sqlite3 FILE .recover` may save what is left)")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return error("no space left on the device", ": ", "Free space and run again")
    return None


def store_failure(exc: BaseException, path: str, busy_timeout: float | None = None) -> StoreError | None:
    """The StoreError for a failure of the database itself — `exc` when it already is one (`db.atomic()`
    raises them), else what `database_error` maps it to (a write outside a transaction raises sqlite3's own
    error) — or None: any other error is a bug, whose traceback is wanted. A caller that carries on (the
    service's jobs, see monitor.scheduler) logs `.fault` as one line."""
    if isinstance(exc, StoreError):
        return exc
    return database_error(exc, path, busy_timeout)
