"""Another writer, a full disk: write transactions begin IMMEDIATE and wait out the busy timeout; what
outlasts it is a one-line error naming the database, never a traceback, and nothing is half-written."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from banwatch.monitor.errors import StoreError
from banwatch.monitor.model import Status
from banwatch.monitor.store import Store
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms
from tests.test_e2e import ACTIVE, serve

WATCHLIST = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s, health_window: 2s}
platforms:
  reddit: {delay: 0s, concurrency: 4}
accounts:
  - {platform: reddit, handle: spez}
  - {platform: reddit, handle: outlet}
"""


def setup(tmp_path: Path, platforms: FakePlatforms) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    for key in ("reddit:spez", "reddit:outlet"):
        serve(platforms, key, ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, None)
    Store.open(tmp_path / "banwatch.db").close()  # the database exists (WAL, migrated) before anyone locks it
    return banwatch


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes the write lock (BEGIN IMMEDIATE, one write) and keeps it `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute(\"INSERT INTO service (key, value, updated_at) VALUES ('holder', 'x', 'now')\")\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
        "c.execute('ROLLBACK')\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_check_waits_for_a_writer_that_lets_go(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "20"
    holder = hold_write_lock(tmp_path / "banwatch.db", 1.0)
    try:
        began = time.monotonic()
        proc = banwatch("check", check=False)
        assert proc.returncode == 0, proc.stderr  # before IMMEDIATE: "database is locked" at once
        assert time.monotonic() - began >= 0.5, "it waited for the lock"
    finally:
        holder.kill()
        holder.wait()
    assert {r["key"]: r["status"] for r in banwatch.rows("SELECT key, status FROM accounts")} == {
        "reddit:spez": "active", "reddit:outlet": "active"}


def test_check_gives_up_after_the_busy_timeout_with_one_line(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "1"
    db = tmp_path / "banwatch.db"
    holder = hold_write_lock(db, 30)
    try:
        began = time.monotonic()
        proc = banwatch("check", check=False)
        waited = time.monotonic() - began
    finally:
        holder.kill()
        holder.wait()
    line = one_line_error(proc, str(db), "database is locked", "BANWATCH_BUSY_TIMEOUT")
    assert waited >= 0.9, f"gave up before the busy timeout: {line}"
    assert not banwatch.rows("SELECT key FROM accounts"), "nothing half-written"
    assert not banwatch.rows("SELECT id FROM runs")
    assert not banwatch.rows("SELECT key FROM service")  # nor the holder's rolled-back row


def test_run_at_start_waits_for_a_writer_that_lets_go(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "20"
    holder = hold_write_lock(tmp_path / "banwatch.db", 1.0)
    proc = banwatch.start("run")
    try:
        wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key = 'last_tick_at'"), 30, "the first tick")
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 2, 30,
                 "both accounts checked")
    finally:
        holder.kill()
        holder.wait()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert "Traceback" not in banwatch.log.read_text()


def test_run_at_start_gives_up_with_one_line(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "1"
    db = tmp_path / "banwatch.db"
    holder = hold_write_lock(db, 30)
    try:
        proc = banwatch("run", check=False, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    one_line_error(proc, str(db), "database is locked")
    assert not banwatch.rows("SELECT key FROM accounts")


def test_busy_timeout_must_be_seconds(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "soon"
    one_line_error(banwatch("check", check=False), "BANWATCH_BUSY_TIMEOUT")


def test_alerts_send_gives_up_with_one_line(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    banwatch("check")
    db = tmp_path / "banwatch.db"
    with sqlite3.connect(db) as conn:  # one alert waiting, so sending has something to write
        conn.execute("INSERT INTO alerts (kind, channel, state, attempts, next_attempt_at, created_at, give_up_at, "
                     "subject, detail) VALUES ('health', '', 'pending', 0, '2000-01-01T00:00:00.000Z', "
                     "'2000-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z', 'test', 'locked')")
    conn.close()
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "0.5"
    holder = hold_write_lock(db, 30)
    try:
        proc = banwatch("alerts", "send", check=False)
    finally:
        holder.kill()
        holder.wait()
    one_line_error(proc, str(db), "database is locked")
    assert [r["state"] for r in banwatch.rows("SELECT state FROM alerts")] == ["pending"]


# -- in process ----------------------------------------------------------------------------------------


def test_a_read_then_write_transaction_waits_instead_of_failing_at_once(tmp_path: Path) -> None:
    """The mechanism: a deferred transaction that has read cannot wait for the write lock (SQLite gives
    SQLITE_BUSY at once); atomic() begins IMMEDIATE, so the busy handler waits before anything is read."""
    path = tmp_path / "b.db"
    Store.open(path).close()
    store = Store.open(path, busy_timeout=10)
    holder = hold_write_lock(path, 1.0)
    try:
        began = time.monotonic()
        with store.db.atomic():
            store.get_service("x")  # read ...
            store.db["service"].insert({"key": "x", "value": "1", "updated_at": "now"})  # ... then write
        assert time.monotonic() - began >= 0.5
    finally:
        holder.kill()
        holder.wait()
        store.close()


def test_locked_past_the_timeout_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    Store.open(path).close()
    store = Store.open(path, busy_timeout=0.3)
    holder = hold_write_lock(path, 30)
    try:
        with pytest.raises(StoreError, match="database is locked") as err:
            store.set_service({"a": "1"}, "now")
        assert str(path) in str(err.value) and "\n" not in str(err.value)
        assert not store.db.conn.in_transaction
    finally:
        holder.kill()
        holder.wait()
    store.set_service({"a": "1"}, "now")  # the store is usable once the lock is gone
    assert store.get_service("a") == "1"
    store.close()


def test_a_full_database_is_a_one_line_error_and_nothing_half_written(tmp_path: Path) -> None:
    """Disk full, simulated: max_page_count caps the file at what it holds now (SQLITE_FULL)."""
    from tests.test_store import REDDIT, WL, observe

    path = tmp_path / "full.db"
    store = Store.open(path)
    store.sync_watchlist(WL, "2026-01-01T00:00:00.000Z")
    observe(store, REDDIT, Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    before = store.db["observations"].count
    with pytest.raises(StoreError, match="full") as err:
        with store.db.atomic():
            store.db["service"].insert_all(
                [{"key": f"k{i}", "value": "x" * 2000, "updated_at": "now"} for i in range(200)])
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert not store.db.conn.in_transaction
    assert store.db["service"].count == 0 and store.db["observations"].count == before
    store.close()


def test_a_full_database_makes_check_exit_1_with_one_line(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    db = tmp_path / "banwatch.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    # max_page_count is per connection: the check's own connection gets it through a sitecustomize hook
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sqlite3\n"
        "_connect = sqlite3.connect\n"
        "def connect(*a, **k):\n"
        "    c = _connect(*a, **k)\n"
        f"    c.execute('PRAGMA max_page_count = {pages}')\n"
        "    return c\n"
        "sqlite3.connect = connect\n", encoding="utf-8")
    banwatch.env["PYTHONPATH"] = f"{hook}:{banwatch.env['PYTHONPATH']}"
    many = "".join(f"  - {{platform: reddit, handle: filler{i}, name: {'x' * 200}}}\n" for i in range(300))
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST + many, encoding="utf-8")  # more than the file can hold
    proc = banwatch("check", check=False)
    one_line_error(proc, str(db), "full")
    assert not banwatch.rows("SELECT key FROM accounts"), "nothing half-written"
