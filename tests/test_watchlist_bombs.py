"""Watchlist bombs: alias expansion is bounded, recursion and deep nesting are refused, and every unreadable
file is a `file:line:` (or `file:`) error — in `validate` and as a live edit under `run` alike."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor import scheduler, watchlist
from banwatch.monitor.cli import cli
from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.scheduler import Service
from banwatch.monitor.settings import SlackSettings
from banwatch.monitor.watchlist import MAX_BYTES, MAX_DEPTH, load, parse

GOOD = """\
alerts: {slack_channel: "#svc"}
accounts:
  - {platform: reddit, handle: spez}
"""


def laughs(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: `width ** levels` scalars if expanded (9 × 9: 387M nodes)."""
    lines = ['l0: &l0 "lol"']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\naccounts: *l{levels}\n"


BOMBS = {
    "laughs": (laughs(), 7, "aliases: the watchlist grows past 500,000 values"),  # l6 = 9**6 scalars
    "self": ("accounts: &x [*x]\n", 1, "aliases: an alias refers to the node that contains it (anchored on line 1)"),
    "cycle": ("accounts:\n  - &x\n    name: X\n    accounts:\n      - *x\n", 5,
              "aliases: an alias refers to the node that contains it (anchored on line 2)"),
    "deep": ("accounts: " + "[" * 10_000 + "]" * 10_000 + "\n", 1, "syntax: "),  # libyaml's own nesting cap
    "deepish": ("accounts:\n  - " + "[" * 900 + "]" * 900 + "\n", 2, f"syntax: nested more than {MAX_DEPTH} levels"),
}


def refused(text: str, tmp_path: Path) -> str:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidWatchlist) as caught:
        load(path)
    return str(caught.value)


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_file_line_errors(name: str, tmp_path: Path) -> None:
    text, line, message = BOMBS[name]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refused(text, tmp_path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.startswith(f"{tmp_path / 'watchlist.yaml'}:{line}: {message}"), error
    assert elapsed < 0.5, f"{name}: {elapsed:.2f}s"
    assert peak < 50 * 2**20, f"{name}: peak {peak / 2**20:.0f} MB"


def test_aliases_are_counted_per_use_not_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """One anchored list of 4 used 4 times: 6 distinct nodes under `accounts`, 21 once expanded."""
    text = "accounts: [&t [a, b, c, d], *t, *t, *t]\n"  # root 1 + key 1 + list 1 + 4 × (1 + 4) = 23 values
    monkeypatch.setattr(watchlist, "MAX_NODES", 22)
    with pytest.raises(InvalidWatchlist, match=r"^w\.yaml:1: aliases: the watchlist grows past 22 values"):
        parse(text, "w.yaml")
    monkeypatch.setattr(watchlist, "MAX_NODES", 23)
    with pytest.raises(InvalidWatchlist, match="each entry must be a mapping"):  # measured, then read as usual
        parse(text, "w.yaml")


def test_a_small_anchor_and_alias_still_load() -> None:
    wl = parse("""\
defaults: {tags: &base [watch]}
alerts:
  slack_channel: "#banwatch"
  routes: [{tags: &crypto [crypto, media], channel: "#crypto"}]
accounts:
  - {platform: reddit, handle: spez, tags: *crypto}
  - &entry {platform: reddit, handle: kn0thing, interval: 5m}
  - name: Example Crypto Daily
    tags: *crypto
    accounts: {weibo: "1234567891", bluesky: cryptodaily.bsky.social}
""", "watchlist.yaml")
    assert [a.key for a in wl.accounts] == ["reddit:spez", "reddit:kn0thing", "weibo:1234567891",
                                            "bluesky:cryptodaily.bsky.social"]
    assert wl.accounts[0].tags == ("watch", "crypto", "media") and wl.accounts[1].interval == 300


def test_a_repeated_alias_entry_is_an_ordinary_duplicate() -> None:
    """An alias is the anchored node itself, so what is read through it is reported on the anchor's line."""
    with pytest.raises(InvalidWatchlist, match=r"^w\.yaml:2: handle: duplicate account reddit:spez \(first declared "
                                               r"on line 2\)$"):
        parse("accounts:\n  - &a {platform: reddit, handle: spez}\n  - *a\n", "w.yaml")


def test_a_quoted_value_in_a_message_is_cut_short() -> None:
    text = laughs(levels=5, width=9).replace("accounts: *l5", "accounts:\n  - {platform: reddit, handle: x, "
                                             "interval: *l5}")
    with pytest.raises(InvalidWatchlist) as caught:
        parse(text, "w.yaml")
    interval = [p for p in caught.value.problems if p.field == "interval"]
    assert interval and interval[0].line == 8 and len(interval[0].message) <= 501


@pytest.mark.parametrize(("content", "expect"), [
    (b"accounts:\n  - {platform: reddit, handle: sp\xffez}\n", ":2: not UTF-8 text (byte 0xff)"),
    (b"accounts: *nope\n", ":1: syntax: found undefined alias"),
    (b"accounts: []\n---\naccounts: []\n", ":2: syntax: but found another document"),
    (b"accounts:\n\t- x\n", ":2:1: syntax: a tab at column 1: tabs are not allowed in YAML indentation"),
    (b"accounts: [\n", ":2: syntax: "),
    (b"accounts: !!python/object:os.system [x]\n", ":1: accounts: each entry must be a mapping"),
])
def test_other_unreadable_files_are_file_line_errors(content: bytes, expect: str, tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_bytes(content)
    with pytest.raises(InvalidWatchlist) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}{expect}"), str(caught.value)


def test_huge_missing_and_directory_are_file_errors(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"accounts: []\n" + b"#" * MAX_BYTES)
    with pytest.raises(InvalidWatchlist, match=rf"huge\.yaml: larger than {MAX_BYTES // 1024} KiB, the most a "
                                               "watchlist may be"):
        load(huge)
    with pytest.raises(InvalidWatchlist, match=r"missing\.yaml: file not found"):
        load(tmp_path / "missing.yaml")
    with pytest.raises(InvalidWatchlist, match=r": is a directory, not a watchlist file$"):
        load(tmp_path)
    at_cap = tmp_path / "at_cap.yaml"
    at_cap.write_bytes(b"accounts: []\n" + b"#" * (MAX_BYTES - 13))
    assert load(at_cap).accounts == ()


@pytest.mark.parametrize("name", ["laughs", "self", "deep"])
def test_validate_prints_file_line_and_no_traceback(name: str, tmp_path: Path) -> None:
    text, line, message = BOMBS[name]
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--watchlist", str(path), "validate"])
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception), result.exception
    assert f"{path}:{line}: {message}" in result.output and "Traceback" not in result.output


def health_alerts(service: Service) -> list[str]:
    return [r["detail"] for r in service.store.db.query("SELECT detail FROM alerts WHERE kind = 'health'")]


def settled(service: Service) -> None:
    """Two reload passes: the service applies a changed file once it reads the same twice in a row."""
    asyncio.run(service.reload())
    asyncio.run(service.reload())


def test_a_bomb_edit_under_run_keeps_the_last_good_watchlist_and_alerts_once(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    service = Service(load(path), str(tmp_path / "banwatch.db"), {},
                      lambda wl: SlackSettings(bot_token=None, channel=wl.slack_channel, api_url=""))
    good = service.watchlist
    try:
        path.write_text(laughs(), encoding="utf-8")
        started = time.perf_counter()
        settled(service)
        assert time.perf_counter() - started < 0.5, "the reload job does not stall the ticks"
        asyncio.run(service.reload())  # the same broken content again: no second alert
        assert service.watchlist is good
        alerts = health_alerts(service)
        assert len(alerts) == 1 and "the watchlist is broken; the last good one keeps running." in alerts[0]
        assert f"{path}:7: aliases: the watchlist grows past 500,000 values" in alerts[0]

        path.write_text(BOMBS["self"][0], encoding="utf-8")
        settled(service)
        assert service.watchlist is good and f"{path}:1: aliases: an alias refers" in health_alerts(service)[-1]

        def exhausted(_path: str) -> None:  # should memory or the stack still run out, it is a broken edit too
            raise MemoryError

        monkeypatch.setattr(scheduler, "load", exhausted)
        path.write_text(GOOD + "  - {platform: reddit, handle: later}\n", encoding="utf-8")
        settled(service)
        assert service.watchlist is good and health_alerts(service)[-1].endswith(f"{path}: cannot be loaded "
                                                                                  "(MemoryError)")
        assert len(health_alerts(service)) == 3
        monkeypatch.undo()

        path.write_text(GOOD + "  - {platform: reddit, handle: fixed}\n", encoding="utf-8")
        settled(service)
        assert [a.key for a in service.watchlist.accounts] == ["reddit:spez", "reddit:fixed"]
        assert health_alerts(service)[-1] == "the watchlist is fixed and reloaded."
    finally:
        service.store.close()


def test_a_save_caught_half_written_is_not_a_broken_watchlist(tmp_path: Path) -> None:
    """An editor that truncates then writes: the reload that sees the empty file raises no health alert; the
    finished file is applied on the next passes. Control: the same empty file left in place is a broken edit."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    service = Service(load(path), str(tmp_path / "banwatch.db"), {},
                      lambda wl: SlackSettings(bot_token=None, channel=wl.slack_channel, api_url=""))
    try:
        path.write_text("", encoding="utf-8")  # caught mid-save
        asyncio.run(service.reload())
        path.write_text(GOOD + "  - {platform: reddit, handle: added}\n", encoding="utf-8")
        settled(service)
        assert health_alerts(service) == []
        assert [a.key for a in service.watchlist.accounts] == ["reddit:spez", "reddit:added"]
        path.write_text("", encoding="utf-8")
        settled(service)
        assert len(health_alerts(service)) == 1 and "the watchlist is broken" in health_alerts(service)[0]
    finally:
        service.store.close()


def test_a_list_written_out_in_full_is_never_refused_for_its_values_and_aliases_still_are(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The value cap bounds what aliases add, not the size of a list written out: a watchlist of more values
    than MAX_NODES, with no alias, loads (its size is bounded by MAX_BYTES); the control, with the cap taken
    as absolute (EXPANSION 0), refuses it. A laughs file under the same cap is refused either way."""
    from banwatch.monitor import watchlist
    from banwatch.monitor.watchlist import yaml_safety

    monkeypatch.setattr(watchlist, "MAX_NODES", 1_000)
    text = "accounts:\n" + "".join(f"  - {{platform: reddit, handle: user{i}, tags: [a, b]}}\n" for i in range(300))
    assert len(parse(text, "w.yaml").accounts) == 300  # ~2,700 values, no alias
    with pytest.raises(InvalidWatchlist, match="grows past 1,000 values"):
        parse(laughs(), "bomb.yaml")
    monkeypatch.setattr(yaml_safety, "EXPANSION", 0)
    with pytest.raises(InvalidWatchlist, match="grows past 1,000 values"):
        parse(text, "w.yaml")
