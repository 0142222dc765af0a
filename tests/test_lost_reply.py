"""Exactly once when Slack's answer is lost, and when the host's clock is not Slack's.

Slack stores a post and then its answer never arrives whole: the connection is reset, an HTML 500 or a
200 HTML page comes instead of Slack's JSON, or the answer is slower than the client's timeout. Such a
post may be in the channel, so it is never posted again blind — not by slack-sdk's retry handlers inside
the call, not by the dispatcher in a later pass: the row stays `sending`, in doubt, and is looked for in
the channel's history (its message metadata) before any new attempt. Every path a post takes is walked:
a single alert, a wave message, a reply in a wave's thread.

Reconciliation looks from the attempt's own record back by a margin for clock skew, corrected by Slack's
clock offset as measured from posted messages: a host clock minutes ahead of Slack's no longer hides an
interrupted post.

Each guard has its control: slack-sdk's own handlers (which retry a post after a reset or a 500) post
twice within one call; a dispatcher that takes a lost answer for a failure posts twice across passes; the
old window (a minute before the alert's creation) posts an interrupted alert again when Slack's clock is
behind.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

import banwatch.alerts.dispatch
import banwatch.alerts.slack
from banwatch import alerts
from banwatch.alerts.dispatch import Dispatcher
from banwatch.alerts.notifier import Mark, Message
from banwatch.alerts.slack import SlackNotifier
from banwatch.monitor.model import Account
from banwatch.monitor.settings import slack_from_env
from banwatch.monitor.timeutil import later, now_iso
from banwatch.monitor.watchlist import AlertSettings
from tests.fakes import FakeSlack
from tests.test_delivery import World, people

LOSSES = ("reset", "500", "html", "slow")
CLIENT_TIMEOUT = 0.6  # seconds; the "slow" answer comes after 1.5


def copies(slack: FakeSlack, event: str = "banwatch_alert", key: str = "alert_id") -> Counter[int]:
    """How many messages in the channel (top level and replies) carry each alert's (or wave's) metadata."""
    return Counter(m["metadata"]["event_payload"][key] for m in slack.in_channel("#banwatch")
                   if (m.get("metadata") or {}).get("event_type") == event)


def world(tmp_path: Path, slack: FakeSlack, accounts: list[Account], **settings: Any) -> World:
    w = World(tmp_path / "w.db", slack, AlertSettings(slack_channel="#banwatch", retry_base=1.0, **settings), accounts)
    w.notifier = SlackNotifier(slack_from_env("#banwatch", {"SLACK_BOT_TOKEN": slack.token,
                                                            "BANWATCH_SLACK_API_URL": slack.api_url}),
                               timeout=CLIENT_TIMEOUT)
    slack.slow = 1.5
    return w


def drain(w: World, start: str, passes: int = 8) -> str:
    """Delivery passes, each at the earliest moment anything is due, until nothing is left."""
    now = start
    for _ in range(passes):
        report = w.deliver(now)
        if not report.kept:
            return now
        now = max(later(now, 0.001), report.next_attempt_at or now)
    raise AssertionError(f"alerts still kept after {passes} passes: {w.alerts()}")


def suspend_all(w: World, n: int, t0: str) -> None:
    for i in range(n):
        w.suspend(f"reddit:user{i}", later(t0, i))


@pytest.mark.parametrize("loss", LOSSES)
def test_a_single_post_whose_answer_is_lost_appears_once(tmp_path: Path, slack: FakeSlack, loss: str) -> None:
    t0 = now_iso()
    w = world(tmp_path, slack, people(3), wave_size=1000)
    suspend_all(w, 3, t0)
    slack.lose = [loss]
    first = w.deliver(t0)
    assert first.sent == 0 and first.failed == 1
    rows = w.alerts()
    assert rows[0]["state"] == "sending" and rows[0]["last_error"], "in doubt: not pending, not sent"
    assert [r["state"] for r in rows[1:]] == ["pending", "pending"], "the channel waits behind it"
    posts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 1, f"slack-sdk retried a post that may have been stored ({loss})"
    drain(w, t0)
    assert copies(slack) == {r["id"]: 1 for r in rows}, "each alert exactly once"
    assert [m["metadata"]["event_payload"]["alert_id"] for m in slack.in_channel("#banwatch")] == \
        [r["id"] for r in rows], "in order"
    final = w.alerts()
    stored = {m["metadata"]["event_payload"]["alert_id"]: m["ts"] for m in slack.in_channel("#banwatch")}
    assert all(r["state"] == "sent" and r["slack_ts"] == stored[r["id"]] for r in final)
    assert sum(c.method == "chat.postMessage" for c in slack.calls) == 3, "found, not posted again"
    w.store.close()


@pytest.mark.parametrize("loss", ("reset", "html"))
def test_a_wave_message_and_a_thread_reply_whose_answers_are_lost_appear_once(
        tmp_path: Path, slack: FakeSlack, loss: str) -> None:
    t0 = now_iso()
    w = world(tmp_path, slack, people(4), wave_size=3)
    suspend_all(w, 3, t0)
    slack.lose = [loss]  # the wave message's answer
    t1 = later(t0, 3)  # all three due
    assert w.deliver(t1).waves == 0 and copies(slack, "banwatch_wave", "wave_id") == {1: 1}
    assert {r["state"] for r in w.alerts()} == {"sending"}, "the wave and its members are in doubt"
    now = drain(w, t1)
    assert copies(slack, "banwatch_wave", "wave_id") == {1: 1}, "one wave message"
    w.suspend("reddit:user3", later(now, 1))  # a later member: a reply in the wave's thread
    slack.lose = [loss]
    drain(w, later(now, 2))
    replies = [m for m in slack.in_channel("#banwatch") if m.get("thread_ts")]
    assert len(replies) == 1 and copies(slack) == {4: 1}, "the reply once (members carry no message of their own)"
    assert all(r["state"] == "sent" for r in w.alerts())
    w.store.close()


def _slack_sdk_handlers(posts: Any = None) -> list[Any]:
    return [ConnectionErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=1)]


@pytest.mark.parametrize("loss", ("reset", "500"))
def test_control_slack_sdk_handlers_retry_a_stored_post_within_the_call(
        tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, loss: str) -> None:
    monkeypatch.setattr(alerts.slack, "_retry_handlers", _slack_sdk_handlers)
    w = world(tmp_path, slack, people(1), wave_size=1000)
    suspend_all(w, 1, now_iso())
    slack.lose = [loss]
    w.deliver(now_iso())
    assert copies(slack)[1] == 2, "slack-sdk posted it again after the first was stored"
    w.store.close()


@pytest.mark.parametrize("loss", ("html", "slow"))
def test_control_a_lost_answer_taken_for_a_failure_is_posted_again(
        tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, loss: str) -> None:
    monkeypatch.setattr(alerts.slack, "refused", lambda status, data: True)
    monkeypatch.setattr(alerts.slack, "never_reached", lambda error: True)
    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    suspend_all(w, 1, t0)
    slack.lose = [loss]
    drain(w, t0)
    assert copies(slack)[1] == 2, "the dispatcher posted it again"
    w.store.close()


def test_a_webhook_cannot_look_so_a_lost_answer_is_sent_again_at_least_once(tmp_path: Path, slack: FakeSlack) -> None:
    """The documented fallback: a notifier that cannot find its messages (exact = False) sends again."""
    from banwatch.alerts.slack import WebhookNotifier

    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    w.notifier = WebhookNotifier(slack.url + "/services/T/B/x", timeout=CLIENT_TIMEOUT)
    suspend_all(w, 1, t0)
    report = w.deliver(t0)
    assert report.sent == 1 and len(slack.webhook_posts) == 1
    w.store.close()


# -- the reconciliation window ------------------------------------------------------------------------------


def interrupted(w: World, alert_id: int, attempted_at: str, busy: int = 0) -> None:
    """A crash after Slack stored the post and before the row was marked sent (as a kill -9 leaves it); then
    `busy` other messages in the channel, so the post is not on the first page of its history."""
    w.store.db.execute("UPDATE alerts SET state = 'sending', attempted_at = ? WHERE id = ?", [attempted_at, alert_id])
    w.notifier.send("#banwatch", Message("the alert"), mark=Mark("banwatch_alert", "alert_id", alert_id))
    for i in range(busy):
        w.notifier.send("#banwatch", Message(f"someone else's message {i}"))


BUSY = 210  # more than one page of history (200)


@pytest.mark.parametrize("skew", (-120.0, -300.0, 120.0))
def test_an_interrupted_post_is_found_whatever_the_hosts_clock_says(tmp_path: Path, slack: FakeSlack,
                                                                    skew: float) -> None:
    slack.clock_offset = skew  # Slack's clock minus ours: -120, the host is two minutes ahead
    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    suspend_all(w, 1, t0)
    interrupted(w, 1, t0, busy=BUSY)
    report = w.deliver(t0)
    assert report.reconciled == 1 and report.sent == 0 and copies(slack) == {1: 1}
    w.store.close()


def test_control_the_old_window_sends_it_again_when_slacks_clock_is_behind(
        tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old window: a minute before the attempt by our clock, no Date header, no measured offset."""
    slack.clock_offset = -120.0
    monkeypatch.setattr(alerts.dispatch, "CLOCK_SKEW_MARGIN_S", 60.0)
    monkeypatch.setattr(alerts.slack, "_slack_now", lambda headers: None)
    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    suspend_all(w, 1, t0)
    interrupted(w, 1, t0, busy=BUSY)
    w.deliver(t0)
    assert copies(slack) == {1: 2}, "not found in the shifted window: posted twice"
    w.store.close()


def test_a_skew_beyond_the_margin_is_covered_by_the_measured_offset(tmp_path: Path, slack: FakeSlack) -> None:
    skew = -(alerts.dispatch.CLOCK_SKEW_MARGIN_S + 600)  # Slack's clock 20 minutes behind ours
    slack.clock_offset = skew
    t0 = now_iso()
    w = world(tmp_path, slack, people(3), wave_size=1000)
    suspend_all(w, 1, t0)
    assert w.deliver(t0).sent == 1  # a post measures the offset
    stored = float(w.store.get_service(alerts.dispatch.CLOCK_OFFSET_KEY) or 0)
    assert abs(stored - skew) < 5, stored
    w.suspend("reddit:user1", later(t0, 5))
    interrupted(w, 2, later(t0, 6), busy=BUSY)
    assert w.deliver(later(t0, 7)).reconciled == 1 and copies(slack) == {1: 1, 2: 1}
    # Control: without the measured offset, and without Slack's Date header, the margin alone does not
    # reach back far enough.
    w.store.set_service({alerts.dispatch.CLOCK_OFFSET_KEY: "0"}, t0)
    w.suspend("reddit:user2", later(t0, 8))
    interrupted(w, 3, later(t0, 9), busy=BUSY)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(alerts.slack, "_slack_now", lambda headers: None)
        report = Dispatcher(w.store, w.notifier, w.settings).deliver(later(t0, 10))
    assert report.reconciled == 0 and copies(slack)[3] == 2, "not found: posted again"
    w.store.close()


@pytest.mark.parametrize("skew", (-1500.0, 1500.0))
def test_a_first_post_beyond_the_margin_is_found_by_slacks_date(tmp_path: Path, slack: FakeSlack,
                                                               skew: float) -> None:
    """No offset measured yet (the first post of a new database was interrupted), Slack's clock 25 minutes
    off ours: Slack's Date header and the time elapsed since the attempt place it."""
    slack.clock_offset = skew
    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    suspend_all(w, 1, t0)
    interrupted(w, 1, t0, busy=BUSY)
    assert w.store.get_service(alerts.dispatch.CLOCK_OFFSET_KEY) is None
    report = w.deliver(t0)
    assert report.reconciled == 1 and copies(slack) == {1: 1}
    w.store.close()


def test_a_stale_offset_after_the_host_clock_was_corrected_is_covered_by_slacks_date(
        tmp_path: Path, slack: FakeSlack) -> None:
    """The offset was measured while the host was 15 minutes behind; its clock was then set right."""
    t0 = now_iso()
    w = world(tmp_path, slack, people(1), wave_size=1000)
    w.store.set_service({alerts.dispatch.CLOCK_OFFSET_KEY: "900"}, t0)
    suspend_all(w, 1, t0)
    interrupted(w, 1, t0, busy=BUSY)
    assert w.deliver(t0).reconciled == 1 and copies(slack) == {1: 1}
    w.store.close()


def test_the_margin_and_the_offset_are_where_the_docs_say() -> None:
    doc = Path(__file__).resolve().parent.parent.joinpath("docs", "architecture.md").read_text()
    assert f"{alerts.dispatch.CLOCK_SKEW_MARGIN_S / 60:g} minutes" in doc and "slack:clock_offset" in doc
