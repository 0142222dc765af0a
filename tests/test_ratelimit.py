"""Slack's rate limit (429 + Retry-After) and the backoff cap: nothing sleeps an hour inside a call.

A long Retry-After goes on the row (and holds its channel) and the call returns at once; a short one is
waited out inside the call, once; repeated failures back off up to `alerts.retry_max`, never past it,
but never sooner than Slack asked.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from banwatch.alerts.dispatch import BACKOFF_MAX_S, Dispatcher, backoff
from banwatch.alerts.notifier import Delivery, Mark, Message
from banwatch.alerts.slack import IN_CALL_WAIT_MAX_S, SlackNotifier
from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.settings import slack_from_env
from banwatch.monitor.timeutil import later, parse_iso
from banwatch.monitor.watchlist import AlertSettings, parse
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.test_delivery import World, at, people
from tests.test_e2e import serve, setup
from tests.test_service import HEAD, INTERVAL

RATELIMITED = {"ok": False, "error": "ratelimited"}


def limited(seconds: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    return 429, {"Retry-After": str(seconds)}, RATELIMITED


def posts(slack: FakeSlack) -> int:
    return sum(c.method == "chat.postMessage" for c in slack.calls)


def ahead(stamp: str) -> float:
    """Seconds from the real clock to `stamp`."""
    return (parse_iso(stamp) - datetime.now(UTC)).total_seconds()


# -- the production path: `banwatch check` and `banwatch run` as subprocesses --------------------------------


def test_check_returns_at_once_on_a_long_retry_after_and_says_when(tmp_path: Path, platforms: FakePlatforms,
                                                                    slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    banwatch("check")
    serve(platforms, "reddit:spez", "reddit.is_suspended")
    slack.fail_with = limited(3600)
    started = time.monotonic()
    out = banwatch("check", timeout=60)
    took = time.monotonic() - started
    assert out.returncode == 0 and took < 20, f"check took {took:.1f}s"
    assert posts(slack) == 1, "an hour's Retry-After is not waited out (or retried) inside the call"
    (row,) = banwatch.rows("SELECT state, next_attempt_at, last_error FROM alerts")
    assert row["state"] == "pending" and row["last_error"] == "Slack said ratelimited"
    assert 3600 - took - 5 <= ahead(row["next_attempt_at"]) <= 3600 + 5
    assert f"1 alert kept for retry; next attempt at {row['next_attempt_at']} (Slack asked to wait 3600s)" \
        in out.stdout, out.stdout

    # The channel is held until then: the next check does not ask Slack again, and says so.
    slack.fail_with = None
    again = banwatch("check", timeout=60)
    assert posts(slack) == 1 and slack.posted() == []
    assert f"next attempt at {row['next_attempt_at']}" in again.stdout

    # Once the time has come (moved here, as time would), it goes, once.
    with sqlite3.connect(tmp_path / "banwatch.db") as conn:
        conn.execute("UPDATE alerts SET next_attempt_at = '2000-01-01T00:00:00.000Z'")
    done = banwatch("check", timeout=60)
    assert len(slack.posted()) == 1 and "kept for retry" not in done.stdout
    assert banwatch.rows("SELECT state FROM alerts") == [{"state": "sent"}]


def _service(tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack) -> tuple[Banwatch, Any]:
    (tmp_path / "watchlist.yaml").write_text(HEAD, encoding="utf-8")
    for key, rule in (("weibo:1234567890", "weibo.user_info"), ("bluesky:cryptodaily.bsky.social", "bluesky.profile"),
                      ("reddit:spez", "reddit.profile")):
        serve(platforms, key, rule)
    banwatch = Banwatch(tmp_path, platforms, slack)
    proc = banwatch.start("run")
    wait_for(lambda: len(banwatch.rows("SELECT key FROM accounts WHERE status = 'active'")) == 3, 30, "the baseline")
    serve(platforms, "reddit:spez", "reddit.is_suspended")
    return banwatch, proc


def _stop(proc: Any) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return time.monotonic() - started


def test_run_exits_within_10s_of_sigterm_while_rate_limited_for_an_hour(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack) -> None:
    slack.fail_with = limited(3600)
    banwatch, proc = _service(tmp_path, platforms, slack)
    try:
        (row,) = wait_for(lambda: banwatch.rows("SELECT * FROM alerts WHERE last_error IS NOT NULL"),
                          INTERVAL + 20, "the rate-limited attempt")
        assert row["state"] == "pending" and 3500 <= ahead(row["next_attempt_at"]) <= 3605
        time.sleep(1.5)  # several delivery passes (deliver_every 0.3 s): the channel is held, Slack is not asked
        assert posts(slack) == 1
    finally:
        took = _stop(proc)
    assert took < 10, f"exited {took:.1f}s after SIGTERM"
    assert "Traceback" not in banwatch.log.read_text()


def test_run_exits_within_10s_of_sigterm_during_an_in_call_wait(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack) -> None:
    """The longest Retry-After waited inside a call, with the signal arriving as the wait begins."""
    slack.fail_with = limited(int(IN_CALL_WAIT_MAX_S))
    banwatch, proc = _service(tmp_path, platforms, slack)
    try:
        wait_for(lambda: posts(slack) >= 1, INTERVAL + 20, "the first rate-limited post", interval=0.05)
    finally:
        took = _stop(proc)
    assert took < 10, f"exited {took:.1f}s after SIGTERM"
    assert posts(slack) <= 2, "waited in the call at most once"


# -- a short Retry-After: honoured inside the call, or by the next pass (the control) ---------------------------


def _notifier(slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(slack_from_env("#banwatch", {"SLACK_BOT_TOKEN": slack.token,
                                                      "BANWATCH_SLACK_API_URL": slack.api_url}))


def test_a_short_retry_after_is_waited_out_inside_the_call_once(slack: FakeSlack) -> None:
    slack.script = [limited(2)]
    started = time.monotonic()
    result = _notifier(slack).send("#banwatch", Message("hi"), mark=Mark("banwatch_alert", "alert_id", 1))
    took = time.monotonic() - started
    assert result.ok and posts(slack) == 2 and 2 <= took < 2 + 2, f"{took:.1f}s"
    slack.script = [limited(2), limited(2)]  # still limited after the wait: returned, not waited again
    started = time.monotonic()
    result = _notifier(slack).send("#banwatch", Message("hi"))
    assert not result.ok and result.retry_after == 2 and posts(slack) == 4
    assert time.monotonic() - started < 2 + 2


def test_a_retry_after_over_the_bound_is_returned_not_slept(slack: FakeSlack) -> None:
    slack.fail_with = limited(int(IN_CALL_WAIT_MAX_S) + 1)
    started = time.monotonic()
    result = _notifier(slack).send("#banwatch", Message("hi"))
    assert time.monotonic() - started < 1.5 and posts(slack) == 1
    assert not result.ok and result.retry_after == IN_CALL_WAIT_MAX_S + 1


def test_a_short_retry_after_still_limited_goes_on_the_next_pass_never_earlier(tmp_path: Path,
                                                                               slack: FakeSlack) -> None:
    world = World(tmp_path / "w.db", slack, AlertSettings(slack_channel="#banwatch", retry_base=1.0,
                                                          wave_size=1000), people(2))
    try:
        world.suspend("reddit:user0", at(0))
        world.suspend("reddit:user1", at(1))
        slack.script = [limited(2), limited(2)]  # in the call: 429, waits 2 s, 429 again: back to the outbox
        first = world.deliver(at(10))
        assert (first.sent, first.failed, first.kept, first.retry_after) == (0, 1, 2, 2.0)
        rows = world.alerts()
        assert all(r["state"] == "pending" for r in rows)
        assert rows[0]["next_attempt_at"] >= at(12), "never sooner than Slack asked, counted from its answer"
        assert rows[1]["next_attempt_at"] >= rows[0]["next_attempt_at"], "the whole channel is held"
        assert first.next_attempt_at == rows[0]["next_attempt_at"]
        assert world.deliver(at(11.9)).sent == 0 and posts(slack) == 2
        assert world.deliver(rows[0]["next_attempt_at"]).sent == 2
    finally:
        world.store.close()


# -- the backoff cap -----------------------------------------------------------------------------------------------


class Down:
    """Slack answering 500 to everything, with a call log (no HTTP: the clock is the test's)."""

    name, threads, exact = "fake", False, True

    def __init__(self) -> None:
        self.calls = 0
        self.retry_after: float | None = None

    def send(self, channel: str, message: Message, **_: Any) -> Delivery:
        self.calls += 1
        return Delivery.failed("Slack said internal_error", self.retry_after)

    def update(self, *args: Any) -> Delivery:
        return Delivery.failed("down")

    def find(self, *args: Any, **kwargs: Any) -> str | None:
        return None


def test_backoff_function_is_capped_and_honours_retry_after() -> None:
    assert BACKOFF_MAX_S == 300
    delays = [backoff(n, base=30) for n in range(200)]
    assert delays[:5] == [30, 60, 120, 240, 300] and max(delays) == 300
    assert max(backoff(n, base=1, cap=60) for n in range(10_000)) == 60
    assert backoff(50, retry_after=3600) == 3600, "a Retry-After over the cap still wins"
    assert backoff(0, retry_after=5) == 30


def test_repeated_500s_never_back_off_past_the_cap(tmp_path: Path, slack: FakeSlack) -> None:
    world = World(tmp_path / "w.db", slack, AlertSettings(slack_channel="#banwatch", retry_base=30.0,
                                                          retry_max=300.0, give_up=86400 * 30), people(1))
    try:
        down = Down()
        world.suspend("reddit:user0", at(0))
        now, waits = at(5), []
        for _ in range(20):  # a long outage on a fake clock: each pass runs when the row is due
            assert Dispatcher(world.store, down, world.settings).deliver(now).failed == 1
            due = world.alerts()[0]["next_attempt_at"]
            waits.append((parse_iso(due) - parse_iso(now)).total_seconds())
            now = due
        assert down.calls == 20
        assert waits[:5] == [30, 60, 120, 240, 300] and max(waits) == 300, waits
        down.retry_after = 3600  # Slack asks for an hour: honoured, over the cap
        Dispatcher(world.store, down, world.settings).deliver(now)
        assert (parse_iso(world.alerts()[0]["next_attempt_at"]) - parse_iso(now)).total_seconds() >= 3600
    finally:
        world.store.close()


# -- the setting -------------------------------------------------------------------------------------------------


def _alerts(section: str) -> AlertSettings:
    return parse(f"alerts: {section}\naccounts:\n  - {{platform: reddit, handle: spez}}\n", "w.yaml").alerts


def test_retry_max_setting_is_read_and_validated() -> None:
    assert _alerts("{slack_channel: '#x'}").retry_max == 300
    assert _alerts("{retry_max: 2m}").retry_max == 120
    assert _alerts("{retry_base: 10m}").retry_max == 600, "a long retry_base alone raises the cap to it"
    for bad, why in (("{retry_max: 0s}", "retry_max"), ("{retry_max: soon}", "retry_max"),
                     ("{retry_base: 1m, retry_max: 30s}", "shorter than retry_base")):
        with pytest.raises(InvalidWatchlist, match=why):
            _alerts(bad)


def test_the_cap_reaches_the_dispatcher(tmp_path: Path, slack: FakeSlack) -> None:
    settings = _alerts("{slack_channel: '#banwatch', retry_base: 1s, retry_max: 4s}")
    world = World(tmp_path / "w.db", slack, settings, people(1))
    try:
        world.suspend("reddit:user0", at(0))
        now = at(5)
        for _ in range(6):
            Dispatcher(world.store, Down(), world.settings).deliver(now)
            due = world.alerts()[0]["next_attempt_at"]
            assert due <= later(now, 4)
            now = due
    finally:
        world.store.close()
