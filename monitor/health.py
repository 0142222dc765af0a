"""Is banwatch blind on a platform? Pure: decided from the platform's recent runs.

ONE window, `service.health_window` (default 15 min; the running service records it in the `service` table as
`health_window`, in seconds): `window_health` computes, from a platform's finished runs that started in the
window (plus the newest run before it, to see whether the streak reaches back past the window's start), the
numbers that the blind alert, `banwatch status` and the `platform_health` view all show: checks, unknown,
unknown share, the unknown rules with their counts, blind or ok, and since when. The view computes the same
quantities in SQL (monitor.schema, m010); tests/test_health_numbers.py holds them equal.

A run is *blind* when ≥ 90 % of its checks read unknown (login walls, 429s, captchas, network down). The
*streak* is the unbroken run of blind runs up to the newest; its first run is `since`. The platform is blind
when the streak began at or before the window's start (every run in the window is blind, and so was the one
before it); a streak that began inside the window says how long until it would make the platform blind.
One health alert is raised when it goes blind and one when it recovers; per-account suspensions are never
inferred from it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

THRESHOLD = 0.9
DEFAULT_WINDOW = 900.0  # service.health_window's default, also the view's when no service recorded one
TOP_RULES = 3  # the unknown rules named in the alert, `status` and the view


@dataclass(frozen=True)
class RunStat:
    """One finished run of a platform: when it started (aware UTC), accounts checked, how many read unknown,
    and how many unknown observations each rule produced (empty when not recorded)."""

    started_at: datetime
    accounts: int
    unknown: int
    rules: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def blind(self) -> bool:
        """At least THRESHOLD (90 %) of the run's accounts read unknown; False for an empty run. In integers
        (10·unknown ≥ 9·accounts), exactly as the view decides it."""
        return self.accounts > 0 and 10 * self.unknown >= 9 * self.accounts


def run_stat(row: dict[str, Any]) -> RunStat:
    """A `runs` row (started_at, accounts, unknown, unknown_rules JSON or NULL) -> RunStat."""
    return RunStat(datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")), row["accounts"] or 0,
                   row["unknown"] or 0, json.loads(row["unknown_rules"]) if row.get("unknown_rules") else {})


@dataclass(frozen=True)
class Assessment:
    """A platform's health over the window: blind or not, since when, and the numbers behind it."""

    blind: bool
    since: datetime | None  # the first run of the current all-unknown streak (None: the newest run was not blind)
    unknown_rate: float  # unknown / checks over the window's runs, 0..1 (0.0 without checks)
    checks: int = 0  # accounts checked by the runs that started in the window
    unknown: int = 0  # of which read unknown
    rules: tuple[tuple[str, int], ...] = ()  # unknown observations per rule, most first (then by name)
    window: float = DEFAULT_WINDOW  # seconds
    blind_in: float | None = None  # not blind, streak under way: seconds until it makes the platform blind

    @property
    def label(self) -> str:
        """`blind`, `ok (blind in 4m)` (a streak under way, minutes rounded up) or `ok`; the view's `health`."""
        if self.blind:
            return "blind"
        if self.blind_in is not None:
            return f"ok (blind in {minutes(self.blind_in)}m)"
        return "ok"

    def rules_text(self, top: int = TOP_RULES) -> str:
        """`reddit.blocked ×7, reddit.rate_limited ×2`: the `top` most frequent unknown rules ('' for none)."""
        return ", ".join(f"{rule} ×{n}" for rule, n in self.rules[:top])

    def numbers(self) -> str:
        """`7 of 7 checks unknown (100%) in the last 15m (reddit.blocked ×7)`: what the alert quotes."""
        why = self.rules_text() or "no rule recorded"
        return (f"{self.unknown} of {self.checks} checks unknown ({self.unknown_rate:.0%}) in the last "
                f"{span(self.window)} ({why})")


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up, at least 1 (the view: (s + 59) / 60 over whole seconds)."""
    return max(1, (round(seconds) + 59) // 60)


def span(seconds: float) -> str:
    """900 -> '15m', 7200 -> '2h', 20 -> '20s', 90 -> '90s'."""
    s = round(seconds)
    if s and s % 3600 == 0:
        return f"{s // 3600}h"
    if s and s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def window_health(runs: Iterable[RunStat], now: datetime, window: float) -> Assessment:
    """The platform's health over the `window` seconds before `now`, from its finished runs (any order; runs
    older than the window's start count only through the newest of them: does the streak reach past it).

    Numbers (checks, unknown, share, rules) over the runs that started at or after now − window; blind when the
    streak of ≥ 90 %-unknown runs began at or before now − window."""
    start = now - timedelta(seconds=window)
    ordered = sorted(runs, key=lambda r: r.started_at, reverse=True)
    inside = [r for r in ordered if r.started_at >= start]
    edge = next((r for r in ordered if r.started_at < start), None)
    checks = sum(r.accounts for r in inside)
    unknown = sum(r.unknown for r in inside)
    counted: Counter[str] = Counter()
    for r in inside:
        counted.update(r.rules)
    since = None
    for run in [*inside, *([edge] if edge else [])]:
        if not run.blind:
            break
        since = run.started_at
    blind = since is not None and since <= start
    blind_in = None if blind or since is None else (since - start).total_seconds()
    return Assessment(blind=blind, since=since, unknown_rate=unknown / checks if checks else 0.0, checks=checks,
                      unknown=unknown, rules=tuple(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))),
                      window=window, blind_in=blind_in)


def assess(runs: list[RunStat], now: datetime, window: float) -> Assessment:
    """`window_health` (kept for callers that say `assess`)."""
    return window_health(runs, now, window)


def transition(was_blind: bool, verdict: Assessment, last_run_blind: bool) -> str | None:
    """'blind', 'recovered' or None. Recovery needs a run that was not blind, not merely a short streak."""
    if not was_blind and verdict.blind:
        return "blind"
    if was_blind and not last_run_blind:
        return "recovered"
    return None
