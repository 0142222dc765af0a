"""Scheduling at scale: the due query uses its index, first checks are spread, misfires catch up once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from banwatch.monitor.due import first_checks, fraction, next_check
from banwatch.monitor.model import Account, Observation, Status
from banwatch.monitor.state import advance
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import iso, parse_iso
from banwatch.monitor.watchlist import Watchlist
from banwatch.spiders.platforms import PLATFORMS

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def accounts(n: int, platform: str = "reddit", interval: float = 600) -> list[Account]:
    return [Account(platform, f"user{i:05d}", f"{platform}:user{i:05d}", interval=interval) for i in range(n)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("big") / "b.db")
    store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts(10_000))), iso(NOW))
    return store


def test_due_query_uses_its_index(big: Store) -> None:
    plan = " ".join(str(r[-1]) for r in big.db.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM accounts WHERE platform = ? AND next_check_at <= ? "
        "ORDER BY next_check_at LIMIT ?", ["reddit", iso(NOW), 50]).fetchall())
    assert "USING INDEX idx_accounts_due" in plan and "SCAN accounts" not in plan.replace("USING INDEX", "")
    assert "TEMP B-TREE" not in plan  # the index also gives the order


def test_first_checks_of_10000_accounts_are_spread_over_the_interval(big: Store) -> None:
    times = [parse_iso(r["next_check_at"]) for r in big.db.query("SELECT next_check_at FROM accounts")]
    offsets = [(t - NOW).total_seconds() for t in times]
    assert min(offsets) >= 0 and max(offsets) <= 600
    assert max(offsets) - min(offsets) > 0.95 * 600
    per_second = Counter(int(o) for o in offsets)
    assert max(per_second.values()) <= 40, "no second gets more than a few times its share (10000/600 ≈ 17)"
    assert len(big.due("reddit", iso(NOW + timedelta(seconds=60)), 100_000)) < 1500


def test_a_short_watchlist_is_checked_at_once() -> None:
    few = first_checks(accounts(5), NOW, lambda p: PLATFORMS[p].politeness)
    assert all((t - NOW).total_seconds() <= 5 * PLATFORMS["reddit"].politeness.delay for t in few.values())


def test_jitter_spreads_later_checks_by_ten_percent() -> None:
    (a,) = accounts(1)
    gaps = [(next_check(a, NOW + timedelta(seconds=i), False) - NOW - timedelta(seconds=i)).total_seconds()
            for i in range(500)]
    assert 540 <= min(gaps) < 560 and 640 < max(gaps) <= 660
    assert next_check(a, NOW, True) == NOW + timedelta(seconds=a.confirm_delay)


def test_fraction_is_stable_and_uniform_enough() -> None:
    assert fraction("a") == fraction("a") != fraction("b")
    buckets = Counter(int(fraction(str(i)) * 10) for i in range(10_000))
    assert min(buckets.values()) > 900


def test_after_an_hour_down_each_account_is_checked_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    few = accounts(20, interval=60)
    store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(few)), iso(NOW))
    back = NOW + timedelta(hours=1)  # the process was down; 60 intervals were missed
    due = store.due("reddit", iso(back), 1000)
    assert sorted(due) == sorted(a.key for a in few)  # once each, not once per missed interval
    for a in few:
        obs = Observation(a.key, Status.ACTIVE, "reddit.profile", "ok", iso(back))
        store.record(a, obs, advance(store.state(a.key), Status.ACTIVE, iso(back), 2))
    assert store.due("reddit", iso(back + timedelta(seconds=50)), 1000) == []


@pytest.mark.parametrize("paced", [True, False], ids=["from-the-due-time", "control-from-the-answer"])
def test_rounds_keep_the_interval_although_each_check_waits_and_takes_time(paced: bool) -> None:
    """Each check is answered 4 s after it was due (a queue for a free slot, then the fetch): counted from the
    due time, 50 rounds of a 20 s interval take 50 intervals (±10 % jitter averages out); counted from the
    answer, each round is 4 s longer."""
    a = Account("reddit", "x", "reddit:x", interval=20.0)
    due_at = NOW
    for _ in range(50):
        checked = due_at + timedelta(seconds=4)
        due_at = next_check(a, checked, False, due_at if paced else None)
    period = (due_at - NOW).total_seconds() / 50
    if paced:
        assert abs(period - 20.0) < 20.0 * 0.05, period
    else:
        assert period > 23.0, period


def test_a_check_later_than_an_interval_or_early_counts_from_its_answer() -> None:
    a = Account("reddit", "x", "reddit:x", interval=20.0)
    stopped = next_check(a, NOW + timedelta(hours=1), False, NOW)  # the service was down for an hour
    assert stopped - (NOW + timedelta(hours=1)) >= timedelta(seconds=18), "no burst to repay the backlog"
    early = next_check(a, NOW - timedelta(seconds=10), False, NOW)  # `banwatch check` before it was due
    assert early - (NOW - timedelta(seconds=10)) <= timedelta(seconds=22)
