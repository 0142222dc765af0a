"""Benchmarks against the platform simulator: throughput vs a bare Scrapy spider, scale, storage, latency.

    .venv/bin/python benchmarks/proof.py [--accounts 1000,10000] [--scale 100000] [--scale-seconds 120]

Prints one table per benchmark; docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sim import env_for  # noqa: E402

PLATFORM_ROWS = ("weibo", "reddit", "bluesky", "mastodon")
BARE_SPIDER = r'''
import sys, time, json
from scrapy import Spider, Request
from scrapy.crawler import CrawlerProcess
urls, hosts = json.load(open(sys.argv[1]))
class Bare(Spider):
    name = "bare"
    async def start(self):
        for url, host in zip(urls, hosts):
            yield Request(url, headers={"Host": host}, dont_filter=True, callback=self.parse)
    def parse(self, response):
        pass
p = CrawlerProcess({"LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
                    "DOWNLOAD_DELAY": 0, "HTTPERROR_ALLOW_ALL": True, "ROBOTSTXT_OBEY": False,
                    "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False, "COOKIES_ENABLED": True})
t = time.perf_counter(); p.crawl(Bare); p.start(); print(json.dumps({"seconds": time.perf_counter() - t}))
'''


def keys_for(n: int) -> list[str]:
    out = []
    for i in range(n):
        platform = PLATFORM_ROWS[i % 4]
        handle = {"weibo": str(4_000_000_000 + i), "reddit": f"bench_{i}", "bluesky": f"b{i}.bsky.social",
                  "mastodon": f"m{i}@inst{i % 50}.example"}[platform]
        out.append(f"{platform}:{handle}")
    return out


def start_sim(keys: list[str]) -> tuple[subprocess.Popen[str], str]:
    keyfile = Path(tempfile.mkdtemp()) / "keys.txt"
    keyfile.write_text(",".join(keys))
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.argv = ['sim', '--accounts', open(sys.argv[1]).read()]; "
        "from tests.sim import main; main()"), str(keyfile)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, text=True)
    url = json.loads(proc.stdout.readline())["url"]  # type: ignore[union-attr]
    return proc, url


def watchlist(keys: list[str], interval: str = "1h", extra: str = "", fast: bool = True) -> str:
    """fast: politeness off (measures banwatch, not a platform's limits); else the default politeness."""
    lines = [f"defaults: {{interval: {interval}, confirmations: 2, confirm_delay: 5s}}", extra,
             "platforms: {" + ", ".join(f"{p}: {{delay: 0s, concurrency: 64, batch: 100000}}"
                                        for p in PLATFORM_ROWS) + "}" if fast else "", "accounts:"]
    lines += [f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}" for k in keys]
    return "\n".join(lines) + "\n"


def banwatch_env(work: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANWATCH_", "SLACK_"))}
    env.update(env_for(url), PYTHONPATH=str(ROOT), BANWATCH_WATCHLIST=str(work / "watchlist.yaml"),
               BANWATCH_DB=str(work / "banwatch.db"))
    return env


async def hammer(url: str, path: str, host: str, seconds: float = 5.0, concurrency: int = 64) -> float:
    import aiohttp

    done, deadline = 0, time.perf_counter() + seconds
    async with aiohttp.ClientSession() as session:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url + path, headers={"Host": host}) as r:
                    await r.read()
                done += 1
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / seconds


def throughput(sizes: list[int]) -> None:
    print("\n## 1. throughput: every account checked once against the simulator")
    print(f"{'accounts':>9} {'banwatch check/s':>17} {'bare scrapy/s':>14} {'ratio':>6} {'simulator req/s':>16}")
    from banwatch.monitor.model import Account
    from banwatch.spiders.platforms import PLATFORMS
    from banwatch.spiders.platforms.base import rebase

    for n in sizes:
        keys = keys_for(n)
        sim, url = start_sim(keys)
        try:
            sim_rate = asyncio.run(hammer(url, "/user/bench_1/about.json", "www.reddit.com"))
            work = Path(tempfile.mkdtemp(prefix="banwatch-bench-"))
            (work / "watchlist.yaml").write_text(watchlist(keys), encoding="utf-8")
            out = subprocess.run([sys.executable, "-m", "banwatch.monitor", "check", "--no-progress"], cwd=work,
                                 env=banwatch_env(work, url), capture_output=True, text=True, check=True)
            conn = sqlite3.connect(work / "banwatch.db")
            first, last, checks = conn.execute(
                "SELECT min(started_at), max(finished_at), sum(accounts) FROM runs").fetchone()
            conn.close()
            seconds = (_ts(last) - _ts(first))
            ours = checks / seconds
            urls, hosts = [], []
            for k in keys:
                platform, handle = k.split(":", 1)
                u, extra = rebase(PLATFORMS[platform].probe(Account(platform, handle, k), {}).url, url)
                urls.append(u)
                hosts.append(extra["Host"])
            spec = work / "urls.json"
            spec.write_text(json.dumps([urls, hosts]))
            bare = json.loads(subprocess.run([sys.executable, "-c", BARE_SPIDER, str(spec)], capture_output=True,
                                             text=True, check=True).stdout.strip().splitlines()[-1])
            bare_rate = n / bare["seconds"]
            print(f"{n:>9} {ours:>17.0f} {bare_rate:>14.0f} {ours / bare_rate:>6.0%} {sim_rate:>16.0f}")
            assert "unknown" not in out.stdout.split("round(s):")[1].split("\n")[0], out.stdout
        finally:
            sim.terminate()
            sim.wait()


def _ts(stamp: str) -> float:
    from banwatch.monitor.timeutil import parse_iso

    return parse_iso(stamp).timestamp()


def rss_kib(pid: int) -> int:
    try:
        return int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                        if line.startswith("VmRSS:")))
    except (OSError, StopIteration):
        return 0


def scale(n: int, seconds: float) -> None:
    print(f"\n## 2. scale: {n} accounts")
    import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry the core reads (monitor.registry)
    from banwatch.monitor.store import Store
    from banwatch.monitor.timeutil import now_iso
    from banwatch.monitor.watchlist import parse

    keys = keys_for(n)
    text = watchlist(keys, interval="10m", fast=False)
    t0 = time.perf_counter()
    wl = parse(text, "watchlist.yaml")
    load = time.perf_counter() - t0
    work = Path(tempfile.mkdtemp(prefix="banwatch-scale-"))
    (work / "watchlist.yaml").write_text(text, encoding="utf-8")
    store = Store.open(work / "banwatch.db")
    t0 = time.perf_counter()
    store.sync_watchlist(wl, now_iso())
    sync = time.perf_counter() - t0
    from banwatch.monitor.timeutil import later

    latencies = []
    for platform in PLATFORM_ROWS:
        t0 = time.perf_counter()
        store.due(platform, later(now_iso(), 300), 1000)
        latencies.append((time.perf_counter() - t0) * 1000)
    store.close()
    sim, url = start_sim(keys)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "run"], cwd=work, env=banwatch_env(work, url),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            peak = max(peak, rss_kib(proc.pid))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        conn = sqlite3.connect(work / "banwatch.db")
        checked = conn.execute("SELECT count(*) FROM accounts WHERE last_checked_at IS NOT NULL").fetchone()[0]
        conn.close()
    finally:
        sim.terminate()
        sim.wait()
    print(f"watchlist load      {load:.2f} s (goal < 5 s); first sync into the store {sync:.2f} s")
    print(f"due query           {max(latencies):.1f} ms worst of {len(latencies)} platforms (goal < 50 ms)")
    print(f"banwatch run        peak RSS {peak / 1024:.0f} MiB over {seconds:.0f} s (goal < 400 MB); "
          f"{checked} accounts checked at the default politeness (first checks spread over the interval)")


def storage() -> None:
    print("\n## 3. storage")
    import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry the core reads (monitor.registry)
    from banwatch.monitor.model import Account, Observation, Reply, Status
    from banwatch.monitor.state import advance
    from banwatch.monitor.store import Store
    from banwatch.monitor.timeutil import later
    from banwatch.monitor.watchlist import Watchlist
    from tests.fixtures import by_rule

    work = Path(tempfile.mkdtemp(prefix="banwatch-storage-"))
    accounts = [Account("weibo", str(5_000_000_000 + i), f"weibo:{5_000_000_000 + i}", confirmations=1)
                for i in range(200)]
    store = Store.open(work / "b.db")
    t0 = "2026-01-01T00:00:00.000Z"
    store.sync_watchlist(Watchlist(path="w", accounts=tuple(accounts)), t0)
    active, banned = by_rule("weibo", "weibo.user_info"), by_rule("weibo", "weibo.ban_notice")

    def check(a: Account, status: Status, fx: object, at: str) -> None:
        body = fx.body.replace(b"1234567890", a.handle.encode())  # type: ignore[attr-defined]
        obs = Observation(a.key, status, "weibo.x", "r", at, http_status=200,
                          evidence=Reply("https://m.weibo.cn/api", 200, dict(fx.headers), body))  # type: ignore[attr-defined]
        store.record(a, obs, advance(store.state(a.key), status, at, 1), [("suspended", "#c")] if status is Status.SUSPENDED else [])

    for a in accounts:
        check(a, Status.ACTIVE, active, t0)

    def measure() -> tuple[int, int]:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = sum(store.db[t].count for t in ("observations", "changes", "evidence", "evidence_bodies", "alerts"))
        used = store.db.execute("PRAGMA page_count").fetchone()[0] - store.db.execute("PRAGMA freelist_count").fetchone()[0]
        return rows, used * store.db.execute("PRAGMA page_size").fetchone()[0]

    rows0, bytes0 = measure()
    for step in range(1, 11):
        for a in accounts:
            check(a, Status.ACTIVE, active, later(t0, 600 * step))
    rows1, bytes1 = measure()
    for a in accounts:
        check(a, Status.SUSPENDED, banned, later(t0, 7200))
    rows2, bytes2 = measure()
    store.close()
    unchanged = len(accounts) * 10
    print(f"unchanged checks    {unchanged}: {rows1 - rows0} rows added (goal 0), "
          f"{(bytes1 - bytes0) / unchanged:.1f} bytes per check")
    print(f"changes             {len(accounts)}: {(bytes2 - bytes1) / len(accounts):.0f} bytes per change "
          f"(observation span, change, evidence, body, alert; goal <= 2 KB)")


def latency(samples: int) -> None:
    print("\n## 4. latency: simulator flip -> fake Slack message (interval 30 s, confirm_delay 5 s)")
    from tests.fakes import FakeSlack

    keys = [f"reddit:lat{i}" for i in range(samples)]
    sim, url = start_sim(keys)
    work = Path(tempfile.mkdtemp(prefix="banwatch-latency-"))
    (work / "watchlist.yaml").write_text(
        "service: {tick: 1s, deliver_every: 1s}\n" + watchlist(keys, interval="30s",
                                                                extra="alerts: {slack_channel: '#lat', wave_size: 1000}"),
        encoding="utf-8")
    with FakeSlack() as slack:
        env = {**banwatch_env(work, url), "SLACK_BOT_TOKEN": slack.token, "BANWATCH_SLACK_API_URL": slack.api_url}
        proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "run"], cwd=work, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(40)  # baselines
            flipped = {}
            for i, key in enumerate(keys):
                time.sleep(30 / samples)  # flip at different phases of the interval
                _control(url, {"account": key, "state": "suspended"})
                flipped[key.split(":")[1]] = time.monotonic()
            seen: dict[str, float] = {}
            deadline = time.monotonic() + 90
            while len(seen) < len(keys) and time.monotonic() < deadline:
                for message in slack.posted():
                    handle = message["text"].split(": ", 1)[1].split(" |")[0]
                    seen.setdefault(handle, time.monotonic())
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            sim.terminate()
            sim.wait()
    waits = sorted(seen[h] - flipped[h] for h in seen)
    print(f"flips {len(keys)}, alerted {len(waits)}: min {waits[0]:.1f} s, median {waits[len(waits) // 2]:.1f} s, "
          f"max {waits[-1]:.1f} s (bound: interval + 10 % jitter + confirm_delay + tick + delivery = about 40 s)")


def _control(url: str, body: dict[str, object]) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url + "/_sim/set", data=json.dumps(body).encode(),
                                                  headers={"Content-Type": "application/json"}), timeout=5).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="1000,10000")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--scale-seconds", type=float, default=120)
    parser.add_argument("--latency-samples", type=int, default=5)
    args = parser.parse_args()
    print(f"# banwatch proof benchmarks — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores")
    throughput([int(n) for n in args.accounts.split(",")])
    scale(args.scale, args.scale_seconds)
    storage()
    latency(args.latency_samples)


if __name__ == "__main__":
    main()
