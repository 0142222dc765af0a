"""Shared test helpers: the local fake servers and a way to run the real `banwatch` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry for tests that call the core directly
from tests.fakes import FakePlatforms, FakeSlack

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_NAMES = ("weibo", "reddit", "bluesky", "mastodon")


@pytest.fixture
def platforms() -> Iterator[FakePlatforms]:
    with FakePlatforms() as server:
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


class Banwatch:
    """Runs `python -m banwatch.monitor ...` (the banwatch command) as a real subprocess against the fakes."""

    def __init__(self, workdir: Path, platforms: FakePlatforms, slack: FakeSlack | None) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("BANWATCH_", "SLACK_", "SCRAPY_"))}
        self.env.update({f"BANWATCH_{p.upper()}_BASE_URL": platforms.url for p in PLATFORM_NAMES})
        self.env.update({"BANWATCH_WATCHLIST": str(workdir / "watchlist.yaml"),
                         "BANWATCH_DB": str(workdir / "banwatch.db"), "PYTHONPATH": str(ROOT)})
        if slack is not None:
            self.env.update({"SLACK_BOT_TOKEN": "xoxb-e2e-secret", "BANWATCH_SLACK_API_URL": slack.api_url})

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "banwatch.monitor", *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"banwatch {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    started: list[subprocess.Popen[str]] = []  # every background process, killed after its test (`_no_leftovers`)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`banwatch run` (or any command) in the background; stderr goes to a file for inspection."""
        self.log = (self.workdir / f"banwatch-{len(list(self.workdir.glob('banwatch-*.log')))}.log")
        proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", *args], cwd=self.workdir, env=self.env,
                                stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True)
        Banwatch.started.append(proc)
        return proc

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Read the database directly (read-only), as any SQLite client would while banwatch runs."""
        import sqlite3

        db = self.workdir / "banwatch.db"
        if not db.exists():
            return []
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(query, params)]
        except sqlite3.OperationalError:
            return []  # tables not created yet
        finally:
            conn.close()

    def sql(self, query: str) -> list[dict[str, Any]]:
        return json.loads(self("sql", query, "--json").stdout)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until `predicate()` is truthy; fail naming `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server on 127.0.0.1 (tests/redis_server.py), stopped after the test."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """A test that fails before it stops its `banwatch run` would leave it running for good (its directory
    deleted, its CPU taken from every later test): whatever `Banwatch.start` started and is still alive at the
    end of the test is killed."""
    yield
    while Banwatch.started:
        proc = Banwatch.started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
