"""History and evidence: migrations, read-only SQL, evidence export and verification, export, recipes."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from banwatch.monitor import schema
from banwatch.monitor.cli import cli
from banwatch.monitor.errors import StoreError
from banwatch.monitor.model import Observation, Reply, Status
from banwatch.monitor.state import advance, alert_kind
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import parse

ROOT = Path(__file__).resolve().parent.parent
WL = parse("accounts:\n  - name: Outlet\n    tags: [crypto]\n    accounts: {weibo: \"1234567890\", reddit: outlet}\n"
           "  - {platform: bluesky, handle: solo.bsky.social, tags: [media]}\n", "w.yaml")


def observe(store: Store, key: str, status: Status, at: str, body: bytes = b'{"ok": 1}') -> None:
    account = next(a for a in WL.accounts if a.key == key)
    obs = Observation(key, status, f"{account.platform}.rule", "why", at, http_status=200,
                      evidence=Reply(f"https://example/{key}", 200, {"content-type": "application/json"}, body))
    step = advance(store.state(key), status, at, 1)
    kind = alert_kind(step.transition) if step.transition else None
    store.record(account, obs, step, [(kind, "#c")] if kind else [])


@pytest.fixture
def db(tmp_path: Path) -> str:
    store = Store.open(tmp_path / "h.db")
    store.sync_watchlist(WL, "2026-01-01T00:00:00.000Z")
    observe(store, "weibo:1234567890", Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    observe(store, "weibo:1234567890", Status.SUSPENDED, "2026-01-05T10:42:00.000Z", b'{"ok":0,"msg":"ban"}')
    observe(store, "weibo:1234567890", Status.ACTIVE, "2026-01-08T12:00:00.000Z")
    observe(store, "reddit:outlet", Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    observe(store, "reddit:outlet", Status.NOT_FOUND, "2026-01-06T00:00:00.000Z", b'{"error": 404}')
    observe(store, "bluesky:solo.bsky.social", Status.ACTIVE, "2026-01-01T00:00:00.000Z")
    for day in range(1, 9):
        at = f"2026-01-0{day}T00:00:00.000Z"
        store.finish_run(store.start_run("run", "weibo", 10, at), {"active": 7, "unknown": 3}, "finished", at)
    store.close()
    return str(tmp_path / "h.db")


def run(db: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", db, *args])


def test_a_v1_database_is_upgraded_in_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.db"
    v1 = Database(sqlite3.connect(path))
    schema.migrations.apply(v1, stop_before="m002_service")
    v1.execute("PRAGMA user_version = 1")
    v1["accounts"].insert({"key": "reddit:old", "platform": "reddit", "handle": "old", "status": "active",
                           "pending_count": 0, "removed_at": "2025-01-01T00:00:00.000Z"})
    v1["changes"].insert({"account_key": "reddit:old", "from_status": "active", "to_status": "suspended",
                          "confirmed_at": "2025-01-01T00:00:00.000Z"})
    v1["alerts"].insert({"kind": "suspended", "change_id": 1, "account_key": "reddit:old", "state": "sent",
                         "created_at": "2025-01-01T00:00:00.000Z"})
    v1.close()
    broken = schema.migrations._migrations[-1]  # noqa: SLF001
    monkeypatch.setattr(broken, "fn", lambda db: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        Store.open(path)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 1
    assert not check.execute("SELECT name FROM sqlite_master WHERE name = 'service'").fetchall(), "all or nothing"
    check.close()
    monkeypatch.undo()
    store = Store.open(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert {"timeline", "platform_health", "current_status", "suspensions"} <= set(store.db.view_names())
    assert store.db["changes"].count == 1 and store.db["alerts"].get(1)["give_up_at"] == "2025-01-02T00:00:00.000Z"
    assert store.db["accounts"].get("reddit:old")["next_check_at"] is None  # removed: out of the schedule
    store.close()


@pytest.mark.parametrize("statement", [
    "INSERT INTO accounts (key, platform, handle) VALUES ('x', 'reddit', 'x')",
    "DELETE FROM changes", "UPDATE accounts SET status = 'active'", "DROP VIEW timeline",
    "ATTACH DATABASE ':memory:' AS other", "PRAGMA user_version = 7", "PRAGMA journal_mode = DELETE",
])
def test_sql_refuses_every_write(db: str, statement: str) -> None:
    out = run(db, "sql", statement)
    assert out.exit_code == 1 and "read-only" in out.output and "Traceback" not in out.output  # type: ignore[attr-defined]
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert sqlite3.connect(db).execute("SELECT count(*) FROM changes").fetchone()[0] == 3


def test_sql_reads_while_another_process_holds_a_write_transaction(db: str) -> None:
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({db!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); c.execute(\"UPDATE accounts SET status = 'gone'\")\n"
        "print('locked', flush=True); time.sleep(20)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "locked"
        out = run(db, "sql", "SELECT count(*) AS n FROM accounts WHERE status = 'gone'", "--json", "--timeout", "2")
        assert out.exit_code == 0 and json.loads(out.output) == [{"n": 0}]  # type: ignore[attr-defined]
    finally:
        writer.kill()
        writer.wait()


def test_sql_output_formats(db: str) -> None:
    q = "SELECT account_key, to_status FROM changes ORDER BY id"
    nl = run(db, "sql", q, "--nl").output  # type: ignore[attr-defined]
    assert [json.loads(line) for line in nl.splitlines()][0] == {"account_key": "weibo:1234567890",
                                                                   "to_status": "suspended"}
    table = run(db, "sql", q).output  # type: ignore[attr-defined]
    assert table.splitlines()[0].split() == ["account_key", "to_status"] and "reddit:outlet" in table


def test_history_shows_the_timeline_with_windows(db: str) -> None:
    out = run(db, "history", "weibo:1234567890").output  # type: ignore[attr-defined]
    lines = out.splitlines()
    assert lines[0] == ("2026-01-05T10:42:00.000Z  weibo:1234567890 (Outlet): active → suspended, "
                        "3d 1h until 2026-01-08T12:00:00.000Z")
    assert "last seen active 2026-01-01T00:00:00.000Z, first seen suspended 2026-01-05T10:42:00.000Z" in lines[1]
    assert "suspended → active (current)" in out
    data = json.loads(run(db, "history", "--json").output)  # type: ignore[attr-defined]
    assert [d["to_status"] for d in data] == ["suspended", "not_found", "active"]
    assert run(db, "history", "nobody").exit_code == 1  # type: ignore[attr-defined]


def test_evidence_round_trip_and_tamper_detection(db: str, tmp_path: Path) -> None:
    evidence_id = sqlite3.connect(db).execute(
        "SELECT evidence_id FROM changes WHERE to_status = 'suspended'").fetchone()[0]
    out = run(db, "evidence", str(evidence_id), "--out", str(tmp_path / "proof"))
    assert out.exit_code == 0 and "sha256 verified" in out.output  # type: ignore[attr-defined]
    body = (tmp_path / "proof" / f"evidence-{evidence_id}.manifest.json").read_text()
    manifest = json.loads(body)
    assert (tmp_path / "proof" / manifest["body_file"]).read_bytes() == b'{"ok":0,"msg":"ban"}'
    assert manifest["changes"][0]["to_status"] == "suspended" and manifest["url"].endswith("weibo:1234567890")
    assert run(db, "evidence", "--verify").output.startswith("3 evidence records verified")  # type: ignore[attr-defined]
    conn = sqlite3.connect(db)
    sha, blob = conn.execute("SELECT b.sha256, b.body FROM evidence e JOIN evidence_bodies b ON b.sha256 = e.sha256 "
                             "WHERE e.id = ?", [evidence_id]).fetchone()
    tampered = zlib.compress(zlib.decompress(blob).replace(b"ban", b"bon"))  # one byte flipped, still valid zlib
    conn.execute("UPDATE evidence_bodies SET body = ? WHERE sha256 = ?", [tampered, sha])
    conn.commit()
    bad = run(db, "evidence", "--verify")
    assert bad.exit_code == 1 and f"evidence #{evidence_id}" in bad.output  # type: ignore[attr-defined]
    assert "1 of 3 evidence records failed verification" in bad.output  # type: ignore[attr-defined]
    again = run(db, "evidence", str(evidence_id), "--out", str(tmp_path / "again"))
    assert again.exit_code == 1 and "altered" in again.output  # type: ignore[attr-defined]


def test_export_changes_for_spreadsheets(db: str) -> None:
    rows = list(csv.DictReader(io.StringIO(run(db, "export", "--since", "2026-01-06").output)))  # type: ignore[attr-defined]
    assert [(r["platform"], r["handle"], r["to_status"]) for r in rows] == [
        ("reddit", "outlet", "not_found"), ("weibo", "1234567890", "active")]
    assert rows[0]["entity"] == "Outlet" and rows[0]["evidence_sha256"]
    data = json.loads(run(db, "export", "--format", "json").output)  # type: ignore[attr-defined]
    assert len(data) == 3 and data[0]["url"] == "https://weibo.com/u/1234567890"


def test_prune_keeps_changes_unless_asked(db: str, tmp_path: Path) -> None:
    wl = tmp_path / "w.yaml"
    wl.write_text("retention: {observations: 1s, runs: 1s}\naccounts: []\n", encoding="utf-8")
    out = run(db, "--watchlist", str(wl), "prune")
    assert out.exit_code == 0 and "deleted 8 runs" in out.output  # type: ignore[attr-defined]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM changes").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM evidence").fetchone()[0] == 3
    dry = run(db, "--watchlist", str(wl), "prune", "--include-changes", "--dry-run")
    assert "would delete 3 changes" in dry.output  # type: ignore[attr-defined]
    run(db, "--watchlist", str(wl), "prune", "--include-changes")
    assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("changes", "evidence", "evidence_bodies", "alerts")] == [0, 0, 0, 0]


def recipes() -> list[str]:
    doc = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", doc, re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip()]
    return [re.sub(r"^--.*$", "", s, flags=re.M).strip() for s in statements]


def test_docs_have_ten_recipes() -> None:
    assert len(recipes()) >= 10


@pytest.mark.parametrize("recipe", recipes())
def test_every_recipe_in_docs_runs(db: str, recipe: str) -> None:
    from banwatch.monitor.query import run_sql

    try:
        columns, _ = run_sql(db, recipe)
    except StoreError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{exc}\n{recipe}")
    assert columns


def test_datasette_serves_the_recipes_and_refuses_writes(db: str, tmp_path: Path) -> None:
    import asyncio
    import shutil

    import yaml
    from datasette.app import Datasette

    path = tmp_path / "banwatch.db"  # the database name the metadata describes
    shutil.copy(db, path)
    metadata = yaml.safe_load((ROOT / "datasette" / "metadata.yml").read_text(encoding="utf-8"))
    queries = metadata["databases"]["banwatch"]["queries"]
    normal = lambda sql: " ".join(sql.split())  # noqa: E731
    assert sorted(normal(q["sql"]) for q in queries.values()) == sorted(normal(r) for r in recipes())

    async def go() -> None:
        ds = Datasette([str(path)], metadata=metadata, settings={"sql_time_limit_ms": 5000})
        for name in queries:
            response = await ds.client.get(f"/banwatch/{name}.json?_shape=array")
            assert response.status_code == 200, (name, response.text)
        timeline = (await ds.client.get("/banwatch/timeline.json?_shape=array&_sort=confirmed_at")).json()
        assert [r["to_status"] for r in timeline] == ["suspended", "not_found", "active"]
        refused = await ds.client.get("/banwatch.json?sql=DELETE+FROM+changes")
        assert refused.status_code == 400
    asyncio.run(go())
    assert sqlite3.connect(path).execute("SELECT count(*) FROM changes").fetchone()[0] == 3


def test_serve_explains_a_missing_database(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "serve"])
    assert out.exit_code == 1 and "no database yet" in out.output
