"""Unknown-rule drift: runs record their unknown rules, `platform_health` and `status` show a platform
whose pages changed (its unrecognised share rose), and rollups, prune and upgrades keep the counts right."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from banwatch.monitor import schema
from banwatch.monitor.cli import cli
from banwatch.monitor.query import platform_status, run_sql
from banwatch.monitor.store import Store, drift_rule
from banwatch.monitor.timeutil import iso, now_iso
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms
from tests.test_e2e import ACTIVE, serve

OLD_COLUMNS = ["platform", "state", "blind_since", "last_run", "checks_24h", "unknown_24h", "unknown_rate_24h"]
NEW_COLUMNS = ["checks_1h", "drift_1h", "drift_rate_1h", "drift_rate_day", "top_unknown_rules", "drifting"]
WINDOW_COLUMNS = ["window_s", "checks", "unknown", "unknown_rate", "unknown_rules", "since", "health", "alerted"]


def run(store: Store, platform: str, minutes_ago: float, counts: dict[str, int],
        rules: dict[str, int] | None = None) -> None:
    """A finished crawl of `platform`, `minutes_ago` before now, that saw `counts` and these unknown rules."""
    at = iso(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    store.finish_run(store.start_run("run", platform, sum(counts.values()), at), counts, "finished", at,
                     unknown_rules=rules if rules is not None else {})


DAY = range(120, 1320, 120)  # ten runs over the day before the last hour, in minutes ago
HOUR = (10, 20, 30)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """weibo's pages changed this hour; reddit is steadily as unreadable as always (the control); bluesky is
    rate limited (unknown, but not drift); x answered one enum value no rule knows (a named rule)."""
    store = Store.open(tmp_path / "d.db")
    for m in DAY:
        run(store, "weibo", m, {"active": 19, "unknown": 1}, {"weibo.unrecognised": 1})  # 5 % drift
        run(store, "reddit", m, {"active": 15, "unknown": 5}, {"reddit.unrecognised": 5})  # 25 % drift
        run(store, "x", m, {"active": 14})
    for m in HOUR:
        run(store, "weibo", m, {"active": 12, "unknown": 8}, {"weibo.unrecognised": 6, "weibo.rate_limited": 2})
        run(store, "reddit", m, {"active": 15, "unknown": 5}, {"reddit.unrecognised": 5})
        run(store, "bluesky", m, {"active": 10, "unknown": 10}, {"bluesky.rate_limited": 10})
        run(store, "x", m, {"active": 13, "unknown": 1} if m == 10 else {"active": 14},
            {"x.user_unavailable:new_reason": 1} if m == 10 else {})
    store.close()
    return str(tmp_path / "d.db")


def health(path: str) -> dict[str, dict[str, object]]:
    columns, rows = run_sql(path, "SELECT * FROM platform_health")
    return {r[0]: dict(zip(columns, r)) for r in rows}


def test_drift_rules_are_unrecognised_classifier_errors_and_named_values() -> None:
    assert drift_rule("weibo.unrecognised") and drift_rule("x.classifier_error")
    assert drift_rule("x.user_unavailable:some_new_value")
    assert not drift_rule("weibo.rate_limited") and not drift_rule("reddit.login_wall")


def test_status_flags_the_platform_whose_unrecognised_share_rose(db: str) -> None:
    out = CliRunner().invoke(cli, ["--db", db, "status"])
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines() if line.split()}
    header = next(line for line in out.output.splitlines() if line.startswith("platform "))
    assert header.split() == ["platform", "last_run", "checks", "unknown", "unknown_pct", "health", "unknown_rules",
                              "drift_pct_1h", "drift_pct_day", "drift", "top_unknown_rules"]
    assert "drifting?" in lines["weibo"] and "weibo.unrecognised ×18, weibo.rate_limited ×6" in lines["weibo"]
    assert "drifting?" in lines["x"] and "x.user_unavailable:new_reason ×1" in lines["x"]
    assert "drifting?" not in lines["reddit"] and "reddit.unrecognised ×15" in lines["reddit"], "steady: no flag"
    assert "drifting?" not in lines["bluesky"] and "bluesky.rate_limited ×30" in lines["bluesky"], \
        "rate limits are unknown, not drift"

    platforms = {p["platform"]: p for p in json.loads(
        CliRunner().invoke(cli, ["--db", db, "status", "--json"]).output)["platforms"]}
    assert {k: platforms["weibo"][k] for k in ("unknown_pct", "drift_pct_1h", "drift_pct_day", "drift",
                                                "top_unknown_rules")} == {
        "unknown_pct": 40.0, "drift_pct_1h": 30.0, "drift_pct_day": 5.0, "drift": "drifting?",
        "top_unknown_rules": "weibo.unrecognised ×18, weibo.rate_limited ×6"}
    assert (platforms["reddit"]["drift_pct_1h"], platforms["reddit"]["drift_pct_day"],
            platforms["reddit"]["drift"]) == (25.0, 25.0, "")
    assert (platforms["bluesky"]["drift_pct_1h"], platforms["bluesky"]["drift_pct_day"]) == (0.0, None)


def test_platform_health_has_its_old_columns_then_the_drift_columns(db: str) -> None:
    columns, _ = run_sql(db, "SELECT * FROM platform_health")
    assert columns == OLD_COLUMNS + NEW_COLUMNS + WINDOW_COLUMNS  # the health window's (test_health_numbers.py)
    rows = health(db)
    assert {k: rows["weibo"][k] for k in OLD_COLUMNS + NEW_COLUMNS} == {
        "platform": "weibo", "state": "ok", "blind_since": None, "last_run": rows["weibo"]["last_run"],
        "checks_24h": 260, "unknown_24h": 34, "unknown_rate_24h": 0.131,
        "checks_1h": 60, "drift_1h": 18, "drift_rate_1h": 0.3, "drift_rate_day": 0.05,
        "top_unknown_rules": "weibo.unrecognised ×18, weibo.rate_limited ×6", "drifting": 1}
    assert {k: rows["reddit"][k] for k in NEW_COLUMNS} == {
        "checks_1h": 60, "drift_1h": 15, "drift_rate_1h": 0.25, "drift_rate_day": 0.25,
        "top_unknown_rules": "reddit.unrecognised ×15", "drifting": 0}
    assert {k: rows["x"][k] for k in NEW_COLUMNS} == {
        "checks_1h": 42, "drift_1h": 1, "drift_rate_1h": 0.024, "drift_rate_day": 0.0,
        "top_unknown_rules": "x.user_unavailable:new_reason ×1", "drifting": 1}
    assert (rows["bluesky"]["drift_1h"], rows["bluesky"]["drifting"]) == (0, 0)


def test_top_unknown_rules_put_drift_rules_first(tmp_path: Path) -> None:
    """A flagged platform always shows what drifted, even behind more frequent rate limits."""
    store = Store.open(tmp_path / "t.db")
    run(store, "x", 5, {"unknown": 40}, {"x.rate_limited": 20, "x.login_wall": 12, "x.bot_challenge": 5,
                                         "x.user_unavailable:new": 1, "x.classifier_error": 2})
    store.close()
    assert health(str(tmp_path / "t.db"))["x"]["top_unknown_rules"] == (
        "x.classifier_error ×2, x.user_unavailable:new ×1, x.rate_limited ×20")


@pytest.mark.parametrize(("day", "hour", "drifting"), [
    ((100, 0), (20, 4), 1),  # exactly 20 % with no drift the day before
    ((100, 0), (20, 3), 0),  # 15 %: below the share
    ((100, 0), (10, 2), 0),  # 20 %, but only 2 observations
    ((100, 10), (20, 6), 1),  # 30 % against 10 %: exactly 3x
    ((100, 11), (20, 6), 0),  # 30 % against 11 %: less than 3x
    (None, (10, 3), 1),  # a platform first seen this hour: no baseline, so 30 % is a rise
])
def test_drift_thresholds(tmp_path: Path, day: tuple[int, int] | None, hour: tuple[int, int], drifting: int) -> None:
    store = Store.open(tmp_path / "t.db")
    if day:
        checks, drift = day
        run(store, "weibo", 300, {"active": checks - drift, "unknown": drift}, {"weibo.unrecognised": drift})
    checks, drift = hour
    run(store, "weibo", 5, {"active": checks - drift, "unknown": drift}, {"weibo.unrecognised": drift})
    store.close()
    assert health(str(tmp_path / "t.db"))["weibo"]["drifting"] == drifting


def test_hourly_rollup_keeps_the_rule_counts_and_prune_leaves_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.db")
    for minute, rules in ((0, {"weibo.unrecognised": 2, "weibo.captcha": 1}), (20, {"weibo.unrecognised": 1}),
                          (40, {"weibo.user:new": 3, "weibo.captcha": 2})):
        at = f"2026-01-01T10:{minute:02d}:00.000Z"
        store.finish_run(store.start_run("run", "weibo", 10, at), {"active": 10 - sum(rules.values()),
                         "unknown": sum(rules.values())}, "finished", at, unknown_rules=rules)
    pre = "2026-01-01T10:50:00.000Z"  # a run recorded before runs had unknown_rules
    store.finish_run(store.start_run("run", "weibo", 10, pre), {"active": 9, "unknown": 1}, "finished", pre)
    old = "2026-01-01T11:10:00.000Z"  # an hour in which no run recorded them
    store.finish_run(store.start_run("run", "weibo", 10, old), {"active": 10}, "finished", old)

    def per_rule() -> dict[str, int]:
        total: dict[str, int] = {}
        for r in store.db.query("SELECT unknown_rules FROM runs WHERE unknown_rules IS NOT NULL"):
            for rule, n in json.loads(r["unknown_rules"]).items():
                total[rule] = total.get(rule, 0) + n
        return total

    def drift() -> int:
        return next(store.db.query("SELECT sum(drift) AS n FROM runs"))["n"]

    before = per_rule()
    assert before == {"weibo.unrecognised": 3, "weibo.captcha": 3, "weibo.user:new": 3} and drift() == 6
    assert store.compact_runs("2026-01-02T12:00:00.000Z") == 2
    assert per_rule() == before and drift() == 6
    rows = list(store.db.query("SELECT command, started_at, accounts, unknown, unknown_rules, drift FROM runs "
                               "ORDER BY started_at"))
    assert rows == [
        {"command": "rollup", "started_at": "2026-01-01T10:00:00.000Z", "accounts": 40, "unknown": 10,
         "unknown_rules": '{"weibo.captcha": 3, "weibo.unrecognised": 3, "weibo.user:new": 3}', "drift": 6},
        {"command": "rollup", "started_at": "2026-01-01T11:00:00.000Z", "accounts": 10, "unknown": 0,
         "unknown_rules": None, "drift": None}]  # not recorded stays not recorded, not "no drift"
    assert store.prune({"runs": "2026-01-02T00:00:00.000Z"}) == {"runs": 2}
    assert store.db["runs"].count == 0 and per_rule() == {}, "the rule counts live in the run's row: no orphans"
    store.close()


def test_a_database_from_before_drift_upgrades_and_status_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    old = Database(sqlite3.connect(path))
    schema.migrations.apply(old, stop_before="m006_drift")
    old.execute("PRAGMA user_version = 5")  # m001 to m005
    at = iso(datetime.now(UTC) - timedelta(minutes=5))
    old["runs"].insert({"command": "run", "platform": "weibo", "started_at": at, "finished_at": at, "accounts": 10,
                        "counts": '{"active": 7, "unknown": 3}', "unknown": 3, "finish_reason": "finished"})
    old["platform_states"].insert({"platform": "weibo", "state": "blind", "since": at, "changed_at": at})
    old.close()

    columns, rows = platform_status(str(path), now_iso())  # read-only, not upgraded yet: no drift columns, no error
    assert columns == ["platform", "last_run", "unknown_pct_1h", "health"] and rows[0][2:] == (30.0, "blind")

    store = Store.open(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert {"unknown_rules", "drift"} <= set(store.db["runs"].columns_dict)
    run(store, "weibo", 2, {"active": 6, "unknown": 4}, {"weibo.unrecognised": 4})
    store.close()
    row = health(str(path))["weibo"]
    assert {k: row[k] for k in OLD_COLUMNS[1:] if k != "last_run"} == {
        "state": "ok", "blind_since": None, "checks_24h": 20, "unknown_24h": 7, "unknown_rate_24h": 0.35}
    assert row["alerted"] == "blind", "35 % unknown is not blind; the recorded alert state is its own column"
    # the run from before the upgrade recorded no rules: it counts for the unknown rate, not for drift
    assert {k: row[k] for k in NEW_COLUMNS} == {
        "checks_1h": 10, "drift_1h": 4, "drift_rate_1h": 0.4, "drift_rate_day": None,
        "top_unknown_rules": "weibo.unrecognised ×4", "drifting": 1}
    assert platform_status(str(path), now_iso())[1][0][2:] == (20, 7, 35.0, "ok", "weibo.unrecognised ×4", 40.0, None,
                                                             "drifting?", "weibo.unrecognised ×4")


def test_a_check_records_its_unknown_rules_per_run_and_no_row_per_unchanged_check(
        tmp_path: Path, platforms: FakePlatforms) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {confirm_delay: 0s}\nplatforms: {weibo: {delay: 0s}, reddit: {delay: 0s}, bluesky: {delay: 0s}}\n"
        "accounts:\n  - {platform: weibo, id: \"1234567890\"}\n  - {platform: reddit, handle: ratelimited}\n"
        "  - {platform: bluesky, handle: fine.bsky.social}\n", encoding="utf-8")
    serve(platforms, "weibo:1234567890", "weibo.unrecognised")
    serve(platforms, "reddit:ratelimited", "reddit.rate_limited")
    serve(platforms, "bluesky:fine.bsky.social", ACTIVE["bluesky"])
    banwatch = Banwatch(tmp_path, platforms, None)
    banwatch("check")
    spans = banwatch.rows("SELECT count(*) AS n FROM observations")[0]["n"]
    banwatch("check")  # the same answers again
    assert banwatch.rows("SELECT count(*) AS n FROM observations")[0]["n"] == spans, "unchanged: no new rows"
    runs = banwatch.rows("SELECT platform, counts, unknown_rules, drift FROM runs ORDER BY id")
    assert len(runs) == 6, "one row per platform per crawl"
    assert {(r["platform"], r["unknown_rules"], r["drift"]) for r in runs} == {
        ("weibo", '{"weibo.unrecognised": 1}', 1), ("reddit", '{"reddit.rate_limited": 1}', 0),
        ("bluesky", "{}", 0)}
    status = banwatch("status").stdout
    assert "weibo.unrecognised ×2" in status and "reddit.rate_limited ×2" in status
