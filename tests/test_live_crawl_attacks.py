"""Attacks on `banwatch run`'s one long-lived crawl (monitor.fetching, monitor.inflight, monitor.scheduler): checks
never doubled nor held back, politeness kept across reloads, removals and outages mid-flight, the stop, and a
crawl that ends on its own. Each runs the real `banwatch run` against the fake platforms, or Scrapy in a child
process, with short intervals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack, _PlatformHandler
from banwatch.monitor.model import Account
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import by_rule
from tests.sim import own
from tests.test_e2e import ACTIVE

HEAD = """\
service: {tick: 0.2s, deliver_every: 0.2s, reload_every: 0.2s, health_window: %(window)s}
defaults: {interval: 1s, confirmations: 2, confirm_delay: 0.5s}
alerts: {slack_channel: "#live"}
platforms:
%(platforms)s
accounts:
"""


def watchlist(platforms: str, accounts: list[str], window: str = "30s") -> str:
    return HEAD % {"platforms": platforms, "window": window} + "".join(
        f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in accounts)


class _Tracking(_PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        owner: Tracking = self.server.owner  # type: ignore[attr-defined]
        host = (self.headers.get("Host") or "").lower()
        with owner.lock:
            owner.active[host] = owner.active.get(host, 0) + 1
            owner.most[host] = max(owner.most.get(host, 0), owner.active[host])
            owner.starts.append((time.monotonic(), host, self.path))
        try:
            super().do_GET()
        finally:
            with owner.lock:
                owner.active[host] -= 1
                owner.ends.append((time.monotonic(), host, self.path))


class Tracking(FakePlatforms):
    """FakePlatforms that also keep when each request started and ended, and the most in flight per host."""

    def __init__(self) -> None:
        super().__init__()
        self.httpd.RequestHandlerClass = _Tracking
        self.httpd.daemon_threads = True  # a hanging answer never holds the test's end
        self.active: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.starts: list[tuple[float, str, str]] = []
        self.ends: list[tuple[float, str, str]] = []

    def count(self, fragment: str) -> int:
        with self.lock:
            return sum(fragment in p for _, p in self.requests)

    def in_flight(self, fragment: str) -> int:
        with self.lock:
            return sum(fragment in p for _, _, p in self.starts) - sum(fragment in p for _, _, p in self.ends)

    def reset_most(self) -> None:
        with self.lock:
            self.most = dict(self.active)


@pytest.fixture
def fake() -> Iterator[Tracking]:
    with Tracking() as server:
        yield server


def answer(fake: FakePlatforms, key: str, rule: str | None = None, delay: float = 0.0) -> None:
    """From now on `key` answers the saved response for `rule` (its platform's active one by default), made
    this account's own, after `delay` seconds."""
    platform, handle = key.split(":", 1)
    fixture = own(by_rule(platform, rule or ACTIVE[platform]), key)
    fake.serve(fixture, PLATFORMS[platform].probe(Account(platform, handle, key), {}).url, delay=delay)


def reddit(fake: FakePlatforms, handle: str, delay: float = 0.0, rule: str = "reddit.profile") -> None:
    answer(fake, f"reddit:{handle}", rule, delay)


def stop(proc: subprocess.Popen[str]) -> tuple[int, float]:
    """SIGTERM; (exit code, seconds to exit). Kills it if it outlives 15 s, so no test leaks a service."""
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -9
    return code, time.monotonic() - started


def edit(banwatch: Banwatch, text: str) -> None:
    (banwatch.workdir / "watchlist.yaml").write_text(text, encoding="utf-8")


def reloaded(banwatch: Banwatch, n: int) -> bool:
    return banwatch.log.read_text().count("watchlist reloaded") >= n


def open_runs(banwatch: Banwatch, platform: str) -> int:
    return banwatch.rows("SELECT count(*) AS n FROM runs WHERE platform = ? AND finished_at IS NULL",
                         platform)[0]["n"]


def stale_runs(banwatch: Banwatch, older: float = 1.5) -> list[dict[str, object]]:
    """Run rows still open that started more than `older` seconds ago (no fast answer takes that long)."""
    from datetime import UTC, datetime, timedelta

    from banwatch.monitor.timeutil import iso

    cutoff = iso(datetime.now(UTC) - timedelta(seconds=older))
    return banwatch.rows("SELECT id, platform, accounts, started_at FROM runs WHERE finished_at IS NULL "
                         "AND started_at < ?", cutoff)


def clean(log: str) -> None:
    assert "Traceback" not in log and " failed" not in log, log[-3000:]


# -- 1. never twice at once, never held back: also across a reload that retires the crawl -----------------------

def test_reload_retiring_the_crawl_mid_flight_loses_nothing_and_doubles_nothing(
        tmp_path: Path, fake: Tracking) -> None:
    keys = ["reddit:slow", "reddit:fast1", "reddit:fast2"]
    reddit(fake, "fast1")
    reddit(fake, "fast2")
    reddit(fake, "slow", delay=4)  # hangs across the reload; answered by the retired crawl
    banwatch = Banwatch(tmp_path, fake, None)
    edit(banwatch, watchlist("  reddit: {delay: 0s, concurrency: 4}", keys))
    proc = banwatch.start("run")
    try:
        wait_for(lambda: fake.in_flight("/user/slow/") == 1, 15, "the slow check in flight")
        slow_started = time.monotonic()
        fast = fake.count("/user/fast1/")
        # A due account never waits for its platform's hanging check.
        wait_for(lambda: fake.count("/user/fast1/") >= fast + 1, 3, "fast1 checked again while slow hangs")
        edit(banwatch, watchlist("  reddit: {delay: 0s, concurrency: 2}", keys))  # politeness: a new crawl
        wait_for(lambda: reloaded(banwatch, 1), 3, "the reload")
        assert fake.in_flight("/user/slow/") == 1, "the retired crawl still holds the slow check"
        wait_for(lambda: fake.in_flight("/user/slow/") == 0, 6, "the slow answer sent")
        assert time.monotonic() - slow_started >= 3.5
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:slow' AND status = 'active'"),
                 2, "the retired crawl's answer recorded")
        assert fake.count("/user/slow/") == 1, "recorded from the retired crawl's answer, never asked twice"
        fast = fake.count("/user/fast2/")
        wait_for(lambda: fake.count("/user/fast2/") >= fast + 2, 5, "the new crawl checking")
        assert stale_runs(banwatch) == [], "every batch finished once answered (the slow one's too)"
    finally:
        code, _ = stop(proc)
    assert code == 0
    clean(banwatch.log.read_text())


# -- 3. an account removed while its check is in flight ----------------------------------------------------------

@pytest.mark.parametrize("mode", ["one-process", "fetch-workers"])
def test_removing_an_account_mid_flight_never_resurrects_it_and_finishes_its_run(
        tmp_path: Path, fake: Tracking, mode: str, request: pytest.FixtureRequest) -> None:
    """In one process, and with `--redis` (the late answer comes from a worker through Redis)."""
    from tests.test_fleet import start_worker, stop as stop_all

    reddit(fake, "stay")
    reddit(fake, "gone", delay=3)
    banwatch = Banwatch(tmp_path, fake, None)
    workers = []
    if mode == "fetch-workers":
        banwatch.env["BANWATCH_REDIS_URL"] = request.getfixturevalue("redis_server").url
        workers.append(start_worker(banwatch, "w1"))
    platforms = "  reddit: {delay: 0s, concurrency: 4}"
    edit(banwatch, watchlist(platforms, ["reddit:gone", "reddit:stay"]))
    proc = banwatch.start("run")
    try:
        wait_for(lambda: fake.in_flight("/user/gone/") == 1, 15, "gone's check in flight")
        edit(banwatch, watchlist(platforms, ["reddit:stay"]))  # same politeness: the same crawl goes on
        wait_for(lambda: reloaded(banwatch, 1), 3, "the reload")
        before = banwatch.rows("SELECT removed_at, next_check_at, status FROM accounts WHERE key = 'reddit:gone'")[0]
        assert before["removed_at"] and before["status"] is None
        wait_for(lambda: fake.in_flight("/user/gone/") == 0, 5, "gone's late answer")
        stay = fake.count("/user/stay/")
        wait_for(lambda: fake.count("/user/stay/") >= stay + 2, 5, "the service going on")
        after = banwatch.rows("SELECT removed_at, next_check_at, status FROM accounts WHERE key = 'reddit:gone'")[0]
        assert after == before, "a late answer never brings a removed account back"
        assert banwatch.rows("SELECT count(*) AS n FROM observations WHERE account_key = 'reddit:gone'") == [{"n": 0}]
        assert fake.count("/user/gone/") == 1, "no longer checked"
        assert stale_runs(banwatch) == [], "the removed account's batch finished with its late answer"
        assert banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:stay' AND status = 'active'")
    finally:
        code, _ = stop(proc)
        stop_all(*workers)
    assert code == 0
    clean(banwatch.log.read_text())


# -- 4. a platform that answers nothing useful for a while --------------------------------------------------------

def test_an_outage_is_unknown_only_blind_once_recovered_once_and_runs_finish(
        tmp_path: Path, fake: Tracking) -> None:
    keys = ["reddit:limited", "reddit:erroring", "reddit:hanging"]
    for key in keys:
        answer(fake, key)
    with FakeSlack() as slack:
        banwatch = Banwatch(tmp_path, fake, slack)
        banwatch.env["BANWATCH_DOWNLOAD_TIMEOUT"] = "1"
        edit(banwatch, watchlist("  reddit: {delay: 0s, concurrency: 4}", keys, window="2s"))
        proc = banwatch.start("run")
        texts = lambda: [p["text"] for p in slack.posted()]  # noqa: E731
        try:
            wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 3, 15,
                     "the baseline")
            answer(fake, "reddit:limited", "reddit.rate_limited")
            answer(fake, "reddit:erroring", "reddit.server_error")  # 500: retried once, then unknown
            answer(fake, "reddit:hanging", delay=3)  # past the 1 s download timeout
            wait_for(lambda: [t for t in texts() if "blind on Reddit" in t], 12, "the blind alert")
            assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}
            for key in keys:
                answer(fake, key)
            wait_for(lambda: [t for t in texts() if "sees Reddit again" in t], 12, "the recovery alert")
            time.sleep(1)
            assert len([t for t in texts() if "blind on Reddit" in t]) == 1, texts()
            assert len([t for t in texts() if "sees Reddit again" in t]) == 1, texts()
            assert len(texts()) == 2, "nothing but the health alerts: an outage is never a finding"
            assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}]
            assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}
            seen = {r["rule"] for r in banwatch.rows("SELECT DISTINCT rule FROM observations")}
            assert {"reddit.rate_limited", "reddit.server_error", "reddit.timeout"} <= seen, seen
            assert stale_runs(banwatch, older=4) == [], "every outage batch finished"
        finally:
            code, _ = stop(proc)
    assert code == 0
    clean(banwatch.log.read_text())


# -- 5. SIGTERM with many requests in flight --------------------------------------------------------------------

def test_sigterm_with_many_in_flight_records_the_answered_and_leaves_the_rest_due(
        tmp_path: Path, fake: Tracking) -> None:
    hanging = [f"reddit:hang{i}" for i in range(6)]
    for key in hanging:
        answer(fake, key, delay=30)
    answer(fake, "reddit:late", delay=2.5)  # in flight at the signal, answered within the grace
    answer(fake, "bluesky:fast.bsky.social")
    banwatch = Banwatch(tmp_path, fake, None)
    edit(banwatch, watchlist("  reddit: {delay: 0s, concurrency: 8}\n  bluesky: {delay: 0s}",
                             [*hanging, "reddit:late", "bluesky:fast.bsky.social"]))
    proc = banwatch.start("run")
    try:
        wait_for(lambda: sum(fake.in_flight(f"/user/{k[7:]}/") for k in hanging) == 6
                 and fake.in_flight("/user/late/") == 1, 15, "every reddit check in flight")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'bluesky:fast.bsky.social' "
                                       "AND status = 'active'"), 5, "the fast account answered")
        assert not banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:late' AND status IS NOT NULL")
    finally:
        code, seconds = stop(proc)
    log = banwatch.log.read_text()
    assert code == 0 and seconds < 10, (code, seconds, log[-2000:])
    clean(log)
    assert "abandoned 6 checks in flight" in log, log[-2000:]
    assert banwatch.rows("SELECT status FROM accounts WHERE key = 'reddit:late'") == [{"status": "active"}], \
        "answered within the grace: recorded"
    from banwatch.monitor.timeutil import now_iso
    rows = banwatch.rows("SELECT key, status, next_check_at FROM accounts WHERE key LIKE 'reddit:hang%'")
    assert len(rows) == 6 and all(r["status"] is None and r["next_check_at"] <= now_iso() for r in rows), rows
    assert banwatch.rows("SELECT count(*) AS n FROM observations WHERE account_key LIKE 'reddit:hang%'") == [{"n": 0}]


# -- 2. politeness exactly as configured, per slot, and changed by a reload -------------------------------------

def test_politeness_holds_per_slot_and_a_reload_changes_it(tmp_path: Path, fake: Tracking) -> None:
    reddits = [f"reddit:polite{i}" for i in range(3)]
    mastodons = ["mastodon:a@one.example", "mastodon:b@one.example", "mastodon:c@two.example"]
    for key in reddits:
        answer(fake, key, delay=0.3)  # three due every second at one at a time, 0.5 s apart: always a backlog
    for key in mastodons:
        answer(fake, key, delay=0.6)
    banwatch = Banwatch(tmp_path, fake, None)
    mastodon = "  mastodon: {delay: 0s, concurrency: 1}"
    edit(banwatch, watchlist(f"  reddit: {{delay: 0.5s, concurrency: 1}}\n{mastodon}", [*reddits, *mastodons]))
    proc = banwatch.start("run")
    try:
        wait_for(lambda: sum(h == "www.reddit.com" for _, h, _ in fake.starts) >= 6, 15, "six reddit checks")
        with fake.lock:
            starts = [t for t, h, _ in fake.starts if h == "www.reddit.com"]
            most = dict(fake.most)
        assert most["www.reddit.com"] == 1, "never two reddit requests at once"
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= 0.22, gaps  # 0.5 s randomised 0.5-1.5x, measured by the server
        assert most["one.example"] == 1, "one Mastodon instance: one at a time"
        overlap = lambda: any(  # noqa: E731 - the instances are separate slots: they run side by side
            s1 < e2 and s2 < e1 for s1, e1 in _spans(fake, "one.example") for s2, e2 in _spans(fake, "two.example"))
        wait_for(overlap, 5, "two Mastodon instances asked at the same time")
        edit(banwatch, watchlist(f"  reddit: {{delay: 0s, concurrency: 2}}\n{mastodon}", [*reddits, *mastodons]))
        wait_for(lambda: reloaded(banwatch, 1), 3, "the reload")
        for key in reddits:  # answers longer than the interval: with two allowed, two are always asked at once
            answer(fake, key, delay=1.5)
        wait_for(lambda: fake.most["www.reddit.com"] == 2, 10, "two reddit requests at once after the reload")
    finally:
        code, _ = stop(proc)
    assert code == 0
    clean(banwatch.log.read_text())
    assert max(fake.most.values()) <= 2


def _spans(fake: Tracking, host: str) -> list[tuple[float, float]]:
    """(start, end) of each finished request to `host`, matched by path in order."""
    with fake.lock:
        starts = [(t, p) for t, h, p in fake.starts if h == host]
        ends = [(t, p) for t, h, p in fake.ends if h == host]
    out = []
    for path in {p for _, p in starts}:
        out += list(zip([t for t, p in starts if p == path], [t for t, p in ends if p == path]))
    return out


# -- 6. the live crawl outlives CLOSESPIDER_TIMEOUT; a crawl that ends anyway is replaced, losing nothing ----------

CHILD = """
import asyncio, json, sys
from banwatch.monitor.fetching import LocalFetcher
from banwatch.monitor.model import Account
from banwatch.monitor.runner import run_in_reactor
from banwatch.monitor.settings import base_urls_from_env

mode = sys.argv[1]

async def main(runner):
    answered, lost, crawls = [], [], []
    fetcher = LocalFetcher(runner, base_urls_from_env(), lambda obs: answered.append(obs.account_key), lost.extend,
                           settings={"CLOSESPIDER_TIMEOUT": 1} if mode == "ends" else None)
    start = fetcher._start
    fetcher._start = lambda slots: crawls.append(1) or start(slots)
    fetcher.configure({"reddit": {"concurrency": 4, "delay": 0}})
    keys = []
    for i in range(14):  # 3.5 s of checks, one every 0.25 s, some answered slowly
        key = f"reddit:{'slow' if i % 4 == 3 else 'quick'}{i}"
        keys.append(key)
        fetcher.submit([Account("reddit", key.split(":")[1], key)])
        await asyncio.sleep(0.25)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while fetcher.busy and loop.time() < deadline:
        await asyncio.sleep(0.05)
    busy = fetcher.busy
    await fetcher.stop(1)
    return {"keys": keys, "answered": answered, "lost": lost, "crawls": len(crawls), "busy": busy}

print(json.dumps(run_in_reactor(main, {"CLOSESPIDER_TIMEOUT": 1, "LOG_LEVEL": "INFO"})))
"""


@pytest.mark.parametrize("mode", ["live", "ends"])
def test_the_live_crawl_outlives_closespider_timeout_and_a_crawl_that_ends_is_replaced(
        tmp_path: Path, fake: Tracking, mode: str) -> None:
    import json

    for i in range(14):
        reddit(fake, f"{'slow' if i % 4 == 3 else 'quick'}{i}", delay=0.6 if i % 4 == 3 else 0)
    env = {**Banwatch(tmp_path, fake, None).env}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # mode "live": the runner's settings say CLOSESPIDER_TIMEOUT 1 s (as a user override at the command line's
    # priority would); the live crawl's own 0 wins, so one crawl takes all 3.5 s of checks.
    # mode "ends": the fetcher itself is told 1 s, so its crawl ends on its own, repeatedly: each is replaced.
    assert result["busy"] == 0, result
    answered, lost = result["answered"], result["lost"]
    assert sorted(answered + lost) == sorted(result["keys"]), "every check answered or said lost, once"
    assert len(answered) == len(set(answered))
    if mode == "live":
        assert result["crawls"] == 1 and lost == [], result
        assert "closespider_timeout" not in out.stderr
    else:
        assert result["crawls"] >= 3, result
        assert "the crawl ended (closespider_timeout); starting another" in out.stderr
        assert lost == [], f"a crawl ending on its own lost {lost}"
