"""Watchlist loading: the documented shapes load; every mistake names file, line and field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.watchlist import load, parse, parse_duration
from banwatch.spiders.platforms import PLATFORMS

KNOWN = ", ".join(sorted(PLATFORMS))

GOOD = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 2m, tags: [watch]}
alerts: {slack_channel: "#banwatch"}
accounts:
  - {platform: reddit, handle: spez}
  - url: https://weibo.com/u/1234567890        # a profile URL is enough
  - name: Example Crypto Daily                   # an entity: one outlet, several accounts
    tags: [crypto, media]
    interval: 90s
    accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social, mastodon: cd@mastodon.social}
  - url: https://bsky.app/profile/did:plc:queiogp4cavuzrnq4k3hxh6t
  - {url: "https://hachyderm.io/@Molly0xFFF", name: Molly}
"""


def test_documented_shapes_load() -> None:
    wl = parse(GOOD, "watchlist.yaml")
    keys = [a.key for a in wl.accounts]
    assert keys == ["reddit:spez", "weibo:1234567890", "weibo:1234567891", "bluesky:cryptodaily.bsky.social",
                    "mastodon:cd@mastodon.social", "bluesky:did:plc:queiogp4cavuzrnq4k3hxh6t",
                    "mastodon:molly0xfff@hachyderm.io"]
    entity = [a for a in wl.accounts if a.entity == "Example Crypto Daily"]
    assert len(entity) == 3 and all(a.tags == ("watch", "crypto", "media") for a in entity)
    assert all(a.interval == 90 for a in entity)
    spez = wl.accounts[0]
    assert (spez.interval, spez.confirmations, spez.confirm_delay, spez.line) == (600, 2, 120, 4)
    assert wl.slack_channel == "#banwatch"
    assert wl.accounts[-1].name == "Molly"


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("0s", 0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


BAD = [
    ("accounts:\n  - {platform: reddit, handle: spez\n", "watchlist.yaml:3: syntax: "),
    ("accounts:\n  - {platform: reddit, handle: spez, colour: red}\n",
     "watchlist.yaml:2: colour: unknown key (expected one of: platform, handle, id, url, name, tags, "
     "interval, confirmations, confirm_delay, enabled)"),
    ("accounts:\n  - platform: myspace\n    handle: tom\n",
     f"watchlist.yaml:3: platform: unknown platform 'myspace' (known: {KNOWN})"),
    ("accounts:\n  - platform: reddit\n",
     "watchlist.yaml:2: handle: missing: give a handle, an id or a url"),
    ("defaults: {interval: 10 minutes}\naccounts: []\n",
     "watchlist.yaml:1: interval: '10 minutes' is not a duration (use a number with a unit: 90s, 10m, 1h)"),
    ("accounts:\n  - {platform: reddit, handle: spez}\n  - {platform: reddit, handle: spez}\n",
     "watchlist.yaml:3: handle: duplicate account reddit:spez (first declared on line 2)"),
    ("accounts:\n  - url: https://example.com/people/spez\n",
     "watchlist.yaml:2: url: cannot read an account from 'https://example.com/people/spez' "
     "(profile URLs banwatch reads: Weibo: https://weibo.com/u/{uid}"),
    ("accounts:\n  - name: Outlet\n    accounts:\n      weibo: \"12\"\n",
     "watchlist.yaml:4: accounts.weibo: '12' is not a valid Weibo handle: expected a numeric Weibo uid"),
    ("accounts:\n  - name: Outlet\n    accounts: {myspace: outlet}\n",
     f"watchlist.yaml:3: accounts.myspace: unknown platform 'myspace' (known: {KNOWN})"),
    ("accounts:\n  - {platform: reddit, handle: spez}\n  - name: Outlet\n    accounts: {reddit: u/SPEZ}\n",
     "watchlist.yaml:4: accounts.reddit: duplicate account reddit:spez (first declared on line 2)"),
    ("defaults: {confirmations: 0}\naccounts: []\n",
     "watchlist.yaml:1: confirmations: 0 is not a whole number of observations (1 or more)"),
    ("accounts:\n  - {platform: reddit, handle: spez, handle: kn0thing}\n",
     "watchlist.yaml:2: syntax: duplicate key 'handle' (first on line 2)"),
]


@pytest.mark.parametrize("text,expected", BAD, ids=[b[1].split(": ")[1] + str(i) for i, b in enumerate(BAD)])
def test_each_mistake_names_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(InvalidWatchlist) as err:
        parse(text, "watchlist.yaml")
    assert str(err.value.problems[0]).startswith(expected), str(err.value)


def test_all_problems_are_reported_at_once() -> None:
    text = "accounts:\n  - {platform: nope, handle: a}\n  - {platform: reddit}\n  - {url: 'ftp://x'}\n"
    with pytest.raises(InvalidWatchlist) as err:
        parse(text, "w.yaml")
    assert [p.line for p in err.value.problems] == [2, 3, 4]


def test_missing_file_is_named() -> None:
    with pytest.raises(InvalidWatchlist, match=r"nope\.yaml: file not found"):
        load("nope.yaml")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_broken_watchlist_exits_1_and_leaves_the_database_untouched(tmp_path: Path) -> None:
    good, db = tmp_path / "watchlist.yaml", tmp_path / "b.db"
    good.write_text(GOOD, encoding="utf-8")
    runner = CliRunner()
    # A database with the good watchlist synced into it (no network: sync only).
    from banwatch.monitor.store import Store
    from banwatch.monitor.watchlist import load as load_wl

    store = Store.open(db)
    store.sync_watchlist(load_wl(good), "2026-01-01T00:00:00.000Z")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    before = _digest(db)
    good.write_text(GOOD.replace("platform: reddit", "platform: myspace"), encoding="utf-8")
    for command in (["check"], ["validate"]):
        result = CliRunner().invoke(cli, ["--watchlist", str(good), "--db", str(db), *command])
        assert result.exit_code == 1, result.output
        assert f"{good}:4: platform: unknown platform 'myspace'" in result.output
        assert "Traceback" not in result.output
    assert _digest(db) == before
    fresh = tmp_path / "fresh.db"
    result = runner.invoke(cli, ["--watchlist", str(good), "--db", str(fresh), "check"])
    assert result.exit_code == 1 and not fresh.exists()


def test_validate_reports_counts_and_never_prints_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "watchlist.yaml"
    good.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    result = CliRunner().invoke(cli, ["--watchlist", str(good), "validate"])
    assert result.exit_code == 0, result.output
    assert "7 accounts, 1 entity" in result.output
    assert "Slack: enabled, token <secret>, channel #banwatch" in result.output
    assert "very-secret" not in result.output


def test_unknown_option_is_a_usage_error() -> None:
    assert CliRunner().invoke(cli, ["check", "--frobnicate"]).exit_code == 2
