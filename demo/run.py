"""`make demo`: the June 2021 Weibo crackdown, replayed against the platform simulator, in under 3 minutes.

It starts the simulator and a console-only `banwatch run` on a watchlist of Chinese crypto influencers and
blockchain media (the names the press reported; the ids are the simulator's), plus a few accounts on other
platforms. After a minute of normal checks, 25 Weibo accounts are suspended within a minute, one of them is
reinstated, and Reddit starts answering with captchas. The terminal shows the wave, the reinstatement and
the "blind" health alert, and nothing false. It ends by printing three SQL queries and their results.

    make demo                      # BANWATCH_DEMO_SPEED=0.5 runs it twice as fast
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sim import Simulator, env_for  # noqa: E402

SPEED = float(os.environ.get("BANWATCH_DEMO_SPEED", "1"))
# Accounts named in the reports on the 2021 waves (examples/watchlist.yaml cites them); simulator ids.
WEIBO = [
    "比特币女博士", "比特币的那点事", "比特吴", "币圈花哥", "藍少CX", "李法師Tony", "比特幣凱撒", "肥宅比特幣", "八哥談幣",
    "幣民南宮遠", "比特幣異客", "加密閣", "比特幣橙子Trader", "比特幣真心話", "交易员小侠", "超级君", "律动BlockBeats",
    "巴比特8BTC", "BeatleNews", "孙宇晨 Justin Sun", "火币 Huobi", "OKEx 欧易", "币安 Binance", "MXC抹茶", "比特派 Bitpie",
    "吴说区块链 Wu Blockchain", "Dovey Wan", "长铗",
]
SUSPENDED = WEIBO[:25]  # the wave
REINSTATED = WEIBO[3]  # one comes back
OTHERS = {"Wu Blockchain": {"bluesky": "wublock.bsky.social", "reddit": "wublockchain"},
          "Molly White": {"bluesky": "molly.wiki", "mastodon": "molly0xfff@hachyderm.io"},
          "CoinDesk": {"reddit": "coindesk", "mastodon": "coindesk@mastodon.social"}}


def uid(name: str) -> str:
    return str(3_000_000_000 + WEIBO.index(name))


def watchlist() -> str:
    s = lambda seconds: f"{seconds * SPEED:g}s"  # noqa: E731
    lines = [
        "# Demo: the June 2021 Weibo crackdown on crypto influencers and media, replayed on the simulator.",
        f"service: {{tick: {s(1)}, deliver_every: {s(1)}, reload_every: 30s, health_window: {s(20)}}}",
        f"defaults: {{interval: {s(8)}, confirmations: 2, confirm_delay: {s(3)}}}",
        'alerts: {slack_channel: "#banwatch-demo"}',
        "platforms: {weibo: {delay: 0s, concurrency: 8}, reddit: {delay: 0s}, bluesky: {delay: 0s}, "
        "mastodon: {delay: 0s}}",
        "accounts:",
    ]
    for name in WEIBO:
        entity = next((e for e in OTHERS if e.split()[0] in name), None)
        if entity:
            accounts = ", ".join(f"{p}: \"{h}\"" for p, h in {"weibo": uid(name), **OTHERS[entity]}.items())
            lines.append(f"  - {{name: \"{name}\", tags: [crypto], accounts: {{{accounts}}}}}")
        else:
            lines.append(f"  - {{platform: weibo, id: \"{uid(name)}\", name: \"{name}\", tags: [crypto]}}")
    accounts = ", ".join(f"{p}: \"{h}\"" for p, h in OTHERS["CoinDesk"].items())
    lines.append(f"  - {{name: CoinDesk, tags: [media], accounts: {{{accounts}}}}}")
    return "\n".join(lines) + "\n"


def keys(text: str) -> list[str]:
    import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry the core reads (monitor.registry)
    from banwatch.monitor.watchlist import parse

    return [a.key for a in parse(text, "demo.yaml").accounts]


def say(started: float, message: str) -> None:
    print(f"[demo {time.monotonic() - started:5.0f}s] {message}", flush=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="banwatch-demo-"))
    text = watchlist()
    (work / "watchlist.yaml").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BANWATCH_"))}
    with Simulator() as sim:
        sim.add(*keys(text))
        env.update(env_for(sim.url), PYTHONPATH=str(ROOT), BANWATCH_WATCHLIST=str(work / "watchlist.yaml"),
                   BANWATCH_DB=str(work / "banwatch.db"))
        started = time.monotonic()
        say(started, f"simulator at {sim.url}; {len(keys(text))} accounts; banwatch run starts (alerts: console)")
        proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "run"], cwd=work, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        printer = threading.Thread(target=lambda: [print("  " + line, end="", flush=True) for line in proc.stdout],
                                   daemon=True)  # type: ignore[union-attr]
        printer.start()
        at = lambda seconds: started + seconds * SPEED  # noqa: E731
        time.sleep(max(0.0, at(45) - time.monotonic()))
        say(started, "Weibo starts suspending crypto accounts (25 within a minute)")
        for i in range(0, len(SUSPENDED), 5):
            for name in SUSPENDED[i:i + 5]:
                sim.set(f"weibo:{uid(name)}", state="suspended")
            time.sleep(10 * SPEED)
        time.sleep(max(0.0, at(100) - time.monotonic()))
        say(started, f"{REINSTATED} is reinstated")
        sim.set(f"weibo:{uid(REINSTATED)}", state="active")
        say(started, "Reddit starts answering every request with a captcha page")
        sim.set(platform="reddit", fault="captcha")
        time.sleep(max(0.0, at(150) - time.monotonic()))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        printer.join(5)
        say(started, "banwatch stopped; what the database says:")
    for title, sql in (
        ("Suspensions, with their detection windows",
         "SELECT s.account_key, coalesce(s.entity, a.name) AS who, s.last_seen_before_at, s.first_seen_at, "
         "s.confirmed_at FROM suspensions s JOIN accounts a ON a.key = s.account_key ORDER BY s.confirmed_at LIMIT 8"),
        ("Waves", "SELECT id, platform, started_at, members FROM waves"),
        ("Where each platform stands", "SELECT platform, state, blind_since, unknown_rate_24h FROM platform_health"),
    ):
        print(f"\n-- {title}\n$ banwatch sql \"{sql}\"", flush=True)
        subprocess.run([sys.executable, "-m", "banwatch.monitor", "sql", sql], cwd=work, env=env, check=True)
    print(f"\n(the demo's files are in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
