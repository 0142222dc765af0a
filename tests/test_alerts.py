"""Rendering and delivery: untrusted text cannot ping or forge links; a failed send stays pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from banwatch.alerts.console import ConsoleNotifier
from banwatch.alerts.dispatch import backoff, deliver
from banwatch.alerts.notifier import Delivery, Message
from banwatch.alerts.render import render, siblings_summary
from banwatch.alerts.slack import SlackNotifier
from banwatch.monitor.model import Observation, Status
from banwatch.monitor.settings import slack_from_env
from banwatch.monitor.state import advance
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import parse
from tests.fakes import FakeSlack


def ctx(**over: Any) -> dict[str, Any]:
    base = {
        "alert_id": 1, "kind": "suspended", "channel": "#c", "platform": "weibo", "handle": "1234567890",
        "name": None, "display_name": "<!channel> <https://evil.example|login> & co", "entity": None,
        "tags": ["crypto"], "url": "https://weibo.com/u/1234567890", "from_status": "active",
        "to_status": "suspended", "last_seen_before_at": "2021-06-05T01:00:00.000Z",
        "first_seen_at": "2021-06-05T01:10:00.000Z", "confirmed_at": "2021-06-05T01:12:00.000Z",
        "rule": "weibo.ban_notice", "evidence_id": 7, "sha256": "ab" * 32, "siblings": [],
    }
    return {**base, **over}


def _all_text(message: Message) -> str:
    import json
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def test_untrusted_names_cannot_ping_or_forge_links() -> None:
    msg = render(ctx())
    mrkdwn = msg.text + " ".join(
        e["text"] for b in msg.blocks for e in ([b["text"]] if "text" in b else b.get("elements", []))
        if e["type"] == "mrkdwn")
    assert "<!channel>" not in mrkdwn and "<https://evil" not in mrkdwn
    assert "&lt;!channel&gt;" in msg.text and "&amp; co" in msg.text
    assert msg.blocks[0]["type"] == "header" and len(msg.blocks[0]["text"]["text"]) <= 150


def test_message_names_account_window_rule_and_evidence() -> None:
    text = render(ctx()).text
    for part in ("Suspended on Weibo", "Weibo 1234567890", "https://weibo.com/u/1234567890",
                 "last seen active 2021-06-05T01:00:00.000Z", "first seen suspended 2021-06-05T01:10:00.000Z",
                 "confirmed 2021-06-05T01:12:00.000Z", "rule weibo.ban_notice", "evidence #7"):
        assert part in text


def test_entity_alert_says_what_is_left() -> None:
    siblings = [{"platform": "bluesky", "handle": "a", "status": "active"},
                {"platform": "mastodon", "handle": "b@c.d", "status": "active"},
                {"platform": "reddit", "handle": "x", "status": "suspended"}]
    assert siblings_summary(siblings) == "still active on Bluesky, Mastodon; also suspended on Reddit"
    text = render(ctx(entity="Example Crypto Daily", siblings=siblings)).text
    assert "Suspended on Weibo: Example Crypto Daily" in text
    assert "Still active on Bluesky, Mastodon; also suspended on Reddit." in text


def test_long_values_are_truncated_to_slack_limits() -> None:
    msg = render(ctx(entity="E" * 5000))
    assert len(msg.blocks[0]["text"]["text"]) == 150 and len(msg.text) < 4000


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff(0) < backoff(1) < backoff(2) <= 3600
    assert backoff(0, retry_after=900) == 900


@pytest.fixture
def store_with_alert(tmp_path: Path) -> Store:
    wl = parse("accounts:\n  - {platform: reddit, handle: spez, confirmations: 1}\n", "w.yaml")
    (account,) = wl.accounts
    store = Store.open(tmp_path / "b.db")
    store.sync_watchlist(wl, "2026-01-01T00:00:00.000Z")
    for at, status in (("2026-01-01T00:00:00.000Z", Status.ACTIVE), ("2026-01-01T00:01:00.000Z", Status.SUSPENDED)):
        step = advance(store.state(account.key), status, at, 1)
        store.record(account, Observation(account.key, status, "reddit.x", "r", at), step,
                     [("suspended", "#watch")] if step.transition else [])
    yield store
    store.close()


def test_slack_failure_is_not_a_sent_alert_and_is_retried(store_with_alert: Store) -> None:
    with FakeSlack() as slack:
        notifier = SlackNotifier(slack_from_env(None, {"SLACK_BOT_TOKEN": slack.token,
                                                       "BANWATCH_SLACK_API_URL": slack.api_url}))
        slack.fail_with = (200, {}, {"ok": False, "error": "channel_not_found"})
        report = deliver(store_with_alert, notifier, "2026-01-01T00:02:00.000Z")
        row = store_with_alert.db["alerts"].get(1)
        assert (report.sent, report.failed) == (0, 1)
        assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, "Slack said channel_not_found")
        assert row["next_attempt_at"] > "2026-01-01T00:02:00.000Z"
        # Not due yet: nothing is sent before the backoff elapses.
        slack.fail_with = None
        assert deliver(store_with_alert, notifier, "2026-01-01T00:02:01.000Z").sent == 0
        report = deliver(store_with_alert, notifier, row["next_attempt_at"])
        row = store_with_alert.db["alerts"].get(1)
        assert report.sent == 1 and row["state"] == "sent" and float(row["slack_ts"]) > 1.7e9
        assert len(slack.posted()) == 1 and slack.posted()[0]["channel"] == "#watch"
        assert slack.calls[-1].authorization == f"Bearer {slack.token}"
        assert deliver(store_with_alert, notifier, "2026-01-02T00:00:00.000Z").sent == 0  # never twice


def test_slack_unreachable_is_retryable(store_with_alert: Store) -> None:
    settings = slack_from_env("#c", {"SLACK_BOT_TOKEN": "xoxb-test", "BANWATCH_SLACK_API_URL": "http://127.0.0.1:9/"})
    result = SlackNotifier(settings, timeout=2).send(None, Message("hi"))
    assert not result.ok and result.error


def test_console_notifier_prints_the_alert(store_with_alert: Store) -> None:
    lines: list[str] = []
    report = deliver(store_with_alert, ConsoleNotifier(lines.append), "2026-01-01T00:02:00.000Z")
    assert report.sent == 1 and lines and "Suspended on Reddit: spez" in lines[0]
    assert store_with_alert.db["alerts"].get(1)["state"] == "sent"


def test_delivery_result_shapes() -> None:
    assert Delivery.sent("1.2").ok and not Delivery.failed("x").ok
