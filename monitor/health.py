"""Is banwatch blind on a platform? Pure: decided from the platform's recent runs.

A platform is *blind* when every run for at least `window` seconds was ≥ 90 % unknown (login walls,
429s, captchas, network down). One health alert is raised when it goes blind and one when it recovers;
per-account suspensions are never inferred from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

THRESHOLD = 0.9


@dataclass(frozen=True)
class RunStat:
    """One finished run of a platform: when it started (aware UTC), accounts checked, how many read unknown."""

    started_at: datetime
    accounts: int
    unknown: int

    @property
    def blind(self) -> bool:
        """At least THRESHOLD (90 %) of the run's accounts read unknown; False for an empty run."""
        return self.accounts > 0 and self.unknown / self.accounts >= THRESHOLD


@dataclass(frozen=True)
class Assessment:
    """A platform's health from its recent runs: blind or not, since when, and the unknown rate (0..1)."""

    blind: bool
    since: datetime | None  # start of the current all-unknown streak
    unknown_rate: float  # over the runs given


def assess(runs: list[RunStat], now: datetime, window: float) -> Assessment:
    """`runs` newest first. Blind when the unbroken streak of ≥ 90 %-unknown runs began `window` ago or more."""
    total = sum(r.accounts for r in runs)
    rate = sum(r.unknown for r in runs) / total if total else 0.0
    since = None
    for run in runs:
        if not run.blind:
            break
        since = run.started_at
    blind = since is not None and now - since >= timedelta(seconds=window)
    return Assessment(blind=blind, since=since, unknown_rate=rate)


def transition(was_blind: bool, verdict: Assessment, last_run_blind: bool) -> str | None:
    """'blind', 'recovered' or None. Recovery needs a run that was not blind, not merely a short streak."""
    if not was_blind and verdict.blind:
        return "blind"
    if was_blind and not last_run_blind:
        return "recovered"
    return None
