"""Wall-clock steps: the service's ticks and due accounts keep their pace when the wall clock jumps."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from banwatch.monitor import due
from banwatch.monitor.model import Account, Observation, Status
from banwatch.monitor.scheduler import Service
from banwatch.monitor.settings import SlackSettings
from banwatch.monitor.state import advance
from banwatch.monitor.timeutil import iso, parse_iso
from banwatch.monitor.watchlist import Watchlist
from banwatch.spiders.platforms.base import Politeness

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
INTERVAL = 60.0
TICK = 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now, self.mono = START, 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)  # the wall clock alone: NTP, an operator, a VM resume


class Harness:
    """A Service on a fake clock whose crawls record `active` at once, stamped with the fake wall time."""

    def __init__(self, tmp_path: Path, n: int) -> None:
        self.clock = FakeClock()
        self.accounts = [Account("reddit", f"user{i:03d}", f"reddit:user{i:03d}", interval=INTERVAL) for i in range(n)]
        watchlist = Watchlist(path=str(tmp_path / "w.yaml"), accounts=tuple(self.accounts),
                              platforms={"reddit": Politeness(delay=0.0, concurrency=4)})  # first checks at once
        self.service = Service(watchlist, str(tmp_path / "banwatch.db"), {},
                               lambda wl: SlackSettings(bot_token=None, channel="", api_url=""), clock=self.clock)
        self.service.store.sync_watchlist(watchlist, iso(self.clock.wall()))
        self.service.dispatch = self.dispatch  # type: ignore[method-assign]
        self.checks: list[tuple[float, str]] = []  # (monotonic time, key)

    async def dispatch(self, platform: str, accounts: list[Account], now: str) -> None:
        store, at = self.service.store, iso(self.clock.wall())
        for a in accounts:
            store.record(a, Observation(a.key, Status.ACTIVE, "reddit.profile", "ok", at),
                         advance(store.state(a.key), Status.ACTIVE, at, 2))
            self.checks.append((self.clock.mono, a.key))

    async def ticks(self, n: int) -> None:
        for _ in range(n):
            self.clock.advance(TICK)
            await self.service.tick()
            await asyncio.sleep(0)  # the crawl tasks the tick started

    def next_check(self, key: str) -> datetime:
        return parse_iso(self.service.store.db.execute(
            "SELECT next_check_at FROM accounts WHERE key = ?", [key]).fetchone()[0])


@pytest.mark.parametrize("rebased", [True, False], ids=["rebased", "control-without-rebase"])
def test_a_step_back_of_an_hour_does_not_hold_a_due_account_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, rebased: bool) -> None:
    h = Harness(tmp_path, 1)
    (key,) = [a.key for a in h.accounts]
    if not rebased:
        monkeypatch.setattr(due, "rebase", lambda *_args: 0)  # the old behaviour: stored times left as they are

    async def scenario() -> None:
        await h.ticks(3)
        assert [k for _, k in h.checks] == [key], "the baseline check"
        await h.ticks(10)
        due_in = (h.next_check(key) - h.clock.wall()).total_seconds()  # monotonic seconds until it is due
        assert 0.9 * INTERVAL - 13 <= due_in <= 1.1 * INTERVAL  # counted from when it was due (≤ 3 ticks before)
        due_at = h.clock.mono + due_in
        h.clock.step(-3600)
        with caplog.at_level(logging.WARNING, logger="banwatch.service"):
            await h.ticks(1)
        stepped = [r.getMessage() for r in caplog.records if "wall clock stepped" in r.getMessage()]
        assert stepped and "stepped back by 3600.0 s" in stepped[0]
        assert len(stepped) == 1, "logged once, not once per tick"
        nothing_yet = h.service.store.due("reddit", iso(h.clock.wall() + timedelta(seconds=due_in)), 10)
        await h.ticks(int(due_in) + 5)
        if rebased:
            assert nothing_yet == [key]
            (checked,) = [t for t, k in h.checks[1:]]
            assert due_at <= checked <= due_at + 2 * TICK, "checked within a couple of ticks of when it was due"
        else:
            assert nothing_yet == [], "without re-basing, the due query finds nothing when the account is due"
            assert h.checks[1:] == [], "and the account stalls for the hour the clock went back"

    asyncio.run(scenario())
    h.service.store.close()


def test_a_step_forward_of_a_day_catches_up_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(tmp_path, 20)

    async def scenario() -> None:
        await h.ticks(5)
        assert sorted(k for _, k in h.checks) == sorted(a.key for a in h.accounts), "baselines"
        before = len(h.checks)
        h.clock.step(86400)
        with caplog.at_level(logging.WARNING, logger="banwatch.service"):
            await h.ticks(int(0.9 * INTERVAL) - 5)
        assert any("stepped forward by 86400.0 s" in r.getMessage() for r in caplog.records)
        after = [k for _, k in h.checks[before:]]
        assert sorted(after) == sorted(a.key for a in h.accounts), "each account once, not once per missed interval"

    asyncio.run(scenario())
    h.service.store.close()


def test_small_drift_and_late_ticks_are_not_steps() -> None:
    t = (START, 100.0)
    assert due.clock_step(t, (START + timedelta(seconds=30), 130.0)) == 0.0  # a late tick: both clocks moved
    assert due.clock_step(t, (START + timedelta(seconds=3), 100.5)) == 0.0  # slewing, jitter
    assert due.clock_step(t, (START - timedelta(hours=1), 101.0)) == pytest.approx(-3601.0)


def test_jobs_run_on_the_monotonic_loop_and_survive_a_failure(tmp_path: Path) -> None:
    h = Harness(tmp_path, 0)
    runs: list[float] = []

    async def job() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    async def scenario() -> None:
        h.service.stopped = asyncio.get_running_loop().create_future()
        loop = asyncio.ensure_future(h.service.every(0.02, job))
        await asyncio.sleep(0.15)
        h.service.stopped.set_result(None)
        await asyncio.wait_for(loop, 1)

    asyncio.run(scenario())
    h.service.store.close()
    assert len(runs) >= 3, "a failing run does not end the job"
