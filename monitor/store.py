"""Store: the monitor's own reads and writes. sqlite-utils over one SQLite file in WAL mode.

SQL lives only here and in schema.py, outbox.py, query.py and reads.py (tests/test_layering.py).

Writes that belong together happen in one `db.atomic()` transaction: an observation, the account's new
state, and — when a change is confirmed — the change row, its evidence and its outbox row. Recording one
observation is one read (`context`: everything deciding it needs) and one write (`apply`: the plan decided
from it, monitor.state.decide).

Every write transaction begins IMMEDIATE (`WriteDatabase.atomic`), so it waits out the busy timeout for
another process's write lock; a lock that outlasts it, a full disk or an I/O error is a one-line StoreError.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from banwatch.monitor.errors import StoreError, database_error
from banwatch.monitor.model import (Account, AccountState, Observation, RecordContext, RecordPlan, Rename, Reply, Span,
                           Status, Transition)
from banwatch.monitor.schema import SCHEMA_VERSION, migrate
from banwatch.monitor.state import Step
from banwatch.monitor.state import plan as make_plan
from banwatch.monitor.due import first_checks
from banwatch.monitor.timeutil import iso, later, parse_iso
from banwatch.monitor.watchlist import Watchlist
from banwatch.monitor.model import drift_rule  # noqa: F401 - also part of this module's interface

BODY_CAP = 2 * 1024 * 1024  # evidence bodies beyond this are truncated (and flagged)

_STATE_COLUMNS = ("status, status_since, last_seen_at, pending_status, pending_count, pending_since, status_weak")
# Store.context: the account row, the status last announced (the newest proof or corroborated change, else the
# first change's old status), the latest status change (corroborable when weak and not yet corroborated) and the
# latest observation span. Each subquery walks one account's rows of an (account_key, ...) index.
_CONTEXT_SQL = f"""
SELECT {', '.join('a.' + c.strip() for c in _STATE_COLUMNS.split(','))}, a.current_handle, a.platform_id,
  a.next_check_at,
  coalesce(
    (SELECT to_status FROM changes WHERE account_key = a.key AND from_status != to_status
       AND (strength IS NOT 'weak' OR corroborated_at IS NOT NULL) ORDER BY confirmed_at DESC, id DESC LIMIT 1),
    (SELECT from_status FROM changes WHERE account_key = a.key AND from_status != to_status
       ORDER BY confirmed_at, id LIMIT 1)) AS announced,
  c.id AS change_id, c.strength = 'weak' AND c.corroborated_at IS NULL AS change_open,
  o.id AS span_id, o.status AS span_status, o.rule AS span_rule, o.classifier_version AS span_version
FROM accounts a
LEFT JOIN changes c ON c.id = (SELECT id FROM changes WHERE account_key = a.key AND from_status != to_status
                               ORDER BY confirmed_at DESC, id DESC LIMIT 1)
LEFT JOIN observations o ON o.id = (SELECT id FROM observations WHERE account_key = a.key ORDER BY id DESC LIMIT 1)
WHERE a.key = ?"""


def _account_state(row: dict[str, Any]) -> AccountState:
    return AccountState(
        status=Status(row["status"]) if row["status"] else None, status_since=row["status_since"],
        last_seen_at=row["last_seen_at"],
        pending_status=Status(row["pending_status"]) if row["pending_status"] else None,
        pending_count=row["pending_count"] or 0, pending_since=row["pending_since"],
        weak=bool(row["status_weak"]))


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout)  # sets SQLite's busy_timeout
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from None
    conn.isolation_level = "IMMEDIATE"  # a write statement outside atomic() also takes the write lock first
    return conn


class WriteDatabase(Database):
    """sqlite-utils' Database whose outermost `atomic()` begins IMMEDIATE: the one way banwatch opens a write
    transaction (store, outbox, migrations, the runner's batches all use `db.atomic()`).

    sqlite-utils begins a plain (DEFERRED) transaction. One that reads and then writes holds a read lock when
    it asks for the write lock, and if another connection is writing SQLite answers SQLITE_BUSY at once: the
    busy handler is not invoked for that upgrade (waiting could deadlock). BEGIN IMMEDIATE takes the write
    lock before anything is read, so the busy handler waits up to the busy timeout. Nested `atomic()` blocks
    are savepoints, as in sqlite-utils. At the outermost level a locked, full or failing database is rolled
    back and raised as a one-line StoreError naming the file.
    """

    path = ""
    busy_timeout = 0.0

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        """A transaction: BEGIN IMMEDIATE at the outermost level (committed on exit, rolled back on any
        exception), a savepoint when one is open. Raises StoreError for a locked, full or failing database."""
        if self.conn.in_transaction:
            with super().atomic():  # a savepoint
                yield self
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.rollback()  # a no-op when the error already ended the transaction
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise
        except (sqlite3.OperationalError, OSError) as exc:
            mapped = database_error(exc, self.path, self.busy_timeout)
            if mapped is None:
                raise
            raise mapped from None


@dataclass(frozen=True)
class Recorded:
    """What recording one observation did."""

    baseline: bool
    change_id: int | None
    alert_ids: tuple[int, ...]
    pending: bool


_SET = {"next_check_at": "next_check_at = CASE WHEN paused_at IS NULL AND removed_at IS NULL THEN ? END"}


class Store:
    """banwatch's own reads and writes over one SQLite file (see the module's docstring); `db` is the open
    WriteDatabase, `path` its file. Made by `Store.open`; one per thread."""

    def __init__(self, db: Database, path: str) -> None:
        self.db, self.path = db, path

    @classmethod
    def open(cls, path: str | Path, busy_timeout: float | None = None) -> Store:
        """Open (creating if needed) for writing: WAL, busy timeout, foreign keys, migrations applied.

        `busy_timeout`: seconds a write waits for another process's write lock (default: BANWATCH_BUSY_TIMEOUT,
        else 30, see monitor.settings)."""
        path = str(path)
        if busy_timeout is None:
            from banwatch.monitor.settings import busy_timeout_from_env

            busy_timeout = busy_timeout_from_env()
        if Path(path).parent and not Path(path).parent.exists():
            raise StoreError(f"{path}: the directory does not exist")
        db = WriteDatabase(_connect(path, busy_timeout))
        db.path, db.busy_timeout = path, busy_timeout
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path}: database schema v{version} is newer than this banwatch "
                                 f"understands (v{SCHEMA_VERSION}); upgrade banwatch")
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if db.journal_mode != "wal":
                db.enable_wal()
            # In WAL mode NORMAL never corrupts the file and survives any crash of banwatch; only a power cut
            # can undo the last commits, whose observations the next check simply makes again.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db)
        except (sqlite3.DatabaseError, OSError) as exc:
            db.close()
            mapped = database_error(exc, path, busy_timeout)
            if mapped is None and isinstance(exc, OSError):
                raise
            raise mapped or StoreError(f"{path}: not a usable banwatch database: {exc}") from None
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    @classmethod
    def open_copy(cls, path: str | Path) -> Store:
        """A private in-memory copy of the database at `path` (an empty one when there is no file), migrated, for
        `check --dry-run`: every write the production code makes goes to memory and is gone at `close`. The file is
        only read, over a read-only connection (SQLite's backup API), and never created."""
        path = str(path)
        mem = _connect(":memory:", 0)
        db = WriteDatabase(mem)
        db.path = path
        try:
            if Path(path).exists():
                src = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5)
                try:
                    src.backup(mem)
                finally:
                    src.close()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path}: database schema v{version} is newer than this banwatch "
                                 f"understands (v{SCHEMA_VERSION}); upgrade banwatch")
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{path}: not a usable banwatch database: {exc}") from None
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def close(self) -> None:
        """Close the connection; the Store is unusable afterwards."""
        self.db.close()

    # -- watchlist ---------------------------------------------------------------------------------

    def sync_watchlist(self, watchlist: Watchlist, now: str) -> list[str]:
        """Make the accounts table match the watchlist; return the keys that are new (or back).

        Removed accounts are marked `removed_at` and leave the schedule; their history stays. Paused accounts
        (`Watchlist.paused`) are marked `paused_at` and leave the schedule too, until resumed. New accounts'
        first checks are spread over what their platform's politeness allows (monitor.due).
        """
        keys = {a.key for a in (*watchlist.accounts, *watchlist.paused)}
        with self.db.atomic():
            for entity in watchlist.entities:
                self.db["entities"].upsert(
                    {"name": entity.name, "tags": json.dumps(list(entity.tags)), "line": entity.line,
                     "removed_at": None}, pk="name")
            names = {e.name for e in watchlist.entities}
            for row in self.db["entities"].rows_where("removed_at IS NULL"):
                if row["name"] not in names:
                    self.db["entities"].update(row["name"], {"removed_at": now})
            table = self.db["accounts"]
            rows = list(self.db.query("SELECT key, removed_at, paused_at FROM accounts"))
            watched = {r["key"]: r["removed_at"] for r in rows}
            was_paused = {r["key"]: r["paused_at"] for r in rows}
            # new, back after a removal, or resumed: each gets a first check
            fresh = [a for a in watchlist.accounts
                     if a.key not in watched or watched[a.key] is not None or was_paused[a.key] is not None]
            first = first_checks(fresh, parse_iso(now), watchlist.politeness)
            new_rows, updates = [], []
            for acc in (*watchlist.accounts, *watchlist.paused):
                config = {
                    "platform": acc.platform, "handle": acc.handle, "name": acc.name, "entity": acc.entity,
                    "tags": json.dumps(list(acc.tags)), "url": watchlist.platform(acc.platform).profile_url(acc.handle),
                    "line": acc.line, "interval_s": acc.interval, "confirmations": acc.confirmations,
                    "confirm_delay_s": acc.confirm_delay, "removed_at": None, "canary": acc.canary,
                }
                if acc.key in first:
                    config["next_check_at"] = iso(first[acc.key])
                config["paused_at"] = (was_paused.get(acc.key) or now) if acc.paused else None
                if acc.paused:  # kept with its history and status, never due
                    config["next_check_at"] = None
                if acc.key in watched:
                    updates.append((config, acc.key))
                else:
                    new_rows.append({"key": acc.key, **config, "added_at": now, "pending_count": 0})
            table.insert_all(new_rows, batch_size=1000)
            for config, key in updates:  # a reload: usually few rows differ, every row is rewritten
                self.db.execute(f"UPDATE accounts SET {', '.join(f'{c} = ?' for c in config)} WHERE key = ?",
                                [*config.values(), key])
            for key, removed_at in watched.items():
                if key not in keys and removed_at is None:
                    table.update(key, {"removed_at": now, "next_check_at": None})
        return [a.key for a in fresh]

    def due(self, platform: str, now: str, limit: int) -> list[str]:
        """Keys of this platform's accounts whose check is due, most overdue first (idx_accounts_due)."""
        return [r[0] for r in self.db.execute(  # tuples: the service asks every tick, mostly for keys in flight
            "SELECT key FROM accounts WHERE platform = ? AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            [platform, now, limit])]

    def platform_ids(self, keys: Iterable[str]) -> dict[str, str]:
        """Account key -> stored stable platform id, for those of `keys` that have one (one query)."""
        keys = list(keys)
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        return {r["key"]: r["platform_id"] for r in self.db.query(
            f"SELECT key, platform_id FROM accounts WHERE key IN ({marks}) AND platform_id IS NOT NULL", keys)}

    def state(self, key: str) -> AccountState:
        """The account's state as the state machine keeps it. StopIteration when the key is not in the store."""
        row = next(self.db.query(f"SELECT {_STATE_COLUMNS} FROM accounts WHERE key = ?", [key]))
        return _account_state(row)

    def context(self, key: str, service: Iterable[str] = (), prefix: str | None = None) -> RecordContext:
        """Everything deciding one observation of account `key` reads, in one call (model.RecordContext): its
        state, current handle, platform id, the status last announced, the change a proof rule would
        corroborate and its latest observation span; plus the service-table values `service` (None when absent)
        and, given `prefix`, the keys under it whose value is set (the watchdog's `wants`).

        One SELECT on the account (indexed subqueries on changes and observations), one more only when service
        values are asked for. StopIteration when the key is not in the store (accounts are synced first)."""
        row = next(self.db.query(_CONTEXT_SQL, [key]))
        keys = list(service)
        values: dict[str, str | None] = dict.fromkeys(keys)
        if keys:
            values.update((r["key"], r["value"]) for r in self.db.query(
                f"SELECT key, value FROM service WHERE key IN ({','.join('?' * len(keys))})", keys))
        return RecordContext(
            account_key=key, state=_account_state(row), current_handle=row["current_handle"],
            platform_id=row["platform_id"], announced=Status(row["announced"]) if row["announced"] else None,
            open_change=row["change_id"] if row["change_open"] else None,
            span=Span(row["span_id"], row["span_status"], row["span_rule"], row["span_version"] or 1)
            if row["span_id"] is not None else None,
            service=values, service_sets={prefix: frozenset(self.service_keys(prefix))} if prefix else {},
            due_at=row["next_check_at"])

    # -- observations --------------------------------------------------------------------------------

    def record(self, account: Account, obs: Observation, step: Step, alerts: list[tuple[str, str]] = (),
               give_up: float = 86400.0, classifier_version: int | None = None,
               rename: tuple[str, str, list[tuple[str, str]]] | None = None) -> Recorded:
        """Record one observation and everything it caused, all or nothing: `context`, `state.plan`, `apply`.

        For callers that decide `step` themselves (tests, benchmarks); the monitor's own path is
        Checker.record. `alerts` are the (kind, channel) outbox rows a confirmed change raises; `give_up` in
        seconds; `classifier_version` replaces the observation's own; `rename` is (old handle, new handle,
        outbox rows). Raises StoreError when the database fails (see WriteDatabase.atomic).
        """
        if classifier_version is not None:
            obs = replace(obs, classifier_version=classifier_version)
        renamed = Rename(rename[0], rename[1], tuple(rename[2])) if rename is not None else None
        return self.apply(make_plan(account, obs, step, self.context(account.key), alerts, give_up, renamed))

    def apply(self, plan: RecordPlan) -> Recorded:
        """Write everything one observation decided (model.RecordPlan), in one transaction: a savepoint inside
        the caller's, else its own BEGIN IMMEDIATE. In order: the watchdog's service values and health alerts
        (details redacted here), the observation span, the account row, a rename, the change or corroboration
        with its evidence and outbox rows. What it did is returned (`Recorded`); it reads nothing but the
        evidence body's existence (bodies are stored once per sha256). Raises StoreError when the database
        fails, sqlite3 errors (or UnicodeEncodeError) on a value it cannot store: all of it is rolled back.
        """
        obs, key, st = plan.obs, plan.account_key, plan.state
        with self.db.atomic():
            for service_key, value in plan.service:
                self.db["service"].upsert({"key": service_key, "value": value, "updated_at": obs.checked_at},
                                          pk="key")
            for health in plan.health:
                self.health_alert(health.subject, health.detail, list(health.channels), obs.checked_at,
                                  plan.give_up)
            self._write_span(obs, plan.extend)
            update: dict[str, Any] = {
                "status": st.status.value if st.status else None, "status_since": st.status_since,
                "last_seen_at": st.last_seen_at,
                "pending_status": st.pending_status.value if st.pending_status else None,
                "pending_count": st.pending_count, "pending_since": st.pending_since,
                "last_checked_at": obs.checked_at, "last_rule": obs.rule,
                "next_check_at": plan.next_check_at, "status_weak": int(st.weak),
            }
            if obs.platform_id and obs.status is Status.ACTIVE:
                update["platform_id"] = obs.platform_id
            if obs.display_name:
                update["display_name"] = obs.display_name
            if obs.handle and obs.status is Status.ACTIVE:
                update["current_handle"] = obs.handle
            # one UPDATE, hot path: no existence check (the account was synced before it was crawled). An account
            # paused or removed while it was being checked gets no next check.
            self.db.execute(f"UPDATE accounts SET {', '.join(_SET.get(c, f'{c} = ?') for c in update)} WHERE key = ?",
                            [*update.values(), key])
            if plan.rename is not None:
                self._insert_rename(key, obs, plan.rename, plan.give_up)
            if plan.corroborate is not None:  # a proof rule now reads the status a weak rule confirmed: alert it now
                self.db.execute("UPDATE changes SET corroborated_at = ? WHERE id = ? AND corroborated_at IS NULL",
                                [obs.checked_at, plan.corroborate])
                alert_ids = self._enqueue(plan.alerts, obs.checked_at, plan.give_up, change_id=plan.corroborate,
                                          account_key=key)
                return Recorded(False, plan.corroborate, alert_ids, False)
            if plan.change is None:
                return Recorded(plan.baseline, None, (), plan.pending)
            change_id = self._insert_change(key, obs, plan.change)
            alert_ids = self._enqueue(plan.alerts, obs.checked_at, plan.give_up, change_id=change_id, account_key=key)
            return Recorded(False, change_id, alert_ids, False)

    def _insert_rename(self, key: str, obs: Observation, rename: Rename, give_up: float) -> None:
        """Same stable id, new handle: a change of name, not of status (alertable as `renamed`)."""
        old, new = rename.old, rename.new
        evidence_id = self._insert_evidence(key, obs.evidence, obs.checked_at) if obs.evidence else None
        change_id = int(self.db["changes"].insert({
            "account_key": key, "from_status": "active", "to_status": "active", "from_handle": old, "to_handle": new,
            "rule": obs.rule, "reason": f"renamed from {old} to {new} (same id {obs.platform_id})",
            "first_seen_at": obs.checked_at, "confirmed_at": obs.checked_at, "evidence_id": evidence_id}).last_pk)
        self._enqueue(rename.alerts, obs.checked_at, give_up, change_id=change_id, account_key=key)

    def _enqueue(self, alerts: Iterable[tuple[str, str]], at: str, give_up: float, **fields: Any) -> tuple[int, ...]:
        """Outbox rows, one per (kind, channel): pending from `at`, given up `give_up` seconds after it."""
        return tuple(int(self.db["alerts"].insert({
            "kind": kind, "channel": channel, "state": "pending", "attempts": 0, "next_attempt_at": at,
            "created_at": at, "give_up_at": later(at, give_up), **fields}).last_pk) for kind, channel in alerts)

    def get_service(self, key: str) -> str | None:
        """The service table's value for `key`, None when absent."""
        row = next(self.db.query("SELECT value FROM service WHERE key = ?", [key]), None)
        return row["value"] if row else None

    def move_checks_back(self, seconds: float, after: str) -> int:
        """Move every next check scheduled after `after` back by `seconds`, in one UPDATE over the stored ISO
        text (SQLite's strftime reads and writes the same `...SS.fffZ` form); how many moved."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE accounts SET next_check_at = strftime('%Y-%m-%dT%H:%M:%fZ', next_check_at, ?) "
                "WHERE next_check_at > ?", [f"-{seconds:.3f} seconds", after])
        return cursor.rowcount

    def service_keys(self, prefix: str) -> set[str]:
        """The service-table keys starting with `prefix` whose value is set (not empty), prefix removed."""
        return {row["key"][len(prefix):] for row in self.db.query(
            "SELECT key FROM service WHERE substr(key, 1, ?) = ? AND value != ''", [len(prefix), prefix])}

    def _write_span(self, obs: Observation, extend: int | None) -> None:
        """Run-length observations: a steady account costs one UPDATE per check (`extend`: the span it
        continues), not a new row; a new span (also after a classifier version bump) records the version."""
        if extend is not None:
            self.db.execute(
                "UPDATE observations SET last_checked_at = ?, checks = checks + 1, last_http_status = ?, "
                "reason = ? WHERE id = ?", [obs.checked_at, obs.http_status, obs.reason, extend])
            return
        self.db["observations"].insert({
            "account_key": obs.account_key, "status": obs.status.value, "rule": obs.rule, "reason": obs.reason,
            "first_checked_at": obs.checked_at, "last_checked_at": obs.checked_at, "checks": 1,
            "last_http_status": obs.http_status, "classifier_version": obs.classifier_version})

    def _insert_change(self, key: str, obs: Observation, change: Transition) -> int:
        evidence_id = self._insert_evidence(key, obs.evidence, obs.checked_at) if obs.evidence else None
        return int(self.db["changes"].insert({
            "account_key": key, "from_status": change.from_status.value, "to_status": change.to_status.value,
            "rule": obs.rule, "reason": obs.reason, "last_seen_before_at": change.last_seen_before_at,
            "first_seen_at": change.first_seen_at, "confirmed_at": change.confirmed_at,
            "evidence_id": evidence_id, "strength": "weak" if change.weak else "proof"}).last_pk)

    def _insert_evidence(self, key: str, reply: Reply, at: str) -> int:
        body = reply.body[:BODY_CAP]
        digest = hashlib.sha256(body).hexdigest()
        if not self.db["evidence_bodies"].count_where("sha256 = ?", [digest]):
            self.db["evidence_bodies"].insert({"sha256": digest, "size": len(body), "body": zlib.compress(body)})
        return int(self.db["evidence"].insert({
            "account_key": key, "url": reply.url, "http_status": reply.status,
            "headers": json.dumps(reply.headers, ensure_ascii=False, sort_keys=True), "sha256": digest,
            "truncated": int(len(reply.body) > BODY_CAP), "captured_at": at}).last_pk)

    # -- runs ------------------------------------------------------------------------------------------

    def start_run(self, command: str, platform: str, accounts: int, at: str) -> int:
        """A `runs` row for a crawl of `accounts` accounts of `platform` started at `at` (ISO-8601 UTC); its id."""
        return int(self.db["runs"].insert({"command": command, "platform": platform, "started_at": at,
                                           "accounts": accounts}).last_pk)

    def finish_run(self, run_id: int, counts: dict[str, int], reason: str, at: str,
                   unknown_rules: dict[str, int] | None = None) -> None:
        """`unknown_rules`: how many of the run's unknown observations each rule produced (None: not recorded).

        One UPDATE of the run's own row: drift is counted per run, never per check."""
        rules = None if unknown_rules is None else json.dumps(unknown_rules, sort_keys=True, ensure_ascii=False)
        drift = None if unknown_rules is None else sum(n for r, n in unknown_rules.items() if drift_rule(r))
        self.db["runs"].update(run_id, {"finished_at": at, "counts": json.dumps(counts, sort_keys=True),
                                        "unknown": counts.get("unknown", 0), "finish_reason": reason,
                                        "unknown_rules": rules, "drift": drift})

    def health_runs(self, platform: str, start: str) -> list[dict[str, Any]]:
        """The runs monitor.health.window_health reads: the platform's finished runs that started at or after
        `start` (the health window's start), and the newest one before it; newest first."""
        columns = "started_at, accounts, unknown, unknown_rules"
        return list(self.db.query(
            f"SELECT {columns} FROM runs WHERE platform = :p AND started_at >= :start AND finished_at IS NOT NULL "
            f"UNION ALL SELECT * FROM (SELECT {columns} FROM runs WHERE platform = :p AND started_at < :start "
            "AND finished_at IS NOT NULL ORDER BY started_at DESC LIMIT 1) ORDER BY started_at DESC",
            {"p": platform, "start": start}))

    def health_state(self, platform: str) -> str:
        """The platform's recorded health: 'blind' or 'ok' (also when never recorded)."""
        row = next(self.db.query("SELECT state FROM platform_states WHERE platform = ?", [platform]), None)
        return row["state"] if row else "ok"

    def set_health(self, platform: str, state: str, since: str | None, detail: str, channels: list[str],
                   at: str, give_up: float = 86400.0) -> None:
        """Record a platform going blind or recovering, and its health alert(s), in one transaction."""
        with self.db.atomic():
            self.db["platform_states"].upsert({"platform": platform, "state": state, "since": since,
                                               "changed_at": at}, pk="platform")
            self.health_alert(f"platform:{platform}", detail, channels, at, give_up)

    def health_alert(self, subject: str, detail: str, channels: list[str], at: str, give_up: float = 86400.0) -> None:
        """banwatch's own health (no channels: the kind is switched off). The detail is redacted here, for
        every caller: it can quote a platform's or Slack's answer to a request that carried a credential."""
        from banwatch.monitor.redact import redact

        with self.db.atomic():
            self._enqueue([("health", channel) for channel in channels], at, give_up, subject=subject,
                          detail=redact(detail))

    def set_service(self, values: dict[str, str], at: str) -> None:
        """Upsert service-table values (key -> text), stamped `at` (ISO-8601 UTC), in one transaction."""
        with self.db.atomic():
            for key, value in values.items():
                self.db["service"].upsert({"key": key, "value": value, "updated_at": at}, pk="key")

    # -- checks handed to fetch workers (banwatch run --redis; monitor.streams) ----------------------------

    def add_checks(self, run_id: int, platform: str, checks: list[tuple[str, str]], at: str) -> None:
        """Remember checks handed out: (check id, account key) pairs of one run, sent at `at`."""
        self.db["remote_checks"].insert_all(
            ({"check_id": cid, "account_key": key, "platform": platform, "run_id": run_id, "sent_at": at}
             for cid, key in checks), pk="check_id")

    def answer_check(self, check_id: str, worker: str, status: str, at: str) -> bool:
        """Mark a check answered, inside the transaction that records its answer; False when it was answered
        already, given up, or never handed out (the answer is then not recorded: at most once per check)."""
        cur = self.db.execute(
            "UPDATE remote_checks SET answered_at = ?, worker = ?, status = ? "
            "WHERE check_id = ? AND answered_at IS NULL AND given_up_at IS NULL", [at, worker, status, check_id])
        return cur.rowcount == 1

    def open_checks(self) -> list[dict[str, Any]]:
        """Checks handed out, neither answered nor given up, oldest first: check_id, account_key, platform,
        run_id, sent_at (a restarted coordinator takes them up again)."""
        return list(self.db.query(
            "SELECT check_id, account_key, platform, run_id, sent_at FROM remote_checks "
            "WHERE answered_at IS NULL AND given_up_at IS NULL ORDER BY sent_at"))

    def give_up_checks(self, check_ids: list[str], at: str) -> None:
        """These checks will not be waited for any more (expired): an answer that still comes is not recorded."""
        with self.db.atomic():
            for cid in check_ids:
                self.db.execute("UPDATE remote_checks SET given_up_at = ? WHERE check_id = ? AND answered_at IS NULL",
                                [at, cid])

    def prune_checks(self, before: str) -> int:
        """Delete check rows sent before `before` (ISO-8601 UTC) that are answered or given up; how many."""
        with self.db.atomic():
            return int(self.db.execute(
                "DELETE FROM remote_checks WHERE sent_at < ? AND (answered_at IS NOT NULL OR given_up_at IS NOT NULL)",
                [before]).rowcount)

    PRUNABLE = {"observations": "last_checked_at", "runs": "started_at", "changes": "confirmed_at"}

    def prune(self, cutoffs: dict[str, str], dry_run: bool = False, batch: int = 500) -> dict[str, int]:
        """Delete observation spans / runs older than their cutoff, `batch` rows per transaction, so a
        running monitor never waits long for the write lock. Changes and evidence are never pruned."""
        counts = {}
        for table, cutoff in cutoffs.items():
            column = self.PRUNABLE[table]
            where = f"{column} < ?"
            if table == "observations":  # an account's latest span is its current state: never pruned
                where += " AND id NOT IN (SELECT max(id) FROM observations GROUP BY account_key)"
            if dry_run:
                counts[table] = self.db[table].count_where(where, [cutoff])
                continue
            if table == "changes":
                counts[table] = self._prune_changes(cutoff, batch)
                continue
            counts[table] = 0
            while True:
                with self.db.atomic():
                    cur = self.db.execute(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where} LIMIT ?)",
                        [cutoff, batch])
                counts[table] += cur.rowcount
                if cur.rowcount < batch:
                    break
        return counts

    def compact_runs(self, before: str) -> int:
        """Roll per-crawl `runs` older than `before` up into one row per platform and hour.

        The service records a run per crawl (several a minute); health needs them for minutes, people read
        them per day. Rollups keep the per-status and per-unknown-rule counts summed and `command = 'rollup'`;
        `unknown_rules` and `drift` stay NULL only when none of the rolled-up runs recorded them.
        """
        buckets = list(self.db.query(
            "SELECT platform, substr(started_at, 1, 13) AS hour FROM runs WHERE started_at < ? "
            "AND command != 'rollup' GROUP BY platform, hour", [before]))
        for b in buckets:
            with self.db.atomic():
                rows = list(self.db.query(
                    "SELECT id, finished_at, accounts, unknown, counts, unknown_rules, drift FROM runs "
                    "WHERE platform = ? AND substr(started_at, 1, 13) = ? AND command != 'rollup' AND started_at < ?",
                    [b["platform"], b["hour"], before]))
                counts: dict[str, int] = {}
                rules: dict[str, int] | None = None
                for r in rows:
                    for status, n in json.loads(r["counts"] or "{}").items():
                        counts[status] = counts.get(status, 0) + n
                    if r["unknown_rules"] is not None:
                        rules = {} if rules is None else rules
                        for rule, n in json.loads(r["unknown_rules"]).items():
                            rules[rule] = rules.get(rule, 0) + n
                self.db["runs"].insert({
                    "command": "rollup", "platform": b["platform"], "started_at": b["hour"] + ":00:00.000Z",
                    "finished_at": max((r["finished_at"] or "" for r in rows), default=None),
                    "accounts": sum(r["accounts"] or 0 for r in rows), "unknown": sum(r["unknown"] or 0 for r in rows),
                    "counts": json.dumps(counts, sort_keys=True), "finish_reason": f"rollup of {len(rows)} runs",
                    "unknown_rules": None if rules is None else json.dumps(rules, sort_keys=True, ensure_ascii=False),
                    "drift": None if rules is None else sum(r["drift"] or 0 for r in rows)})
                ids = [r["id"] for r in rows]
                self.db.execute(f"DELETE FROM runs WHERE id IN ({','.join('?' * len(ids))})", ids)
        return len(buckets)

    def _prune_changes(self, cutoff: str, batch: int) -> int:
        """Changes older than `cutoff`, with their alerts and evidence; bodies no evidence uses any more."""
        total = 0
        while True:
            with self.db.atomic():
                ids = [r["id"] for r in self.db.query(
                    "SELECT id FROM changes WHERE confirmed_at < ? LIMIT ?", [cutoff, batch])]
                if not ids:
                    break
                marks = ",".join("?" * len(ids))
                evidence = [r["evidence_id"] for r in self.db.query(
                    f"SELECT evidence_id FROM changes WHERE id IN ({marks}) AND evidence_id IS NOT NULL", ids)]
                self.db.execute(f"DELETE FROM alerts WHERE change_id IN ({marks})", ids)
                self.db.execute(f"DELETE FROM changes WHERE id IN ({marks})", ids)
                if evidence:
                    self.db.execute(f"DELETE FROM evidence WHERE id IN ({','.join('?' * len(evidence))})", evidence)
                self.db.execute("DELETE FROM evidence_bodies WHERE sha256 NOT IN (SELECT sha256 FROM evidence)")
            total += len(ids)
        return total

    # -- alerts ----------------------------------------------------------------------------------------

    def alert_context(self, alert_id: int) -> dict[str, Any]:
        """Everything a message about this alert shows: the change, the account, its entity's others."""
        alert = self.db["alerts"].get(alert_id)
        if alert["kind"] == "health":
            return {"alert_id": alert_id, "kind": "health", "channel": alert["channel"],
                    "subject": alert["subject"], "detail": alert["detail"], "created_at": alert["created_at"]}
        row = next(self.db.query("""
            SELECT al.id AS alert_id, al.kind, al.channel, c.*, a.platform, a.handle, a.name, a.display_name,
                   a.current_handle,
                   a.entity, a.tags, a.url, a.platform_id, e.sha256
            FROM alerts al JOIN changes c ON c.id = al.change_id JOIN accounts a ON a.key = al.account_key
            LEFT JOIN evidence e ON e.id = c.evidence_id WHERE al.id = ?""", [alert_id]))
        siblings = []
        if row["entity"]:
            siblings = list(self.db.query(
                "SELECT platform, handle, status FROM accounts WHERE entity = ? AND key != ? "
                "AND removed_at IS NULL ORDER BY platform, handle", [row["entity"], row["account_key"]]))
        return {**row, "tags": json.loads(row["tags"] or "[]"), "siblings": siblings}
