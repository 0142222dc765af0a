"""`banwatch run` as a real long-lived subprocess against the fake platforms and fake Slack."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.fixtures import by_rule
from tests.test_e2e import ACTIVE, serve

HEAD = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s, health_window: 2s}
defaults: {interval: 1s, confirmations: 2, confirm_delay: 0.5s}
alerts: {slack_channel: "#svc"}
platforms:
  weibo: {delay: 0s, concurrency: 4}
  reddit: {delay: 0s, concurrency: 4}
  bluesky: {delay: 0s}
  mastodon: {delay: 0s}
accounts:
  - name: Example Crypto Daily
    accounts: {weibo: "1234567890", bluesky: cryptodaily.bsky.social}
  - {platform: reddit, handle: spez}
"""
OLD = "  - {platform: mastodon, handle: old@mastodon.example}\n"
NEW = "  - {platform: bluesky, handle: newcomer.bsky.social}\n"
LATER = "  - {platform: reddit, handle: later}\n"

INTERVAL, CONFIRM_DELAY = 1, 0.5  # as in HEAD; the waits below are counted in them


def texts(slack: FakeSlack) -> list[str]:
    return [p["text"] for p in slack.posted()]


def test_service_alerts_reloads_reports_health_and_stops_cleanly(tmp_path: Path, platforms: FakePlatforms,
                                                                 slack: FakeSlack) -> None:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(HEAD + OLD, encoding="utf-8")
    for key in ("weibo:1234567890", "bluesky:cryptodaily.bsky.social", "reddit:spez",
                "mastodon:old@mastodon.example", "bluesky:newcomer.bsky.social", "reddit:later"):
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    banwatch = Banwatch(tmp_path, platforms, slack)
    proc = banwatch.start("run")
    try:
        wait_for(lambda: len(banwatch.rows("SELECT key FROM accounts WHERE status = 'active'")) == 4, 30,
                 "the baseline of every account")
        assert slack.posted() == [], "a baseline never alerts"

        # A suspension is alerted within interval + confirm_delay + 10 s.
        flipped = time.monotonic()
        serve(platforms, "reddit:spez", "reddit.is_suspended")
        wait_for(lambda: any("Suspended on Reddit: spez" in t for t in texts(slack)), INTERVAL + CONFIRM_DELAY + 10,
                 "the suspension alert")
        assert time.monotonic() - flipped <= INTERVAL + CONFIRM_DELAY + 10

        # Edit while running: add one account, remove another.
        watchlist.write_text(HEAD + NEW, encoding="utf-8")
        wait_for(lambda: banwatch.rows("SELECT status FROM accounts WHERE key = 'bluesky:newcomer.bsky.social'"
                                       " AND status = 'active'"), 15, "the added account's first check")
        removed = banwatch.rows("SELECT removed_at, last_checked_at FROM accounts "
                                "WHERE key = 'mastodon:old@mastodon.example'")[0]
        assert removed["removed_at"]
        time.sleep(INTERVAL + 1.5)
        again = banwatch.rows("SELECT last_checked_at FROM accounts WHERE key = 'mastodon:old@mastodon.example'")
        assert again[0]["last_checked_at"] == removed["last_checked_at"], "a removed account is no longer checked"

        # A broken edit keeps the last good watchlist running and raises one health alert naming the line.
        watchlist.write_text(HEAD + NEW + "  - {platform: myspace, handle: tom}\n", encoding="utf-8")
        broken = wait_for(lambda: [t for t in texts(slack) if "watchlist is broken" in t], 10, "the health alert")
        assert "watchlist.yaml:14: platform: unknown platform" in broken[0]
        ticks = banwatch.rows("SELECT value FROM service WHERE key = 'last_tick_at'")[0]["value"]
        wait_for(lambda: banwatch.rows("SELECT value FROM service WHERE key = 'last_tick_at' AND value > ?", ticks),
                 5, "ticks to continue while the watchlist is broken")
        time.sleep(1)
        assert len([t for t in texts(slack) if "watchlist is broken" in t]) == 1, "one alert, not one per reload"

        # Fixing it recovers without a restart.
        watchlist.write_text(HEAD + NEW + LATER, encoding="utf-8")
        wait_for(lambda: [t for t in texts(slack) if "watchlist is fixed" in t], 10, "the recovery alert")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:later' AND status = 'active'"),
                 15, "the account added by the fix")

        # A platform that answers nothing but captchas makes banwatch blind on it: one alert, then recovery.
        serve(platforms, "weibo:1234567890", "weibo.captcha")
        blind = wait_for(lambda: [t for t in texts(slack) if "blind on Weibo" in t], 20, "the blind alert")
        assert "weibo.captcha" in blind[0] and "No suspension is inferred" in blind[0]
        serve(platforms, "weibo:1234567890", "weibo.user_info")
        wait_for(lambda: [t for t in texts(slack) if "sees Weibo again" in t], 20, "the recovered alert")
        assert len([t for t in texts(slack) if "blind on Weibo" in t]) == 1
        assert not any("Weibo: Example Crypto Daily" in t for t in texts(slack)), "blindness is not a suspension"
    finally:
        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = proc.wait(timeout=15)
    assert code == 0, banwatch.log.read_text()
    assert time.monotonic() - stopping < 10

    # Restarting continues where it stopped: no re-baseline, no duplicate alert.
    sent = len(slack.posted())
    changes = banwatch.rows("SELECT count(*) AS n FROM changes")[0]["n"]
    since = banwatch.rows("SELECT key, status_since FROM accounts ORDER BY key")
    proc = banwatch.start("run")
    try:
        tick = banwatch.rows("SELECT value FROM service WHERE key = 'last_tick_at'")[0]["value"]
        wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key = 'last_tick_at' AND value > ?", tick),
                 15, "the restarted service's first tick")
        time.sleep(INTERVAL + 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert len(slack.posted()) == sent
    assert banwatch.rows("SELECT count(*) AS n FROM changes")[0]["n"] == changes
    assert banwatch.rows("SELECT key, status_since FROM accounts ORDER BY key") == since
    log = banwatch.log.read_text()
    assert re.search(r"reddit: \d+ accounts? in", log), "one INFO line per crawl"


def _hanging_service(tmp_path: Path, platforms: FakePlatforms) -> tuple[Banwatch, subprocess.Popen[str]]:
    """A service whose check of reddit:spez hangs: the request is in flight when the signal comes. reddit:later
    answers at once."""
    (tmp_path / "watchlist.yaml").write_text(HEAD + LATER, encoding="utf-8")
    for key in ("weibo:1234567890", "bluesky:cryptodaily.bsky.social", "reddit:later"):
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    platforms.serve(by_rule("reddit", "reddit.profile"), "https://www.reddit.com/user/spez/about.json", delay=60)
    banwatch = Banwatch(tmp_path, platforms, None)
    proc = banwatch.start("run")
    wait_for(lambda: any("/user/spez/" in path for _, path in platforms.requests), 20, "the hanging request")
    return banwatch, proc


def test_sigterm_abandons_in_flight_requests_within_10s(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch, proc = _hanging_service(tmp_path, platforms)
    time.sleep(INTERVAL + 1)  # spez is due again, but its check is still in flight
    assert [p for _, p in platforms.requests].count("/user/spez/about.json") == 1, "an account is never checked twice at once"
    assert banwatch.rows("SELECT 1 FROM accounts WHERE key = 'weibo:1234567890' AND status = 'active'"), \
        "other platforms go on meanwhile"
    # One long-lived crawl: a due account of the same platform never waits for the hanging check (before, it
    # waited for its platform's crawl, which held the hanging request, to end: one observation in all).
    later = [p for _, p in platforms.requests].count("/user/later/about.json")
    assert later >= 2, f"reddit:later checked {later} times while reddit:spez hung"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    log = banwatch.log.read_text()
    assert "abandoned 1 check in flight" in log and "Traceback" not in log
    assert banwatch.rows("SELECT value FROM service WHERE key = 'stopped_at'")


def test_second_signal_exits_at_once(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch, proc = _hanging_service(tmp_path, platforms)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None, "the first signal waits for the in-flight request"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 1
    assert time.monotonic() - started < 2
    assert "second signal: exiting now" in banwatch.log.read_text()


def test_run_refuses_a_broken_watchlist_at_start(tmp_path: Path, platforms: FakePlatforms) -> None:
    (tmp_path / "watchlist.yaml").write_text("accounts:\n  - {platform: myspace, handle: x}\n", encoding="utf-8")
    out = Banwatch(tmp_path, platforms, None)("run", check=False, timeout=30)
    assert out.returncode == 1 and "watchlist.yaml:2: platform: unknown platform" in out.stderr
    assert not (tmp_path / "banwatch.db").exists()
