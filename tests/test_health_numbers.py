"""One set of health numbers: the blind alert, `banwatch status` and the `platform_health` view show what
monitor.health.window_health computes from a platform's runs in the health window (the view in SQL, the same
quantities over the same window). Each scenario checks the view against the function for the same runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.monitor import health
from banwatch.monitor.cli import cli
from banwatch.monitor.query import run_sql
from banwatch.monitor.scheduler import Service
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import iso

WINDOW = 600.0  # 10 min, as the service records it; runs sit at x.5 minutes ago, far from the window's edges

# platform -> runs (minutes ago, accounts, unknown, {rule: unknown observations})
SCENARIOS: dict[str, list[tuple[float, int, int, dict[str, int]]]] = {
    # no network at all for longer than the window: blind, since the run before the window
    "reddit": [(m, 5, 5, {"reddit.network_error": 5}) for m in (0.5, 3.5, 6.5, 9.5, 12.5)],
    # no network, but only for 6.5 of the 10 minutes: 100 % unknown, not blind yet, and says when
    "bluesky": [(m, 5, 5, {"bluesky.network_error": 5}) for m in (0.5, 3.5, 6.5)],
    # mixed: 27 of 30 unknown (90 %) but the run 4.5 min ago read 80 %: the streak began 0.5 min ago
    "x": [(0.5, 10, 9, {"x.rate_limited": 5, "x.login_wall": 4}), (4.5, 10, 8, {"x.rate_limited": 8}),
          (8.5, 10, 10, {"x.login_wall": 6, "x.captcha": 4}), (11.5, 10, 10, {"x.captcha": 10})],
    # a good run in the window breaks the streak; the blind run before the window does not count
    "weibo": [(0.5, 5, 5, {"weibo.rate_limited": 5}), (3.5, 5, 5, {"weibo.rate_limited": 5}),
              (6.5, 5, 0, {}), (12.5, 5, 5, {"weibo.rate_limited": 5})],
    # exactly 90 % in every run, and the run before the window too: blind (the threshold is inclusive)
    "mastodon": [(m, 10, 9, {"mastodon.rate_limited": 9}) for m in (0.5, 5.5, 10.5)],
    # the control: the same, but the run before the window read 17 of 19 (89 %): not blind yet
    "tiktok": [(0.5, 10, 9, {"tiktok.captcha": 9}), (5.5, 10, 9, {"tiktok.captcha": 9}),
               (10.5, 19, 17, {"tiktok.captcha": 17})],
    # all conclusive
    "youtube": [(m, 4, 0, {}) for m in (0.5, 5.5, 10.5)],
}


def seed(store: Store, now: datetime, scenarios: dict[str, list[tuple[float, int, int, dict[str, int]]]]) -> None:
    """Finished runs for each platform, `minutes ago` before `now`."""
    for platform, runs in scenarios.items():
        for minutes, accounts, unknown, rules in runs:
            at = iso(now - timedelta(minutes=minutes))
            store.finish_run(store.start_run("run", platform, accounts, at),
                             {"active": accounts - unknown, "unknown": unknown}, "finished", at, unknown_rules=rules)


def verdict(store: Store, platform: str, now: datetime, window: float) -> health.Assessment:
    """What the service computes (Service.assess reads the same runs)."""
    start = iso(now - timedelta(seconds=window))
    return health.window_health([health.run_stat(r) for r in store.health_runs(platform, start)], now, window)


def view(path: str) -> dict[str, dict[str, Any]]:
    columns, rows = run_sql(path, "SELECT * FROM platform_health")
    return {r[0]: dict(zip(columns, r)) for r in rows}


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    store = Store.open(tmp_path / "h.db")
    store.set_service({"health_window": f"{WINDOW:g}"}, iso(now))  # what `banwatch run` records each tick
    seed(store, now, SCENARIOS)
    store.close()
    return str(tmp_path / "h.db"), now


def test_the_view_shows_the_functions_numbers_for_every_scenario(db: tuple[str, datetime]) -> None:
    path, now = db
    rows = view(path)
    store = Store.open(path)
    try:
        for platform in SCENARIOS:
            v, row = verdict(store, platform, now, WINDOW), rows[platform]
            assert {k: row[k] for k in ("window_s", "checks", "unknown", "unknown_rate", "unknown_rules", "since",
                                        "state", "blind_since", "health")} == {
                "window_s": WINDOW, "checks": v.checks, "unknown": v.unknown, "unknown_rate": round(v.unknown_rate, 3),
                "unknown_rules": v.rules_text(), "since": iso(v.since) if v.since else None,
                "state": "blind" if v.blind else "ok", "blind_since": iso(v.since) if v.blind else None,
                "health": v.label}, platform
    finally:
        store.close()
    # and what the function says, spelled out: these are the guards the comparisons above rely on
    got = {p: (r["checks"], r["unknown"], r["health"]) for p, r in rows.items()}
    assert got == {"reddit": (20, 20, "blind"), "bluesky": (15, 15, "ok (blind in 4m)"),
                   "x": (30, 27, "ok (blind in 10m)"), "weibo": (15, 10, "ok (blind in 7m)"),
                   "mastodon": (20, 18, "blind"), "tiktok": (20, 18, "ok (blind in 5m)"),
                   "youtube": (8, 0, "ok")}
    assert rows["x"]["unknown_rules"] == "x.rate_limited ×13, x.login_wall ×10, x.captcha ×4", \
        "the run before the window (x.captcha ×10) extends the streak only, it is not counted"
    assert rows["reddit"]["since"] == iso(now - timedelta(minutes=12.5)), "blind since the run before the window"


def test_the_window_is_the_one_the_service_recorded_else_the_default(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = Store.open(tmp_path / "w.db")
    seed(store, now, {"reddit": SCENARIOS["reddit"]})
    store.close()
    row = view(str(tmp_path / "w.db"))["reddit"]
    assert (row["window_s"], row["checks"], row["health"]) == (health.DEFAULT_WINDOW, 25, "ok (blind in 3m)"), \
        "no window recorded: 15 min, so the run 12.5 min ago is inside it and the streak is 2.5 min short"
    store = Store.open(tmp_path / "w.db")
    v = verdict(store, "reddit", now, health.DEFAULT_WINDOW)
    store.set_service({"health_window": "600"}, iso(now))  # the control: the service's window
    store.close()
    assert (v.checks, v.label) == (25, "ok (blind in 3m)")
    assert (view(str(tmp_path / "w.db"))["reddit"]["checks"], view(str(tmp_path / "w.db"))["reddit"]["health"]) == (
        20, "blind")


def test_the_blind_alert_quotes_the_windows_numbers_not_the_last_crawls(tmp_path: Path) -> None:
    """The finding: the alert said '78 % of checks unknown (reddit.blocked ×1)', the last crawl's rule."""
    now = datetime.now(UTC)
    store = Store.open(tmp_path / "a.db")
    store.set_service({"health_window": f"{WINDOW:g}"}, iso(now))
    seed(store, now, {"reddit": [(0.5, 1, 1, {"reddit.blocked": 1}), (3.5, 3, 3, {"reddit.blocked": 3}),
                                 (6.5, 3, 3, {"reddit.rate_limited": 3}), (9.5, 2, 2, {"reddit.blocked": 2}),
                                 (12.5, 9, 7, {"reddit.blocked": 7})]})  # 7 of 9: not blind, the streak's edge
    alerts: list[str] = []
    service: Any = SimpleNamespace(store=store, watchlist=SimpleNamespace(service=SimpleNamespace(health_window=WINDOW)),
                                   health=lambda subject, detail, at, state=None: alerts.append(detail))
    Service.assess(service, "reddit")
    assert alerts == [], "the control: the run before the window read 78 %, so the streak is 9.5 min of 10"
    seed(store, now, {"reddit": [(10.5, 4, 4, {"reddit.blocked": 4})]})  # the streak now reaches past the start
    Service.assess(service, "reddit")
    v = verdict(store, "reddit", now, WINDOW)
    store.close()
    row = view(str(tmp_path / "a.db"))["reddit"]
    assert v.blind and (v.checks, v.unknown) == (row["checks"], row["unknown"]) == (9, 9)
    assert len(alerts) == 1 and "9 of 9 checks unknown (100%) in the last 10m" in alerts[0], alerts
    assert f"({row['unknown_rules']})" in alerts[0] and row["unknown_rules"] == "reddit.blocked ×6, reddit.rate_limited ×3"
    assert f"since {row['blind_since']}:" in alerts[0] and row["blind_since"] == iso(now - timedelta(minutes=10.5))


def test_status_shows_the_same_numbers(db: tuple[str, datetime]) -> None:
    path, now = db
    out = CliRunner().invoke(cli, ["--db", path, "status", "--json"])
    assert out.exit_code == 0, out.output
    platforms = {p["platform"]: p for p in json.loads(out.output)["platforms"]}
    store = Store.open(path)
    try:
        for platform in SCENARIOS:
            v = verdict(store, platform, now, WINDOW)
            assert {k: platforms[platform][k] for k in ("checks", "unknown", "unknown_pct", "health", "unknown_rules")} \
                == {"checks": v.checks, "unknown": v.unknown, "unknown_pct": round(100 * v.unknown_rate, 1),
                    "health": v.label, "unknown_rules": v.rules_text()}, platform
    finally:
        store.close()
    assert (platforms["bluesky"]["unknown_pct"], platforms["bluesky"]["health"]) == (100.0, "ok (blind in 4m)"), \
        "100 % unknown beside a bare 'ok' no more: it says when it turns blind"
    assert (platforms["reddit"]["unknown_pct"], platforms["reddit"]["health"]) == (100.0, "blind")
