"""`banwatch check` under a terminal: the progress bar shows from the start and advances as answers arrive,
with counts per status, long before the crawl ends; off a terminal there is no bar at all.

The command runs for real (a subprocess) with its stderr on a pseudo-terminal, against the fake platforms,
whose answers are spread out (account i answers after 0.4 * (i + 1) seconds), so the crawl takes a few.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from banwatch.monitor.model import Account
from banwatch.spiders.platforms import PLATFORMS
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms
from tests.fixtures import by_rule
from tests.sim import own

N = 6
DELAY = 0.4  # account i answers after DELAY * (i + 1) seconds: the last one about N * DELAY after the first


def setup(tmp_path: Path, platforms: FakePlatforms) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(
        "platforms:\n  reddit: {delay: 0s, concurrency: 8}\naccounts:\n"
        + "".join(f"  - {{platform: reddit, handle: user{i}}}\n" for i in range(N)), encoding="utf-8")
    for i in range(N):
        key = f"reddit:user{i}"
        url = PLATFORMS["reddit"].probe(Account("reddit", f"user{i}", key), {}).url
        platforms.serve(own(by_rule("reddit", "reddit.profile"), key), url, delay=DELAY * (i + 1))
    return Banwatch(tmp_path, platforms, None)


def under_a_terminal(banwatch: Banwatch, *args: str) -> tuple[list[tuple[float, str]], str, float]:
    """Run `banwatch check` with stderr on a pseudo-terminal: (time, stderr chunk) as they came, stdout,
    and when the process ended (time.monotonic)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "check", *args], cwd=banwatch.workdir,
                            env={**banwatch.env, "COLUMNS": "160"}, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks: list[tuple[float, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # the other end closed: the process is done with its terminal
                break
            if not data:
                break
            chunks.append((time.monotonic(), data.decode(errors="replace")))
        elif proc.poll() is not None:
            break
    out = proc.communicate(timeout=60)[0].decode()
    ended = time.monotonic()
    os.close(master)
    assert proc.returncode == 0, out
    return chunks, out, ended


def positions(chunks: list[tuple[float, str]]) -> list[tuple[float, int]]:
    """(time, position) of every bar drawn: click writes `label [###---]  k/N`."""
    return [(at, int(m.group(1))) for at, text in chunks for m in re.finditer(rf"\b(\d+)/{N}\b", text)]


def test_the_bar_shows_at_once_and_advances_before_the_crawl_ends(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    chunks, out, ended = under_a_terminal(banwatch)
    drawn = positions(chunks)
    assert drawn and drawn[0][1] == 0, f"the bar is drawn at 0 before any answer: {drawn[:3]}"
    partial = [(at, k) for at, k in drawn if 0 < k < N]
    assert len({k for _, k in partial}) >= N // 2, f"the bar advanced one answer at a time: {drawn}"
    assert ended - partial[0][0] > 2 * DELAY, "the first advance came while the crawl was still running"
    assert re.search(r"checking \(\d+ active\)", "".join(t for _, t in chunks)), "counts per status in the label"
    assert f"{N} observations in 1 round: {N} active" in out


def test_off_a_terminal_there_is_no_bar(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms)
    proc = banwatch("check")  # stderr is a pipe here
    assert "checking" not in proc.stderr and f"/{N}" not in proc.stderr
    chunks, _, _ = under_a_terminal(banwatch, "--no-progress")  # and none when switched off on a terminal
    assert not positions(chunks)
