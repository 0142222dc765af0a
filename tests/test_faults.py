"""Fault injection: every failure a real platform throws at banwatch proves nothing and alerts nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Banwatch, wait_for
from tests.fakes import FakeSlack
from tests.sim import FAULTS, Simulator

# One account per fault, spread over four platforms; all of them really active the whole time.
FAULTED = {
    "rate_limit": "weibo:1000000001", "server_error": "weibo:1000000002", "slow": "bluesky:slow.bsky.social",
    "reset": "reddit:resetme", "captcha": "weibo:1000000003", "login_wall": "weibo:1000000004",
    "truncated": "mastodon:trunc@mastodon.example", "unrecognised": "reddit:drifted",
}
WATCHLIST = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}
alerts: {slack_channel: "#faults"}
platforms:
  weibo: {delay: 0s, concurrency: 8}
  reddit: {delay: 0s, concurrency: 8}
  bluesky: {delay: 0s}
  mastodon: {delay: 0s}
accounts:
""" + "".join(f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in FAULTED.values())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(slow=4.0) as s:  # beyond the 2 s timeout the tests set
        yield s


def test_every_fault_records_unknown_and_alerts_nothing(tmp_path: Path, sim: Simulator, slack: FakeSlack) -> None:
    assert set(FAULTED) == set(FAULTS), "every fault kind the simulator knows is injected"
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    sim.add(*FAULTED.values())
    banwatch = Banwatch(tmp_path, sim, slack)  # type: ignore[arg-type]
    banwatch.env["BANWATCH_DOWNLOAD_TIMEOUT"] = "2"
    banwatch("check")
    assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}

    for fault, key in FAULTED.items():
        sim.set(key, fault=fault)
    started = time.monotonic()
    faulted = banwatch("check")
    assert time.monotonic() - started < 60, "a slow platform costs the timeout, not the whole run"
    rules = {r["key"]: r["last_rule"] for r in banwatch.rows("SELECT key, last_rule FROM accounts")}
    assert rules == {
        "weibo:1000000001": "weibo.rate_limited", "weibo:1000000002": "weibo.server_error",
        "bluesky:slow.bsky.social": "bluesky.timeout", "reddit:resetme": "reddit.connection_lost",
        "weibo:1000000003": "weibo.captcha", "weibo:1000000004": "weibo.visitor_system",
        "mastodon:trunc@mastodon.example": "mastodon.truncated", "reddit:drifted": "reddit.unrecognised",
    }, faulted.stdout
    assert "8 observations in 1 round: 8 unknown" in faulted.stdout
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}]
    assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}

    for key in FAULTED.values():
        sim.set(key, fault=None)
    banwatch("check")
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}], "no spurious reinstatement either"
    assert slack.posted() == [], "zero alerts of any kind"


def test_a_fault_in_the_middle_of_a_pending_confirmation_does_not_confirm_it(
        tmp_path: Path, sim: Simulator, slack: FakeSlack) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {interval: 10m, confirmations: 2, confirm_delay: 2s}\nalerts: {slack_channel: '#faults'}\n"
        "platforms: {reddit: {delay: 0s}}\naccounts:\n  - {platform: reddit, handle: flaky}\n", encoding="utf-8")
    sim.add("reddit:flaky")
    banwatch = Banwatch(tmp_path, sim, slack)  # type: ignore[arg-type]
    banwatch("check")
    sim.set("reddit:flaky", state="suspended")
    proc = banwatch.start("check")
    wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE pending_status = 'suspended'"), 30,
             "the suspension to be pending")
    sim.set("reddit:flaky", fault="captcha")  # the platform starts walling us before the recheck
    assert proc.wait(timeout=60) == 0
    assert banwatch.rows("SELECT status, pending_status, pending_count FROM accounts") == [
        {"status": "active", "pending_status": "suspended", "pending_count": 1}]
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}] and slack.posted() == []
    sim.set("reddit:flaky", fault=None)  # control: once the wall lifts, the real suspension is confirmed
    banwatch("check")
    assert [p["text"].split(" |")[0] for p in slack.posted()] == ["Suspended on Reddit: flaky"]
