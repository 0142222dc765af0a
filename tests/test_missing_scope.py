"""A bot that cannot read its channel's history: an interrupted post falls back to at least once for that row,
the channel is never blocked, and `alerts test` names the missing scope — against the local fake Slack."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.alerts.notifier import Mark, Message
from banwatch.monitor.cli import cli
from banwatch.monitor.watchlist import AlertSettings
from tests.fakes import FakeSlack
from tests.test_delivery import World, alert_ids, at, people

NO_HISTORY = "chat:write,channels:read,groups:read"
HISTORY = ("conversations.history", "conversations.replies")


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack) -> Iterator[World]:
    w = World(tmp_path / "w.db", slack, AlertSettings(slack_channel="#banwatch", wave_size=1000), people(40))
    yield w
    w.store.close()


def interrupt(world: World, row_id: int) -> None:
    """A crash after Slack stored the message but before the row was marked sent: the row is left `sending`."""
    world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [row_id])
    world.notifier.send("#banwatch", Message("x"), mark=Mark("banwatch_alert", "alert_id", row_id))


def history_calls(slack: FakeSlack) -> int:
    return sum(c.method in HISTORY for c in slack.calls)


def health(world: World) -> list[dict[str, Any]]:
    return [r for r in world.alerts() if r["kind"] == "health"]


def suspend_all(world: World, n: int = 40) -> list[int]:
    for i in range(n):
        world.suspend(f"reddit:user{i}", at(i))
    return [r["id"] for r in world.alerts()]


def test_without_history_scope_the_interrupted_row_is_sent_again_and_the_channel_goes_on(
        world: World, slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    slack.scopes = NO_HISTORY
    ids = suspend_all(world)
    interrupt(world, ids[0])
    with caplog.at_level(logging.INFO, logger="banwatch.alerts.dispatch"):
        report = world.deliver(at(60))
    delivered = alert_ids(slack.in_channel("#banwatch"))
    assert set(ids) <= set(delivered), "every alert reaches the channel: the channel is not blocked"
    assert all(delivered.count(i) == 1 for i in ids[1:])
    assert delivered.count(ids[0]) <= 2, "the interrupted one at most twice (at least once for that row)"
    assert report.sent == 40 + 1 and report.reconciled == 0  # the forty, and the one health alert and report.kept == 0
    assert history_calls(slack) <= 2
    (alert,) = health(world)
    assert alert["state"] == "sent" and "channels:history" in alert["detail"] and "missing_scope" in alert["detail"]
    assert world.store.get_service("history:#banwatch") == "missing_scope"
    assert all(r["state"] == "sent" for r in world.alerts())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "history" in r.getMessage()]
    assert len(warnings) == 1

    # Another interruption later: the channel is asked once, no second health alert, no second WARNING.
    calls = history_calls(slack)
    world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [ids[5]])
    with caplog.at_level(logging.INFO, logger="banwatch.alerts.dispatch"):
        again = world.deliver(at(200))
    assert again.sent == 1 and history_calls(slack) - calls == 1
    assert len(health(world)) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "history" in r.getMessage()]
    assert len(warnings) == 1


def test_interrupted_rows_in_an_unreadable_channel_cost_one_history_call_per_pass(
        world: World, slack: FakeSlack) -> None:
    slack.scopes = NO_HISTORY
    slack.channel_id("#banwatch")  # the channel exists: the bot finds it, only its history is closed
    ids = suspend_all(world, 10)
    for i in ids[:5]:
        world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [i])
    report = world.deliver(at(60))
    assert history_calls(slack) == 1 and report.sent == 10 + 1  # the ten, and the one health alert
    assert sorted(alert_ids(slack.in_channel("#banwatch"))) == sorted(r["id"] for r in world.alerts())


def test_a_transient_history_failure_blocks_the_channel_for_the_pass_asking_once(
        world: World, slack: FakeSlack) -> None:
    ids = suspend_all(world, 5)
    for i in ids[:3]:
        world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [i])
    world.notifier._ids["#banwatch"] = slack.channel_id("#banwatch")
    slack.token, token = "xoxb-other", slack.token  # every call now answers invalid_auth: not a scope problem
    report = world.deliver(at(60))
    assert report.sent == 0 and sum(c.method in HISTORY for c in slack.calls) == 1
    assert not health(world) and world.store.get_service("history:#banwatch") is None
    slack.token = token


def test_with_the_scope_the_interrupted_row_is_reconciled_without_a_repost(world: World, slack: FakeSlack) -> None:
    ids = suspend_all(world)
    interrupt(world, ids[0])
    report = world.deliver(at(60))
    assert report.reconciled == 1 and report.sent == 39
    assert alert_ids(slack.in_channel("#banwatch")) == ids, "each once, in order"
    assert not health(world) and history_calls(slack) == 1


def test_history_that_reads_again_says_so_once(world: World, slack: FakeSlack) -> None:
    slack.scopes = NO_HISTORY
    ids = suspend_all(world, 3)
    interrupt(world, ids[0])
    world.deliver(at(60))
    slack.scopes = FakeSlack.SCOPES  # the app is reinstalled with channels:history
    interrupt(world, ids[1])
    report = world.deliver(at(120))
    assert report.reconciled == 1 and world.store.get_service("history:#banwatch") == ""
    details = [r["detail"] for r in health(world)]
    assert len(details) == 2 and "again" in details[1]


def test_alerts_test_names_the_missing_history_scope(tmp_path: Path, slack: FakeSlack,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANWATCH_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    args = ["--watchlist", str(tmp_path / "none.yaml"), "alerts", "test", "--channel", "#t"]
    full = CliRunner().invoke(cli, args)
    assert full.exit_code == 0 and "MISSING" not in full.output
    assert "chat:write" in full.output and "every scope it needs is granted" in full.output
    slack.scopes = NO_HISTORY
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output  # alerts still go out: at least once
    lines = {line.split()[0]: line for line in out.output.splitlines() if line.startswith("  ")}
    assert "present" in lines["chat:write"]
    assert "MISSING" in lines["channels:history"] and "may appear twice" in lines["channels:history"]
    assert "MISSING" in lines["groups:history"]
    assert "missing scope(s): channels:history, groups:history" in out.output
    assert "Slack accepted the test message in #t" in out.output
    assert slack.token not in out.output
