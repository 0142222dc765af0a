"""Another process takes SQLite's write lock while banwatch is already working, and keeps it longer than the
busy timeout: every job that meets it logs one line (no traceback), the service keeps running, recovers by
itself once the lock is gone, and nothing already stored is lost. `banwatch check` caught mid-crawl ends
with one line and exit 1."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from banwatch.monitor.model import Account
from banwatch.monitor.outbox import SERVICE_LEASE, Lease
from banwatch.monitor.store import Store
from banwatch.spiders.platforms import PLATFORMS
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.fixtures import by_rule
from tests.sim import own
from tests.test_e2e import ACTIVE, serve
from tests.test_locking import hold_write_lock, one_line_error

HEAD = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s, health_window: 60s}
defaults: {interval: 1s, confirmations: 2, confirm_delay: 0s}
alerts: {slack_channel: "#svc"}
platforms:
  reddit: {delay: 0s, concurrency: 4}
accounts:
  - {platform: reddit, handle: spez}
  - {platform: reddit, handle: outlet}
"""
LATER = "  - {platform: reddit, handle: later}\n"  # added to the watchlist while the database is locked
BUSY = "0.5"


# What each job logs, in one line, when it meets the lock.
JOBS = (r"ERROR .*tick skipped: ",
        r"ERROR .*delivery interrupted: ", r"ERROR .*watchlist reload not applied: ")


def met_lock(banwatch: Banwatch, lines: tuple[str, ...]) -> str | None:
    """The service's log once every one of `lines` is in it, or as soon as a traceback is (the failure
    this file is about: before, every job that met the lock logged one)."""
    text = banwatch.log.read_text()
    return text if "Traceback" in text or all(re.search(line, text) for line in lines) else None


def stored(banwatch: Banwatch) -> dict[str, int]:
    """Row counts of what must never shrink."""
    return {t: banwatch.rows(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("accounts", "observations", "runs", "changes", "alerts")}


def test_run_survives_a_lock_taken_mid_run_and_recovers(tmp_path: Path, platforms: FakePlatforms,
                                                         slack: FakeSlack) -> None:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(HEAD, encoding="utf-8")
    for key in ("reddit:spez", "reddit:outlet", "reddit:later"):
        serve(platforms, key, ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, slack)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = BUSY
    db = tmp_path / "banwatch.db"
    proc = banwatch.start("run")
    try:
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 2, 20,
                 "the baseline of both accounts")
        wait_for(lambda: banwatch.rows("SELECT count(*) AS n FROM runs WHERE finished_at IS NOT NULL")[0]["n"] >= 2,
                 10, "a second crawl")
        before = stored(banwatch)

        holder = hold_write_lock(db, 60)
        try:
            locked_at = banwatch.rows("SELECT value FROM service WHERE key = 'last_tick_at'")[0]["value"]
            watchlist.write_text(HEAD + LATER, encoding="utf-8")  # the reload meets the lock too
            log = wait_for(lambda: met_lock(banwatch, JOBS), 20, "each job to meet the lock")
            # control: the lock really stopped the service's writes (the test is not passing vacuously)
            assert banwatch.rows("SELECT value FROM service WHERE key = 'last_tick_at'")[0]["value"] == locked_at
            assert proc.poll() is None, "the service keeps running"
        finally:
            holder.kill()
            holder.wait()

        assert "Traceback" not in log, log
        for line in (ln for ln in log.splitlines() if "database is locked" in ln):
            assert " ERROR " in line and str(db) in line and "trying again" in line, line
        tick = next(ln for ln in log.splitlines() if "tick skipped" in ln)
        assert f"more than {BUSY}s" in tick and tick.endswith("trying again next tick"), tick

        # It recovers by itself: the next tick is recorded, the edit made during the lock is applied.
        wait_for(lambda: banwatch.rows("SELECT 1 FROM service WHERE key = 'last_tick_at' AND value > ?",
                                       locked_at), 10, "a tick after the lock is released")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:later' AND status = 'active'"),
                 10, "the account added while the database was locked")
        after = stored(banwatch)
        assert all(after[t] >= before[t] for t in before), (before, after)

        # A suspension served after the lock is gone is confirmed and alerted, once.
        serve(platforms, "reddit:spez", "reddit.is_suspended")
        wait_for(lambda: [p for p in slack.posted() if "Suspended on Reddit: spez" in p["text"]], 15,
                 "the suspension alert")
        time.sleep(1.5)  # more ticks and deliveries: still one alert
        assert len([p for p in slack.posted() if "Suspended on Reddit: spez" in p["text"]]) == 1
        assert banwatch.rows("SELECT to_status FROM changes WHERE account_key = 'reddit:spez'") == [
            {"to_status": "suspended"}]
        assert [r["state"] for r in banwatch.rows("SELECT state FROM alerts WHERE account_key = 'reddit:spez'")] \
            == ["sent"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    text = banwatch.log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text


def test_run_stopped_while_locked_exits_cleanly(tmp_path: Path, platforms: FakePlatforms) -> None:
    """The stop's own writes (stopped_at, the lease's release) meet the lock: one line, exit 0, and the next
    `run` can start (the lease of a process that is gone is free)."""
    (tmp_path / "watchlist.yaml").write_text(HEAD, encoding="utf-8")
    for key in ("reddit:spez", "reddit:outlet"):
        serve(platforms, key, ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, None)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = BUSY
    proc = banwatch.start("run")
    try:
        wait_for(lambda: len(banwatch.rows("SELECT 1 FROM accounts WHERE status = 'active'")) == 2, 20,
                 "the baseline of both accounts")
        holder = hold_write_lock(tmp_path / "banwatch.db", 60)
        try:
            assert "Traceback" not in wait_for(lambda: met_lock(banwatch, JOBS[:1]), 10, "a tick to meet the lock")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            holder.kill()
            holder.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = banwatch.log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text
    assert re.search(r"ERROR .*stop not recorded: .*database is locked", text), text
    store = Store.open(tmp_path / "banwatch.db")
    try:
        assert Lease(store, SERVICE_LEASE, "run").holder() is None, "the next run can start"
    finally:
        store.close()


def test_check_locked_mid_crawl_is_one_line_and_keeps_what_was_stored(tmp_path: Path,
                                                                       platforms: FakePlatforms) -> None:
    """The lock is taken after the crawl started (its `runs` rows are written) and before anything is
    recorded. 60 accounts: a batch of 50 is recorded from inside the crawl (a Scrapy signal handler), the rest
    at its end."""
    keys = [f"reddit:user{i}" for i in range(60)]
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}\n"
        "platforms:\n  reddit: {delay: 0s, concurrency: 64}\naccounts:\n"
        + "".join(f"  - {{platform: reddit, handle: {k.split(':')[1]}}}\n" for k in keys), encoding="utf-8")
    for key in keys:
        serve(platforms, key, ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, None)
    banwatch.env["BANWATCH_BUSY_TIMEOUT"] = BUSY
    banwatch("check")  # a baseline: what is stored must stay
    before = stored(banwatch)
    seen = banwatch.rows("SELECT key, last_checked_at FROM accounts ORDER BY key")

    for key in keys:  # slow answers: the lock is taken while they are in flight
        handle = key.split(":")[1]
        platforms.serve(own(by_rule("reddit", ACTIVE["reddit"]), key),
                        PLATFORMS["reddit"].probe(Account("reddit", handle, key), {}).url, delay=1.0)
    proc = banwatch.start("check", "--no-progress")
    try:
        wait_for(lambda: banwatch.rows("SELECT 1 FROM runs WHERE finished_at IS NULL"), 20, "the crawl to start")
        holder = hold_write_lock(tmp_path / "banwatch.db", 60)
        try:
            out, _ = proc.communicate(timeout=30)
        finally:
            holder.kill()
            holder.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = banwatch.log.read_text()
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), str(tmp_path / "banwatch.db"),
                   "database is locked")
    assert "Error caught on signal handler" not in err, err
    assert stored(banwatch) == {**before, "runs": before["runs"] + 1}, "only the interrupted crawl's run row"
    assert banwatch.rows("SELECT key, last_checked_at FROM accounts ORDER BY key") == seen
    banwatch("check")  # the lock gone, the next check carries on
    assert len(banwatch.rows("SELECT 1 FROM accounts WHERE last_checked_at > ?",
                             max(r["last_checked_at"] for r in seen))) == 60
