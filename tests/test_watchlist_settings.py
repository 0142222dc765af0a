"""Every watchlist setting is declared once (monitor/watchlist/settings.py): its keys, defaults, reading and
docs/watchlist.md's tables all come from that declaration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from banwatch.monitor import watchlist
from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.watchlist import AlertSettings, Retention, ServiceSettings, parse
from banwatch.monitor.watchlist.__main__ import main
from banwatch.monitor.watchlist.docs import render, undocumented
from banwatch.monitor.watchlist.settings import SECTIONS, Section, setting
from banwatch.monitor.watchlist.values import positive_duration

DOC = Path(__file__).resolve().parent.parent / "docs" / "watchlist.md"
ACCOUNTS = "accounts:\n  - {platform: reddit, handle: spez}\n"


def test_the_settings_tables_in_the_docs_are_generated_from_the_declarations() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m banwatch.monitor.watchlist --write-docs docs/watchlist.md"
    assert main(["--check-docs", str(DOC)]) == 0


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    stale = tmp_path / "watchlist.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("| `wave_size` | `3` |", "| `wave_size` | `4` |"),
                     encoding="utf-8")
    assert main(["--check-docs", str(stale)]) == 1
    assert main(["--write-docs", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_every_setting_has_a_doc_and_a_default() -> None:
    assert undocumented() == []


def test_a_setting_without_doc_or_default_is_found() -> None:
    @dataclass(frozen=True)
    class Bare:
        documented: float = setting(5.0, "how often", positive_duration)
        plain: float = 1.0  # not declared with setting(): no doc
        unshowable: object = setting(object(), "a default the docs cannot write")

    assert undocumented((Section("bare", Bare, "must be a mapping"),)) == [
        "bare.plain: no doc", "bare.plain: no default (or none the docs can write: give shown=)",
        "bare.unshowable: no default (or none the docs can write: give shown=)"]


def test_keys_and_defaults_come_from_the_declarations() -> None:
    # the order is the one unknown-key messages list them in
    assert watchlist.TOP_KEYS == ("defaults", "alerts", "platforms", "service", "retention", "accounts", "include")
    assert watchlist.DEFAULT_KEYS == ("interval", "confirmations", "confirm_delay", "tags", "enabled")
    assert watchlist.ALERT_KEYS == ("slack_channel", "routes", "kinds", "wave_window", "wave_size", "retry_base",
                                    "retry_max", "give_up", "weak_findings")
    assert watchlist.PLATFORM_KEYS == ("concurrency", "delay", "batch", "canaries")
    assert watchlist.SERVICE_KEYS == ("tick", "deliver_every", "reload_every", "health_window")
    assert watchlist.RETENTION_KEYS == ("observations", "runs")
    assert watchlist.ACCOUNT_KEYS == ("platform", "handle", "id", "url", "name", "tags", "interval", "confirmations",
                                      "confirm_delay", "enabled")
    assert watchlist.ENTITY_KEYS == ("name", "tags", "interval", "confirmations", "confirm_delay", "enabled",
                                     "accounts")
    assert watchlist.BUILTIN_DEFAULTS == {"interval": 600.0, "confirmations": 2, "confirm_delay": 120.0, "tags": (),
                                          "enabled": True}
    wl = parse(ACCOUNTS, "w.yaml")
    assert (wl.alerts, wl.service, wl.retention) == (AlertSettings(), ServiceSettings(), Retention())
    assert wl.alerts.kinds == frozenset(watchlist.ALERT_KINDS) - {"restricted"}
    assert (wl.service.health_window, wl.retention.runs) == (900.0, 90 * 86400.0)
    for section in SECTIONS:
        assert all(s.convert or s.read for s in section.settings), section.key


@pytest.mark.parametrize("section", [s.key for s in SECTIONS if s.names is None])
def test_every_section_refuses_unknown_keys_naming_its_declared_ones(section: str) -> None:
    with pytest.raises(InvalidWatchlist) as err:
        parse(f"{section}: {{colour: red}}\n" + ACCOUNTS, "w.yaml")
    keys = ", ".join(next(s for s in SECTIONS if s.key == section).keys)
    assert str(err.value.problems[0]) == f"w.yaml:1: {section}.colour: unknown key (expected one of: {keys})"


@pytest.mark.parametrize("text,expected", [
    ("alerts: {retry_base: 10m, retry_max: 1m}\n",
     "w.yaml:1: alerts.retry_max: retry_max (60s) is shorter than retry_base (600s): the first retry would already "
     "wait longer than the cap"),
    ("service: {tick: 0s}\n", "w.yaml:1: tick: '0s' must be longer than 0s"),
    ("retention:\n  runs: 1 year\n", "w.yaml:2: runs: '1 year' is not a duration"),
    ("alerts: {kinds: [suspended, lost]}\n", "w.yaml:1: alerts.kinds: unknown kind(s) ['lost']"),
    ("alerts: {routes: [{tags: [a], channel: '#a', colour: red}]}\n",
     "w.yaml:1: alerts.routes.colour: unknown key (expected one of: tags, channel, apprise)"),
    ("platforms: {reddit: {batch: 0}}\n", "w.yaml:1: batch: '0' is not a whole number (1 or more)"),
    ("platforms: {reddit: {canaries: {lost: spez2}}}\n", "w.yaml:1: platforms.reddit.canaries.lost: not a status"),
    ("service: 5s\n", "w.yaml:1: service: must be a mapping of tick, deliver_every, reload_every, health_window to "
                      "durations such as 5s or 90d"),
])
def test_each_declared_value_reports_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(InvalidWatchlist) as err:
        parse(text + ACCOUNTS, "w.yaml")
    assert str(err.value.problems[0]).startswith(expected), str(err.value)


def test_values_read_through_the_declarations() -> None:
    wl = parse("defaults: {interval: 5m, tags: [a]}\nalerts: {retry_base: 10m, wave_size: 5}\n"
               "platforms: {reddit: {delay: 0s}, bluesky: {canaries: {active: a.bsky.social}}}\n"
               "service: {tick: 1s}\nretention: {runs: 7d}\n"
               "accounts:\n  - {platform: reddit, handle: spez, tags: [b, a], confirmations: 3}\n", "w.yaml")
    assert wl.defaults == {"interval": 300.0, "confirmations": 2, "confirm_delay": 120.0, "tags": ("a",),
                           "enabled": True}
    assert (wl.alerts.retry_base, wl.alerts.retry_max, wl.alerts.wave_size) == (600.0, 600.0, 5)
    assert wl.platforms["reddit"].delay == 0.0 and wl.platforms["reddit"].batch == 50  # the rest: reddit's own
    assert (wl.service.tick, wl.retention.runs) == (1.0, 7 * 86400.0)
    spez, canary = wl.accounts
    assert (spez.tags, spez.confirmations, spez.interval) == (("a", "b"), 3, 300.0)
    assert (canary.key, canary.canary, canary.tags) == ("bluesky:a.bsky.social", "active", ("canary",))
