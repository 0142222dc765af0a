"""Read-only access for people: `banwatch sql`, `status`, `history`, `export` and `alerts list` never write.

The file is opened `mode=ro` with `query_only`, ATTACH disabled, and a time limit enforced by a
progress handler (Datasette's pattern), so it is safe to run while the monitor writes (WAL).

Each command's query is a named function here; none reads the clock (a time window comes from the caller).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from banwatch.monitor.errors import StoreError


def open_readonly(path: str) -> sqlite3.Connection:
    """A read-only sqlite3 connection to the database at `path` (rows as sqlite3.Row; no ATTACH; any write is refused
    by an authorizer). Raises StoreError when the file does not exist."""
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


def _read_only_in_savepoints(action: int, arg1: str | None, arg2: str | None, *rest: object) -> int:
    """`_read_only`, and the SAVEPOINT sqlite-utils wraps each query in (it writes nothing; mode=ro holds)."""
    if action == sqlite3.SQLITE_SAVEPOINT:
        return sqlite3.SQLITE_OK
    return _read_only(action, arg1, arg2, *rest)


@contextmanager
def time_limit(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """Within the block, interrupt any statement on `conn` after `seconds` (float, monotonic clock): sqlite3 then
    raises OperationalError('interrupted')."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 1000)


@contextmanager
def reading(path: str, timeout: float = 5.0) -> Iterator[sqlite3.Connection]:
    """A read-only connection to `path` under a time limit of `timeout` seconds; a write, an ATTACH, a query
    past the limit or any other SQL error is a StoreError that says which."""
    conn = open_readonly(path)
    try:
        with _refused(timeout), time_limit(conn, timeout):
            yield conn
    finally:
        conn.close()


@contextmanager
def _refused(timeout: float) -> Iterator[None]:
    try:
        yield
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


def run_sql(path: str, sql: str, params: dict[str, Any] | None = None,
            timeout: float = 5.0) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; returns column names and rows. Writes are refused."""
    with reading(path, timeout) as conn:
        cur = conn.execute(sql, params or {})
        rows = [tuple(r) for r in cur.fetchall()]
    return [d[0] for d in cur.description or []], rows


def service_state(path: str) -> dict[str, str]:
    """`banwatch status`'s service: every row of the `service` table (last tick, pid, stopped_at, leases)."""
    _, rows = run_sql(path, "SELECT key, value FROM service")
    return {key: value for key, value in rows}



WORKER_WINDOW_S = 600.0  # `banwatch status`: per-worker figures over the last ten minutes
WORKER_COLUMNS = ["worker", "platform", "checks/min", "unknown", "last answer", "last seen", "state"]


def worker_status(path: str, now: str, live_s: float | None = None,
                  window_s: float = WORKER_WINDOW_S) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch status`' fetch workers (`banwatch run --redis`): per worker and platform, over the `window_s`
    seconds before `now` (ISO-8601 UTC): checks answered per minute, the unknown share ("12%"), the last answer,
    and from the worker's heartbeat (service table `worker:<name>`) when it was last seen and whether it is
    `live` (seen within `live_s`, by default monitor.streams.LIVE_S: what the coordinator's health alerts use)
    or `gone`. A worker with no answer in the window has one row, platform "-".
    No rows before any worker was seen."""
    from datetime import timedelta

    from banwatch.monitor.timeutil import iso, parse_iso

    from banwatch.monitor.streams import LIVE_S

    live_s = LIVE_S if live_s is None else live_s
    moment = parse_iso(now)
    since = iso(moment - timedelta(seconds=window_s))
    with reading(path) as conn:
        beats = {key[len("worker:"):]: value for key, value in conn.execute(
            "SELECT key, value FROM service WHERE key LIKE 'worker:%'")}
        has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'remote_checks'").fetchone()
        figures = list(conn.execute(
            "SELECT worker, platform, count(*), sum(status = 'unknown'), max(answered_at) FROM remote_checks "
            "WHERE answered_at >= ? AND worker IS NOT NULL GROUP BY worker, platform ORDER BY worker, platform",
            [since])) if has_table else []
    seen: dict[str, tuple[str, str]] = {}
    for name, value in beats.items():
        try:
            stamp = float(json.loads(value)["seen"])
        except (ValueError, KeyError, TypeError):
            continue
        state = "live" if moment.timestamp() - stamp <= live_s else "gone"
        seen[name] = (iso(datetime.fromtimestamp(stamp, UTC)), state)
    rows: list[tuple[Any, ...]] = []
    answered = set()
    for worker, platform, n, unknown, last in figures:
        answered.add(worker)
        last_seen, state = seen.get(worker, ("-", "gone"))
        rows.append((worker, platform, round(n * 60 / window_s, 1), f"{round(100 * (unknown or 0) / n)}%", last,
                     last_seen, state))
    for worker, (last_seen, state) in sorted(seen.items()):
        if worker not in answered:
            rows.append((worker, "-", 0.0, "-", "-", last_seen, state))
    return WORKER_COLUMNS, sorted(rows, key=lambda r: (r[0], r[1]))


def service_metrics(path: str, since: str) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """`banwatch run --metrics-port`'s readings (monitor.metrics): the number of alerts in the outbox per state
    (`pending`, `sending`, `sent`, `dead`; a state with none is absent), and per platform (accounts checked, of
    which unknown) by the finished runs that started at or after `since` (ISO-8601 UTC)."""
    with reading(path) as conn:
        states = {state: n for state, n in conn.execute("SELECT state, count(*) FROM alerts GROUP BY state")}
        runs = {platform: (accounts, unknown) for platform, accounts, unknown in conn.execute(
            "SELECT platform, coalesce(sum(accounts), 0), coalesce(sum(unknown), 0) FROM runs "
            "WHERE started_at >= ? AND finished_at IS NOT NULL GROUP BY platform", [since])}
    return states, runs

_PLATFORMS = """
    SELECT r.platform, max(r.finished_at) AS last_run,
           round(100.0 * sum(r.unknown) / max(1, sum(r.accounts)), 1) AS unknown_pct_1h,
           coalesce(h.state, 'ok') AS health{columns}
    FROM runs r LEFT JOIN platform_states h ON h.platform = r.platform{join}
    WHERE r.started_at >= :hour_ago OR r.id IN (
        SELECT max(id) FROM runs GROUP BY platform)
    GROUP BY r.platform ORDER BY r.platform"""
_DRIFT_COLUMNS = """,
           round(100.0 * p.drift_rate_1h, 1) AS drift_pct_1h, round(100.0 * p.drift_rate_day, 1) AS drift_pct_day,
           CASE WHEN p.drifting THEN 'drifting?' ELSE '' END AS drift,
           coalesce(p.top_unknown_rules, '') AS top_unknown_rules"""


_WINDOW = """
    SELECT r.platform, max(r.finished_at) AS last_run, coalesce(p.checks, 0) AS checks,
           coalesce(p.unknown, 0) AS unknown,
           round(100.0 * coalesce(p.unknown, 0) / max(1, coalesce(p.checks, 0)), 1) AS unknown_pct,
           coalesce(p.health, 'ok') AS health, coalesce(p.unknown_rules, '') AS unknown_rules{columns}
    FROM runs r LEFT JOIN platform_health p ON p.platform = r.platform
    WHERE r.started_at >= :hour_ago OR r.id IN (
        SELECT max(id) FROM runs GROUP BY platform)
    GROUP BY r.platform ORDER BY r.platform"""


def platform_status(path: str, now: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch status`'s platforms: last run, and from the `platform_health` view the health window's numbers
    (checks, unknown, their share, health: `blind`, `ok (blind in 4m)` or `ok`, the window's top unknown rules;
    monitor.health.window_health computes the same) and the unknown-rule drift (docs/cli.md). A database that no
    banwatch with the window has opened yet shows the unknown share of the hour before `now` and the recorded
    health instead, and one without drift no drift columns; neither is refused."""
    from banwatch.monitor.timeutil import later

    params = {"hour_ago": later(now, -3600)}
    _, view = run_sql(path, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'platform_health'")
    if view and "window_s" in (view[0][0] or ""):
        return run_sql(path, _WINDOW.format(columns=_DRIFT_COLUMNS), params)
    if view and "drifting" in (view[0][0] or ""):
        return run_sql(path, _PLATFORMS.format(
            columns=_DRIFT_COLUMNS, join=" LEFT JOIN platform_health p ON p.platform = r.platform"), params)
    return run_sql(path, _PLATFORMS.format(columns="", join=""), params)


_ACCOUNTS = """
    SELECT key AS account, coalesce(entity, name, '') AS entity,
           coalesce(status, CASE WHEN last_checked_at IS NULL THEN 'unchecked' ELSE 'unknown' END){unconfirmed}
               {paused} AS status,
           coalesce(status_since, '') AS since,
           CASE WHEN pending_status IS NULL THEN '' ELSE pending_status || ' (' || pending_count || ')' END
               AS pending,
           coalesce(last_checked_at, '') AS last_checked, coalesce(last_rule, '') AS rule
    FROM accounts WHERE removed_at IS NULL{where}
    ORDER BY coalesce(entity, name) IS NULL, coalesce(entity, name), platform, handle"""


def account_status(path: str, keys: tuple[str, ...] = (), platforms: tuple[str, ...] = (),
                   tags: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch status`'s accounts: entity (a single account's own `name:` when it has no entity), status
    (`unknown` when every check so far proved nothing, `unchecked` before the first; marked "(unconfirmed)" while
    only a weak rule has read it, and
    "(paused)" while the watchlist pauses it),
    since, pending change, last check and rule. A database from before rule strengths (no `status_weak`
    column; `status` never migrates) is shown without the mark, not refused.

    Narrowed (`status KEY... --platform P --tag T`): to the accounts with one of `keys` (when given), then on one
    of `platforms`, then with one of `tags`."""
    _, table = run_sql(path, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'accounts'")
    weak = bool(table) and "status_weak" in (table[0][0] or "")
    paused = bool(table) and "paused_at" in (table[0][0] or "")
    return run_sql(path, _ACCOUNTS.format(
        unconfirmed=" || CASE WHEN status_weak THEN ' (unconfirmed)' ELSE '' END" if weak else "",
        paused=" || CASE WHEN paused_at IS NOT NULL THEN ' (paused)' ELSE '' END" if paused else "",
        where=_narrowed(keys, platforms, tags)), {**_named("k", keys), **_named("p", platforms), **_named("t", tags)})


def _named(prefix: str, values: tuple[str, ...]) -> dict[str, str]:
    return {f"{prefix}{i}": v for i, v in enumerate(values)}


def _narrowed(keys: tuple[str, ...], platforms: tuple[str, ...], tags: tuple[str, ...]) -> str:
    """The AND-ed conditions of `account_status`'s filters over named parameters k0.., p0.., t0.. (see `_named`)."""
    where = ""
    if keys:
        where += " AND key IN (" + ", ".join(f":k{i}" for i in range(len(keys))) + ")"
    if platforms:
        where += " AND platform IN (" + ", ".join(f":p{i}" for i in range(len(platforms))) + ")"
    if tags:
        where += (" AND EXISTS (SELECT 1 FROM json_each(coalesce(tags, '[]')) WHERE value IN ("
                  + ", ".join(f":t{i}" for i in range(len(tags))) + "))")
    return where


def account_keys_present(path: str, keys: tuple[str, ...]) -> set[str]:
    """Which of `keys` name a watched (not removed) account in the database: `status KEY...` refuses the others."""
    if not keys:
        return set()
    _, rows = run_sql(path, "SELECT key FROM accounts WHERE removed_at IS NULL AND key IN ("
                      + ", ".join(f":k{i}" for i in range(len(keys))) + ")", _named("k", keys))
    return {r[0] for r in rows}


def account_states(path: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """`banwatch list`: every account's key -> (status, status_since, last_checked_at) in the database."""
    _, rows = run_sql(path, "SELECT key, status, status_since, last_checked_at FROM accounts")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def account_keys(path: str, account: str) -> list[str]:
    """The keys of the accounts `account` names: a key (`platform:handle`), or a handle on any platform."""
    _, rows = run_sql(path, "SELECT key FROM accounts WHERE key = :a OR handle = :a", {"a": account})
    return [r[0] for r in rows]


def timeline(path: str, account_key: str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch history`: every confirmed change (of one account, or all), oldest first, with its detection
    window, how long it lasted (`until`), rule, evidence and strength. `entity` is a single account's own `name:`
    when it has no entity."""
    where, params = ("WHERE account_key = :key", {"key": account_key}) if account_key else ("", {})
    return run_sql(path, f"""
        SELECT account_key AS account,
               coalesce(entity, (SELECT a.name FROM accounts a WHERE a.key = account_key), '') AS entity,
               from_status, to_status,
               coalesce(last_seen_before_at, '') AS last_seen_before, first_seen_at AS first_seen,
               confirmed_at AS confirmed, coalesce(until, '') AS until, rule, evidence_id AS evidence,
               coalesce(evidence_sha256, '') AS sha256, strength
        FROM timeline {where} ORDER BY confirmed_at, account_key""", params)


def changes_export(path: str, since: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch export`: the changes confirmed on or after `since`, with their account's fields (`entity`: a
    single account's own `name:` when it has no entity), evidence hash and wave."""
    return run_sql(path, """
        SELECT c.id AS change_id, c.confirmed_at, a.platform, a.handle, a.display_name,
               coalesce(a.entity, a.name) AS entity, a.tags, a.url,
               a.platform_id, c.from_status, c.to_status, c.last_seen_before_at, c.first_seen_at, c.rule,
               c.reason, c.evidence_id, e.sha256 AS evidence_sha256, e.url AS evidence_url, c.wave_id
        FROM changes c JOIN accounts a ON a.key = c.account_key LEFT JOIN evidence e ON e.id = c.evidence_id
        WHERE c.confirmed_at >= :since ORDER BY c.confirmed_at, c.id""", {"since": since})


ALERT_COLUMNS = ["id", "kind", "subject", "channel", "state", "attempts", "created_at", "sent_at", "last_error"]
_UNSET_IS_EMPTY = {"sent_at", "last_error"}


def alert_list(path: str, state: str | None = None, limit: int = 100) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`banwatch alerts list`: `Outbox.rows` (the newest `limit` alerts, of `state` or all) read over a
    read-only connection, as ALERT_COLUMNS; a time or error not set yet is ''."""
    from sqlite_utils import Database

    from banwatch.monitor.outbox import Outbox
    from banwatch.monitor.store import Store

    with reading(path) as conn:
        conn.set_authorizer(_read_only_in_savepoints)  # sqlite-utils reads inside a SAVEPOINT
        db = Database(conn, recursive_triggers=False, execute_plugins=False)  # sets no PRAGMA
        rows = Outbox(Store(db, path)).rows(state, limit)
    return ALERT_COLUMNS, [tuple("" if r[c] is None and c in _UNSET_IS_EMPTY else r[c] for c in ALERT_COLUMNS)
                           for r in rows]
