"""Alerts that are never lost, never sent twice and never a flood — against the local fake Slack."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.alerts.console import ConsoleNotifier
from banwatch.alerts.dispatch import Dispatcher
from banwatch.alerts.notifier import Mark, Message
from banwatch.alerts.slack import SlackNotifier
from banwatch.monitor.cli import cli
from banwatch.monitor.model import Account, Observation, Status
from banwatch.monitor.runner import Checker
from banwatch.monitor.settings import slack_from_env

from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings, Route, Watchlist
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack

T0 = "2026-03-01T10:42:00.000Z"


def at(seconds: float) -> str:
    from banwatch.monitor.timeutil import later

    return later(T0, seconds)


class World:
    """A store with accounts, a Checker to confirm changes as the pipeline does, and a dispatcher."""

    def __init__(self, path: Path, slack: FakeSlack, settings: AlertSettings, accounts: list[Account]) -> None:
        self.store = Store.open(path)
        self.store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts)), T0)
        self.checker = Checker(self.store, accounts, {}, "#banwatch", lambda p: None, settings)  # type: ignore[arg-type]
        self.notifier = SlackNotifier(slack_from_env("#banwatch", {"SLACK_BOT_TOKEN": slack.token,
                                                                   "BANWATCH_SLACK_API_URL": slack.api_url}))
        self.settings = settings
        for account in accounts:
            self.checker.record(Observation(account.key, Status.ACTIVE, f"{account.platform}.x", "ok", T0))

    def suspend(self, key: str, when: str) -> None:
        account = self.checker.accounts[key]
        self.checker.record(Observation(key, Status.SUSPENDED, f"{account.platform}.x", "banned", when))

    def deliver(self, now: str) -> Any:
        return Dispatcher(self.store, self.notifier, self.settings).deliver(now)

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.store.db.query("SELECT * FROM alerts ORDER BY id"))


def people(n: int, platform: str = "reddit", tags: tuple[str, ...] = ()) -> list[Account]:
    return [Account(platform, f"user{i}", f"{platform}:user{i}", tags=tags, confirmations=1) for i in range(n)]


def alert_ids(messages: list[dict[str, Any]]) -> list[int]:
    return [m["metadata"]["event_payload"]["alert_id"] for m in messages
            if m.get("metadata") and m["metadata"]["event_type"] == "banwatch_alert"]


@pytest.fixture
def world_factory(tmp_path: Path, slack: FakeSlack) -> Iterator[Any]:
    worlds: list[World] = []

    def make(accounts: list[Account], **settings: Any) -> World:
        world = World(tmp_path / f"w{len(worlds)}.db", slack, AlertSettings(slack_channel="#banwatch", **settings),
                      accounts)
        worlds.append(world)
        return world

    yield make
    for w in worlds:
        w.store.close()


def test_outage_500_then_429_then_recovery_delivers_each_once_in_order(world_factory: Any, slack: FakeSlack) -> None:
    world = world_factory(people(4), retry_base=1.0, wave_size=1000)  # single messages: order is visible
    for i in range(4):
        world.suspend(f"reddit:user{i}", at(i))
    ratelimited = (429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"})
    slack.script = [(500, {}, {"ok": False, "error": "internal_error"})] + [ratelimited] * 3
    first = world.deliver(at(10))  # a 500 may come after Slack stored the post: never retried blind
    assert (first.sent, first.failed) == (0, 1) and slack.in_channel("#banwatch") == []
    assert [c.method for c in slack.calls] == ["chat.postMessage"], "slack-sdk did not retry the post"
    rows = world.alerts()
    assert rows[0]["state"] == "sending" and rows[0]["last_error"] == "Slack said HTTP 500, internal_error"
    assert [r["state"] for r in rows[1:]] == ["pending"] * 3, "later alerts wait behind the first: order is kept"
    assert world.deliver(at(10.5)).sent == 0, "nothing goes before the backoff has elapsed"
    assert [c.method for c in slack.calls] == ["chat.postMessage"], "not even the look-up"
    second = world.deliver(rows[0]["next_attempt_at"])  # looked for, not found; posted: 429 ×3, slack-sdk gives up
    methods = [c.method for c in slack.calls]
    assert methods[1:4] == ["conversations.list", "conversations.history", "chat.postMessage"], \
        "looked for (the channel's id, then its history) before it is posted again"
    assert second.failed == 1 and world.alerts()[0]["next_attempt_at"] >= at(11)
    third = world.deliver(at(3600))
    assert third.sent == 4
    assert alert_ids(slack.in_channel("#banwatch")) == [r["id"] for r in world.alerts()]  # once each, in order
    assert all(r["state"] == "sent" and r["slack_ts"] for r in world.alerts())
    assert world.deliver(at(7200)).sent == 0


def test_interrupted_send_is_reconciled_not_repeated_and_the_control_case_repeats(
        world_factory: Any, slack: FakeSlack) -> None:
    world = world_factory(people(1))
    world.suspend("reddit:user0", at(1))
    (row,) = world.alerts()
    # A crash after Slack stored the message but before the row was marked sent:
    world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [row["id"]])
    world.notifier.send("#banwatch", Message("x"), mark=Mark("banwatch_alert", "alert_id", row["id"]))
    report = world.deliver(at(5))
    assert report.reconciled == 1 and report.sent == 0
    assert len(slack.in_channel("#banwatch")) == 1 and world.alerts()[0]["state"] == "sent"
    # Control: a notifier that cannot look (console, webhook) sends it again — at least once.
    world.store.db.execute("UPDATE alerts SET state = 'sending' WHERE id = ?", [row["id"]])
    lines: list[str] = []
    again = Dispatcher(world.store, ConsoleNotifier(lines.append), world.settings).deliver(at(6))
    assert again.sent == 1 and len(lines) == 1


def test_five_suspensions_make_one_wave_with_replies_and_an_update(world_factory: Any, slack: FakeSlack) -> None:
    world = world_factory(people(5, "weibo") + people(3, "reddit"))
    for i in range(3):
        world.suspend(f"weibo:user{i}", at(i))
        world.suspend(f"reddit:user{i}", at(i))
    report = world.deliver(at(30))
    assert report.waves == 2 and report.sent == 6
    tops = [m for m in slack.in_channel("#banwatch") if not m["thread_ts"]]
    assert sorted(m["text"].split(" UTC")[0] + " UTC" for m in tops) == [
        "3 Reddit accounts suspended since 2026-03-01 10:42 UTC", "3 Weibo accounts suspended since 2026-03-01 10:42 UTC"]
    world.suspend("weibo:user3", at(60))
    world.suspend("weibo:user4", at(61))
    assert world.deliver(at(90)).sent == 2
    messages = slack.in_channel("#banwatch")
    weibo_top = next(m for m in messages if m["text"].startswith("5 Weibo"))
    replies = [m for m in messages if m["thread_ts"]]
    assert len([m for m in messages if not m["thread_ts"]]) == 2, "one top-level message per wave, no more"
    assert [m["thread_ts"] for m in replies] == [weibo_top["ts"]] * 2
    assert weibo_top.get("edited") and "user4" in weibo_top["text"]
    assert any(c.method == "chat.update" for c in slack.calls)
    waves = list(world.store.db.query("SELECT platform, members, state FROM waves ORDER BY platform"))
    assert waves == [{"platform": "reddit", "members": 3, "state": "sent"},
                     {"platform": "weibo", "members": 5, "state": "sent"}]
    assert world.store.db.execute("SELECT count(*) FROM changes WHERE wave_id IS NOT NULL").fetchone()[0] == 8


def test_a_wave_forms_from_earlier_single_alerts_and_not_outside_the_window(world_factory: Any,
                                                                           slack: FakeSlack) -> None:
    world = world_factory(people(4))
    world.suspend("reddit:user0", at(0))
    world.deliver(at(1))
    world.suspend("reddit:user1", at(60))
    world.deliver(at(61))
    assert len(slack.in_channel("#banwatch")) == 2  # two singles: below the wave size
    world.suspend("reddit:user2", at(120))
    world.deliver(at(121))
    top = slack.in_channel("#banwatch")[-1]
    assert top["text"].startswith("3 Reddit accounts suspended since 2026-03-01 10:42 UTC")
    assert "user0" in top["text"] and "user1" in top["text"] and "user2" in top["text"]
    world.suspend("reddit:user3", at(120 + 601))  # the wave's window closed: a single again
    world.deliver(at(120 + 602))
    assert not slack.in_channel("#banwatch")[-1]["thread_ts"]
    assert slack.in_channel("#banwatch")[-1]["text"].startswith("Suspended on Reddit: user3")


def test_routes_by_tag_reach_each_matching_channel_once(world_factory: Any, slack: FakeSlack) -> None:
    routes = (Route(("crypto",), "#crypto"), Route(("media",), "#media"), Route(("crypto", "media"), "#media"))
    both = Account("reddit", "outlet", "reddit:outlet", tags=("crypto", "media"), confirmations=1)
    plain = Account("reddit", "someone", "reddit:someone", confirmations=1)
    world = world_factory([both, plain], routes=routes)
    world.suspend("reddit:outlet", at(1))
    world.suspend("reddit:someone", at(2))
    world.deliver(at(3))
    assert [m["text"].split(" |")[0] for m in slack.in_channel("#crypto")] == ["Suspended on Reddit: outlet"]
    assert [m["text"].split(" |")[0] for m in slack.in_channel("#media")] == ["Suspended on Reddit: outlet"]
    assert [m["text"].split(" |")[0] for m in slack.in_channel("#banwatch")] == ["Suspended on Reddit: someone"]


def test_one_failing_channel_never_blocks_another(world_factory: Any, slack: FakeSlack) -> None:
    routes = (Route(("a",), "#gone"), Route(("b",), "#fine"))
    world = world_factory([Account("reddit", "x", "reddit:x", tags=("a",), confirmations=1),
                           Account("reddit", "y", "reddit:y", tags=("b",), confirmations=1)], routes=routes)
    slack.fail_channels = {"#gone"}
    world.suspend("reddit:x", at(1))
    world.suspend("reddit:y", at(2))
    report = world.deliver(at(3))
    assert (report.sent, report.failed) == (1, 1) and len(slack.in_channel("#fine")) == 1


def test_undeliverable_alerts_die_after_give_up_and_can_be_retried(world_factory: Any, slack: FakeSlack,
                                                                 tmp_path: Path) -> None:
    world = world_factory(people(1), give_up=60.0, retry_base=1.0)
    slack.fail_with = (200, {}, {"ok": False, "error": "not_in_channel"})
    world.suspend("reddit:user0", at(0))
    world.deliver(at(1))
    assert world.deliver(at(120)).dead == 1 and world.alerts()[0]["state"] == "dead"
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", world.store.path, "--watchlist", str(tmp_path / "none.yaml"),
                              "alerts", "list", "--state", "dead", "--json"])
    listed = json.loads(out.output)
    assert [a["state"] for a in listed] == ["dead"] and "not_in_channel" in listed[0]["last_error"]
    out = runner.invoke(cli, ["--db", world.store.path, "--watchlist", str(tmp_path / "none.yaml"),
                              "alerts", "retry", "--dead"])
    assert out.exit_code == 0 and "1 alert back in the outbox" in out.output
    slack.fail_with = None
    from banwatch.monitor.timeutil import now_iso

    assert world.deliver(now_iso()).sent == 1 and len(slack.in_channel("#banwatch")) == 1


def test_an_alert_never_tried_is_tried_once_however_old(world_factory: Any, slack: FakeSlack) -> None:
    """banwatch was down for two days: its alerts are late, not dead."""
    world = world_factory(people(1), give_up=60.0)
    world.suspend("reddit:user0", at(0))
    report = world.deliver(at(2 * 86400))
    assert (report.sent, report.dead) == (1, 0) and len(slack.in_channel("#banwatch")) == 1


def test_untrusted_text_is_escaped_and_truncated_in_the_exact_json_posted(world_factory: Any,
                                                                         slack: FakeSlack) -> None:
    world = world_factory(people(1))
    evil = "<!channel> <https://evil.example|click> &amp;" + "B" * 10_000
    world.store.db["accounts"].update("reddit:user0", {"display_name": evil})
    world.suspend("reddit:user0", at(1))
    world.deliver(at(2))
    (posted,) = slack.posted()
    raw = json.dumps(posted)
    assert "<!channel>" not in raw and "<https://evil.example|click>" not in raw
    section = posted["blocks"][1]["text"]["text"]
    assert section.startswith("*<https://www.reddit.com/user/user0/|Reddit user0 (&lt;!channel&gt; "
                              "&lt;https://evil.example|click&gt; &amp;amp;BBB")
    assert len(section) <= 3000 and "…" in section and len(posted["text"]) < 4000
    assert posted["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Suspended on Reddit: user0"}}
    assert posted["metadata"] == {"event_type": "banwatch_alert", "event_payload": {"alert_id": 1}}


def test_alerts_test_command(tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANWATCH_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--watchlist", str(tmp_path / "none.yaml"), "alerts", "test", "--channel", "#t"])
    assert ok.exit_code == 0 and "Slack accepted the test message in #t (ts 17" in ok.output
    assert len(slack.in_channel("#t")) == 1
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-token")
    bad = runner.invoke(cli, ["--watchlist", str(tmp_path / "none.yaml"), "alerts", "test", "--channel", "#t"])
    assert bad.exit_code == 1 and "Slack said invalid_auth" in bad.output
    assert "xoxb-revoked-token" not in bad.output
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    none = runner.invoke(cli, ["--watchlist", str(tmp_path / "none.yaml"), "alerts", "test"])
    assert none.exit_code == 1 and "no Slack credentials" in none.output


def _seed(banwatch: Banwatch, n: int) -> None:
    """n confirmed suspensions on n platforms' worth of accounts, as the pipeline writes them."""
    accounts = [Account("reddit", f"p{i}", f"reddit:p{i}", confirmations=1) for i in range(n)]
    store = Store.open(banwatch.workdir / "banwatch.db")
    store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts)), T0)
    # wave_size is raised in the watchlist so every alert is a single message with its own metadata
    checker = Checker(store, accounts, {}, "#banwatch", lambda p: None, AlertSettings())  # type: ignore[arg-type]
    from banwatch.monitor.timeutil import later, now_iso

    start = now_iso()
    for i, a in enumerate(accounts):
        checker.record(Observation(a.key, Status.ACTIVE, "reddit.x", "ok", later(start, -60 + i)))
        checker.record(Observation(a.key, Status.SUSPENDED, "reddit.x", "banned", later(start, -59.5 + i)))
    store.close()


def test_sigkill_between_sending_and_sent_never_loses_or_duplicates(tmp_path: Path, platforms: FakePlatforms,
                                                                   slack: FakeSlack) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "alerts: {slack_channel: '#banwatch', wave_size: 1000}\naccounts: []\n", encoding="utf-8")
    banwatch = Banwatch(tmp_path, platforms, slack)
    trials = 20
    _seed(banwatch, trials + 2)
    slack.hold = 5.0  # Slack has stored the message but not answered yet
    for trial in range(trials):
        posts = len(slack.posted())
        proc = banwatch.start("alerts", "send")
        wait_for(lambda: len(slack.posted()) > posts, 20, f"trial {trial}: a post reaching Slack", interval=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert banwatch.rows("SELECT count(*) AS n FROM alerts WHERE state = 'sending'")[0]["n"] == 1
    slack.hold = 0.0
    banwatch("alerts", "send")
    expected = [r["id"] for r in banwatch.rows("SELECT id FROM alerts ORDER BY id")]
    assert sorted(alert_ids(slack.in_channel("#banwatch"))) == expected, "every alert exactly once"
    assert banwatch.rows("SELECT count(*) AS n FROM alerts WHERE state != 'sent'")[0]["n"] == 0
    assert banwatch.rows("SELECT sum(attempts) AS n FROM alerts")[0]["n"] == len(expected)


def test_the_token_never_reaches_logs_the_database_or_messages(tmp_path: Path, platforms: FakePlatforms,
                                                              slack: FakeSlack) -> None:
    from tests.test_e2e import setup, serve

    banwatch = setup(tmp_path, platforms, slack)
    outputs = [banwatch("--log-level", "DEBUG", "check")]
    serve(platforms, "reddit:spez", "reddit.is_suspended")
    outputs.append(banwatch("--log-level", "DEBUG", "check"))
    slack.fail_with = (200, {}, {"ok": False, "error": "invalid_auth"})
    serve(platforms, "reddit:spez", "reddit.profile")
    outputs.append(banwatch("--log-level", "DEBUG", "check"))
    assert slack.posted(), "the scenario did alert"
    seen = "".join(o.stdout + o.stderr for o in outputs)
    seen += json.dumps(banwatch.rows("SELECT * FROM alerts")) + json.dumps([c.payload for c in slack.calls])
    for db_file in tmp_path.glob("banwatch.db*"):
        seen += db_file.read_bytes().decode("latin-1")
    assert slack.token not in seen
    assert "Bearer" not in seen


def test_webhook_delivery_is_plain_messages_without_waves(tmp_path: Path, slack: FakeSlack) -> None:
    from banwatch.alerts.slack import WebhookNotifier, make_notifier

    settings = slack_from_env("#x", {"SLACK_WEBHOOK_URL": slack.url + "/services/T0/B0/XyZzy123"})
    notifier = make_notifier(settings)
    assert isinstance(notifier, WebhookNotifier) and "at-least-once" in settings.describe()
    assert "XyZzy123" not in settings.describe() + repr(settings)
    store = Store.open(tmp_path / "b.db")
    accounts = people(4)
    store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts)), T0)
    checker = Checker(store, accounts, {}, "#x", lambda p: None, AlertSettings())  # type: ignore[arg-type]
    for a in accounts:
        checker.record(Observation(a.key, Status.ACTIVE, "reddit.x", "ok", at(0)))
        checker.record(Observation(a.key, Status.SUSPENDED, "reddit.x", "banned", at(1)))
    report = Dispatcher(store, notifier, AlertSettings()).deliver(at(2))
    assert (report.sent, report.waves) == (4, 0) and len(slack.webhook_posts) == 4
    assert all(p["text"].startswith("Suspended on Reddit") for p in slack.webhook_posts)
    store.close()


def test_alert_kinds_choose_what_is_sent_but_every_change_is_recorded(world_factory: Any) -> None:
    world = world_factory(people(2), kinds=frozenset({"not_found"}))
    world.suspend("reddit:user0", at(1))
    account = world.checker.accounts["reddit:user1"]
    world.checker.record(Observation(account.key, Status.NOT_FOUND, "reddit.not_found", "404", at(2)))
    assert [a["kind"] for a in world.alerts()] == ["not_found"]
    assert world.store.db["changes"].count == 2
