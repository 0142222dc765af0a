"""The HTML audit report: self-contained, escaped, and rendered by a real headless browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.monitor.model import Observation, Reply, Status
from banwatch.monitor.state import advance
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import parse

ROOT = Path(__file__).resolve().parent.parent
EVIL = '<img src=x onerror="document.title=1">Crypto & Co'
WL = parse(f"""accounts:
  - name: '{EVIL}'
    accounts: {{weibo: "1234567890", bluesky: evil.bsky.social}}
  - name: Example Daily
    accounts: {{weibo: "1234567891", reddit: daily}}
  - {{platform: weibo, id: "1234567892"}}
""", "w.yaml")


def _browser() -> str | None:
    return next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    store = Store.open(tmp_path / "r.db")
    store.sync_watchlist(WL, "2026-11-01T00:00:00.000Z")
    for a in WL.accounts:
        for status, at in ((Status.ACTIVE, "2026-11-01T00:00:00.000Z"),
                           (Status.SUSPENDED if a.platform == "weibo" else Status.ACTIVE, "2026-11-20T10:42:00.000Z")):
            obs = Observation(a.key, status, f"{a.platform}.x", "r", at,
                              evidence=Reply("https://x/" + a.key, 200, {}, b"<p>" + a.key.encode() + b"</p>"))
            store.record(a, obs, advance(store.state(a.key), status, at, 1))
    store.db.execute("UPDATE accounts SET display_name = ? WHERE platform = 'bluesky'", [EVIL])
    wave = store.db["waves"].insert({"platform": "weibo", "channel": "#c", "started_at": "2026-11-20T10:42:00.000Z",
                                     "state": "sent", "members": 3, "created_at": "2026-11-20T10:43:00.000Z"}).last_pk
    store.db.execute("UPDATE changes SET wave_id = ? WHERE to_status = 'suspended'", [wave])
    store.finish_run(store.start_run("run", "weibo", 4, "2026-11-20T10:40:00.000Z"), {"unknown": 1, "active": 3},
                     "finished", "2026-11-20T10:41:00.000Z")
    store.close()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "report", "--since", "2026-11-01",
                                      "--out", str(out)])
    assert result.exit_code == 0 and "3 changes since 2026-11-01" in result.output, result.output
    return out


def test_report_is_self_contained_and_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html and "http://" not in html.split("<body>")[0]
    assert "&lt;img src=x onerror=&quot;document.title=1&quot;&gt;Crypto &amp; Co" in html
    assert html.count("stroke-width=\"2\"") == 3, "the three wave members stand out in the timeline"
    assert "weibo:1234567891" in html and "25.0%" in html  # a suspension row; the unknown rate


def test_report_renders_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        if os.environ.get("BANWATCH_REQUIRE_BROWSER"):
            pytest.fail("BANWATCH_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("no chromium on this machine (CI installs it and sets BANWATCH_REQUIRE_BROWSER)")
    artifacts = ROOT / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1400"]
    subprocess.run([*flags, f"--screenshot={shot}", report.as_uri()], check=True, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, "a rendered page, not a blank one"
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert "<img" not in dom, "the hostile entity name stayed text"
    assert "<title>banwatch report 2026-11-01" in dom, "no injected script changed the page"
    assert '<img src=x onerror="document.title=1">Crypto &amp; Co' not in dom
    assert "Crypto &amp; Co" in dom and "<svg" in dom
