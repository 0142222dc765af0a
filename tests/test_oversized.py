"""An oversized or malformed message never blocks the channel: every text is escaped, then truncated to
Slack's limits without splitting an entity or a link, and a message Slack still rejects as malformed is
sent once simplified, else dead with its reason — the alerts behind it go out in the same pass."""

from __future__ import annotations

import re
from typing import Any

import pytest

import banwatch.alerts.dispatch

from banwatch import alerts
from banwatch.alerts.dispatch import malformed
from banwatch.alerts.notifier import Message
from banwatch.alerts.render import escape, fit, render, render_wave
from tests.fakes import FakeSlack
from tests.fakes import malformed as slack_rejects
from tests.test_alerts import ctx
from tests.test_delivery import alert_ids, at, people, world_factory  # noqa: F401 - the fixture

LINK = "<https://evil.example/" + "a" * 5000 + "|login>"
HOSTILE = {
    "ampersands": "&" * 10_000,
    "angles": "<>" * 5000,
    "mentions": "<!channel> " * 1000,
    "long_link": LINK,
    "long_name": "D" * 5000,
    **{f"entity_at_{n}": "x" * n + "&<>" * 400 for n in (95, 97, 99, 147, 195, 197, 199, 595, 597, 599, 995,
                                                         997, 999, 2795, 2797, 2799, 2995, 2997)},
}


def hostile_messages(value: str) -> dict[str, Message]:
    """Every alert kind with `value` in every field that comes from a platform or the watchlist."""
    change = ctx(display_name=value, entity=value, name=value, handle=value, tags=[value] * 12,
                 url="https://weibo.com/u/" + value, rule=value,
                 siblings=[{"platform": value, "handle": value, "status": "active"}])
    member = ctx(entity=value, handle=value, url="https://reddit.com/u/" + value)
    return {
        "change": render(change),
        "reply": render({**change, "kind": "reinstated"}),
        "health": render({"alert_id": 1, "kind": "health", "channel": "#h", "subject": value, "detail": value}),
        "renamed": render({**change, "kind": "renamed", "from_handle": value, "to_handle": value,
                           "platform_id": value}),
        "wave": render_wave({"platform": "reddit", "started_at": "2026-03-01T10:42:00.000Z",
                             "members": [member] * 45}),
    }


def texts(message: Message) -> list[tuple[str, str, int]]:
    """(where, text, its limit) for the message's text and every text in its blocks."""
    out = [("text", message.text, 4000)]
    for block in message.blocks:
        if block["type"] == "header":
            out.append(("header", block["text"]["text"], 150))
        elif block["type"] == "section":
            out.append(("section", block["text"]["text"], 3000))
        elif block["type"] == "context":
            assert len(block["elements"]) <= 10
            out += [("context", e["text"], 2000) for e in block["elements"]]
    return out


def assert_whole(where: str, text: str) -> None:
    """No entity or link cut: every `&` starts an entity, every `<` closes, and each `<…>` is a real link."""
    assert not re.search(r"&(?!amp;|lt;|gt;)", text), f"{where}: a cut entity or a raw &"
    links = re.findall(r"<[^<>]*>", text)
    rest = re.sub(r"<[^<>]*>", "", text)
    assert "<" not in rest and ">" not in rest, f"{where}: a cut link or a raw angle bracket"
    for found in links:
        assert re.fullmatch(r"<https://(weibo|reddit)\.com/u/[^|<>]*\|[^|<>]*>", found), f"{where}: {found[:80]}"
        assert "<!" not in found


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_kind_stays_within_slack_limits_and_never_cuts_an_entity_or_link(name: str) -> None:
    for kind, message in hostile_messages(HOSTILE[name]).items():
        for where, text, limit in texts(message):
            assert 0 < len(text) <= limit, f"{kind} {where}: {len(text)} > {limit}"
            if where != "header":  # plain_text: Slack shows it as written, it is not parsed
                assert_whole(f"{kind} {where}", text)
        assert slack_rejects({"text": message.text, "blocks": message.blocks}) is None, kind


def test_escape_truncates_after_escaping_and_before_an_entity() -> None:
    assert escape("&" * 10, 12) == "&amp;&amp;…"
    assert escape("ab&", 7) == "ab&amp;"  # fits exactly: no cut
    assert escape("abc&d", 8) == "abc…"  # `&amp;` would straddle the cut: cut before it
    assert fit("see <https://x.example/a|label> now", 12) == "see …"
    assert fit("x" * 10, 10) == "x" * 10 and len(fit("x" * 11, 10)) == 10


def test_control_truncating_before_escaping_overflows_the_section() -> None:
    """The old health render: cut the raw text at 2,800, then escape — 2,800 `&` become 14,000 characters."""
    detail = "watchlist error: " + "&" * 5000
    raw = f"banwatch health (watchlist): {detail}"
    old = (raw[:2799] + "…").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    section = f":warning: *banwatch health* · {old}"
    assert len(section) > 3000
    assert slack_rejects({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]}) \
        == "invalid_blocks"
    new = render({"alert_id": 1, "kind": "health", "channel": "#h", "subject": "watchlist", "detail": detail})
    assert len(new.blocks[0]["text"]["text"]) <= 3000 and slack_rejects({"text": new.text, "blocks": new.blocks}) is None


def test_malformed_errors_are_recognised_and_others_are_not() -> None:
    assert malformed("Slack said invalid_blocks") == "invalid_blocks"
    assert malformed("webhook answered HTTP 400: no_text") == "no_text"
    assert malformed("Slack said msg_too_long") == "msg_too_long"
    for transient in ("Slack said ratelimited", "Slack said internal_error", "Slack said channel_not_found",
                      "ConnectionError: [Errno 111] Connection refused", None):
        assert malformed(transient) is None


# -- the production path: Dispatcher -> SlackNotifier (slack-sdk) -> FakeSlack enforcing Block Kit's limits ---

def _old_health_render(context: dict[str, Any], titles: Any = None) -> Message:
    """The render before the fix, for health alerts: truncated before escaping, so over 3,000 characters."""
    if context["kind"] != "health":
        return render(context, titles)
    raw = f"banwatch health ({context['subject']}): {context['detail']}"
    old = (raw[:2799] + "…").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Message(text=old[:1000], blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                                         "text": f":warning: {old}"}}])


def _health_then_suspension(world_factory: Any) -> Any:  # noqa: F811
    world = world_factory(people(1), retry_base=1.0)
    world.store.health_alert("watchlist", "watchlist error: " + "&" * 5000, ["#banwatch"], at(0))
    world.suspend("reddit:user0", at(1))
    health, suspension = world.alerts()
    assert (health["kind"], suspension["kind"]) == ("health", "suspended")
    return world


def test_health_alert_full_of_ampersands_is_delivered_within_limits_before_the_suspension(
        world_factory: Any, slack: FakeSlack) -> None:  # noqa: F811
    world = _health_then_suspension(world_factory)
    report = world.deliver(at(2))
    assert (report.sent, report.failed, report.dead) == (2, 0, 0)
    health, suspension = slack.in_channel("#banwatch")
    section = health["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("&amp;…")
    assert alert_ids([health, suspension]) == [r["id"] for r in world.alerts()]
    assert [c.accepted for c in slack.calls if c.method == "chat.postMessage"] == [True, True]


def test_a_message_slack_rejects_is_sent_simplified_and_the_suspension_behind_it_goes_out(
        world_factory: Any, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(alerts.dispatch, "render", _old_health_render)  # the oversized health message again
    world = _health_then_suspension(world_factory)
    report = world.deliver(at(2))
    assert (report.sent, report.failed, report.dead) == (2, 0, 0)
    posts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert [c.accepted for c in posts] == [False, True, True]  # rejected once, simplified, then the suspension
    health, suspension = slack.in_channel("#banwatch")
    assert health["blocks"] == [] and health["text"].startswith("banwatch health (watchlist): watchlist error: &amp;")
    assert len(health["text"]) <= 3000
    assert suspension["metadata"]["event_payload"]["alert_id"] == world.alerts()[1]["id"]
    assert [r["state"] for r in world.alerts()] == ["sent", "sent"]


def test_a_message_rejected_simplified_too_is_dead_with_its_reason_and_never_holds_the_channel(
        world_factory: Any, slack: FakeSlack) -> None:  # noqa: F811
    world = _health_then_suspension(world_factory)
    rejected = (200, {}, {"ok": False, "error": "invalid_blocks"})
    slack.script = [rejected, rejected]  # the health message, then its simplified form
    report = world.deliver(at(2))
    assert (report.sent, report.failed, report.dead) == (1, 0, 1)
    health, suspension = world.alerts()
    assert health["state"] == "dead" and "invalid_blocks" in health["last_error"]
    assert "simplified message: Slack said invalid_blocks" in health["last_error"]
    assert suspension["state"] == "sent"
    assert alert_ids(slack.in_channel("#banwatch")) == [suspension["id"]]
    calls = len(slack.calls)
    for later in (at(60), at(3600), at(86400 * 2)):
        assert world.deliver(later).sent == 0
    assert len(slack.calls) == calls, "a dead alert is never tried again on its own"


def test_a_transient_failure_still_holds_the_channel_in_order(world_factory: Any, slack: FakeSlack) -> None:  # noqa: F811
    """Control: only malformed messages skip the line; a channel that is down keeps its order."""
    world = _health_then_suspension(world_factory)
    slack.script = [(200, {}, {"ok": False, "error": "channel_not_found"})]
    report = world.deliver(at(2))
    assert (report.sent, report.failed, report.dead) == (0, 1, 0)
    assert [r["state"] for r in world.alerts()] == ["pending", "pending"]


def test_a_wave_message_rejected_twice_sends_its_members_one_by_one(world_factory: Any,
                                                                   slack: FakeSlack) -> None:  # noqa: F811
    world = world_factory(people(3), wave_size=3)
    for i in range(3):
        world.suspend(f"reddit:user{i}", at(i))
    rejected = (200, {}, {"ok": False, "error": "invalid_blocks"})
    slack.script = [rejected, rejected]  # the wave message, then its simplified form
    report = world.deliver(at(5))
    assert report.sent == 3 and report.waves == 0
    assert alert_ids(slack.in_channel("#banwatch")) == [r["id"] for r in world.alerts()]
    assert all(r["state"] == "sent" for r in world.alerts())
