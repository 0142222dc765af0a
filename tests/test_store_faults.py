"""Failures of the database file itself are one line, wherever they are met: a lease renewal that meets
another writer's lock, a read-only file, a corrupt file. A bug elsewhere keeps its traceback."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from banwatch.monitor import outbox
from banwatch.monitor.errors import database_error, store_failure
from banwatch.monitor.outbox import Lease
from banwatch.monitor.store import Store
from tests.test_locking import hold_write_lock


def _traceback(record: logging.LogRecord) -> bool:
    """The record carries a traceback (as exc_info, or as exc_text once the redaction filter rendered it)."""
    return bool(record.exc_info or record.exc_text)


def test_a_lease_renewal_that_meets_the_lock_is_one_line_and_keeps_trying(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("BANWATCH_BUSY_TIMEOUT", "0.2")
    db = tmp_path / "banwatch.db"
    store = Store.open(db)
    lease = Lease(store, "lease:delivery", "test")
    caplog.set_level(logging.ERROR, logger="banwatch.monitor.outbox")
    with lease.held(renew=0.1) as other:
        assert other is None
        holder = hold_write_lock(db, 1.0)
        holder.wait(timeout=10)
        time.sleep(0.4)  # renewals after the lock is gone succeed again
    lines = [r for r in caplog.records if "lease not renewed" in r.getMessage()]
    assert lines and not any(_traceback(r) for r in lines), "one line each, no traceback"
    assert "database is locked" in lines[0].getMessage() and "trying again" in lines[0].getMessage()
    store.close()


def test_control_a_renewal_that_fails_for_another_reason_keeps_its_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(tmp_path / "banwatch.db")

    def broken(self: Lease) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(outbox.Lease, "take", broken)
    lease = Lease(store, "lease:delivery", "test")
    caplog.set_level(logging.ERROR, logger="banwatch.monitor.outbox")
    stop_after = time.monotonic() + 5
    lease.wait = lambda seconds, poll=0.25: None  # type: ignore[method-assign]  # held without taking
    with lease.held(renew=0.05):
        while time.monotonic() < stop_after and not any("lease not renewed" in r.getMessage()
                                                        for r in caplog.records):
            time.sleep(0.05)
    assert any(_traceback(r) for r in caplog.records if "lease not renewed" in r.getMessage())
    store.close()


def test_a_read_only_and_a_corrupt_database_are_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "banwatch.db"
    Store.open(path).close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as readonly:
        ro.execute("INSERT INTO service (key, value, updated_at) VALUES ('k', 'v', 'now')")
    ro.close()
    mapped = database_error(readonly.value, str(path))
    assert mapped is not None and "read-only" in str(mapped) and "\n" not in str(mapped)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    with pytest.raises(Exception) as opened:
        Store.open(corrupt)
    assert "corrupt" in str(opened.value) or "not a usable banwatch database" in str(opened.value)
    assert store_failure(RuntimeError("a bug"), str(path)) is None, "anything else is not the database's"
