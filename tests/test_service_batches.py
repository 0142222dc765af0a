"""The service's batches (monitor.inflight) in process: answers recorded as they come, a batch's run row finished
when its last check is answered, and an answer the database could not record leaves its account due."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from banwatch.monitor.model import Account, Observation, Politeness, Status
from banwatch.monitor.scheduler import Service
from banwatch.monitor.settings import SlackSettings
from banwatch.monitor.timeutil import now_iso
from banwatch.monitor.watchlist import Watchlist


class HeldFetcher:
    """A fetcher that only remembers what it was given: the test answers for it."""

    def __init__(self) -> None:
        self.given: list[str] = []

    def submit(self, accounts: list[Account]) -> None:
        self.given += [a.key for a in accounts]


def service(tmp_path: Path, n: int) -> Service:
    accounts = tuple(Account("reddit", f"user{i}", f"reddit:user{i}", interval=60.0) for i in range(n))
    wl = Watchlist(path=str(tmp_path / "w.yaml"), accounts=accounts,
                   platforms={"reddit": Politeness(delay=0.0, concurrency=4, batch=2)})
    svc = Service(wl, str(tmp_path / "banwatch.db"), {}, lambda _w: SlackSettings(bot_token=None, channel="", api_url=""))
    svc.store.sync_watchlist(wl, now_iso())
    svc.fetcher = HeldFetcher()
    return svc


def answer(svc: Service, key: str) -> None:
    svc.on_result(Observation(key, Status.ACTIVE, "reddit.profile", "ok", now_iso()))


def test_batches_bound_what_is_outstanding_and_finish_their_run_when_answered(tmp_path: Path) -> None:
    svc = service(tmp_path, 3)
    asyncio.run(svc.tick())
    assert len(svc.fetcher.given) == 2, "at most the platform's batch (2) outstanding"
    asyncio.run(svc.tick())
    assert len(svc.fetcher.given) == 2, "nothing more while the batch is outstanding"
    first = svc.fetcher.given[0]
    answer(svc, first)
    assert svc.store.db.execute("SELECT finished_at FROM runs").fetchone()[0] is None, "half a batch: run open"
    asyncio.run(svc.tick())
    assert len(svc.fetcher.given) == 3, "an answered check makes room at once (no waiting for the batch)"
    answer(svc, svc.fetcher.given[1])
    finished = svc.store.db.execute("SELECT accounts, counts FROM runs WHERE finished_at IS NOT NULL").fetchall()
    assert finished == [(2, '{"active": 2}')], finished
    svc.store.close()


@pytest.mark.parametrize("locked", [True, False], ids=["database-locked", "control-unlocked"])
def test_an_answer_the_database_could_not_record_leaves_its_account_due(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, locked: bool) -> None:
    svc = service(tmp_path, 1)
    svc.store.db.busy_timeout = 0.1  # type: ignore[attr-defined]
    svc.store.db.execute("PRAGMA busy_timeout = 100")
    asyncio.run(svc.tick())
    key = svc.fetcher.given[0]
    before = svc.store.db.execute("SELECT next_check_at FROM accounts").fetchone()[0]
    holder: Any = None
    if locked:
        holder = sqlite3.connect(tmp_path / "banwatch.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    with caplog.at_level(logging.ERROR, logger="banwatch.service"):
        answer(svc, key)  # the batch completes: flushed at once
    if holder is not None:
        holder.execute("ROLLBACK")
        holder.close()
    after = svc.store.db.execute("SELECT next_check_at, status FROM accounts").fetchone()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if locked:
        assert after == (before, None), "nothing of the answer written: the account stays due"
        assert "1 answered check not recorded" in errors[0] and len(errors) <= 2, errors  # and its run, once
        assert key not in svc.inflight, "no longer outstanding: the next tick hands it out again"
        asyncio.run(svc.tick())
        assert svc.fetcher.given.count(key) == 2
        assert svc.store.db.execute("SELECT count(*) FROM runs WHERE finished_at IS NULL").fetchone()[0] == 1, \
            "the run the lock kept open is finished by the next tick; only the new batch's is open"
    else:
        assert after[0] > before and after[1] == "active" and errors == []
    svc.store.close()


def test_worker_checks_are_answered_once_and_pruned_only_when_settled(tmp_path: Path) -> None:
    from banwatch.monitor.store import Store

    store = Store.open(str(tmp_path / "b.db"))
    store.add_checks(1, "reddit", [("a", "reddit:a"), ("b", "reddit:b"), ("c", "reddit:c")], "2026-01-01T00:00:00Z")
    assert store.answer_check("a", "w1", "active", "2026-01-01T00:00:01Z") is True
    assert store.answer_check("a", "w2", "active", "2026-01-01T00:00:02Z") is False, "a second answer is refused"
    assert store.answer_check("zz", "w1", "active", "2026-01-01T00:00:02Z") is False, "never handed out"
    store.give_up_checks(["b"], "2026-01-01T00:10:00Z")
    assert store.answer_check("b", "w1", "suspended", "2026-01-01T00:11:00Z") is False, "given up: refused"
    assert [r["check_id"] for r in store.open_checks()] == ["c"]
    assert store.prune_checks("2026-01-02T00:00:00Z") == 2, "answered and given up go; the open one stays"
    assert [r["check_id"] for r in store.open_checks()] == ["c"]
    assert store.prune_checks("2025-12-31T00:00:00Z") == 0, "control: nothing sent before the cutoff"
    store.close()
