"""The simulator's per-source-address rate limit: each client IP address has its own token bucket, a client beyond
it gets the "rate_limit" fault's 429, and banwatch reads that 429 as unknown, never as a finding."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import ROOT, Banwatch
from tests.sim import Simulator

WEIBO = [f"weibo:10000000{i:02d}" for i in range(1, 9)]
WATCHLIST = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}
platforms:
  weibo: {delay: 0s, concurrency: 8}
accounts:
""" + "".join(f"  - {{platform: weibo, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in WEIBO)


def get(url: str, source: str, path: str = "/api/container/getIndex?type=uid&value=1000000001",
        host: str = "m.weibo.cn") -> tuple[int, dict[str, str], bytes]:
    """One GET from local address `source` (a new connection each time)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def burst(sim: Simulator, source: str, n: int) -> tuple[list[int], float]:
    """`n` requests from `source` as fast as they go: their status codes, and the seconds they took."""
    started = time.monotonic()
    codes = [get(sim.url, source)[0] for _ in range(n)]
    return codes, time.monotonic() - started


def test_each_source_address_has_its_own_budget_and_a_burst_beyond_it_gets_429() -> None:
    with Simulator(rate_per_address=20) as sim:
        sim.add("weibo:1000000001")
        codes, took = burst(sim, "127.0.0.2", 40)
        assert codes[:20] == [200] * 20, "the burst (max(1, rate) = 20) is allowed at once"
        allowed = 20 + 20 * took  # what the bucket can have refilled while the burst ran
        assert codes.count(429) >= 40 - allowed - 1 and codes.count(429) >= 1, (codes, took)
        assert set(codes) == {200, 429}
        other, _ = burst(sim, "127.0.0.3", 20)
        assert other == [200] * 20, "another address spends its own budget, not the exhausted one's"
        extra = []  # the bucket refilled while the other address spent its own: ask until refused again
        while not extra or extra[-1][0] != 429:
            extra.append(get(sim.url, "127.0.0.2"))
            assert len(extra) <= 40, "the limit never came back"
        status, headers, body = extra[-1]
        assert (status, headers["Retry-After"], body) == (
            429, "30", b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}'), "as the rate_limit fault"
        limited = codes.count(429) + sum(1 for e in extra if e[0] == 429)
        assert sim.by_address == {"127.0.0.2": 40 + len(extra), "127.0.0.3": 20}
        assert sim.limited_by_address == {"127.0.0.2": limited}
        stats = json.loads(get(sim.url, "127.0.0.4", "/_sim/stats")[2])
        assert stats["rate_per_address"] == 20 and stats["limited_by_address"] == {"127.0.0.2": limited}
        assert stats["by_address"] == {"127.0.0.2": 40 + len(extra), "127.0.0.3": 20}, "control requests are not counted"


def test_control_without_a_rate_the_same_bursts_are_all_answered() -> None:
    with Simulator() as sim:
        sim.add("weibo:1000000001")
        codes, _ = burst(sim, "127.0.0.2", 40)
        other, _ = burst(sim, "127.0.0.3", 20)
        assert codes == [200] * 40 and other == [200] * 20
        assert sim.by_address == {"127.0.0.2": 40, "127.0.0.3": 20} and not sim.limited_by_address


def test_banwatch_beyond_the_rate_reads_429_as_unknown_not_a_finding(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    with Simulator() as sim:
        sim.add(*WEIBO)
        banwatch = Banwatch(tmp_path, sim, None)  # type: ignore[arg-type]
        banwatch("check", "--no-progress", "--bind-address", "127.0.0.2")  # control: no limit, all answered
        assert sim.by_address == {"127.0.0.2": 8} and not sim.limited_by_address
        sim.rate_per_address = 2  # a burst of 2, then 2 a second: most of 8 requests at once are refused
        out = banwatch("check", "--no-progress", "--bind-address", "127.0.0.2")
        limited = sim.limited_by_address["127.0.0.2"]
        assert limited >= 1 and sim.by_address["127.0.0.2"] == 16, out.stdout
        rules = banwatch.rows("SELECT rule, count(*) AS n FROM observations WHERE last_checked_at = "
                              "(SELECT max(last_checked_at) FROM observations o WHERE o.account_key = "
                              "observations.account_key) GROUP BY rule")
        assert {r["rule"]: r["n"] for r in rules} == {"weibo.user_info": 8 - limited, "weibo.rate_limited": limited}
        assert f"weibo.rate_limited ×{limited}" in out.stdout
        assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}]
        assert {r["status"] for r in banwatch.rows("SELECT status FROM accounts")} == {"active"}
        banwatch("check", "--no-progress", "--bind-address", "127.0.0.3")  # another address: its own budget
        assert sim.by_address["127.0.0.3"] == 8 and sim.limited_by_address["127.0.0.3"] <= limited


def test_the_standalone_simulator_takes_a_rate_per_address() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.sim", "--accounts", "weibo:1000000001",
                             "--rate-per-address", "0.5"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        assert [get(url, "127.0.0.2")[0] for _ in range(2)] == [200, 429], "a burst of max(1, 0.5) = 1"
        assert get(url, "127.0.0.3")[0] == 200
        stats = json.loads(get(url, "127.0.0.2", "/_sim/stats")[2])
        assert stats["rate_per_address"] == 0.5 and stats["limited_by_address"] == {"127.0.0.2": 1}
    finally:
        proc.terminate()
        proc.wait(10)
