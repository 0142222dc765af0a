"""`banwatch add`, `remove`, `pause`, `resume`, `list`: the watchlist file edited in place, comments and layout kept,
validated before it is written, written atomically with a .bak; and a running service picking the edit up."""

from __future__ import annotations

import difflib
import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import now_iso
from banwatch.monitor.watchlist import load, parse
from banwatch.monitor.watchlist import edit as edit_module
from tests.conftest import Banwatch, wait_for
from tests.fakes import FakePlatforms, FakeSlack
from tests.test_e2e import ACTIVE, serve

ORIGINAL = """\
# The desk's watchlist.   (a comment at the top)
defaults: {interval: 10m, confirmations: 2}   # house defaults

accounts:
    # single accounts, flow style
    - {platform: reddit, handle: spez}        # the boss
    - {platform: bluesky, handle: jay.bsky.team}

    # an entity, block style, with a flow mapping of accounts
    - name: Example Crypto Daily              # one outlet
      tags: [crypto, media]
      accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social}
    - platform: x                             # a block entry
      handle: jack
# the end
"""


def run(path: Path, *args: str, db: Path | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--watchlist", str(path), "--db", str(db or path.parent / "b.db"), *args])
    return result.exit_code, result.output


def diff(before: str, after: str) -> list[str]:
    """The changed lines, as +/- lines of a unified diff without context."""
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(ORIGINAL, encoding="utf-8")
    return path


# -- golden: only the edited entries change ---------------------------------------------------------------

def test_add_appends_in_the_files_style_and_changes_nothing_else(wl: Path) -> None:
    code, out = run(wl, "add", "reddit:kn0thing", "https://bsky.app/profile/newcomer.bsky.social", "--tag", "vip")
    assert code == 0, out
    assert "reddit:kn0thing" in out and "platform reddit, handle kn0thing" in out
    assert "bluesky:newcomer.bsky.social" in out and "https://bsky.app/profile/newcomer.bsky.social" in out
    # the last single entry is a block mapping: the new ones are too, after it, before the closing comment
    assert diff(ORIGINAL, wl.read_text()) == [
        "+    - platform: reddit", "+      handle: kn0thing", "+      tags: [vip]",
        "+    - url: https://bsky.app/profile/newcomer.bsky.social", "+      tags: [vip]"]
    keys = {a.key for a in load(wl).accounts}
    assert {"reddit:kn0thing", "bluesky:newcomer.bsky.social"} <= keys


def test_add_follows_a_flow_style_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    text = "accounts:\n  - {platform: reddit, handle: spez}   # boss\n  - {platform: reddit, handle: bob}\n"
    path.write_text(text)
    assert run(path, "add", "x:jack")[0] == 0
    assert diff(text, path.read_text()) == ["+  - {platform: x, handle: jack}"]


def test_add_under_an_entity_edits_only_its_accounts_line(wl: Path) -> None:
    code, out = run(wl, "add", "--entity", "Example Crypto Daily", "mastodon:cd@mastodon.social")
    assert code == 0, out
    assert "[Example Crypto Daily]" in out
    assert diff(ORIGINAL, wl.read_text()) == [
        '-      accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social}',
        '+      accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social, mastodon: cd@mastodon.social}']
    assert load(wl).by_key["mastodon:cd@mastodon.social"].entity == "Example Crypto Daily"


def test_add_with_a_new_entity_creates_it(wl: Path) -> None:
    assert run(wl, "add", "--entity", "New Outlet", "reddit:newoutlet", "--tag", "media")[0] == 0
    added = load(wl).by_key["reddit:newoutlet"]
    assert added.entity == "New Outlet" and added.tags == ("media",)
    assert [line for line in diff(ORIGINAL, wl.read_text()) if line.startswith("-")] == []


def test_remove_deletes_only_the_entry_and_keeps_the_comments_around_it(wl: Path) -> None:
    code, out = run(wl, "remove", "bluesky:jay.bsky.team", "x:jack")
    assert code == 0, out
    after = wl.read_text()
    assert diff(ORIGINAL, after) == ["-    - {platform: bluesky, handle: jay.bsky.team}",
                                     "-    - platform: x                             # a block entry",
                                     "-      handle: jack"]
    assert "# an entity, block style" in after and "# the end" in after


def test_remove_of_an_entity_account_edits_the_entity(wl: Path) -> None:
    assert run(wl, "remove", "weibo:1234567891")[0] == 0
    assert diff(ORIGINAL, wl.read_text()) == [
        '-      accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social}',
        "+      accounts: {bluesky: cryptodaily.bsky.social}"]


def test_pause_and_resume_edit_only_their_entries(wl: Path) -> None:
    code, out = run(wl, "pause", "x:jack", "bluesky:jay.bsky.team")
    assert code == 0, out
    paused = wl.read_text()
    assert diff(ORIGINAL, paused) == ["-    - {platform: bluesky, handle: jay.bsky.team}",
                                      "+    - {platform: bluesky, handle: jay.bsky.team, enabled: false}",
                                      "+      enabled: false"]
    watchlist = load(wl)
    assert {a.key for a in watchlist.paused} == {"x:jack", "bluesky:jay.bsky.team"}
    assert "x:jack" not in watchlist.by_key, "a paused account is not among the accounts checked"
    assert run(wl, "resume", "x:jack", "bluesky:jay.bsky.team")[0] == 0
    assert wl.read_text() == ORIGINAL, "resume undoes pause byte for byte"


def test_an_entity_is_paused_as_a_whole(wl: Path) -> None:
    code, out = run(wl, "pause", "weibo:1234567891")
    assert code == 1 and "bluesky:cryptodaily.bsky.social" in out, "one account of an entity alone is refused"
    assert wl.read_text() == ORIGINAL
    assert run(wl, "pause", "weibo:1234567891", "bluesky:cryptodaily.bsky.social")[0] == 0
    assert diff(ORIGINAL, wl.read_text()) == ["+      enabled: false"]
    assert {a.key for a in load(wl).paused} == {"weibo:1234567891", "bluesky:cryptodaily.bsky.social"}


def test_resume_of_an_account_paused_by_the_defaults_writes_enabled_true(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("defaults: {enabled: false}\naccounts:\n  - {platform: reddit, handle: spez}\n")
    assert load(path).accounts == ()
    assert run(path, "resume", "reddit:spez")[0] == 0
    assert [a.key for a in load(path).accounts] == ["reddit:spez"]


# -- refusals leave the file byte-identical ----------------------------------------------------------------

def test_a_duplicate_is_refused_naming_the_existing_entrys_line(wl: Path) -> None:
    code, out = run(wl, "add", "https://www.reddit.com/user/SPEZ/")
    assert code == 1 and "reddit:spez is already in the watchlist (line 6)" in out
    assert wl.read_text() == ORIGINAL and not wl.with_name("watchlist.yaml.bak").exists()
    code, out = run(wl, "add", "weibo:1234567891")  # an entity's account is found too
    assert code == 1 and "(line 12)" in out
    assert run(wl, "add", "reddit:someone_else")[0] == 0, "control: a new account is added"


def test_an_invalid_handle_is_refused(wl: Path) -> None:
    code, out = run(wl, "add", "weibo:not-a-uid")
    assert code == 1 and "is not a valid Weibo handle" in out
    assert wl.read_text() == ORIGINAL
    assert run(wl, "add", "weibo:2026366955")[0] == 0, "control: a valid uid is added"


def test_an_edit_to_a_broken_file_is_refused_and_the_file_untouched(wl: Path) -> None:
    broken = ORIGINAL.replace("# the end", "    - {platform: myspace, handle: tom}\n# the end")
    wl.write_text(broken)
    code, out = run(wl, "add", "reddit:kn0thing")
    assert code == 1 and "unknown platform 'myspace'" in out
    assert wl.read_bytes() == broken.encode()
    wl.write_text(ORIGINAL)
    assert run(wl, "add", "reddit:kn0thing")[0] == 0, "control: the same add on the valid file is written"


def test_the_result_is_validated_by_banwatchs_parser_before_writing(wl: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = edit_module.parse
    calls = []

    def parse_refusing_edits(text: str, path: str, registry: object = None) -> object:
        calls.append(text)
        if text != ORIGINAL:
            return real(text.replace("kn0thing", "x"), path)
        return real(text, path)

    monkeypatch.setattr(edit_module, "parse", parse_refusing_edits)
    code, out = run(wl, "add", "reddit:kn0thing")
    assert code == 1 and "is not a valid Reddit handle" in out
    assert wl.read_bytes() == ORIGINAL.encode() and len(calls) == 2
    monkeypatch.setattr(edit_module, "parse", real)
    assert run(wl, "add", "reddit:kn0thing")[0] == 0, "control"


def test_an_unknown_key_is_named_and_nothing_written(wl: Path) -> None:
    for command in ("remove", "pause", "resume"):
        code, out = run(wl, command, "reddit:spez", "reddit:nobody")
        assert code == 1 and "not in the watchlist: reddit:nobody" in out, command
        assert wl.read_text() == ORIGINAL
    assert run(wl, "remove", "reddit:spez")[0] == 0, "control: a known key is removed"


# -- writing -------------------------------------------------------------------------------------------------

def test_the_previous_version_is_kept_as_bak(wl: Path) -> None:
    assert run(wl, "add", "reddit:kn0thing")[0] == 0
    first = wl.read_text()
    assert wl.with_name("watchlist.yaml.bak").read_text() == ORIGINAL
    assert run(wl, "remove", "reddit:spez")[0] == 0
    assert wl.with_name("watchlist.yaml.bak").read_text() == first


def test_a_failure_while_writing_leaves_the_original_intact(wl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if ".watchlist.yaml." in name and ".bak" not in name:  # the new watchlist's data fails to reach the disk
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(edit_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        edit_module.write_atomic(wl, ORIGINAL + "# more\n", expected=ORIGINAL)
    assert wl.read_text() == ORIGINAL
    assert sorted(p.name for p in wl.parent.iterdir()) == ["watchlist.yaml", "watchlist.yaml.bak"], "no temp left"
    monkeypatch.setattr(edit_module.os, "fsync", real_fsync)
    edit_module.write_atomic(wl, ORIGINAL + "# more\n", expected=ORIGINAL)
    assert wl.read_text() == ORIGINAL + "# more\n", "control: the same write without the failure"


def test_a_file_changed_during_the_edit_is_not_overwritten(wl: Path) -> None:
    with pytest.raises(edit_module.EditError, match="changed while"):
        edit_module.write_atomic(wl, "accounts: []\n", expected=ORIGINAL.replace("boss", "chief"))
    assert wl.read_text() == ORIGINAL
    edit_module.write_atomic(wl, "accounts: []\n", expected=ORIGINAL)
    assert wl.read_text() == "accounts: []\n", "control"


# -- the database: paused accounts, list -----------------------------------------------------------------------

def test_a_paused_account_stays_in_the_database_is_not_due_and_status_says_paused(wl: Path) -> None:
    db = wl.parent / "b.db"
    store = Store.open(str(db))
    store.sync_watchlist(load(wl), "2026-01-01T00:00:00.000Z")
    assert "x:jack" in store.due("x", "2030-01-01T00:00:00.000Z", 100), "control: due before the pause"
    assert run(wl, "pause", "x:jack")[0] == 0
    store.sync_watchlist(load(wl), "2026-01-01T00:01:00.000Z")
    row = store.db["accounts"].get("x:jack")
    assert row["removed_at"] is None and row["paused_at"] == "2026-01-01T00:01:00.000Z"
    assert "x:jack" not in store.due("x", "2030-01-01T00:00:00.000Z", 100)
    code, out = run(wl, "status", "--csv", db=db)
    assert "x:jack,,unchecked (paused)" in out, out
    assert run(wl, "resume", "x:jack")[0] == 0
    store.sync_watchlist(load(wl), now_iso())
    assert store.db["accounts"].get("x:jack")["paused_at"] is None
    assert "x:jack" in store.due("x", "2030-01-01T00:00:00.000Z", 100), "resumed: due again"
    store.close()


def test_list_shows_the_watchlist_with_status_and_filters(wl: Path) -> None:
    code, out = run(wl, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["account"] for r in rows][:2] == ["reddit:spez", "bluesky:jay.bsky.team"]
    assert {r["status"] for r in rows} == {"unchecked"} and not (wl.parent / "b.db").exists(), "read-only"
    assert run(wl, "pause", "x:jack")[0] == 0
    code, out = run(wl, "list", "--status", "paused", "--csv")
    assert out.splitlines()[1:] == ["x:jack,x,jack,,,14,paused,,"]
    code, out = run(wl, "list", "--tag", "crypto", "--platform", "bluesky", "--json")
    assert [r["account"] for r in json.loads(out)] == ["bluesky:cryptodaily.bsky.social"]


def test_parse_reads_enabled(tmp_path: Path) -> None:
    wl = parse("accounts:\n  - {platform: reddit, handle: aaa, enabled: false}\n  - {platform: reddit, handle: bbb,"
               " enabled: true}\n", "w.yaml")
    assert [a.key for a in wl.paused] == ["reddit:aaa"] and [a.key for a in wl.accounts] == ["reddit:bbb"]
    with pytest.raises(Exception, match="enabled: 'no' is not true or false"):
        parse("accounts:\n  - {platform: reddit, handle: aaa, enabled: no}\n", "w.yaml")


# -- a running service picks the edit up ------------------------------------------------------------------------

SERVICE_HEAD = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s}
defaults: {interval: 2s, confirmations: 2, confirm_delay: 1s}
platforms:
  reddit: {delay: 0s, concurrency: 4}
  bluesky: {delay: 0s}
accounts:
  # watched from the start
  - {platform: reddit, handle: spez}
"""


def test_a_running_service_checks_an_added_account(tmp_path: Path, platforms: FakePlatforms,
                                                   slack: FakeSlack) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(SERVICE_HEAD, encoding="utf-8")
    for key in ("reddit:spez", "bluesky:newcomer.bsky.social"):
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    banwatch = Banwatch(tmp_path, platforms, slack)
    proc = banwatch.start("run")
    try:
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:spez' AND status = 'active'"),
                 30, "the first account's baseline")
        assert not banwatch.rows("SELECT 1 FROM accounts WHERE key = 'bluesky:newcomer.bsky.social'"), "control"
        banwatch("add", "https://bsky.app/profile/newcomer.bsky.social")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'bluesky:newcomer.bsky.social' "
                                       "AND status = 'active'"), 20, "the added account's first check")
        banwatch("pause", "reddit:spez")
        wait_for(lambda: banwatch.rows("SELECT 1 FROM accounts WHERE key = 'reddit:spez' AND paused_at IS NOT NULL"
                                       " AND next_check_at IS NULL"), 20, "the pause applied")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, banwatch.log.read_text()
    assert "watchlist is broken" not in " ".join(p["text"] for p in slack.posted()), "never seen half-written"
