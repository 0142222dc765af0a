"""The store: atomic changes, run-length observations, deduplicated evidence, read-only queries."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor import evidence
from banwatch.monitor.cli import cli
from banwatch.monitor.errors import StoreError
from banwatch.monitor.model import Account, Observation, Reply, Status
from banwatch.monitor.query import run_sql
from banwatch.monitor.state import advance, alert_kind
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import parse

WL = parse("alerts: {slack_channel: '#c'}\naccounts:\n  - name: Outlet\n    accounts: "
           "{reddit: outlet, bluesky: outlet.bsky.social}\n", "w.yaml")
REDDIT, BSKY = WL.accounts


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "b.db")
    s.sync_watchlist(WL, "2026-01-01T00:00:00.000Z")
    yield s
    s.close()


def observe(store: Store, account: Account, status: Status, at: str, body: bytes = b"{}", rule: str = "r.x"):
    obs = Observation(account.key, status, rule, "because", at, http_status=200,
                      evidence=Reply("https://x/" + account.handle, 200, {"content-type": "application/json"}, body))
    step = advance(store.state(account.key), status, at, account.confirmations)
    kind = alert_kind(step.transition) if step.transition else None
    return store.record(account, obs, step, [(kind, "#c")] if kind else [])


def test_steady_account_costs_one_row(store: Store) -> None:
    for i in range(5):
        observe(store, REDDIT, Status.ACTIVE, f"2026-01-01T00:0{i}:00.000Z")
    rows = list(store.db.query("SELECT status, checks, first_checked_at, last_checked_at FROM observations"))
    assert rows == [{"status": "active", "checks": 5, "first_checked_at": "2026-01-01T00:00:00.000Z",
                     "last_checked_at": "2026-01-01T00:04:00.000Z"}]


def test_confirmed_change_writes_change_evidence_and_alert(store: Store) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    assert observe(store, REDDIT, Status.SUSPENDED, "2026-01-01T00:01:00.000Z").pending
    body = b'{"kind": "t2", "data": {"is_suspended": true}}'
    rec = observe(store, REDDIT, Status.SUSPENDED, "2026-01-01T00:02:00.000Z", body=body)
    change = store.db["changes"].get(rec.change_id)
    assert (change["from_status"], change["to_status"], change["last_seen_before_at"], change["first_seen_at"],
            change["confirmed_at"]) == ("active", "suspended", "2026-01-01T00:00:00.000Z",
                                        "2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z")
    evidence_row = store.db["evidence"].get(change["evidence_id"])
    assert evidence_row["sha256"] == hashlib.sha256(body).hexdigest()
    assert evidence.body(store.db.conn, evidence_row["sha256"]) == body
    alert = store.db["alerts"].get(rec.alert_ids[0])
    assert (alert["kind"], alert["state"], alert["channel"]) == ("suspended", "pending", "#c")
    ctx = store.alert_context(alert["id"])
    assert ctx["entity"] == "Outlet" and ctx["siblings"] == [
        {"platform": "bluesky", "handle": "outlet.bsky.social", "status": None}]


def test_identical_bodies_are_stored_once(store: Store) -> None:
    for account in (REDDIT, BSKY):
        observe(store, account, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
        observe(store, account, Status.NOT_FOUND, "2026-01-01T00:01:00.000Z", body=b"same")
        observe(store, account, Status.NOT_FOUND, "2026-01-01T00:02:00.000Z", body=b"same")
    assert store.db["evidence"].count == 2 and store.db["evidence_bodies"].count == 1


def test_a_failure_mid_change_leaves_nothing_half_written(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    observe(store, REDDIT, Status.SUSPENDED, "2026-01-01T00:01:00.000Z")
    before = (store.state(REDDIT.key), store.db["observations"].count)

    def boom(_change: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr("tests.test_store.alert_kind", boom)
    with pytest.raises(RuntimeError):
        observe(store, REDDIT, Status.SUSPENDED, "2026-01-01T00:02:00.000Z")
    assert (store.state(REDDIT.key), store.db["observations"].count) == before
    assert store.db["changes"].count == 0 and store.db["evidence"].count == 0 and store.db["alerts"].count == 0
    row = next(store.db.query("SELECT last_checked_at FROM observations ORDER BY id DESC LIMIT 1"))
    assert row["last_checked_at"] == "2026-01-01T00:01:00.000Z"


def test_removed_accounts_keep_their_history(store: Store) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    store.sync_watchlist(parse("accounts:\n  - {platform: bluesky, handle: outlet.bsky.social}\n", "w.yaml"),
                         "2026-01-02T00:00:00.000Z")
    row = store.db["accounts"].get(REDDIT.key)
    assert row["removed_at"] == "2026-01-02T00:00:00.000Z" and store.db["observations"].count == 1
    assert [r["key"] for r in store.db.query("SELECT key FROM current_status")] == [BSKY.key]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema v99 is newer"):
        Store.open(db)


def test_sql_is_read_only_and_reads_while_a_writer_holds_a_transaction(store: Store) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    with pytest.raises(StoreError, match="read-only"):
        run_sql(store.path, "DELETE FROM accounts")
    with pytest.raises(StoreError, match="read-only"):
        run_sql(store.path, "CREATE TABLE x (a)")
    store.db.execute("BEGIN IMMEDIATE")
    store.db.execute("UPDATE accounts SET status = 'suspended'")
    cols, rows = run_sql(store.path, "SELECT key, status FROM accounts ORDER BY key")  # not blocked by the writer
    store.db.execute("ROLLBACK")
    assert rows == [(BSKY.key, None), (REDDIT.key, "active")]
    assert store.db["accounts"].count == 2


def test_runaway_query_is_interrupted(store: Store) -> None:
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(StoreError, match="interrupted after 0.2s"):
        run_sql(store.path, slow, timeout=0.2)


def test_sql_command_formats(store: Store) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    runner = CliRunner()
    q = "SELECT key, status FROM accounts WHERE status IS NOT NULL"
    out = runner.invoke(cli, ["--db", store.path, "sql", q, "--json"])
    assert out.exit_code == 0 and '"key": "reddit:outlet"' in out.output
    out = runner.invoke(cli, ["--db", store.path, "sql", q, "--csv"])
    assert out.output.splitlines() == ["key,status", "reddit:outlet,active"]
    out = runner.invoke(cli, ["--db", store.path, "sql", "DROP TABLE accounts"])
    assert out.exit_code == 1 and "read-only" in out.output and "Traceback" not in out.output
    out = runner.invoke(cli, ["--db", str(Path(store.path).parent / "missing.db"), "status"])
    assert out.exit_code == 1 and "no database yet" in out.output


def test_prune_keeps_changes_and_each_accounts_current_span(store: Store, tmp_path: Path) -> None:
    observe(store, REDDIT, Status.ACTIVE, "2025-01-01T00:00:00.000Z")
    observe(store, REDDIT, Status.SUSPENDED, "2025-01-02T00:00:00.000Z")
    observe(store, REDDIT, Status.SUSPENDED, "2025-01-03T00:00:00.000Z")  # confirmed: a change row
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")  # pending reinstatement, current span
    for at in ("2025-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"):
        store.finish_run(store.start_run("run", "reddit", 1, at), {"active": 1}, "finished", at)
    cutoffs = {"observations": "2025-06-01T00:00:00.000Z", "runs": "2025-06-01T00:00:00.000Z"}
    assert store.prune(cutoffs, dry_run=True) == {"observations": 2, "runs": 1}
    assert store.db["observations"].count == 3  # a dry run deletes nothing
    assert store.prune(cutoffs, batch=1) == {"observations": 2, "runs": 1}
    assert [r["status"] for r in store.db.query("SELECT status FROM observations")] == ["active"]
    assert store.db["changes"].count == 1 and store.db["evidence"].count == 1 and store.db["runs"].count == 1


def test_prune_command_reads_retention_from_the_watchlist(store: Store, tmp_path: Path) -> None:
    wl = tmp_path / "w.yaml"
    wl.write_text("retention: {observations: 30d, runs: 1d}\naccounts:\n  - name: Outlet\n    accounts: "
                  "{reddit: outlet, bluesky: outlet.bsky.social}\n", encoding="utf-8")
    observe(store, REDDIT, Status.ACTIVE, "2020-01-01T00:00:00.000Z")
    observe(store, REDDIT, Status.NOT_FOUND, "2020-01-02T00:00:00.000Z")
    out = CliRunner().invoke(cli, ["--watchlist", str(wl), "--db", store.path, "prune", "--dry-run"])
    assert out.exit_code == 0 and "would delete 1 observations, would delete 0 runs" in out.output
    out = CliRunner().invoke(cli, ["--watchlist", str(wl), "--db", store.path, "prune"])
    assert "deleted 1 observations" in out.output and store.db["observations"].count == 1


def test_runs_older_than_a_day_roll_up_per_platform_and_hour(store: Store) -> None:
    for minute in range(0, 60, 5):
        at = f"2026-01-01T10:{minute:02d}:00.000Z"
        store.finish_run(store.start_run("run", "reddit", 4, at), {"active": 3, "unknown": 1}, "finished", at)
    recent = "2026-01-03T10:00:00.000Z"
    store.finish_run(store.start_run("run", "reddit", 4, recent), {"active": 4}, "finished", recent)
    assert store.compact_runs("2026-01-02T10:00:00.000Z") == 1
    rows = list(store.db.query("SELECT command, started_at, accounts, unknown, counts FROM runs ORDER BY started_at"))
    assert rows[0] == {"command": "rollup", "started_at": "2026-01-01T10:00:00.000Z", "accounts": 48,
                       "unknown": 12, "counts": '{"active": 36, "unknown": 12}'}
    assert rows[1]["command"] == "run" and len(rows) == 2
    assert store.compact_runs("2026-01-02T10:00:00.000Z") == 0, "rollups are not rolled up again"
