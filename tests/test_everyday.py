"""Everyday use: what a new user met in the first days, each with the control that shows the guard is no wider
than it should be."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.monitor.model import Observation, Reply, Status
from banwatch.monitor.state import advance
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import iso, parse_since
from banwatch.monitor.watchlist import parse

NOW = datetime.now(UTC)
WL = parse("accounts:\n  - {platform: weibo, id: \"1234567890\", name: Solo Outlet}\n"
           "  - name: Group\n    accounts: {reddit: grouped}\n"
           "  - {platform: bluesky, handle: never.bsky.social}\n"
           "  - {platform: mastodon, handle: blind@mastodon.social}\n", "w.yaml")


def _observe(store: Store, key: str, status: Status, at: datetime) -> None:
    account = next(a for a in WL.accounts if a.key == key)
    stamp = iso(at)
    obs = Observation(key, status, f"{account.platform}.rule", "why", stamp, http_status=200,
                      evidence=Reply(f"https://example/{key}", 200, {"content-type": "text/plain"}, b"x"))
    store.record(account, obs, advance(store.state(key), status, stamp, 1))


@pytest.fixture
def db(tmp_path: Path) -> str:
    """weibo: active 20 days ago, suspended 10 days ago; reddit: active; mastodon: only ever unknown, three
    times; bluesky: never checked."""
    store = Store.open(tmp_path / "e.db")
    store.sync_watchlist(WL, iso(NOW - timedelta(days=21)))
    _observe(store, "weibo:1234567890", Status.ACTIVE, NOW - timedelta(days=20))
    _observe(store, "weibo:1234567890", Status.SUSPENDED, NOW - timedelta(days=10))
    _observe(store, "reddit:grouped", Status.ACTIVE, NOW - timedelta(days=20))
    for days in (3, 2, 1):
        _observe(store, "mastodon:blind@mastodon.social", Status.UNKNOWN, NOW - timedelta(days=days))
    store.close()
    return str(tmp_path / "e.db")


def run(db: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", db, *args])


def _export(db: str, *args: str) -> list[dict[str, str]]:
    result = run(db, "export", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


# -- 2. one reading of --since --------------------------------------------------------------------------

def test_parse_since_reads_durations_and_iso_dates() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("30d", now) == "2026-02-08T12:00:00.000Z"
    assert parse_since("12h", now) == "2026-03-10T00:00:00.000Z"
    assert parse_since("90m", now) == "2026-03-10T10:30:00.000Z"
    assert parse_since("2026-01-31", now) == "2026-01-31T00:00:00.000Z"
    assert parse_since("2026-01-31T08:00", now) == "2026-01-31T08:00:00.000Z"
    assert parse_since("2026-01-31T08:00:00+02:00", now) == "2026-01-31T06:00:00.000Z"
    for bad in ("yesterday", "2026-13-45", "30", "d", "", "30 days", "2026-02-30"):
        with pytest.raises(ValueError, match="30d.*2026-01-31"):
            parse_since(bad, now)


def test_export_since_a_duration_selects_by_time(db: str) -> None:
    assert [r["to_status"] for r in _export(db, "--since", "30d")] == ["suspended"]
    assert _export(db, "--since", "5d") == []  # control: the change 10 days ago is before 5d
    assert [r["to_status"] for r in _export(db)] == ["suspended"]  # the default: everything


@pytest.mark.parametrize("command", [["export"], ["report", "--out", "/dev/null"]])
@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45", "30"])
def test_every_since_refuses_what_it_cannot_read_the_same_way(db: str, command: list[str], bad: str) -> None:
    result = run(db, *command, "--since", bad)
    assert result.exit_code == 2, result.output
    assert "'--since'" in result.output and "30d" in result.output and "2026-01-31" in result.output, result.output
    assert "change_id" not in result.output  # no header-only CSV


def test_report_since_a_duration_still_works(db: str, tmp_path: Path) -> None:
    result = run(db, "report", "--since", "30d", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0 and "1 change since" in result.output.replace("changes", "change"), result.output


# -- 3. --log-level is honoured by `run` ------------------------------------------------------------------

RUN_WATCHLIST = """\
service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 0.3s}
defaults: {interval: 30s}
platforms: {reddit: {delay: 0s}}
accounts:
  - {platform: reddit, handle: spez}
"""


def _run_briefly(tmp_path: Path, platforms: object, *global_args: str) -> str:
    """`banwatch [global_args] run` until spez has been checked once, then SIGTERM; its stderr."""
    import signal

    from tests.conftest import Banwatch, wait_for
    from tests.test_e2e import ACTIVE, serve

    (tmp_path / "watchlist.yaml").write_text(RUN_WATCHLIST, encoding="utf-8")
    serve(platforms, "reddit:spez", ACTIVE["reddit"])
    banwatch = Banwatch(tmp_path, platforms, None)
    proc = banwatch.start(*global_args, "run")
    try:
        wait_for(lambda: banwatch.rows("SELECT 1 FROM runs WHERE finished_at IS NOT NULL"), 30, "one crawl")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    return banwatch.log.read_text()


@pytest.mark.parametrize(("args", "crawl_lines"), [
    ((), True),  # the default: one INFO line per crawl (docs/cli.md)
    (("--log-level", "warning"), False),
    (("--log-level", "WARNING"), False),
    (("--log-level", "Info"), True),  # control: a level that lets INFO through shows it
])
def test_run_honours_the_log_level_in_any_case(tmp_path: Path, platforms: object, args: tuple[str, ...],
                                               crawl_lines: bool) -> None:
    log = _run_briefly(tmp_path, platforms, *args)
    assert ("reddit: 1 account in" in log) is crawl_lines, log
    assert (" INFO " in log) is crawl_lines, log
    assert "Traceback" not in log


# -- 4. a tab in the watchlist ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "where"), [
    ("accounts:\n\t- {platform: reddit, handle: spez}\n", "w.yaml:2:1:"),
    ("accounts:\n  - platform: reddit\n  \thandle: spez\n", "w.yaml:3:3:"),
    ("accounts:\n  -\t{platform: reddit, handle: spez}\n", "w.yaml:2:4:"),
    ("defaults:\n\tinterval: 10m\naccounts: []\n", "w.yaml:2:1:"),
    ("accounts:\n  - name: X\n    accounts:\n    \tweibo: '1'\n", "w.yaml:4:5:"),
])
def test_a_tab_that_breaks_parsing_is_named_with_its_place(text: str, where: str) -> None:
    from banwatch.monitor.errors import InvalidWatchlist

    with pytest.raises(InvalidWatchlist) as caught:
        parse(text, "w.yaml")
    message = str(caught.value)
    assert message.startswith(where) and "tabs are not allowed in YAML indentation" in message, message
    assert "cannot start any token" not in message


def test_a_tab_where_yaml_allows_one_is_no_error_and_other_errors_keep_their_words() -> None:
    from banwatch.monitor.errors import InvalidWatchlist

    assert parse("accounts:\n  - {platform: reddit,\thandle: spez}   \t# a comment\n", "w.yaml").accounts  # control
    with pytest.raises(InvalidWatchlist) as caught:
        parse("accounts:\n  - {platform: reddit, handle: spez\n", "w.yaml")
    assert "tab" not in str(caught.value) and str(caught.value).startswith("w.yaml:3: syntax:"), str(caught.value)


def test_the_cli_names_the_tab(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("accounts:\n\t- {platform: reddit, handle: spez}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--watchlist", str(tmp_path / "w.yaml"), "validate"])
    assert result.exit_code == 1 and f"{tmp_path / 'w.yaml'}:2:1: syntax: a tab at column 1" in result.output, \
        result.output


# -- 6. status of an account only ever unknown; a single account's name ----------------------------------------

def _status(db: str) -> dict[str, dict[str, str]]:
    import json

    result = run(db, "status", "--json")
    assert result.exit_code == 0, result.output
    return {a["account"]: a for a in json.loads(result.output)["accounts"]}


def test_an_account_checked_but_only_ever_unknown_is_unknown_not_unchecked(db: str) -> None:
    accounts = _status(db)
    blind = accounts["mastodon:blind@mastodon.social"]
    assert blind["last_checked"] and blind["status"] == "unknown", blind
    assert accounts["bluesky:never.bsky.social"]["status"] == "unchecked"  # control: never checked
    assert accounts["weibo:1234567890"]["status"] == "suspended"  # control: a conclusive status stands


def test_a_single_accounts_name_is_its_entity_in_status_history_and_export(db: str) -> None:
    import json

    accounts = _status(db)
    assert accounts["weibo:1234567890"]["entity"] == "Solo Outlet"
    assert accounts["reddit:grouped"]["entity"] == "Group"  # control: an entity's member keeps its entity
    assert accounts["bluesky:never.bsky.social"]["entity"] == ""  # control: no name, nothing invented
    table = run(db, "status").output
    assert "Solo Outlet" in table
    history = json.loads(run(db, "history", "--json").output)
    assert [h["entity"] for h in history] == ["Solo Outlet"]
    assert "weibo:1234567890 (Solo Outlet)" in run(db, "history").output
    assert [r["entity"] for r in _export(db)] == ["Solo Outlet"]


# -- 8. small things --------------------------------------------------------------------------------------

def test_plural_counts() -> None:
    from banwatch.monitor.cli.core import plural

    assert [plural(1, "account"), plural(0, "account"), plural(2, "account")] == ["1 account", "0 accounts",
                                                                                 "2 accounts"]
    assert [plural(1, "entity"), plural(7, "entity"), plural(1, "was"), plural(2, "was")] == [
        "1 entity", "7 entities", "1 was", "2 were"]


def test_messages_with_a_count_of_one_are_singular(db: str, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("accounts:\n  - name: Solo\n    accounts: {reddit: spez}\n", encoding="utf-8")
    validated = CliRunner().invoke(cli, ["--watchlist", str(tmp_path / "one.yaml"), "validate"])
    assert "OK — 1 account, 1 entity, platforms: reddit" in validated.output, validated.output
    reported = run(db, "report", "--since", "30d", "--out", str(tmp_path / "r.html"))
    assert "5 accounts, 1 change since" in reported.output or "4 accounts, 1 change since" in reported.output, \
        reported.output
    retried = run(db, "alerts", "retry", "1", "2")
    assert retried.exit_code == 0 and "0 alerts back in the outbox (2 were not dead)" in retried.output, \
        retried.output


def test_the_check_summary_is_singular_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from banwatch.alerts.dispatch import DeliveryReport
    from banwatch.monitor.cli.check import print_summary

    summary = SimpleNamespace(observations=1, rounds=1, counts={"active": 1}, unknown_rules={}, baselines={},
                              changes=[], pending=[])
    print_summary(summary, (DeliveryReport(), "console"))
    text = capsys.readouterr().out
    assert text.startswith("1 observation in 1 round: 1 active"), text


def test_run_says_where_alerts_go_once(tmp_path: Path, platforms: object) -> None:
    log = _run_briefly(tmp_path, platforms)  # the default level, at which the service logs at INFO
    assert log.count("Slack: disabled") == 1, log
    assert "banwatch run: 1 accounts" in log or "banwatch run: 1 account" in log  # control: the start line stays


def test_every_command_and_option_has_help_and_help_cuts_nothing_off() -> None:
    import click

    def leaves(group: click.Group) -> list[click.Command]:
        out: list[click.Command] = [group]
        for command in group.commands.values():
            out += leaves(command) if isinstance(command, click.Group) else [command]
        return out

    for command in leaves(cli):
        assert command.help, f"{command.name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"{command.name} {param.opts[0]} has no help"
    for args in ([], ["alerts"]):
        listing = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80).output
        commands = listing.split("Commands:", 1)[1]
        assert "..." not in commands, listing
    listing = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    assert "Run the monitor as a long-lived service until SIGINT/SIGTERM." in listing
    assert "docs/cli.md" in CliRunner().invoke(cli, ["run", "--help"]).output


def test_alerts_send_needs_no_watchlist(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no watchlist.yaml here
    for name in ("BANWATCH_WATCHLIST", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    sent = CliRunner().invoke(cli, ["--db", db, "alerts", "send"])
    assert sent.exit_code == 0 and "sent via console" in sent.output, sent.output
    named = CliRunner().invoke(cli, ["--db", db, "--watchlist", str(tmp_path / "nope.yaml"), "alerts", "send"])
    assert named.exit_code == 1 and "file not found" in named.output  # control: a named watchlist must exist


def test_alerts_test_with_slack_unreachable_prints_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    env = {"SLACK_BOT_TOKEN": "xoxb-unreachable", "BANWATCH_SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-m", "banwatch.monitor", "alerts", "test", "--channel", "#c"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "ERROR" not in proc.stderr and "slack_sdk" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("Error: "), proc.stderr


def test_tables_align_wide_cjk_names() -> None:
    from wcwidth import wcswidth

    from banwatch.monitor.cli.core import table

    rows = [("weibo:1234567890", "孙宇晨 Justin Sun", "suspended"), ("reddit:spez", "Spez", "active")]
    lines = table(["account", "entity", "status"], rows).splitlines()
    starts = [wcswidth(line[:line.index(status)]) for line, status in zip(lines[2:], ("suspended", "active"))]
    assert starts[0] == starts[1] == wcswidth(lines[0][:lines[0].index("status")]), "\n".join(lines)
    # control: counted in characters, not display columns, the CJK row's status starts earlier
    assert lines[2].index("suspended") < lines[3].index("active")


def test_the_package_declares_its_license_as_spdx_and_wcwidth() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert any(d.startswith("wcwidth") for d in project["dependencies"])
