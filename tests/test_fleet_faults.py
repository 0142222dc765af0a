"""Scale-out under faults: a worker or the coordinator killed with SIGKILL mid-work, Redis stopped and started
again, a worker that cannot reach its platform, hostile stream entries, a platform nobody serves. Real processes
on a real redis-server (tests/redis_server.py), the fake platforms and the fake Slack (tests/test_fleet.py).

The invariant checked throughout: each check id is recorded at most once (remote_checks), so the observations
table counts exactly one check per answered check row (sum(observations.checks) == answered remote_checks), one
change per confirmed suspension and one Slack alert per change."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from banwatch.monitor import streams
from banwatch.monitor.model import Observation, Status
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.fixtures import by_rule
from tests.redis_server import RedisServer, free_port
from tests.sim import own
from tests.test_e2e import ACTIVE, serve
from tests.test_fleet import KEYS, fleet, stop, worker_env

CLAIM = "2"  # seconds: short, so a dead worker's checks are re-claimed within the test
SUSPENDED = "Suspended on Reddit: spez"


def start_worker(banwatch: Banwatch, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`banwatch worker --name <name> --claim-timeout 2 ...`, stderr to worker-<name>.log; `env` overrides."""
    log = (banwatch.workdir / f"worker-{name}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "worker", "--name", name,
                             "--claim-timeout", CLAIM, *args], cwd=banwatch.workdir,
                            env={**worker_env(banwatch), **(env or {})}, stdout=subprocess.DEVNULL, stderr=log,
                            text=True)


def slow(platforms: FakePlatforms, delay: float, suspended: bool = False) -> None:
    """Every account answers after `delay` seconds: active, or reddit:spez suspended."""
    for key in KEYS:
        rule = "reddit.is_suspended" if suspended and key == "reddit:spez" else ACTIVE[key.split(":")[0]]
        platform = key.split(":")[0]
        from banwatch.monitor.model import Account
        from banwatch.spiders.platforms import PLATFORMS

        handle = key.split(":", 1)[1]
        fx = own(by_rule(platform, rule), key)
        platforms.serve(fx, PLATFORMS[platform].probe(Account(platform, handle, key), {}).url, delay=delay)


def answered(banwatch: Banwatch) -> int:
    return banwatch.rows("SELECT count(*) AS n FROM remote_checks WHERE answered_at IS NOT NULL")[0]["n"]


def assert_once(banwatch: Banwatch, slack: FakeSlack | None = None, changes: int = 1) -> None:
    """Every answered check recorded exactly once; `changes` suspensions of spez confirmed, each alerted once."""
    observed = banwatch.rows("SELECT coalesce(sum(checks), 0) AS n FROM observations")[0]["n"]
    assert observed == answered(banwatch), (observed, answered(banwatch))
    rows = banwatch.rows("SELECT from_status, to_status FROM changes WHERE account_key = 'reddit:spez'")
    assert len(rows) == changes, rows
    others = banwatch.rows("SELECT account_key FROM changes WHERE account_key != 'reddit:spez'")
    assert others == [], others
    if slack is not None:
        assert [p["text"] for p in slack.posted()].count(
            next((p["text"] for p in slack.posted() if SUSPENDED in p["text"]), "")) == changes, \
            [p["text"] for p in slack.posted()]


def no_traceback(tmp_path: Path, *secrets: str) -> None:
    for log in [*tmp_path.glob("banwatch-*.log"), *tmp_path.glob("worker-*.log")]:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}:\n{text}"
        for secret in secrets:
            assert secret not in text, f"{log.name} shows the secret:\n{text}"


def held_by(client: Any, consumer: str) -> dict[str, str]:
    """Check id -> stream of the checks `consumer` holds (XPENDING of group workers)."""
    out = {}
    for key in KEYS:
        stream = streams.checks_stream(key.split(":")[0])
        try:
            pending = client.xpending_range(stream, streams.WORKER_GROUP, "-", "+", 100, consumername=consumer)
        except Exception:  # noqa: BLE001 - no group yet
            continue
        for p in pending:
            for _, fields in client.xrange(stream, p["message_id"], p["message_id"]):
                out[fields[b"id"].decode()] = stream
    return out


def baseline(banwatch: Banwatch) -> None:
    wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 3, 40,
             "the baseline of every account, fetched by the workers")


# -- 1. a worker killed with SIGKILL mid-batch ---------------------------------------------------------------

def test_a_worker_killed_mid_batch_has_its_checks_rerun_by_another(tmp_path: Path, platforms: FakePlatforms,
                                                                   slack: FakeSlack, redis_server: Any) -> None:
    banwatch = fleet(tmp_path, platforms, slack, redis_server.url)
    client = redis_server.client()
    w1 = start_worker(banwatch, "w1")  # started before the coordinator: it waits for checks
    wait_for(lambda: client.hexists(streams.WORKERS, "w1"), 20, "w1's heartbeat")
    run = banwatch.start("run")
    w2 = None
    try:
        baseline(banwatch)
        slow(platforms, 10.0, suspended=True)  # w1 takes the next checks and never finishes them
        held = wait_for(lambda: (h := held_by(client, "w1")) and len(h) == 3 and h, 15, "w1 holding every account")
        w1.kill()
        w1.wait()
        slow(platforms, 0.0, suspended=True)
        w2 = start_worker(banwatch, "w2")
        wait_for(lambda: any(SUSPENDED in p["text"] for p in slack.posted()), 30, "the suspension alert")
        rows = {r["check_id"]: r for r in banwatch.rows(
            f"SELECT check_id, worker, status FROM remote_checks WHERE check_id IN ({','.join('?' * len(held))})",
            *held)}
        assert set(rows) == set(held) and all(r["worker"] == "w2" for r in rows.values()), rows
        assert held_by(client, "w1") == {}, "the dead worker holds nothing any more"
        assert "re-claimed" in (tmp_path / "worker-w2.log").read_text()
        after = answered(banwatch)
        wait_for(lambda: answered(banwatch) >= after + 6, 20, "two more rounds after the alert")
    finally:
        stop(*[p for p in (w1, w2, run) if p is not None])
    assert_once(banwatch, slack)
    no_traceback(tmp_path)


# -- 2. the coordinator killed with SIGKILL while answers are in flight -----------------------------------------

def results_pending(client: Any) -> list[bytes]:
    """Entry ids of the answers the coordinator was given and has not acknowledged."""
    try:
        return [p["message_id"] for p in client.xpending_range(streams.RESULTS, streams.COORDINATOR_GROUP,
                                                               "-", "+", 1000)]
    except Exception:  # noqa: BLE001 - no group yet
        return []


def test_a_coordinator_killed_with_answers_in_flight_records_each_once_after_restart(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack, redis_server: Any) -> None:
    banwatch = fleet(tmp_path, platforms, slack, redis_server.url)
    client = redis_server.client()
    run = banwatch.start("run")
    workers = [start_worker(banwatch, "w1"), start_worker(banwatch, "w2")]
    try:
        baseline(banwatch)
        slow(platforms, 0.5, suspended=True)
        # the moment the coordinator was given answers it has not recorded and acknowledged yet
        given = wait_for(lambda: results_pending(client), 20, "answers given to the coordinator, unacknowledged",
                         interval=0.005)
        run.kill()
        run.wait()
        given_ids = {f[b"id"].decode() for e in given for _, f in client.xrange(streams.RESULTS, e, e)}
        # the workers keep answering what they hold: those answers wait in the stream, unread or handed to the
        # dead coordinator's last blocked read (Redis may deliver to it before it notices the closed socket)
        wait_for(lambda: not held_by(client, "w1") and not held_by(client, "w2"), 20,
                 "the workers to answer every check they held when the coordinator died")
        waiting = {f[b"id"].decode() for _, f in client.xrange(streams.RESULTS)}
        assert given_ids, given
        slow(platforms, 0.0, suspended=True)
        run = banwatch.start("run")
        wait_for(lambda: not any(client.xrange(streams.RESULTS, e, e) for e in given), 20,
                 "the answers given before the kill, read again and acknowledged")
        wait_for(lambda: any(SUSPENDED in p["text"] for p in slack.posted()), 30, "the suspension alert")
        rows = banwatch.rows("SELECT check_id, answered_at FROM remote_checks")
        done = {r["check_id"] for r in rows if r["answered_at"]}
        assert waiting <= done, waiting - done
        after = answered(banwatch)
        wait_for(lambda: answered(banwatch) >= after + 6, 20, "two more rounds after the alert")
        assert results_pending(client) == [] or wait_for(lambda: results_pending(client) == [], 5, "no answer pending")
    finally:
        stop(*workers, run)
    assert_once(banwatch, slack)
    no_traceback(tmp_path)


# -- 3. Redis stopped and started again --------------------------------------------------------------------

OUTAGE_S = 8.0  # the issue says 30 s; the mechanism (reconnect with a backoff capped at 10 s) is the same


def test_a_redis_outage_is_survived_with_one_alert_each_way(tmp_path: Path, platforms: FakePlatforms,
                                                            slack: FakeSlack) -> None:
    password = "s3cret-redis-pass-42"
    server = RedisServer(tmp_path / "redis", password=password).start()
    banwatch = fleet(tmp_path, platforms, slack, server.url)
    run = banwatch.start("run")
    workers = [start_worker(banwatch, "w1"), start_worker(banwatch, "w2")]
    try:
        baseline(banwatch)
        wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key LIKE 'worker:%'"), 10, "worker heartbeats")
        server.stop()
        began = time.monotonic()
        serve(platforms, "reddit:spez", "reddit.is_suspended")  # suspended during the outage
        wait_for(lambda: banwatch.rows("SELECT value FROM service WHERE key = 'redis' AND value LIKE 'unreachable%'"),
                 10, "the service table saying Redis is unreachable")
        status = banwatch("status", check=False)
        assert "redis: unreachable" in status.stdout, status.stdout + status.stderr
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began)))  # the outage itself
        assert not any(SUSPENDED in p["text"] for p in slack.posted()), "nothing confirmed without Redis"
        server.start()
        wait_for(lambda: any(SUSPENDED in p["text"] for p in slack.posted()), 40, "the suspension alert")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key = 'redis' AND value = 'ok'"), 10,
                 "the service table saying Redis is back")
        after = answered(banwatch)
        wait_for(lambda: answered(banwatch) >= after + 6, 20, "two more rounds after the alert")
    finally:
        stop(*workers, run)
        server.stop()
    assert_once(banwatch, slack)
    health = [p["text"] for p in slack.posted() if "Redis at" in p["text"]]
    assert len([t for t in health if "unreachable" in t]) == 1, health
    assert len([t for t in health if "reachable again" in t]) == 1, health
    no_traceback(tmp_path, password)
    for name in ("w1", "w2"):  # one line each way per worker, not one per loop or per pooled connection
        text = (tmp_path / f"worker-{name}.log").read_text()
        assert text.count("unreachable") == 1 and text.count("reachable again") == 1, text
    text = banwatch.log.read_text()
    assert text.count("is unreachable") == 1 and text.count("reachable again") == 1, text
    assert password.encode() not in (tmp_path / "banwatch.db").read_bytes()
    assert not any(password in p["text"] for p in slack.posted())


# -- 4. a worker that cannot reach its platform, or whose credential is refused ------------------------------

def test_a_worker_with_blocked_egress_or_a_refused_credential_yields_unknown(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack, redis_server: Any) -> None:
    banwatch = fleet(tmp_path, platforms, slack, redis_server.url)
    run = banwatch.start("run")
    good = start_worker(banwatch, "good")
    workers = [good]
    refusing = FakePlatforms().__enter__()
    try:
        baseline(banwatch)
        stop(good)
        serve(platforms, "reddit:spez", "reddit.is_suspended")  # what a worker that could see would find
        serve(platforms, "weibo:1234567890", "weibo.ban_notice")
        serve(refusing, "weibo:1234567890", "weibo.http_403")
        closed = f"http://127.0.0.1:{free_port()}"
        workers += [start_worker(banwatch, "egress", "--platform", "reddit", env={"BANWATCH_REDDIT_BASE_URL": closed}),
                    start_worker(banwatch, "cred", "--platform", "weibo", env={"BANWATCH_WEIBO_BASE_URL": refusing.url})]

        def unknowns() -> dict[str, int]:
            return {r["worker"]: r["n"] for r in banwatch.rows(
                "SELECT worker, count(*) AS n FROM remote_checks WHERE status = 'unknown' GROUP BY worker")}
        wait_for(lambda: unknowns().get("egress", 0) >= 4 and unknowns().get("cred", 0) >= 2, 30,
                 "unknown answers from both broken workers")
        by_worker = banwatch.rows("SELECT worker, status, count(*) AS n FROM remote_checks "
                                  "WHERE answered_at IS NOT NULL AND worker != 'good' GROUP BY worker, status")
        assert {(r["worker"], r["status"]) for r in by_worker} == {("egress", "unknown"), ("cred", "unknown")}, by_worker
        status = banwatch("status", "--json", check=False)
        if '"workers"' in status.stdout:
            import json

            names = {w.get("worker") or w.get("name") for w in json.loads(status.stdout)["workers"]}
            assert {"egress", "cred"} <= names, status.stdout
    finally:
        stop(*workers, run)
        refusing.__exit__(None, None, None)
    assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}
    assert banwatch.rows("SELECT 1 FROM changes") == []
    assert not any("Suspended" in p["text"] for p in slack.posted()), [p["text"] for p in slack.posted()]
    observed = banwatch.rows("SELECT coalesce(sum(checks), 0) AS n FROM observations")[0]["n"]
    assert observed == answered(banwatch)
    no_traceback(tmp_path)


# -- 5. hostile entries, duplicates, forged answers, a platform nobody serves ---------------------------------

def gone(client: Any, stream: str, entry: bytes) -> bool:
    return not client.xrange(stream, entry, entry)


def test_hostile_stream_entries_duplicates_and_a_platform_without_worker(
        tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack, redis_server: Any) -> None:
    import os
    import signal

    from banwatch.monitor.timeutil import now_iso

    banwatch = fleet(tmp_path, platforms, slack, redis_server.url)
    client = redis_server.client()
    run = banwatch.start("run")
    workers = [start_worker(banwatch, "r", "--platform", "reddit")]  # nobody serves weibo
    try:
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 2, 30,
                 "the reddit baseline")
        # a malformed check and a malformed answer: dropped, named in the log, never fetched or recorded
        junk_check = client.xadd(streams.checks_stream("reddit"), {"junk": "x"})
        junk_answer = client.xadd(streams.RESULTS, {"id": "nope", "worker": "x", "observation": b"\x00garbage"})
        wait_for(lambda: gone(client, streams.checks_stream("reddit"), junk_check), 10, "the junk check dropped")
        wait_for(lambda: gone(client, streams.RESULTS, junk_answer), 10, "the junk answer dropped")
        # answers for checks never handed out, saying spez is suspended (confirmations: 2): never recorded
        forged = [client.xadd(streams.RESULTS, streams.encode_result(
            streams.new_check_id(), "r", Observation("reddit:spez", Status.SUSPENDED, "reddit.is_suspended",
                                                     "forged", now_iso()))) for _ in range(3)]
        wait_for(lambda: all(gone(client, streams.RESULTS, e) for e in forged), 10, "the forged answers consumed")
        # the same answers XADDed twice: while the coordinator is stopped, every answer in the stream is copied
        slow(platforms, 0.5)
        wait_for(lambda: client.xpending(streams.checks_stream("reddit"), streams.WORKER_GROUP)["pending"], 10,
                 "the worker holding reddit checks")
        os.kill(run.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: client.xlen(streams.RESULTS), 10, "answers waiting for the stopped coordinator")
            copies = [client.xadd(streams.RESULTS, fields) for _, fields in client.xrange(streams.RESULTS)]
        finally:
            os.kill(run.pid, signal.SIGCONT)
        assert copies
        wait_for(lambda: client.xlen(streams.RESULTS) == 0, 10, "every answer and its copy consumed")
        slow(platforms, 0.0)
        assert_once(banwatch, changes=0)
        assert banwatch.rows("SELECT status FROM accounts WHERE key = 'reddit:spez'") == [{"status": "active"}]
        # control: a real suspension still goes through the same path, once
        serve(platforms, "reddit:spez", "reddit.is_suspended")
        wait_for(lambda: any(SUSPENDED in p["text"] for p in slack.posted()), 20, "the real suspension alert")
        # weibo: one health alert after LIVE_S without a worker, one when a worker serves it again
        wait_for(lambda: any("no worker for weibo" in p["text"] for p in slack.posted()), 30,
                 "the 'no worker for weibo' alert")
        ticks = int(banwatch.rows("SELECT value FROM service WHERE key = 'ticks'")[0]["value"])
        wait_for(lambda: int(banwatch.rows("SELECT value FROM service WHERE key = 'ticks'")[0]["value"]) >= ticks + 5,
                 10, "five more ticks")
        workers.append(start_worker(banwatch, "wb", "--platform", "weibo"))
        wait_for(lambda: any("takes weibo checks again" in p["text"] for p in slack.posted()), 20,
                 "the 'worker again' alert")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'weibo:1234567890' AND status = 'active'"),
                 20, "weibo's baseline")
    finally:
        stop(*workers, run)
    texts = [p["text"] for p in slack.posted()]
    assert len([t for t in texts if "no worker for weibo" in t]) == 1, texts
    assert len([t for t in texts if "takes weibo checks again" in t]) == 1, texts
    assert_once(banwatch, slack)
    assert "not a check" in (tmp_path / "worker-r.log").read_text()
    assert "not an answer" in banwatch.log.read_text()
    no_traceback(tmp_path)
