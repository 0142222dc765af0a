"""Blind / recovered: decided from a platform's recent runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from banwatch.monitor.health import RunStat, assess, transition

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def runs(*rates: tuple[int, int, int]) -> list[RunStat]:
    """(minutes ago, accounts, unknown), newest first."""
    return [RunStat(NOW - timedelta(minutes=m), n, u) for m, n, u in rates]


def test_blind_only_after_the_whole_window() -> None:
    short = assess(runs((0, 10, 10), (5, 10, 10), (10, 10, 9)), NOW, 900)
    assert not short.blind and short.since == NOW - timedelta(minutes=10)
    long = assess(runs((0, 10, 10), (5, 10, 10), (10, 10, 9), (16, 10, 10)), NOW, 900)
    assert long.blind and long.unknown_rate == 29 / 30, "the rate is over the window: the run 16m ago only extends the streak"


def test_one_good_run_breaks_the_streak() -> None:
    verdict = assess(runs((0, 10, 10), (5, 10, 2), (16, 10, 10), (20, 10, 10)), NOW, 900)
    assert not verdict.blind and verdict.since == NOW


def test_transitions_alert_once_each_way() -> None:
    blind = assess(runs((0, 10, 10), (16, 10, 10)), NOW, 900)
    assert transition(False, blind, last_run_blind=True) == "blind"
    assert transition(True, blind, last_run_blind=True) is None
    assert transition(True, assess(runs((0, 10, 0)), NOW, 900), last_run_blind=False) == "recovered"
    assert transition(False, assess(runs((0, 10, 0)), NOW, 900), last_run_blind=False) is None


def test_empty_runs_are_not_blind() -> None:
    assert not assess([], NOW, 900).blind and not RunStat(NOW, 0, 0).blind
