"""`include:` — accounts from CSV files: read as the same entries written in YAML, errors pointing into the CSV
(file:line: column), duplicates across files named both ways, bounded, and watched for edits under `run`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor import watchlist
from banwatch.monitor.cli import cli
from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.scheduler import Service
from banwatch.monitor.settings import SlackSettings
from banwatch.monitor.watchlist import load, parse

HEAD = """\
defaults: {interval: 10m, confirmations: 3, tags: [watch]}
alerts: {slack_channel: "#svc"}
"""
CSV = """\
platform,handle,url,entity,tags
reddit,Spez,,,crypto;media
,,https://weibo.com/u/1234567890,,
bluesky,cryptodaily.bsky.social,,Example Crypto Daily,
mastodon,cd@mastodon.social,,Example Crypto Daily,crypto
,,https://hachyderm.io/@Molly0xFFF,, media ; crypto
"""
# The same accounts written under `accounts:`. A CSV entity is an entity with no settings of its own; tags on a
# row are the account's own, as on a single entry.
YAML_ACCOUNTS = """\
accounts:
  - {platform: reddit, handle: Spez, tags: [crypto, media]}
  - url: https://weibo.com/u/1234567890
  - name: Example Crypto Daily
    accounts: {bluesky: cryptodaily.bsky.social}
  - {platform: mastodon, handle: cd@mastodon.social, tags: [crypto]}
  - {url: "https://hachyderm.io/@Molly0xFFF", tags: [media, crypto]}
"""


def write(folder: Path, csv: str = CSV, head: str = HEAD, include: str = "include: accounts.csv\n",
          name: str = "accounts.csv") -> Path:
    (folder / name).write_text(csv, encoding="utf-8")
    path = folder / "watchlist.yaml"
    path.write_text(head + include, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidWatchlist) as err:
        load(path)
    return [str(p) for p in err.value.problems]


def shape(wl: watchlist.Watchlist) -> list[tuple[object, ...]]:
    return [(a.key, a.entity, a.tags, a.interval, a.confirmations, a.confirm_delay, a.name) for a in wl.accounts]


def test_a_csv_gives_the_same_accounts_as_the_same_entries_in_yaml(tmp_path: Path) -> None:
    from_csv = load(write(tmp_path))
    from_yaml = parse(HEAD + YAML_ACCOUNTS, "watchlist.yaml")
    mastodon = [a for a in from_yaml.accounts if a.key == "mastodon:cd@mastodon.social"][0]
    # the YAML entity holds only the bluesky account; the CSV's mastodon row joins the entity by name
    expected = [(k, "Example Crypto Daily" if k == mastodon.key else e, t, i, c, d, n)
                for k, e, t, i, c, d, n in shape(from_yaml)]
    assert shape(from_csv) == expected
    assert [a.key for a in from_csv.accounts] == [
        "reddit:spez", "weibo:1234567890", "bluesky:cryptodaily.bsky.social", "mastodon:cd@mastodon.social",
        "mastodon:molly0xfff@hachyderm.io"]
    assert from_csv.accounts[0].tags == ("watch", "crypto", "media") and from_csv.accounts[0].interval == 600
    assert [a.line for a in from_csv.accounts] == [2, 3, 4, 5, 6]  # the CSV's lines
    assert [(e.name, e.tags) for e in from_csv.entities] == [("Example Crypto Daily", ("watch",))]
    assert from_csv.includes == (str(tmp_path / "accounts.csv"),)


def test_csv_rows_join_an_entity_the_yaml_declares_and_mix_with_yaml_accounts(tmp_path: Path) -> None:
    yaml = ("accounts:\n  - {platform: reddit, handle: spez}\n  - name: Outlet\n    tags: [media]\n"
            "    interval: 1h\n    accounts: {x: outlet}\n")
    wl = load(write(tmp_path, "platform,handle,entity\nbluesky,outlet.bsky.social,Outlet\nreddit,kn0thing,\n",
                    include="include: [accounts.csv]\n" + yaml))
    assert [(a.key, a.entity, a.tags, a.interval) for a in wl.accounts] == [
        ("reddit:spez", None, ("watch",), 600), ("x:outlet", "Outlet", ("watch", "media"), 3600),
        ("bluesky:outlet.bsky.social", "Outlet", ("watch", "media"), 3600), ("reddit:kn0thing", None, ("watch",), 600)]
    assert [e.name for e in wl.entities] == ["Outlet"]


def test_several_csv_files_a_header_in_any_case_a_bom_blank_lines_and_quoted_cells(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "b.csv").write_text('\ufeffPlatform, ID\n\nweibo,"1234567890"\n', encoding="utf-8")
    wl = load(write(tmp_path, 'platform,handle,tags\nreddit,spez,"a;b"\n', name="a.csv",
                    include="include:\n  - a.csv\n  - lists/b.csv\n"))
    assert [(a.key, a.tags, a.line) for a in wl.accounts] == [
        ("reddit:spez", ("watch", "a", "b"), 2), ("weibo:1234567890", ("watch",), 3)]
    assert wl.includes == (str(tmp_path / "a.csv"), str(tmp_path / "lists" / "b.csv"))


def test_every_error_names_the_csv_file_line_and_column_all_at_once(tmp_path: Path) -> None:
    csv = ("platform,handle,url,tags\n"
           "reddit,spez,,\n"
           "weibo,screen-name,,\n"                         # 3: not a uid
           "myspace,tom,,\n"                              # 4: unknown platform
           "reddit,,,\n"                                  # 5: no handle
           ",,https://x.com/i/web/status/1,\n"            # 6: a post without its author
           "reddit,kn0thing,https://reddit.com/u/kn0thing,\n"  # 7: both
           "mastodon,evil@127.0.0.1,,\n"                  # 8: not a server banwatch may ask
           "reddit,a,b,c,d\n"                             # 9: too many cells
           "reddit,u/SPEZ,,\n")                           # 10: the same account again
    path = write(tmp_path, csv)
    name = tmp_path / "accounts.csv"
    found = problems(path)
    assert [p.split(": ", 2)[:2] for p in found] == [
        [f"{name}:3", "handle"], [f"{name}:4", "platform"], [f"{name}:5", "handle"], [f"{name}:6", "url"],
        [f"{name}:7", "url"], [f"{name}:8", "handle"], [f"{name}:9", "5 cells, but the header names 4 columns (a "
                                                                        "cell with a comma must be quoted)"],
        [f"{name}:10", "handle"]]
    assert "is not a valid Weibo handle" in found[0] and "unknown platform 'myspace'" in found[1]
    assert "give either handle or url, not both" in found[4]
    assert found[-1].endswith("duplicate account reddit:spez (first declared on line 2)")
    # the CLI prints them the same way, one a line, and exits 1
    result = CliRunner().invoke(cli, ["--watchlist", str(path), "validate"])
    assert result.exit_code == 1 and f"{name}:4: platform: unknown platform 'myspace'" in result.output


def test_a_duplicate_across_yaml_and_csv_is_refused_naming_both(tmp_path: Path) -> None:
    yaml = "accounts:\n  - {platform: reddit, handle: spez}\n"
    path = write(tmp_path, "platform,url\n,https://old.reddit.com/u/Spez\n", include="include: accounts.csv\n" + yaml)
    assert problems(path) == [f"{tmp_path / 'accounts.csv'}:2: url: duplicate account reddit:spez (first declared "
                              f"at {path}:5)"]
    # and across two CSV files
    (tmp_path / "more.csv").write_text("platform,handle\nweibo,1234567890\nreddit,kn0thing\n", encoding="utf-8")
    (tmp_path / "again.csv").write_text("platform,handle\nreddit,KN0THING\n", encoding="utf-8")
    path.write_text(HEAD + "include: [more.csv, again.csv]\n", encoding="utf-8")
    assert problems(path) == [f"{tmp_path / 'again.csv'}:2: handle: duplicate account reddit:kn0thing (first "
                              f"declared at {tmp_path / 'more.csv'}:3)"]


@pytest.mark.parametrize(("header", "message"), [
    ("platform,handle,nmae", "1: header: unknown column 'nmae' (expected: platform, handle, id, url, entity, tags)"),
    ("handle,tags", "1: header: no 'platform' column: the first row must name the columns"),
    ("platform,entity", "1: header: needs a 'handle', 'id' or 'url' column"),
    ("platform,handle,Handle", "1: header: column 'handle' appears twice"),
    ("reddit,spez", "1: header: unknown column 'reddit'"),  # no header row at all
    ("platform,handle,", "1: header: column 3 has no name (name it, or delete the column)"),
])
def test_a_bad_header_is_an_error_naming_the_file(tmp_path: Path, header: str, message: str) -> None:
    found = problems(write(tmp_path, header + "\nreddit,spez\n"))
    assert found[0].startswith(f"{tmp_path / 'accounts.csv'}:{message}")


def test_a_missing_file_and_other_unreadable_includes_are_clear_errors(tmp_path: Path) -> None:
    path = write(tmp_path, include="include: [accounts.csv, missing.csv, lists]\n")
    (tmp_path / "lists").mkdir()
    assert problems(path) == [f"{path}:3: include: {tmp_path / 'missing.csv'}: file not found",
                              f"{path}:3: include: {tmp_path / 'lists'}: is a directory, not a CSV file"]
    (tmp_path / "empty.csv").write_text("\n", encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("platform,handle\nreddit,caf\u00e9\n".encode("latin-1"))
    path.write_text(HEAD + "include: [empty.csv, latin1.csv, empty.csv, {a: b}]\n", encoding="utf-8")
    assert problems(path) == [
        f"{path}:3: include: empty.csv is included twice (first on line 3)",
        f"{path}:3: include: must be the path of a CSV file (or a list of them), not {{'a': 'b'}}",
        f"{tmp_path / 'empty.csv'}: empty: the first row must name the columns (platform, handle, ...)",
        f"{tmp_path / 'latin1.csv'}:2: not UTF-8 text (byte 0xe9); save it as UTF-8 CSV"]
    # a watchlist of includes alone needs no `accounts:`; without either, `accounts` is missing
    assert load(write(tmp_path)).accounts
    path.write_text(HEAD, encoding="utf-8")
    assert problems(path) == [f"{path}:1: accounts: missing: list the accounts to watch under 'accounts:'"]


def test_the_included_files_are_bounded_in_rows_and_bytes_together(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "platform,handle\n" + "".join(f"reddit,user_{i}\n" for i in range(10))  # 10 rows, 166 bytes
    (tmp_path / "b.csv").write_text(rows.replace("user_", "other_"), encoding="utf-8")
    path = write(tmp_path, rows, include="include: [accounts.csv, b.csv]\n")
    monkeypatch.setattr(watchlist, "MAX_INCLUDE_ROWS", 20)  # control: exactly at the cap loads
    assert len(load(path).accounts) == 20
    monkeypatch.setattr(watchlist, "MAX_INCLUDE_ROWS", 19)
    assert problems(path) == [f"{tmp_path / 'b.csv'}:11: more than 19 rows in the included CSV files, the most a "
                              "watchlist may include (docs/watchlist.md)"]
    monkeypatch.setattr(watchlist, "MAX_INCLUDE_ROWS", 20)
    size = len(rows.encode()) + len(rows.replace("user_", "other_").encode())
    monkeypatch.setattr(watchlist, "MAX_INCLUDE_BYTES", size)  # control: exactly at the cap loads
    assert len(load(path).accounts) == 20
    monkeypatch.setattr(watchlist, "MAX_INCLUDE_BYTES", size - 1)
    assert problems(path) == [f"{tmp_path / 'b.csv'}: the included CSV files are larger than 0 KiB together, the "
                              "most a watchlist may include (docs/watchlist.md)"]
    # the documented caps
    assert (watchlist.csv_include.MAX_INCLUDE_BYTES, watchlist.csv_include.MAX_INCLUDE_ROWS) == (16 << 20, 250_000)


def settled(service: Service) -> None:
    """Two reload passes: the service applies a changed file once it reads the same twice in a row."""
    asyncio.run(service.reload())
    asyncio.run(service.reload())


def test_run_reloads_an_edited_csv_like_an_edited_watchlist(tmp_path: Path) -> None:
    path = write(tmp_path, "platform,handle\nreddit,spez\n")
    service = Service(load(path), str(tmp_path / "banwatch.db"), {},
                      lambda wl: SlackSettings(bot_token=None, channel=wl.slack_channel, api_url=""))
    csv = tmp_path / "accounts.csv"
    try:
        settled(service)
        first = service.watchlist
        assert [a.key for a in first.accounts] == ["reddit:spez"]
        csv.write_text("platform,handle\nreddit,spez\nreddit,kn0thing\n", encoding="utf-8")
        settled(service)
        assert [a.key for a in service.watchlist.accounts] == ["reddit:spez", "reddit:kn0thing"]
        # a CSV that goes missing is a broken watchlist: the last good one keeps running, one health alert
        good = service.watchlist
        csv.unlink()
        settled(service)
        asyncio.run(service.reload())
        alerts = [r["detail"] for r in service.store.db.query("SELECT detail FROM alerts WHERE kind = 'health'")]
        assert service.watchlist is good and len(alerts) == 1 and f"{csv}: file not found" in alerts[0]
        csv.write_text("platform,handle\nreddit,spez\n", encoding="utf-8")
        settled(service)
        assert [a.key for a in service.watchlist.accounts] == ["reddit:spez"]
    finally:
        service.store.close()


def test_control_an_unchanged_csv_is_not_reloaded(tmp_path: Path) -> None:
    path = write(tmp_path)
    service = Service(load(path), str(tmp_path / "banwatch.db"), {},
                      lambda wl: SlackSettings(bot_token=None, channel=wl.slack_channel, api_url=""))
    try:
        loaded = service.watchlist
        settled(service)
        settled(service)
        assert service.watchlist is loaded
    finally:
        service.store.close()


def test_the_documented_example_loads(tmp_path: Path) -> None:
    import re

    doc = (Path(__file__).resolve().parent.parent / "docs" / "watchlist.md").read_text(encoding="utf-8")
    section = doc.split("## Large lists: CSV include", 1)[1]
    yaml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    csv = re.search(r"```csv\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    path = write(tmp_path, csv, head=yaml, include="")
    wl = load(path)
    assert [(a.key, a.entity, a.tags) for a in wl.accounts] == [
        ("reddit:spez", None, ("watch",)), ("reddit:kn0thing", None, ("watch", "founders")),
        ("weibo:1234567890", None, ("watch", "crypto", "media")),
        ("bluesky:cryptodaily.bsky.social", "Example Crypto Daily", ("watch",)),
        ("mastodon:cd@mastodon.social", "Example Crypto Daily", ("watch", "crypto"))]
