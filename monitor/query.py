"""Read-only access for people: `banwatch sql`, `status` and `history` never write.

The file is opened `mode=ro` with `query_only`, ATTACH disabled, and a time limit enforced by a
progress handler (Datasette's pattern), so it is safe to run while the monitor writes (WAL).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.errors import StoreError


def open_readonly(path: str) -> sqlite3.Connection:
    if not Path(path).exists():
        raise StoreError(f"{path}: no database yet (run `banwatch check` first, or give --db)")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5)
    conn.execute("PRAGMA query_only = 1")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_read_only)
    conn.row_factory = sqlite3.Row
    return conn


_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _read_only(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
    """Belt and braces over mode=ro: only reading is authorised; a PRAGMA may be read, never set."""
    if action in _READS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg2 is None:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK  # how table-valued functions (json_each) declare themselves; mode=ro still holds
    return sqlite3.SQLITE_DENY


@contextmanager
def time_limit(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 1000)


def run_sql(path: str, sql: str, params: dict[str, Any] | None = None,
            timeout: float = 5.0) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; returns column names and rows. Writes are refused."""
    conn = open_readonly(path)
    try:
        with time_limit(conn, timeout):
            cur = conn.execute(sql, params or {})
            rows = [tuple(r) for r in cur.fetchall()]
        return [d[0] for d in cur.description or []], rows
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        if "readonly" in msg or "query_only" in msg or "read-only" in msg or "not authorized" in msg:
            raise StoreError("banwatch sql is read-only: only statements that read (SELECT, WITH, "
                             "EXPLAIN) are allowed") from None
        if "attached" in msg:
            raise StoreError("banwatch sql is read-only: ATTACH is not allowed") from None
        if msg == "interrupted":
            raise StoreError(f"query interrupted after {timeout:g}s (raise --timeout)") from None
        raise StoreError(f"SQL error: {msg}") from None
    except sqlite3.DatabaseError as exc:
        if "not authorized" in str(exc):
            raise StoreError("banwatch sql is read-only: only statements that read (SELECT, WITH, "
                             "EXPLAIN) are allowed") from None
        raise StoreError(f"SQL error: {exc}") from None
    except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:
        raise StoreError(f"SQL error: {exc}") from None
    finally:
        conn.close()


_PLATFORMS = """
    SELECT r.platform, max(r.finished_at) AS last_run,
           round(100.0 * sum(r.unknown) / max(1, sum(r.accounts)), 1) AS unknown_pct_1h,
           coalesce(h.state, 'ok') AS health{columns}
    FROM runs r LEFT JOIN platform_states h ON h.platform = r.platform{join}
    WHERE r.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') OR r.id IN (
        SELECT max(id) FROM runs GROUP BY platform)
    GROUP BY r.platform ORDER BY r.platform"""
_DRIFT_COLUMNS = """,
           round(100.0 * p.drift_rate_1h, 1) AS drift_pct_1h, round(100.0 * p.drift_rate_day, 1) AS drift_pct_day,
           CASE WHEN p.drifting THEN 'drifting?' ELSE '' END AS drift,
           coalesce(p.top_unknown_rules, '') AS top_unknown_rules"""


def platform_status(path: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch status`'s platforms: last run, unknown share of the last hour, health, and from the
    `platform_health` view the unknown-rule drift (docs/cli.md). A database that no banwatch with drift has
    opened yet (the view has no `drifting`) is shown without the drift columns, not refused."""
    _, view = run_sql(path, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'platform_health'")
    if view and "drifting" in (view[0][0] or ""):
        return run_sql(path, _PLATFORMS.format(
            columns=_DRIFT_COLUMNS, join=" LEFT JOIN platform_health p ON p.platform = r.platform"))
    return run_sql(path, _PLATFORMS.format(columns="", join=""))


_ACCOUNTS = """
    SELECT key AS account, coalesce(entity, '') AS entity, coalesce(status, 'unchecked'){unconfirmed} AS status,
           coalesce(status_since, '') AS since,
           CASE WHEN pending_status IS NULL THEN '' ELSE pending_status || ' (' || pending_count || ')' END
               AS pending,
           coalesce(last_checked_at, '') AS last_checked, coalesce(last_rule, '') AS rule
    FROM accounts WHERE removed_at IS NULL
    ORDER BY entity IS NULL, entity, platform, handle"""


def account_status(path: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch status`'s accounts: status (marked "(unconfirmed)" while only a weak rule has read it),
    since, pending change, last check and rule. A database from before rule strengths (no `status_weak`
    column; `status` never migrates) is shown without the mark, not refused."""
    _, table = run_sql(path, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'accounts'")
    weak = bool(table) and "status_weak" in (table[0][0] or "")
    return run_sql(path, _ACCOUNTS.format(
        unconfirmed=" || CASE WHEN status_weak THEN ' (unconfirmed)' ELSE '' END" if weak else ""))
