"""Scale-out: one coordinator (`banwatch run --redis`) and fetch workers (`banwatch worker`), as real processes,
on a real redis-server (tests/redis_server.py) and the fake platforms and Slack."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.test_e2e import ACTIVE, serve

WATCHLIST = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s}
defaults: {interval: 1s, confirmations: 2, confirm_delay: 0.5s}
alerts: {slack_channel: "#fleet"}
platforms:
  reddit: {delay: 0s, concurrency: 4}
  weibo: {delay: 0s, concurrency: 4}
accounts:
  - {platform: reddit, handle: spez}
  - {platform: reddit, handle: outlet}
  - {platform: weibo, handle: "1234567890"}
"""
KEYS = ("reddit:spez", "reddit:outlet", "weibo:1234567890")


def fleet(tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack | None, redis_url: str) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    for key in KEYS:
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    banwatch = Banwatch(tmp_path, platforms, slack)
    banwatch.env["BANWATCH_REDIS_URL"] = redis_url
    return banwatch


def worker_env(banwatch: Banwatch) -> dict[str, str]:
    """A worker's environment: Redis and the platforms, never Slack or the database."""
    return {k: v for k, v in banwatch.env.items() if not k.startswith(("SLACK_", "BANWATCH_DB", "BANWATCH_WATCHLIST"))}


def start_worker(banwatch: Banwatch, name: str, *args: str) -> subprocess.Popen[str]:
    import sys

    log = (banwatch.workdir / f"worker-{name}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "worker", "--name", name, *args],
                            cwd=banwatch.workdir, env=worker_env(banwatch), stdout=subprocess.DEVNULL, stderr=log,
                            text=True)
    Banwatch.started.append(proc)  # killed after the test, should it fail before stopping it
    return proc


def stop(*procs: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM every process still running, then wait for each (`timeout` seconds, then SIGKILL)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_workers_fetch_and_the_coordinator_records_and_alerts(tmp_path: Path, platforms: FakePlatforms,
                                                              slack: FakeSlack, redis_server: Any) -> None:
    banwatch = fleet(tmp_path, platforms, slack, redis_server.url)
    run = banwatch.start("run")
    workers = [start_worker(banwatch, "w1"), start_worker(banwatch, "w2")]
    try:
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 3, 40,
                 "the baseline of every account, fetched by the workers")
        serve(platforms, "reddit:spez", "reddit.is_suspended")
        wait_for(lambda: any("Suspended on Reddit: spez" in p["text"] for p in slack.posted()), 30,
                 "the suspension alert")
        answered = banwatch.rows("SELECT worker, count(*) AS n FROM remote_checks WHERE answered_at IS NOT NULL "
                                 "GROUP BY worker")
        assert {r["worker"] for r in answered} <= {"w1", "w2"} and answered, answered
        # status: Redis' state, and per worker and platform its checks/min, unknown share and last heartbeat
        wait_for(lambda: "redis: ok" in banwatch("status").stdout, 10, "status to show Redis")
        shown = json.loads(banwatch("status", "--json").stdout)["workers"]
        assert {w["worker"] for w in shown} == {"w1", "w2"}, shown
        assert all(w["state"] == "live" and w["last seen"] != "-" for w in shown), shown
        busy = [w for w in shown if w["platform"] == "reddit"]
        assert busy and all(w["checks/min"] > 0 and w["unknown"] == "0%" for w in busy), shown
        text = banwatch("status").stdout
        assert "fetch workers, last 10 minutes" in text and "w1" in text, text
    finally:
        stop(run)
        stop(*workers)
    # a clean stop records and acknowledges every answer it read: none left pending for the next start
    pending = redis_server.client().xpending("banwatch:results", "coordinator")["pending"]
    assert pending == 0, pending
    log = banwatch.log.read_text()
    assert "Traceback" not in log, log
    for name in ("w1", "w2"):
        text = (tmp_path / f"worker-{name}.log").read_text()
        assert "Traceback" not in text, text
    assert [p["text"] for p in slack.posted()].count(
        next(p["text"] for p in slack.posted() if "Suspended on Reddit: spez" in p["text"])) == 1


@pytest.mark.parametrize("full", [True, False], ids=["a-platform-full", "control-all-with-room"])
def test_a_full_platform_is_read_again_soon_not_after_a_long_block(full: bool) -> None:
    """A worker leaves a platform holding all it may out of its XREADGROUP; blocking a second on the others then
    left that platform idle once its checks were done (a worker serving every platform fetched 8.0 checks/s where
    one serving reddit alone fetched 13.4, at `concurrency: 1, delay: 0.06s`). It blocks briefly instead."""
    import asyncio

    from banwatch.monitor.worker import FULL_BLOCK_MS, READ_BLOCK_MS, Worker

    worker = Worker("redis://127.0.0.1:1/0", "w", ["reddit", "weibo"], {})
    calls: list[dict[str, Any]] = []

    class Client:
        async def xgroup_create(self, *args: Any, **kwargs: Any) -> None:
            pass

        async def xreadgroup(self, group: str, name: str, wanted: dict[str, str], count: int, block: int) -> list[Any]:
            calls.append({"streams": sorted(wanted), "block": block})
            worker.stopping = True
            return []

    worker.client = Client()
    if full:
        worker.per_platform["reddit"] = worker.room("reddit")  # holds all it may
    asyncio.run(worker.read())
    assert len(calls) == 1
    if full:
        assert calls[0] == {"streams": ["banwatch:checks:weibo"], "block": FULL_BLOCK_MS}
    else:
        assert calls[0] == {"streams": ["banwatch:checks:reddit", "banwatch:checks:weibo"], "block": READ_BLOCK_MS}


@pytest.mark.parametrize("given", [True, False], ids=["given-on-the-command-line", "control-not-given"])
def test_a_redis_url_given_on_the_command_line_is_redacted_like_the_environments(
        given: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--redis` may carry a password outside the environment the redaction reads: the option hands it over, so
    every log line and stored error is redacted of it as of BANWATCH_REDIS_URL."""
    import click
    from click.testing import CliRunner

    from banwatch.monitor import redact
    from banwatch.monitor.cli.core import redis_option

    monkeypatch.delenv("BANWATCH_REDIS_URL", raising=False)

    @click.command()
    @redis_option()
    def probe(redis_url: str | None) -> None:
        click.echo(redact.redact("connecting with hunter2-redis-pass failed"))

    args = ["--redis", "redis://:hunter2-redis-pass@127.0.0.1:6379/0"] if given else []
    out = CliRunner().invoke(probe, args).output
    assert ("hunter2-redis-pass" in out) is not given, out
