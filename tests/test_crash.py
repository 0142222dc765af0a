"""Crash suite: `banwatch run` is SIGKILLed at random moments while a wave is detected and delivered."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

from tests.conftest import Banwatch, wait_for
from tests.fakes import FakeSlack
from tests.sim import Simulator

ACCOUNTS = [f"weibo:{2000000000 + i}" for i in range(10)]
FLIPPED = ACCOUNTS[:8]
WATCHLIST = """\
service: {tick: 0.2s, deliver_every: 0.2s, reload_every: 5s}
defaults: {interval: 1s, confirmations: 2, confirm_delay: 0.5s}
alerts: {slack_channel: "#crash", wave_size: 3}
platforms:
  weibo: {delay: 0s, concurrency: 8}
accounts:
""" + "".join(f"  - {{platform: weibo, id: \"{k.split(':')[1]}\"}}\n" for k in ACCOUNTS)


def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing(tmp_path: Path, slack: FakeSlack) -> None:
    rng = random.Random(20210605)
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    with Simulator() as sim:
        sim.add(*ACCOUNTS)
        banwatch = Banwatch(tmp_path, sim, slack)  # type: ignore[arg-type]
        proc = banwatch.start("run")
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 10, 30, "baselines")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        for key in FLIPPED:
            sim.set(key, state="suspended")
        slack.hold = 0.3  # a window in which a post has reached Slack but banwatch has not heard back
        kills = 0
        for _trial in range(20):
            proc = banwatch.start("run")
            time.sleep(rng.uniform(0.8, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
        slack.hold = 0.0
        proc = banwatch.start("run")
        try:
            # started (its signal handlers are in place once it says so): everything may already be delivered
            wait_for(lambda: "banwatch run:" in banwatch.log.read_text(), 30, "the service to start")
            wait_for(lambda: banwatch.rows(
                "SELECT count(*) AS n FROM changes")[0]["n"] == len(FLIPPED) and not banwatch.rows(
                "SELECT 1 FROM alerts WHERE state != 'sent'"), 60, "every change confirmed and delivered")
            time.sleep(1.5)  # a few more ticks: nothing new may appear
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
    assert kills == 20
    changes = banwatch.rows("SELECT account_key, from_status, to_status FROM changes ORDER BY account_key")
    assert changes == [{"account_key": k, "from_status": "active", "to_status": "suspended"} for k in FLIPPED]

    messages = slack.in_channel("#crash")
    alert_posts = Counter(m["metadata"]["event_payload"]["alert_id"] for m in messages
                          if m.get("metadata") and m["metadata"]["event_type"] == "banwatch_alert")
    wave_posts = Counter(m["metadata"]["event_payload"]["wave_id"] for m in messages
                         if m.get("metadata") and m["metadata"]["event_type"] == "banwatch_wave")
    assert all(n == 1 for n in alert_posts.values()), f"an alert posted twice: {alert_posts}"
    assert all(n == 1 for n in wave_posts.values()), f"a wave posted twice: {wave_posts}"
    alerts = banwatch.rows("SELECT id, wave_id, thread_ts FROM alerts ORDER BY id")
    assert len(alerts) == len(FLIPPED)
    for alert in alerts:
        in_wave_message = alert["wave_id"] is not None and alert["thread_ts"] is None and alert["id"] not in alert_posts
        assert (alert["id"] in alert_posts) != in_wave_message, f"alert {alert['id']}: exactly one way to Slack"
        if in_wave_message:
            assert wave_posts[alert["wave_id"]] == 1
    sent_waves = banwatch.rows("SELECT id FROM waves WHERE state = 'sent'")
    assert sorted(wave_posts) == [w["id"] for w in sent_waves]
