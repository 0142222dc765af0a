"""Benchmark `banwatch run` against the local fake platforms.

Starts the fake platform server in this process, writes a watchlist of N accounts spread over the four
platforms (politeness delays off: this measures banwatch, not a platform's rate limit), runs `banwatch run`
as a subprocess for a fixed time and prints: accounts, ticks, checks/s sustained, peak RSS, and the
scheduler's own mean time per tick.

    .venv/bin/python benchmarks/service.py [--accounts 2000] [--seconds 60] [--interval 20]
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Banwatch  # noqa: E402
from tests.fakes import FakePlatforms  # noqa: E402
from tests.test_e2e import ACTIVE, serve  # noqa: E402

PLATFORM_HANDLES = {
    "weibo": lambda i: str(1_000_000_000 + i),
    "reddit": lambda i: f"bench_{i}",
    "bluesky": lambda i: f"bench{i}.bsky.social",
    "mastodon": lambda i: f"bench{i}@instance{i % 20}.example",
}


def proc_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A KiB figure from /proc/<pid>/status (VmRSS, VmHWM), 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


rss_kib = proc_kib


def total_checks(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT coalesce(sum(checks), 0) FROM observations").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=int, default=20, help="seconds between checks of one account")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="banwatch-bench-"))
    lines = ["service: {tick: 1s, deliver_every: 5s, reload_every: 5s}",
             f"defaults: {{interval: {args.interval}s, confirm_delay: 5s}}",
             "platforms:"]
    lines += [f"  {p}: {{delay: 0s, concurrency: 8, batch: 1000}}" for p in PLATFORM_HANDLES]
    lines.append("accounts:")
    keys = []
    with FakePlatforms() as fake:
        for i in range(args.accounts):
            platform = list(PLATFORM_HANDLES)[i % 4]
            handle = PLATFORM_HANDLES[platform](i)
            lines.append(f"  - {{platform: {platform}, handle: \"{handle}\"}}")
            keys.append(f"{platform}:{handle}")
            serve(fake, keys[-1], ACTIVE[platform])
        (workdir / "watchlist.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        banwatch = Banwatch(workdir, fake, None)
        proc = banwatch.start("run")
        db = workdir / "banwatch.db"
        peak, warm, warm_checks = 0, None, 0
        began = time.monotonic()
        try:
            while time.monotonic() - began < args.seconds + args.interval:
                time.sleep(0.5)
                peak = max(peak, rss_kib(proc.pid))
                if warm is None and total_checks(db) >= args.accounts:  # every account has its baseline
                    warm, warm_checks = time.monotonic(), total_checks(db)
                if warm is not None and time.monotonic() - warm >= args.seconds:
                    break
            checks = total_checks(db) - warm_checks
            elapsed = time.monotonic() - warm if warm else float("nan")
        finally:
            proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            proc.wait(timeout=30)
            stop_s = time.monotonic() - stopped
        conn = sqlite3.connect(db)
        service = dict(conn.execute("SELECT key, value FROM service").fetchall())
        unknown = conn.execute("SELECT coalesce(sum(checks), 0) FROM observations WHERE status = 'unknown'").fetchone()[0]
        conn.close()

    print(f"accounts            {args.accounts} (4 platforms, interval {args.interval}s)")
    print(f"first full pass     {warm - began:.1f} s" if warm else "first full pass     not reached")
    print(f"measured            {elapsed:.1f} s after the first full pass")
    print(f"checks              {checks}  ({checks / elapsed:.1f} checks/s sustained; "
          f"demand {args.accounts / args.interval:.1f}/s at this interval; a due account waits for its platform's next crawl)")
    print(f"unknown checks      {unknown}")
    print(f"ticks               {service.get('ticks')}  (scheduler's own time per tick: "
          f"{service.get('tick_ms_mean')} ms mean)")
    print(f"peak RSS            {peak / 1024:.1f} MiB")
    print(f"SIGTERM to exit     {stop_s:.2f} s")
    print(f"run directory       {workdir}")


if __name__ == "__main__":
    main()
