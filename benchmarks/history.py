"""Benchmark a year of history: DB size and the latency of every docs/sql.md recipe.

Builds, through banwatch's own schema, the database a year of monitoring leaves behind for N accounts
(default 10,000) on four platforms: run-length observation spans with realistic unknown blips (two a
month per account), about 8 % of accounts changing status once or twice (with evidence and alerts), a wave,
hourly rolled-up runs for the year and per-crawl runs for the last day. Then it times each recipe
(best of 3) through the read-only path `banwatch sql` uses, and prints a table.

    .venv/bin/python benchmarks/history.py [--accounts 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from banwatch.monitor.query import run_sql  # noqa: E402
from banwatch.monitor.store import Store  # noqa: E402
from banwatch.monitor.timeutil import iso  # noqa: E402

PLATFORMS = ("weibo", "reddit", "bluesky", "mastodon")
END = datetime.now(UTC).replace(microsecond=0)
START = END - timedelta(days=365)


def recipes() -> list[tuple[str, str]]:
    doc = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sql\n(.*?)```", doc, re.S):
        for stmt in (s.strip() for s in block.split(";")):
            if stmt:
                lines = stmt.splitlines()
                out.append((lines[0].lstrip("- "), "\n".join(l for l in lines if not l.startswith("--"))))
    return out


def build(path: Path, n: int, rng: random.Random) -> dict[str, int]:
    store = Store.open(path)
    db = store.db
    entities = [{"name": f"Entity {i}", "tags": json.dumps(["crypto"] if i % 2 else ["media"]), "line": i}
                for i in range(n // 3)]
    db["entities"].insert_all(entities)
    accounts, spans, changes, evidence, bodies, alerts = [], [], [], [], {}, []
    for i in range(n):
        platform = PLATFORMS[i % 4]
        key = f"{platform}:acct{i}"
        entity = f"Entity {i // 3}" if i // 3 < len(entities) else None
        status, t = "active", START
        changed = rng.random() < 0.08
        change_at = START + timedelta(days=rng.uniform(30, 330)) if changed else None
        blips = sorted(START + timedelta(days=rng.uniform(0, 365)) for _ in range(24))
        for b in blips:  # active span, then a short unknown span (a 429 or a captcha)
            if change_at and t <= change_at < b and status == "active":
                spans.append((key, "active", t, change_at))
                status, t = "suspended", change_at
            spans.append((key, status, t, b))
            spans.append((key, "unknown", b, b + timedelta(minutes=rng.choice((10, 20, 60)))))
            t = b + timedelta(minutes=70)
        spans.append((key, status, t, END))
        if changed:
            body = json.dumps({"ok": 0, "msg": "该账号因被投诉违反法律法规和《微博社区公约》的相关规定，现已无法查看。",
                               "acct": key, "pad": "x" * rng.randint(200, 1500)}).encode()
            import hashlib

            sha = hashlib.sha256(body).hexdigest()
            bodies[sha] = {"sha256": sha, "size": len(body), "body": zlib.compress(body)}
            evidence.append({"id": len(evidence) + 1, "account_key": key, "url": f"https://example/{key}",
                             "http_status": 200, "headers": '{"content-type": "application/json"}', "sha256": sha,
                             "truncated": 0, "captured_at": iso(change_at)})
            changes.append({"id": len(changes) + 1, "account_key": key, "from_status": "active",
                            "to_status": "suspended", "rule": f"{platform}.ban", "reason": "r",
                            "last_seen_before_at": iso(change_at - timedelta(minutes=10)),
                            "first_seen_at": iso(change_at), "confirmed_at": iso(change_at + timedelta(minutes=2)),
                            "evidence_id": len(evidence)})
            alerts.append({"kind": "suspended", "change_id": len(changes), "account_key": key, "channel": "#c",
                           "state": "sent", "attempts": 1, "created_at": iso(change_at), "sent_at": iso(change_at),
                           "next_attempt_at": iso(change_at), "give_up_at": iso(change_at + timedelta(days=1))})
        accounts.append({"key": key, "platform": platform, "handle": f"acct{i}", "entity": entity,
                         "tags": json.dumps(["crypto"]), "url": f"https://example/{key}", "interval_s": 600.0,
                         "confirmations": 2, "confirm_delay_s": 120.0, "status": status,
                         "status_since": iso(change_at or START), "last_checked_at": iso(END),
                         "next_check_at": iso(END + timedelta(minutes=rng.uniform(0, 10))), "pending_count": 0,
                         "added_at": iso(START)})
    with db.atomic():
        db["accounts"].insert_all(accounts, batch_size=2000)
        db["observations"].insert_all(({
            "account_key": k, "status": st, "rule": f"{k.split(':')[0]}.x", "reason": "", "first_checked_at": iso(a),
            "last_checked_at": iso(b), "checks": max(1, int((b - a).total_seconds() // 600)), "last_http_status": 200,
            "classifier_version": 1} for k, st, a, b in spans), batch_size=5000)
        db["evidence_bodies"].insert_all(bodies.values())
        db["evidence"].insert_all(evidence)
        db["changes"].insert_all(changes)
        db["alerts"].insert_all(alerts)
        hours = int((END - START).total_seconds() // 3600)
        db["runs"].insert_all(({
            "command": "rollup", "platform": p, "started_at": iso(START + timedelta(hours=h)),
            "finished_at": iso(START + timedelta(hours=h, minutes=59)), "accounts": n // 4 * 6,
            "unknown": rng.randint(0, n // 40), "counts": "{}", "finish_reason": "rollup"}
            for h in range(hours) for p in PLATFORMS), batch_size=5000)
        db["runs"].insert_all(({
            "command": "run", "platform": p, "started_at": iso(END - timedelta(seconds=5 * k)),
            "finished_at": iso(END - timedelta(seconds=5 * k - 2)), "accounts": 4, "unknown": 0,
            "counts": '{"active": 4}', "finish_reason": "finished"} for k in range(17280) for p in PLATFORMS),
            batch_size=5000)
    counts = {t: db[t].count for t in ("accounts", "observations", "changes", "evidence", "runs")}
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="banwatch-history-")) / "banwatch.db"
    began = time.perf_counter()
    counts = build(path, args.accounts, random.Random(2021))
    built = time.perf_counter() - began
    size = path.stat().st_size
    print(f"one year, {args.accounts} accounts: built in {built:.1f} s; "
          + ", ".join(f"{n} {t}" for t, n in counts.items()))
    print(f"database size: {size / 1e6:.1f} MB (goal < 200 MB)\n")
    print(f"{'recipe':<72} {'rows':>6} {'ms':>8}")
    worst = 0.0
    for title, sql in recipes():
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            _, rows = run_sql(str(path), sql, timeout=30)
            best = min(best, (time.perf_counter() - t0) * 1000)
        worst = max(worst, best)
        print(f"{title[:72]:<72} {len(rows):>6} {best:>8.1f}")
    print(f"\nslowest recipe: {worst:.1f} ms (goal < 100 ms)")


if __name__ == "__main__":
    main()
