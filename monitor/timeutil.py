"""ISO-8601 UTC text timestamps: sortable, and readable in any SQLite client."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def later(text: str, seconds: float) -> str:
    return iso(parse_iso(text) + timedelta(seconds=seconds))


class Clock:
    """The service's two clocks. `wall()` is what is stored and compared with stored times; `monotonic()`
    measures intervals and never steps. Tests substitute a fake to step the wall clock."""

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
