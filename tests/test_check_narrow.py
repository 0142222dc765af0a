"""`banwatch check KEY... --platform P --tag T` checks only those accounts, `status` shows only them, and
`check --dry-run` decides as usual but writes nothing and posts nothing (docs/cli.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.conftest import Banwatch
from tests.fakes import FakePlatforms, FakeSlack
from tests.test_e2e import serve, setup

ALL = {"weibo:1234567890", "bluesky:cryptodaily.bsky.social", "mastodon:cd@mastodon.example", "reddit:spez",
       "bluesky:gone.bsky.social", "mastodon:old@mastodon.example", "reddit:ratelimited", "weibo:2345678901"}
CRYPTO = {"weibo:1234567890", "bluesky:cryptodaily.bsky.social", "mastodon:cd@mastodon.example"}  # the entity's tag


def accounts(banwatch: Banwatch) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in banwatch.rows("SELECT * FROM accounts")}


def checked(banwatch: Banwatch, *args: str) -> set[str]:
    """Run `check *args` and return the keys whose rows it changed; the others must be byte for byte the same."""
    before = accounts(banwatch)
    out = banwatch("check", "--no-progress", *args)
    after = accounts(banwatch)
    changed = {k for k in after if after[k] != before.get(k)}
    assert all(after[k]["last_checked_at"] != before[k]["last_checked_at"] for k in changed), out.stdout
    return changed


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_keys_platforms_and_tags_check_exactly_the_matching_accounts(tmp_path: Path,
                                                                     platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms, None)
    banwatch("check", "--no-progress", "reddit:spez")  # the first check creates the database
    rows = accounts(banwatch)
    assert set(rows) == ALL  # every account is synced, only the named one was checked
    assert {k for k, r in rows.items() if r["last_checked_at"]} == {"reddit:spez"}
    assert checked(banwatch, "--tag", "crypto") == CRYPTO
    assert checked(banwatch, "--platform", "bluesky", "--platform", "reddit", "--tag", "crypto") == {
        "bluesky:cryptodaily.bsky.social"}  # platform AND tag
    assert checked(banwatch, "reddit:spez", "weibo:1234567890", "bluesky:gone.bsky.social",
                   "--platform", "reddit", "--platform", "bluesky") == {"reddit:spez", "bluesky:gone.bsky.social"}

    doc = json.loads(banwatch("status", "--json", "--platform", "bluesky").stdout)
    assert {a["account"] for a in doc["accounts"]} == {"bluesky:cryptodaily.bsky.social", "bluesky:gone.bsky.social"}
    assert {p["platform"] for p in doc["platforms"]} <= {"bluesky"}
    rows = json.loads(banwatch("status", "--json", "reddit:spez", "weibo:1234567890", "--tag", "crypto").stdout)
    assert [a["account"] for a in rows["accounts"]] == ["weibo:1234567890"]
    table = banwatch("status", "reddit:spez").stdout
    assert "reddit:spez" in table and "weibo:1234567890" not in table
    status = banwatch("status", "reddit:nobody", check=False)
    assert status.returncode == 1 and "reddit:nobody" in status.stderr and "Traceback" not in status.stderr


def test_an_unknown_key_is_an_error_naming_it_and_checks_nothing(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms, None)
    bad = banwatch("check", "reddit:spez", "reddit:nobody", check=False)
    assert bad.returncode == 1 and "reddit:nobody" in bad.stderr and "Traceback" not in bad.stderr
    assert "reddit:spez" not in bad.stderr.split("not in the watchlist")[1]
    assert not (tmp_path / "banwatch.db").exists()  # refused before the database is opened
    none = banwatch("check", "--platform", "x", check=False)
    assert none.returncode == 1 and "no watched account matches --platform x" in none.stderr


def test_dry_run_shows_the_change_and_alert_but_writes_and_posts_nothing(tmp_path: Path, platforms: FakePlatforms,
                                                                        slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    db = tmp_path / "banwatch.db"
    first = banwatch("check", "--no-progress", "--dry-run", "weibo:1234567890")
    assert "1 observation" in first.stdout and not db.exists(), "a dry run creates no database"

    banwatch("check", "--no-progress", "weibo:1234567890")
    serve(platforms, "weibo:1234567890", "weibo.ban_notice")
    before, rows = sha256(db), accounts(banwatch)
    dry = banwatch("check", "--no-progress", "--dry-run", "weibo:1234567890")
    assert "change: weibo:1234567890 active → suspended (weibo.ban_notice)" in dry.stdout, dry.stdout
    assert "alerts: 1 alert would be sent" in dry.stdout
    assert "would send: suspended weibo:1234567890 to #banwatch-test" in dry.stdout, dry.stdout
    assert sha256(db) == before and accounts(banwatch) == rows
    assert slack.calls == []

    real = banwatch("check", "--no-progress", "weibo:1234567890")  # the control: the same check, for real
    assert "change: weibo:1234567890 active → suspended (weibo.ban_notice)" in real.stdout
    assert sha256(db) != before
    assert accounts(banwatch)["weibo:1234567890"]["status"] == "suspended"
    assert len(slack.posted()) == 1 and slack.posted()[0]["text"].startswith("Suspended on Weibo")
