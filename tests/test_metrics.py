"""`banwatch run --metrics-port`: /metrics and /healthz of a real service against the fake platforms, the
/healthz decision on a fake clock, and a port in use at start."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from banwatch.monitor.metrics import STALE_FLOOR_S, health, stale_after
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms
from tests.test_docs import CLI_DOC
from tests.test_e2e import ACTIVE, serve
from tests.test_service import HEAD

KEYS = ("weibo:1234567890", "bluesky:cryptodaily.bsky.social", "reddit:spez")


def get(url: str) -> tuple[int, str]:
    """(HTTP status, body) of a GET, a 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def checks(page: dict[tuple[str, tuple[tuple[str, str], ...]], float], platform: str) -> float:
    return sum(v for (name, labels), v in page.items()
               if name == "banwatch_checks_total" and ("platform", platform) in labels)


def test_the_health_decision_on_a_fake_clock() -> None:
    assert stale_after(0.3) == STALE_FLOOR_S == 10.0, "a tiny tick does not make /healthz flap"
    assert stale_after(5) == 15 and stale_after(60) == 180, "otherwise three tick intervals"
    # before the first tick: healthy (starting) for as long as a tick may take, then not
    assert health(None, started=100.0, now=105.0, tick=5) == (True, {
        "status": "starting", "last_tick_age_seconds": None, "stale_after_seconds": 15})
    assert health(None, started=100.0, now=115.5, tick=5)[0] is False
    # ticking: healthy up to 3 intervals after the last completed tick, 503 past them
    assert health(200.0, started=100.0, now=214.9, tick=5)[0] is True
    ok, body = health(200.0, started=100.0, now=215.1, tick=5)
    assert not ok and body["status"] == "stale" and body["last_tick_age_seconds"] == 15.1
    # stopping: not healthy, however recent the tick
    assert health(200.0, started=100.0, now=200.1, tick=5, stopping=True)[1]["status"] == "stopping"


def test_metrics_and_healthz_of_a_running_service(tmp_path: Path, platforms: FakePlatforms) -> None:
    (tmp_path / "watchlist.yaml").write_text(HEAD, encoding="utf-8")
    for key in KEYS:
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    banwatch = Banwatch(tmp_path, platforms, None)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = "1"  # a tick that meets the test's lock below fails within 1 s
    proc = banwatch.start("run", "--metrics-port", "0")
    try:
        found = wait_for(lambda: re.search(r"metrics on (http://127\.0\.0\.1:\d+)/metrics", banwatch.log.read_text()),
                         20, "the metrics server's address in the log")
        base = found.group(1)
        wait_for(lambda: checks(samples(get(f"{base}/metrics")[1]), "reddit") >= 1, 20, "the first crawl counted")
        first = samples(get(f"{base}/metrics")[1])
        assert first[("banwatch_outbox_pending_alerts", ())] == 0
        assert first[("banwatch_outbox_dead_alerts", ())] == 0
        assert first[("banwatch_checks_total", (("platform", "reddit"), ("status", "active")))] >= 1
        assert first[("banwatch_checks_total", (("platform", "reddit"), ("status", "suspended")))] == 0, \
            "every status is there from the start, at 0"
        assert first[("banwatch_unknown_ratio", (("platform", "reddit"),))] == 0
        assert first[("banwatch_crawl_duration_seconds_count", (("platform", "reddit"),))] >= 1
        assert first[("banwatch_last_tick_age_seconds", ())] < 5
        assert abs(first[("banwatch_last_tick_timestamp_seconds", ())] - time.time()) < 5
        documented = set(re.findall(r"^\| `(banwatch_\w+)", CLI_DOC, re.M))
        served = {name for name, _ in first if name.startswith("banwatch_")}
        assert {d for d in documented if not any(s == d or s.startswith(f"{d}_") for s in served)} == set()
        assert {s for s in served if not any(s == d or s.startswith(f"{d}_") for d in documented)} == set(), \
            "every metric served is in docs/cli.md's table"
        # the interval is 2 s: the same accounts are checked again, and counted
        wait_for(lambda: checks(samples(get(f"{base}/metrics")[1]), "reddit") > checks(first, "reddit"), 15,
                 "the checks counter to increase")

        status, body = get(f"{base}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok", body

        # Another process holds the database's write lock: every tick fails to store itself, the scheduler
        # stops ticking, and /healthz says so once the last tick is older than stale_after (10 s here).
        lock = sqlite3.connect(tmp_path / "banwatch.db", timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        try:
            status, body = wait_for(lambda: (r := get(f"{base}/healthz"))[0] == 503 and r, 20, "/healthz 503")
            assert time.monotonic() - locked >= STALE_FLOOR_S - 1
            assert json.loads(body)["status"] == "stale" and json.loads(body)["last_tick_age_seconds"] > 9, body
            assert get(f"{base}/metrics")[0] == 200, "metrics are read without waiting for the lock"
        finally:
            lock.rollback()
            lock.close()
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, 10, "/healthz 200 once the scheduler ticks again")
        assert get(f"{base}/elsewhere")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, banwatch.log.read_text()
    assert "Traceback" not in banwatch.log.read_text()


def test_a_port_in_use_is_a_one_line_error_and_nothing_is_written(tmp_path: Path, platforms: FakePlatforms) -> None:
    (tmp_path / "watchlist.yaml").write_text(HEAD, encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        banwatch = Banwatch(tmp_path, platforms, None)
        banwatch.env["BANWATCH_METRICS_PORT"] = str(port)  # the environment's port, as a systemd unit sets it
        out = banwatch("run", check=False, timeout=30)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [f"Error: cannot serve metrics on 127.0.0.1:{port}: Address already in use "
                                       "(choose another --metrics-port or --metrics-host)"]
    assert not (tmp_path / "banwatch.db").exists(), "the port is bound before the service opens the database"
