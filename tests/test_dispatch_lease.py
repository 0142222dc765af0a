"""One dispatcher at a time: claims are compare-and-set, `run` holds a service lease, delivery a delivery lease."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.alerts.dispatch import Dispatcher
from banwatch.alerts.slack import SlackNotifier
from banwatch.monitor.cli import cli
from banwatch.monitor.outbox import DELIVERY_LEASE, SERVICE_LEASE, Lease, Outbox
from banwatch.monitor.settings import slack_from_env
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.test_delivery import World, alert_ids, at, people
from tests.test_e2e import ACTIVE, serve

N = 30


def _notifier(slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(slack_from_env("#banwatch", {"SLACK_BOT_TOKEN": slack.token,
                                                     "BANWATCH_SLACK_API_URL": slack.api_url}))


def _pending_world(path: Path, slack: FakeSlack) -> World:
    world = World(path, slack, AlertSettings(slack_channel="#banwatch", wave_size=1000), people(N))
    for i in range(N):
        world.suspend(f"reddit:user{i}", at(i))
    assert len(world.alerts()) == N
    return world


def _two_dispatchers(path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Two Dispatchers, each on its own connection to one database file, delivering at once in threads.

    Both pass crash recovery (reconcile, which needs the delivery lease) before either claims a row, so
    what is tested is two dispatchers claiming the same pending rows."""
    both = threading.Barrier(2)
    reconcile = Dispatcher.reconcile

    def reconciled(self: Dispatcher, now: str, report: Any) -> set[str]:
        blocked = reconcile(self, now, report)
        both.wait(timeout=10)
        return blocked

    monkeypatch.setattr(Dispatcher, "reconcile", reconciled)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        store = Store.open(path)
        try:
            Dispatcher(store, _notifier(slack), AlertSettings(slack_channel="#banwatch", wave_size=1000)).deliver(at(60))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            store.close()

    slack.hold = 0.01  # the two dispatchers interleave their posts
    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return Counter(alert_ids(slack.posted()))


def test_two_dispatchers_on_one_database_post_each_alert_once(tmp_path: Path, slack: FakeSlack,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    world = _pending_world(tmp_path / "b.db", slack)
    try:
        posts = _two_dispatchers(tmp_path / "b.db", slack, monkeypatch)
        assert sum(posts.values()) == N
        assert sorted(posts) == [a["id"] for a in world.alerts()]
        assert {a["state"] for a in world.alerts()} == {"sent"}
    finally:
        world.store.close()


def test_without_the_compare_and_set_two_dispatchers_post_twice(tmp_path: Path, slack: FakeSlack,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: a claim that does not check the row is still pending lets both dispatchers post it."""
    def blind_claim(self: Outbox, alert_id: int, at: str, thread_ts: str | None = None) -> bool:
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'sending', thread_ts = ? WHERE id = ?", [thread_ts, alert_id])
        return True

    monkeypatch.setattr(Outbox, "claim", blind_claim)
    world = _pending_world(tmp_path / "b.db", slack)
    try:
        posts = _two_dispatchers(tmp_path / "b.db", slack, monkeypatch)
        assert sum(posts.values()) > N
        assert any(n > 1 for n in posts.values())
    finally:
        world.store.close()


# -- the lease itself ------------------------------------------------------------------------------------


def _write(store: Store, key: str, owner: str, expires_at: float, command: str = "run") -> None:
    store.set_service({key: json.dumps({"owner": owner, "command": command, "since": "2026-03-01T10:00:00.000Z",
                                        "expires_at": expires_at})}, "2026-03-01T10:00:00.000Z")


def test_a_lease_is_taken_if_absent_expired_ours_or_its_process_is_gone(tmp_path: Path) -> None:
    import socket

    store = Store.open(tmp_path / "l.db")
    try:
        first, second = Lease(store, SERVICE_LEASE, "run"), Lease(store, SERVICE_LEASE, "run")
        assert first.take() is None  # absent
        assert first.take() is None  # ours: renewed
        held = second.take()
        assert held is not None and held.owner == first.owner and held.command == "run"
        first.release()
        assert second.take() is None
        # another host's lease holds until it expires
        _write(store, SERVICE_LEASE, "elsewhere:123:abcd", time.time() + 60)
        held = first.take()
        assert held is not None and (held.host, held.pid) == ("elsewhere", 123)
        _write(store, SERVICE_LEASE, "elsewhere:123:abcd", time.time() - 1)
        assert first.take() is None  # expired
        # on this host, a holder whose process is gone releases it at once
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        _write(store, SERVICE_LEASE, f"{socket.gethostname()}:{gone.pid}:abcd", time.time() + 60)
        assert second.take() is None
    finally:
        store.close()


def test_alerts_send_posts_nothing_while_another_dispatcher_holds_the_outbox(
        tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import banwatch.monitor.outbox

    from banwatch import monitor

    world = _pending_world(tmp_path / "banwatch.db", slack)
    (tmp_path / "watchlist.yaml").write_text(
        'alerts: {slack_channel: "#banwatch", wave_size: 1000}\naccounts:\n  - {platform: reddit, handle: user0}\n', encoding="utf-8")
    env = {"SLACK_BOT_TOKEN": slack.token, "BANWATCH_SLACK_API_URL": slack.api_url}
    args = ["--db", str(tmp_path / "banwatch.db"), "--watchlist", str(tmp_path / "watchlist.yaml"), "alerts", "send"]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = f"{socket.gethostname()}:{sleeper.pid}:abcd"
        # a running service: said at once, nothing posted, exit 75
        _write(world.store, SERVICE_LEASE, live, time.time() + 60)
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 75, result.output
        assert "the service is delivering; alerts will go from there" in result.output
        assert slack.posted() == []
        # another `alerts send` delivering: waited for (boundedly), then said
        world.store.db.execute("DELETE FROM service")
        world.store.db.conn.commit()
        _write(world.store, DELIVERY_LEASE, live, time.time() + 60, command="alerts send")
        monkeypatch.setattr(monitor.outbox, "DELIVERY_WAIT_S", 0.5)
        began = time.monotonic()
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 75, result.output
        assert 0.5 <= time.monotonic() - began < 10
        assert f"another banwatch alerts send (pid {sleeper.pid} on " in result.output
        assert slack.posted() == []
        assert {a["state"] for a in world.alerts()} == {"pending"}
        # its process gone: the lease is taken at once and everything is delivered, once
        sleeper.kill()
        sleeper.wait()
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert sum(Counter(alert_ids(slack.posted())).values()) == N
        assert Lease(world.store, DELIVERY_LEASE, "test").holder() is None  # released after the pass
    finally:
        sleeper.kill()
        sleeper.wait()
        world.store.close()


# -- `banwatch run` as a subprocess -------------------------------------------------------------------------

WATCHLIST = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 5s}
defaults: {interval: 2s}
alerts: {slack_channel: "#lease"}
platforms:
  reddit: {delay: 0s}
accounts:
  - {platform: reddit, handle: spez}
"""


def _lease(banwatch: Banwatch, key: str = SERVICE_LEASE) -> dict[str, Any] | None:
    rows = banwatch.rows("SELECT value FROM service WHERE key = ?", key)
    return json.loads(rows[0]["value"]) if rows else None


def test_a_second_run_refuses_alerts_send_defers_and_a_killed_run_is_taken_over(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    serve(platforms, "reddit:spez", ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, slack)
    first = banwatch.start("run")
    try:
        wait_for(lambda: (_lease(banwatch) or {}).get("owner", "").split(":")[1:2] == [str(first.pid)], 30,
                 "the first run's service lease")
        second = banwatch("run", check=False, timeout=60)
        assert second.returncode == 1
        assert f"another banwatch run (pid {first.pid} on " in second.stderr
        assert f"is using {tmp_path / 'banwatch.db'} since " in second.stderr and "stop it first" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None, "the first run goes on"

        sent = banwatch("alerts", "send", check=False, timeout=60)
        assert sent.returncode == 75
        assert "the service is delivering; alerts will go from there" in sent.stderr

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed = time.monotonic()
        third = banwatch.start("run")
        try:
            wait_for(lambda: (_lease(banwatch) or {}).get("owner", "").split(":")[1:2] == [str(third.pid)], 15,
                     "the new run's service lease")
            assert time.monotonic() - killed < 15  # a dead holder on this host: at once, not after the expiry
            wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key = 'pid' AND value = ?", str(third.pid)),
                     30, "the new run's first tick")
            assert third.poll() is None
        finally:
            third.send_signal(signal.SIGTERM)
            assert third.wait(timeout=15) == 0
        assert _lease(banwatch) is None, "a clean stop releases the lease"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
