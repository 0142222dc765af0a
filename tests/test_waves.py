"""Waves never double-count: an alert is carried by one message (its own, a wave's, or a reply in a wave's
thread), decided once per delivery pass from one snapshot; a slack_ts, once set, never changes; a pass's
`sent` counts each alert it delivered exactly once. Through the real Dispatcher against the fake Slack."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.fakes import FakeSlack
from tests.test_delivery import alert_ids, at, people, world_factory  # noqa: F401 - world_factory is a fixture


class Ledger:
    """Delivers a world pass by pass and checks the invariants after each pass."""

    def __init__(self, world: Any, slack: FakeSlack) -> None:
        self.world, self.slack = world, slack
        self.ts: dict[int, str] = {}  # alert id -> the first slack_ts it was given
        self.sent = 0

    def deliver(self, now: str) -> Any:
        report = self.world.deliver(now)
        self.sent += report.sent
        self.check()
        return report

    def check(self) -> None:
        rows = self.world.alerts()
        for r in rows:
            if r["id"] in self.ts:
                assert r["slack_ts"] == self.ts[r["id"]], f"alert {r['id']}'s slack_ts changed"
            elif r["slack_ts"]:
                self.ts[r["id"]] = r["slack_ts"]
        done = [r for r in rows if r["state"] == "sent"]
        assert self.sent == len(done), "the summary counts each delivered alert exactly once"
        messages = self.slack.in_channel("#banwatch")
        own = alert_ids(messages)  # alerts with their own message (top level or a reply in a wave's thread)
        assert len(own) == len(set(own)), "no alert is posted twice"
        tops = {m["ts"]: m for m in messages if not m["thread_ts"]}
        waves = {m["ts"] for m in tops.values() if m["metadata"]["event_type"] == "banwatch_wave"}
        for r in done:
            alone = r["id"] in own
            carried = r["wave_id"] is not None and r["thread_ts"] is None and r["slack_ts"] in waves
            assert alone != carried, f"alert {r['id']} is in exactly one message: alone={alone} wave={carried}"
            if alone and not r["thread_ts"]:
                assert r["wave_id"] is None, f"alert {r['id']} was posted alone and is also a wave member"
        for w in self.world.store.db.query("SELECT id, members FROM waves WHERE state = 'sent'"):
            members = self.world.store.db.execute("SELECT count(*) FROM alerts WHERE wave_id = ?",
                                                  [w["id"]]).fetchone()[0]
            assert w["members"] == members

    def tops(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.in_channel("#banwatch") if not m["thread_ts"]]


def test_two_pending_below_the_wave_size_go_alone_and_the_third_makes_a_wave_of_one(
        world_factory: Any, slack: FakeSlack) -> None:
    """The reported case: wave_size 3, two pending, then a third in the next pass."""
    world = world_factory(people(4))
    ledger = Ledger(world, slack)
    world.suspend("reddit:user0", at(0))
    world.suspend("reddit:user1", at(1))
    first = ledger.deliver(at(2))
    assert (first.sent, first.waves, first.kept) == (2, 0, 0), "two alerts, two messages, no wave"
    assert [m["text"].split(" |")[0] for m in ledger.tops()] == ["Suspended on Reddit: user0",
                                                                 "Suspended on Reddit: user1"]
    world.suspend("reddit:user2", at(30))
    second = ledger.deliver(at(31))
    assert (second.sent, second.waves) == (1, 1), "the wave carries only the new alert"
    top = ledger.tops()[-1]
    assert top["text"].startswith("3 Reddit accounts suspended since 2026-03-01 10:42 UTC")
    assert all(f"user{i}" in top["text"] for i in range(3))
    assert "Including 2 already posted on their own" in top["text"]
    rows = world.alerts()
    assert [r["wave_id"] is None for r in rows] == [True, True, False], "posted alone: never a wave member"
    assert rows[2]["slack_ts"] == top["ts"]
    assert world.store.db.execute("SELECT members FROM waves").fetchone()[0] == 1
    world.suspend("reddit:user3", at(60))  # a later one is a reply in the wave's thread
    third = ledger.deliver(at(61))
    assert (third.sent, third.waves) == (1, 0)
    reply = slack.in_channel("#banwatch")[-1]
    assert reply["thread_ts"] == top["ts"] and top.get("edited")
    assert top["text"].startswith("4 Reddit accounts") and "Including 2 already posted" in top["text"]
    assert len(ledger.tops()) == 3 and ledger.sent == 4


def test_three_pending_at_once_make_one_wave_of_three(world_factory: Any, slack: FakeSlack) -> None:
    world = world_factory(people(4))
    ledger = Ledger(world, slack)
    for i in range(3):
        world.suspend(f"reddit:user{i}", at(i))
    report = ledger.deliver(at(5))
    assert (report.sent, report.waves) == (3, 1)
    (top,) = slack.in_channel("#banwatch")  # one wave message; its members have no replies of their own
    assert top["text"].startswith("3 Reddit accounts suspended") and "already posted" not in top["text"]
    rows = world.alerts()
    assert {r["slack_ts"] for r in rows} == {top["ts"]} and len({r["wave_id"] for r in rows}) == 1
    assert world.store.db.execute("SELECT members FROM waves").fetchone()[0] == 3
    world.suspend("reddit:user3", at(20))  # later ones are the thread replies
    assert ledger.deliver(at(21)).sent == 1
    assert slack.in_channel("#banwatch")[-1]["thread_ts"] == top["ts"]
    assert world.store.db.execute("SELECT members FROM waves").fetchone()[0] == 4


def test_one_alone_then_two_at_once_make_a_wave_of_two_that_counts_three(world_factory: Any,
                                                                         slack: FakeSlack) -> None:
    world = world_factory(people(3))
    ledger = Ledger(world, slack)
    world.suspend("reddit:user0", at(0))
    ledger.deliver(at(1))
    world.suspend("reddit:user1", at(10))
    world.suspend("reddit:user2", at(11))
    report = ledger.deliver(at(12))
    assert (report.sent, report.waves) == (2, 1)
    top = ledger.tops()[-1]
    assert top["text"].startswith("3 Reddit accounts") and "Including 1 already posted" in top["text"]
    assert world.alerts()[0]["wave_id"] is None


def test_a_failed_wave_is_decided_again_next_pass_without_counting_twice(world_factory: Any,
                                                                        slack: FakeSlack) -> None:
    world = world_factory(people(4), retry_base=1.0)
    ledger = Ledger(world, slack)
    world.suspend("reddit:user0", at(0))
    ledger.deliver(at(1))
    world.suspend("reddit:user1", at(10))
    world.suspend("reddit:user2", at(11))
    slack.script = [(200, {}, {"ok": False, "error": "channel_is_archived"})]
    failed = ledger.deliver(at(12))
    assert (failed.sent, failed.failed, failed.waves) == (0, 1, 0)
    assert [r["state"] for r in world.alerts()] == ["sent", "pending", "pending"]
    world.suspend("reddit:user3", at(13))
    again = ledger.deliver(at(120))
    assert (again.sent, again.waves) == (3, 1)
    assert ledger.tops()[-1]["text"].startswith("4 Reddit accounts")
    assert len(ledger.tops()) == 2 and ledger.sent == 4


def test_a_suspension_arriving_during_a_pass_waits_for_the_next_pass(world_factory: Any,
                                                                     slack: FakeSlack) -> None:
    """The pass decides from its snapshot: what arrives while it posts is neither sent nor grouped now."""
    world = world_factory(people(3))
    ledger = Ledger(world, slack)
    world.suspend("reddit:user0", at(0))
    world.suspend("reddit:user1", at(1))
    send = world.notifier.send

    def send_and_suspend(*args: Any, **kwargs: Any) -> Any:
        result = send(*args, **kwargs)
        if not world.store.db.execute("SELECT count(*) FROM alerts WHERE account_key = 'reddit:user2'").fetchone()[0]:
            world.suspend("reddit:user2", at(2))
        return result

    world.notifier.send = send_and_suspend
    report = ledger.deliver(at(2))
    assert (report.sent, report.waves, report.kept) == (2, 0, 1)
    world.notifier.send = send
    nxt = ledger.deliver(at(3))
    assert (nxt.sent, nxt.waves) == (1, 1) and "Including 2 already posted" in ledger.tops()[-1]["text"]


@pytest.mark.parametrize("seed", range(6))
def test_random_interleavings_keep_one_message_per_alert(world_factory: Any, slack: FakeSlack, seed: int) -> None:
    """Suspensions on two platforms arrive in random bursts between passes, some passes hit a failing Slack;
    after every pass: each alert in exactly one message, slack_ts never changes, `sent` counts each once."""
    rng = random.Random(seed)
    world = world_factory(people(8, "reddit") + people(8, "weibo"), retry_base=1.0)
    ledger = Ledger(world, slack)
    waiting = [f"{p}:user{i}" for i in range(8) for p in ("reddit", "weibo")]
    rng.shuffle(waiting)
    clock = 0.0
    while waiting:
        for _ in range(rng.randint(0, 3)):
            if waiting:
                clock += 1
                world.suspend(waiting.pop(), at(clock))
        if rng.random() < 0.2:
            slack.script = [(200, {}, {"ok": False, "error": "channel_is_archived"})]
        clock += rng.choice([1, 30, 400])
        ledger.deliver(at(clock))
        slack.script = []
    ledger.deliver(at(clock + 3600))
    assert [r["state"] for r in world.alerts()] == ["sent"] * 16


def test_every_member_of_a_wave_message_has_its_detail_line(world_factory: Any, slack: FakeSlack) -> None:
    """The wave message carries each member's confirmation, rule and evidence: the members post nothing of their
    own, so a member without a line in it would never get one."""
    world = world_factory(people(3))
    for i in range(3):
        world.suspend(f"reddit:user{i}", at(i))
    Ledger(world, slack).deliver(at(5))
    (top,) = slack.in_channel("#banwatch")
    section = next(b for b in top["blocks"] if b["type"] == "section")["text"]["text"]
    for row in world.store.db.query("SELECT a.handle, c.rule, c.evidence_id FROM alerts al JOIN changes c "
                                    "ON c.id = al.change_id JOIN accounts a ON a.key = al.account_key"):
        line = next(x for x in section.split("\n") if row["handle"] in x)
        assert row["rule"] in line and "confirmed " in line, line
        assert f"{row['handle']} (confirmed" in top["text"] and row["rule"] in top["text"]
        if row["evidence_id"]:
            assert f"evidence #{row['evidence_id']}" in line
