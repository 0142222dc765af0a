"""Scale-out benchmarks: `banwatch run`, `banwatch check`, the coordinator and its fetch workers, side by side in one run.

Every figure is measured against the platform simulator (tests/sim.py) in its own process, on this machine, and
printed as one row of a final table with its target and whether it is met:

  1. service below saturation: `banwatch run` checks/s over a steady window (whole intervals, after the first
     round) vs the demand accounts / interval (target: within 5 %);
  2. service at saturation: `banwatch run` checks/s vs `banwatch check` on the same accounts (target >= 90 %);
  3. one process: `banwatch check` vs a bare Scrapy spider on the same URLs (benchmarks/proof.py's BARE_SPIDER,
     target >= 90 %) and vs Sherlock on the same URLs (usernames x sites / wall time, target >= 1.5x);
  4. coordinator + 1, 2, 3 local workers (one Redis): checks/s recorded in SQLite (target >= 1,000), with the
     CPU seconds each process used in the window;
  5. egress: the simulator allows 20 requests/s per client address; 1 worker bound to 127.0.0.2 vs 3 bound to
     127.0.0.2-4 (target: >= 2.7x, 0 rate-limited checks);
  6. peak RSS (VmHWM) of a coordinator watching 100,000 accounts (<= 400 MiB) and of a worker (<= 150 MiB).

    .venv/bin/python benchmarks/scaleout.py            # the full run, about 12 minutes on 2 cores
    .venv/bin/python benchmarks/scaleout.py --quick    # every scenario shrunk: a 2-3 minute smoke run
    .venv/bin/python benchmarks/scaleout.py --only 4,5 --workers 1,2

Sherlock is installed by this script with pip into benchmarks/.cache/sherlock-venv (gitignored) on first use;
`--no-sherlock` skips it. docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

from proof import BARE_SPIDER, _ts, banwatch_env, keys_for  # noqa: E402
from service import proc_kib as proc_status, total_checks  # noqa: E402

from tests.redis_server import RedisServer  # noqa: E402
from tests.test_fleet import stop as stop_all  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
SHERLOCK_VENV = CACHE / "sherlock-venv"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROFILE: Path | None = None  # --profile DIR: coordinators and workers run under cProfile, one .prof file each
FOUR = ("weibo", "reddit", "bluesky", "mastodon")

# Runs in Sherlock's own virtualenv: its engine (sherlock_project.sherlock.sherlock, one call per username, all
# sites of the data file in parallel, as its command line does) over the usernames, timed from the first request
# to the last answer. The command line itself would first ask GitHub for a newer release; that is not timed.
SHERLOCK_DRIVER = r'''
import json, sys, time
from sherlock_project.notify import QueryNotify
from sherlock_project.result import QueryStatus
from sherlock_project.sherlock import sherlock
from sherlock_project.sites import SitesInformation
sites = SitesInformation(data_file_path=sys.argv[1], honor_exclusions=False)
site_data = {site.name: site.information for site in sites}
names = json.load(open(sys.argv[2]))
claimed, t = 0, time.perf_counter()
for name in names:
    results = sherlock(name, site_data, QueryNotify(), timeout=20)
    claimed += sum(1 for r in results.values() if r["status"].status == QueryStatus.CLAIMED)
print(json.dumps({"seconds": time.perf_counter() - t, "checks": len(names) * len(site_data), "claimed": claimed}))
'''


# -- processes ---------------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class Sim:
    """The simulator in its own process (as benchmarks/proof.py starts it), optionally limiting each address."""

    def __init__(self, keys: list[str], rate_per_address: float | None = None) -> None:
        keyfile = Path(tempfile.mkdtemp(prefix="banwatch-scaleout-sim-")) / "keys.txt"
        keyfile.write_text(",".join(keys))
        rate = ["--rate-per-address", str(rate_per_address)] if rate_per_address else []
        self.proc = subprocess.Popen([sys.executable, "-c", (
            "import sys; sys.argv = ['sim', '--accounts', open(sys.argv[1]).read(), *sys.argv[2:]]; "
            "from tests.sim import main; main()"), str(keyfile), *rate], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
        self.url = json.loads(self.proc.stdout.readline())["url"]  # type: ignore[union-attr]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_sim/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def stop(*procs: subprocess.Popen[Any]) -> None:
    """SIGTERM, then up to 30 s for each (a loaded coordinator drains its batches), then SIGKILL."""
    stop_all(*procs, timeout=30)


def python(label: str) -> list[str]:
    if PROFILE is None:
        return [sys.executable]
    PROFILE.mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-m", "cProfile", "-o", str(PROFILE / f"{label}.prof")]


def banwatch(work: Path, sim: Sim, *args: str, redis: str | None = None, log: str = "banwatch") -> subprocess.Popen[Any]:
    env = banwatch_env(work, sim.url)
    if redis:
        env["BANWATCH_REDIS_URL"] = redis
    return subprocess.Popen([*python(f"{work.name}-{log}"), "-m", "banwatch.monitor", *args], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=(work / f"{log}.log").open("w"))


def worker(work: Path, sim: Sim, redis: str, name: str, bind: str | None = None) -> subprocess.Popen[Any]:
    """A fetch worker: Redis and the platforms only, never the database or the watchlist."""
    env = {k: v for k, v in banwatch_env(work, sim.url).items() if k not in ("BANWATCH_DB", "BANWATCH_WATCHLIST")}
    args = ["--bind-address", bind] if bind else []
    return subprocess.Popen([*python(f"{work.name}-worker-{name}"), "-m", "banwatch.monitor", "worker", "--redis",
                             redis, "--name", name,
                             *args], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=(work / f"worker-{name}.log").open("w"))


def write_watchlist(work: Path, keys: list[str], interval: str, politeness: dict[str, str],
                    tick: str = "1s", csv: bool = False) -> None:
    """`politeness`: platform -> its `platforms:` entry's YAML flow mapping body. csv: the accounts in an
    included CSV (100,000 rows load in about 1 s there, 5-8 s as YAML)."""
    lines = [f"service: {{tick: {tick}, deliver_every: 5s, reload_every: 5s}}",
             f"defaults: {{interval: {interval}, confirmations: 2, confirm_delay: 5s}}",
             "platforms:"] + [f"  {p}: {{{v}}}" for p, v in politeness.items()]
    if csv:
        (work / "accounts.csv").write_text("platform,handle\n" + "".join(
            f"{k.split(':', 1)[0]},{k.split(':', 1)[1]}\n" for k in keys), encoding="utf-8")
        lines.insert(0, "include: accounts.csv")
    else:
        lines.append("accounts:")
        lines += [f"  - {{platform: {k.split(':', 1)[0]}, handle: \"{k.split(':', 1)[1]}\"}}" for k in keys]
    (work / "watchlist.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def fresh(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"banwatch-scaleout-{prefix}-"))


def unknown_checks(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT coalesce(sum(checks), 0) FROM observations WHERE status = 'unknown'").fetchone()[0]
    finally:
        conn.close()


@dataclass
class Window:
    rate: float = float("nan")  # checks recorded per second in the window
    seconds: float = 0.0
    checks: int = 0
    warm_s: float = float("nan")  # from start to the beginning of the window
    cpu: dict[str, float] = field(default_factory=dict)  # process label -> CPU seconds in the window


def measure(db: Path, procs: dict[str, int], warm_checks: int, seconds: float, timeout: float,
            watch: list[subprocess.Popen[Any]]) -> Window:
    """Wait until `warm_checks` checks are recorded (at most `timeout` s), then count the checks recorded in the
    next `seconds` and the CPU seconds of each of `procs` (label -> pid) meanwhile."""
    began, out = time.monotonic(), Window()
    while total_checks(db) < warm_checks:
        if time.monotonic() - began > timeout or any(p.poll() is not None for p in watch):
            return out
        time.sleep(0.25)
    out.warm_s = time.monotonic() - began
    c0, t0, cpu0 = total_checks(db), time.monotonic(), {k: cpu_seconds(p) for k, p in procs.items()}
    time.sleep(seconds)
    c1, t1 = total_checks(db), time.monotonic()
    out.cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in procs.items()}
    out.checks, out.seconds = c1 - c0, t1 - t0
    out.rate = out.checks / out.seconds
    return out


def check_rate(work: Path, sim: Sim) -> tuple[float, int]:
    """`banwatch check` once over the watchlist in `work`: checks/s as proof.py counts them (the runs' checks over
    the first run's start to the last one's end) and the unknown checks."""
    subprocess.run([sys.executable, "-m", "banwatch.monitor", "check", "--no-progress"], cwd=work,
                   env=banwatch_env(work, sim.url), capture_output=True, text=True, check=True)
    conn = sqlite3.connect(work / "banwatch.db")
    first, last, checks = conn.execute("SELECT min(started_at), max(finished_at), sum(accounts) FROM runs").fetchone()
    conn.close()
    return checks / (_ts(last) - _ts(first)), unknown_checks(work / "banwatch.db")


# -- the table ---------------------------------------------------------------------------------------------------

ROWS: list[tuple[str, str, str, str]] = []


def row(figure: str, measured: str, target: str, met: bool | None) -> None:
    verdict = "n/a" if met is None else ("met" if met else "NOT met")
    ROWS.append((figure, measured, target, verdict))
    print(f"  -> {figure}: {measured}  (target {target}: {verdict})", flush=True)


# -- 1 and 2: the service ----------------------------------------------------------------------------------------

def below_saturation(accounts: int, interval: int, window: float) -> None:
    print(f"\n## 1. service below saturation: {accounts} accounts every {interval} s", flush=True)
    keys = keys_for(accounts)
    sim, work = Sim(keys), fresh("below")
    write_watchlist(work, keys, f"{interval}s", {p: "delay: 0s, concurrency: 8, batch: 1000" for p in FOUR})
    run = banwatch(work, sim, "run")
    try:
        seconds = max(1, round(window / interval)) * interval  # whole intervals: the rounds' phase averages out
        w = measure(work / "banwatch.db", {}, accounts, seconds, 120, [run])
    finally:
        stop(run)
        sim.stop()
    demand = accounts / interval
    print(f"first round {w.warm_s:.1f} s; then {w.checks} checks in {w.seconds:.1f} s", flush=True)
    row(f"1. run below saturation ({accounts} acc / {interval} s)",
        f"{w.rate:.1f}/s vs demand {demand:.1f}/s ({w.rate / demand - 1:+.1%})", "within 5 %",
        abs(w.rate / demand - 1) <= 0.05)


def at_saturation(accounts: int, interval: float, window: float) -> None:
    print(f"\n## 2. service at saturation: {accounts} accounts every {interval} s "
          f"(demand {accounts / interval:.0f}/s)", flush=True)
    keys = keys_for(accounts)
    sim = Sim(keys)
    politeness = {p: "delay: 0s, concurrency: 64, batch: 100000" for p in FOUR}  # proof.py's "fast" politeness
    try:
        once = fresh("check")
        write_watchlist(once, keys, f"{interval}s", politeness)
        check, _ = check_rate(once, sim)
        work = fresh("saturated")
        write_watchlist(work, keys, f"{interval}s", politeness)
        run = banwatch(work, sim, "run")
        try:
            w = measure(work / "banwatch.db", {}, accounts, window, 120, [run])
        finally:
            stop(run)
    finally:
        sim.stop()
    print(f"banwatch check {check:.0f}/s; banwatch run {w.rate:.0f}/s over {w.seconds:.0f} s after its first round "
          f"({w.warm_s:.1f} s)", flush=True)
    row("2. run at saturation vs check", f"{w.rate:.0f}/s vs {check:.0f}/s = {w.rate / check:.0%}", ">= 90 %",
        w.rate / check >= 0.9)


# -- 3: one process vs the baselines -----------------------------------------------------------------------------

def same_name_keys(usernames: int) -> tuple[list[str], list[str]]:
    """Usernames that are valid on all four platforms (digits), and their four accounts each."""
    names = [str(4_100_000_000 + i) for i in range(usernames)]
    return names, [k for n in names for k in (f"weibo:{n}", f"reddit:{n}", f"bluesky:{n}.bsky.social",
                                              f"mastodon:{n}@inst0.example")]


def sherlock_python() -> Path | None:
    python = SHERLOCK_VENV / "bin" / "python"
    if not (SHERLOCK_VENV / "bin" / "sherlock").exists():
        print("installing sherlock-project into benchmarks/.cache/sherlock-venv ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(SHERLOCK_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "sherlock-project"], check=True,
                           capture_output=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"could not install Sherlock: {exc}", flush=True)
            return None
    return python


def sherlock_sites(url: str, name: str) -> dict[str, Any]:
    """A Sherlock data file whose four sites are the simulator's Weibo, Reddit, Bluesky and Mastodon endpoints,
    the same URLs banwatch probes (rebased on the simulator, the platform's host in the Host header), found by
    status code (2xx) with a GET as banwatch does."""
    from banwatch.monitor.model import Account
    from banwatch.spiders.platforms import PLATFORMS
    from banwatch.spiders.platforms.base import rebase

    _, keys = same_name_keys(1)
    sites: dict[str, Any] = {}
    for key in keys:
        platform, handle = key.split(":", 1)
        probe, extra = rebase(PLATFORMS[platform].probe(Account(platform, handle, key), {}).url, url)
        sites[f"sim-{platform}"] = {"url": probe.replace(name, "{}"), "urlMain": url + "/", "errorType": "status_code",
                                    "request_method": "GET", "headers": extra, "username_claimed": name}
    return sites


def baselines(usernames: int, sherlock_usernames: int, use_sherlock: bool) -> None:
    names, keys = same_name_keys(usernames)
    print(f"\n## 3. one process: {usernames} usernames x 4 platforms = {len(keys)} checks", flush=True)
    from banwatch.monitor.model import Account
    from banwatch.spiders.platforms import PLATFORMS
    from banwatch.spiders.platforms.base import rebase

    sim = Sim(keys)
    try:
        work = fresh("baselines")
        write_watchlist(work, keys, "1h", {p: "delay: 0s, concurrency: 64, batch: 100000" for p in FOUR})
        ours, unknown = check_rate(work, sim)
        urls, hosts = [], []
        for k in keys:
            platform, handle = k.split(":", 1)
            u, extra = rebase(PLATFORMS[platform].probe(Account(platform, handle, k), {}).url, sim.url)
            urls.append(u)
            hosts.append(extra["Host"])
        (work / "urls.json").write_text(json.dumps([urls, hosts]))
        bare = json.loads(subprocess.run([sys.executable, "-c", BARE_SPIDER, str(work / "urls.json")],
                                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        bare_rate = len(keys) / bare["seconds"]
        print(f"banwatch check {ours:.0f}/s ({unknown} unknown); bare Scrapy {bare_rate:.0f}/s", flush=True)
        row("3a. check vs bare Scrapy spider", f"{ours:.0f}/s vs {bare_rate:.0f}/s = {ours / bare_rate:.0%}",
            ">= 90 %", ours / bare_rate >= 0.9)
        if not use_sherlock:
            row("3b. check vs Sherlock", "skipped (--no-sherlock)", ">= 1.5x", None)
            return
        sherlock_bin = sherlock_python()
        if sherlock_bin is None:
            row("3b. check vs Sherlock", "Sherlock could not be installed", ">= 1.5x", None)
            return
        (work / "sites.json").write_text(json.dumps(sherlock_sites(sim.url, names[0])))
        (work / "names.json").write_text(json.dumps(names[:sherlock_usernames]))
        done = subprocess.run([str(sherlock_bin), "-c", SHERLOCK_DRIVER, str(work / "sites.json"), str(work / "names.json")],
                              capture_output=True, text=True, cwd=work)
        if done.returncode != 0:
            row("3b. check vs Sherlock", f"Sherlock failed: {done.stderr.strip().splitlines()[-1:]}", ">= 1.5x", None)
            return
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["claimed"] < result["checks"]:  # it did not reach the simulator's accounts: no figure
            row("3b. check vs Sherlock", f"Sherlock found {result['claimed']} of {result['checks']} accounts "
                "at the simulator's URLs: not comparable", ">= 1.5x", None)
            return
        theirs = result["checks"] / result["seconds"]
        print(f"Sherlock {sherlock_usernames} usernames x 4 sites in {result['seconds']:.1f} s = {theirs:.0f}/s "
              f"(all {result['claimed']} found)", flush=True)
        row("3b. check vs Sherlock", f"{ours:.0f}/s vs {theirs:.0f}/s = {ours / theirs:.1f}x", ">= 1.5x",
            ours / theirs >= 1.5)
    finally:
        sim.stop()


# -- 4 and 5: coordinator and workers ----------------------------------------------------------------------------

def fleet_run(keys: list[str], interval: str, politeness: dict[str, str], binds: list[str | None], window: float,
              warm_checks: int, sim: Sim, label: str) -> tuple[Window, Path, int]:
    """A coordinator and one worker per entry of `binds` (its bind address) on a fresh Redis and database."""
    work = fresh(label)
    write_watchlist(work, keys, interval, politeness, tick="0.5s")
    redis = RedisServer(work / "redis").start()
    run = banwatch(work, sim, "run", redis=redis.url, log="coordinator")
    workers = [worker(work, sim, redis.url, f"w{i + 1}", bind) for i, bind in enumerate(binds)]
    try:
        pids = {"coordinator": run.pid, **{f"worker {i + 1}": w.pid for i, w in enumerate(workers)},
                "simulator": sim.proc.pid, "redis": redis.proc.pid}  # type: ignore[union-attr]
        w = measure(work / "banwatch.db", pids, warm_checks, window, 180, [run, *workers])
    finally:
        stop(*workers, run)
        redis.stop()
    for log in work.glob("*.log"):
        if "Traceback" in log.read_text(errors="replace"):
            print(f"  (a traceback in {log})", flush=True)
    return w, work, unknown_checks(work / "banwatch.db")


def fleet_throughput(accounts: int, interval: float, window: float, counts: list[int]) -> None:
    print(f"\n## 4. coordinator + local workers: {accounts} accounts every {interval} s "
          f"(demand {accounts / interval:.0f}/s), politeness off", flush=True)
    keys = keys_for(accounts)
    sim = Sim(keys)
    best = 0.0
    try:
        for n in counts:
            w, _, unknown = fleet_run(keys, f"{interval}s", {p: "delay: 0s, concurrency: 64, batch: 100000" for p in FOUR},
                                      [None] * n, window, accounts, sim, f"fleet{n}")
            best = max(best, w.rate if w.rate == w.rate else 0.0)
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in w.cpu.items())
            print(f"{n} worker(s): {w.rate:.0f} checks/s over {w.seconds:.0f} s (first round {w.warm_s:.1f} s, "
                  f"{unknown} unknown); CPU seconds in the window: {cpu} "
                  f"(of {2 * w.seconds:.0f} on 2 cores)", flush=True)
            row(f"4. coordinator + {n} worker(s)", f"{w.rate:.0f} checks/s", ">= 1,000 checks/s", w.rate >= 1000)
    finally:
        sim.stop()


def egress(accounts: int, interval: float, window: float, delay: float) -> None:
    print(f"\n## 5. egress: simulator at 20 req/s per address, {accounts} Reddit accounts every {interval} s, "
          f"politeness concurrency 1, delay {delay}s (about {1 / delay:.0f} req/s per worker)", flush=True)
    keys = [f"reddit:egress_{i}" for i in range(accounts)]
    politeness = {"reddit": f"delay: {delay}s, concurrency: 1, batch: 100000"}
    rates, limited, unknown = [], 0, 0
    for binds in (["127.0.0.2"], ["127.0.0.2", "127.0.0.3", "127.0.0.4"]):
        sim = Sim(keys, rate_per_address=20)
        try:
            w, _, bad = fleet_run(keys, f"{interval}s", politeness, list(binds), window, 20, sim, f"egress{len(binds)}")
            stats = sim.stats()
        finally:
            sim.stop()
        print(f"{len(binds)} worker(s) on {', '.join(binds)}: {w.rate:.1f} checks/s over {w.seconds:.0f} s; "
              f"requests by address (whole run) {stats['by_address']}, 429s {stats['limited_by_address'] or 0}; "
              f"{bad} unknown checks", flush=True)
        rates.append(w.rate)
        limited += sum(stats["limited_by_address"].values())
        unknown += bad
    ratio = rates[1] / rates[0]
    row("5. egress 3 addresses vs 1", f"{rates[1]:.1f}/s vs {rates[0]:.1f}/s = {ratio:.2f}x", ">= 2.7x", ratio >= 2.7)
    row("5. rate-limited checks", f"{limited} 429s, {unknown} unknown checks", "0", limited == 0 and unknown == 0)


# -- 6: memory ---------------------------------------------------------------------------------------------------

def memory(accounts: int, seconds: float) -> None:
    print(f"\n## 6. peak RSS: coordinator with {accounts} accounts (CSV include) + 1 worker, {seconds:.0f} s",
          flush=True)
    keys = keys_for(accounts)
    sim = Sim(keys)
    work = fresh("rss")
    write_watchlist(work, keys, "10m", {p: "delay: 0s, concurrency: 8, batch: 1000" for p in FOUR}, csv=True)
    redis = RedisServer(work / "redis").start()
    run = banwatch(work, sim, "run", redis=redis.url, log="coordinator")
    one = worker(work, sim, redis.url, "w1")
    peaks = {"coordinator": 0, "worker": 0}
    try:
        began = time.monotonic()
        while time.monotonic() - began < seconds and run.poll() is None and one.poll() is None:
            time.sleep(1)
            peaks["coordinator"] = max(peaks["coordinator"], proc_status(run.pid, "VmHWM"))
            peaks["worker"] = max(peaks["worker"], proc_status(one.pid, "VmHWM"))
        checked = total_checks(work / "banwatch.db")
    finally:
        stop(one, run)
        redis.stop()
        sim.stop()
    print(f"{checked} checks recorded in {seconds:.0f} s", flush=True)
    row(f"6. coordinator peak RSS ({accounts} accounts)", f"{peaks['coordinator'] / 1024:.0f} MiB", "<= 400 MiB",
        0 < peaks["coordinator"] <= 400 * 1024)
    row("6. worker peak RSS", f"{peaks['worker'] / 1024:.0f} MiB", "<= 150 MiB", 0 < peaks["worker"] <= 150 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shrink every scenario (a 2-3 minute smoke run)")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="scenarios to run, e.g. 4,5")
    parser.add_argument("--window", type=float, help="seconds of each steady-state window")
    parser.add_argument("--below", help="scenario 1: ACCOUNTS/INTERVAL_S (default 2000/20)")
    parser.add_argument("--saturation", help="scenario 2: ACCOUNTS/INTERVAL_S (default 4000/2)")
    parser.add_argument("--usernames", type=int, help="scenario 3: usernames (x 4 platforms) for check and Scrapy")
    parser.add_argument("--sherlock-usernames", type=int, help="scenario 3: of them, how many Sherlock checks")
    parser.add_argument("--no-sherlock", action="store_true")
    parser.add_argument("--fleet", help="scenario 4: ACCOUNTS/INTERVAL_S (default 10000/4)")
    parser.add_argument("--workers", default="1,2,3", help="scenario 4: worker counts")
    parser.add_argument("--egress", help="scenario 5: ACCOUNTS/INTERVAL_S (default 600/5)")
    parser.add_argument("--egress-delay", type=float, default=0.06, help="scenario 5: each worker's Reddit delay (s)")
    parser.add_argument("--profile", type=Path, help="run coordinators and workers under cProfile, .prof files here")
    parser.add_argument("--rss-accounts", type=int)
    parser.add_argument("--rss-seconds", type=float)
    args = parser.parse_args()
    q = args.quick
    global PROFILE
    PROFILE = args.profile

    def pair(text: str | None, default: str) -> tuple[int, float]:
        a, i = (text or default).split("/")
        return int(a), float(i)

    only = {s.strip() for s in args.only.split(",")}
    window = args.window or (10 if q else 40)
    started = time.monotonic()
    print(f"# banwatch scale-out — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"{'quick' if q else 'full'} run", flush=True)
    if "1" in only:
        n, i = pair(args.below, "400/4" if q else "2000/20")
        below_saturation(n, int(i), args.window or (8 if q else 60))
    if "2" in only:
        n, i = pair(args.saturation, "1000/1" if q else "4000/2")
        at_saturation(n, i, window)
    if "3" in only:
        users = args.usernames or (250 if q else 2500)
        baselines(users, min(users, args.sherlock_usernames or (50 if q else 500)), not args.no_sherlock)
    if "4" in only:
        n, i = pair(args.fleet, "2000/1" if q else "10000/4")
        fleet_throughput(n, i, window, [int(c) for c in args.workers.split(",")])
    if "5" in only:
        n, i = pair(args.egress, "150/2" if q else "600/5")
        egress(n, i, window, args.egress_delay)
    if "6" in only:
        memory(args.rss_accounts or (20_000 if q else 100_000), args.rss_seconds or (20 if q else 60))

    widths = [max(len(r[c]) for r in ROWS + [("figure", "measured", "target", "verdict")]) for c in range(4)]
    print(f"\n## scale-out summary ({time.monotonic() - started:.0f} s)\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(("figure", "measured", "target", "verdict"), widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in ROWS:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()
