"""The one time module: ISO-8601 UTC text timestamps, and every way banwatch shows a time to people.

Timestamps travel as text, `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC, milliseconds, a literal `Z`): sortable as
strings, and readable in any SQLite client (SQLite's own `strftime('%Y-%m-%dT%H:%M:%fZ', …)` writes the same
form). `datetime` values appear only inside a computation; epoch seconds only at the edges that need them
(Slack's `ts`, lease expiry).

The human formats (`day`, `minute`, `minute_utc`, `span`) slice the stored text rather than parse it, so they
show exactly the stored wall-clock digits and never fail on a stamp they are given.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    """An aware `datetime` (any zone) -> its stored text in UTC, '2026-11-20T10:42:13.120Z'.

    Microseconds are truncated to milliseconds. A naive `datetime` is taken as local time (`astimezone`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    """The wall clock now, as stored text ('2026-11-20T10:42:13.120Z')."""
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    """Stored text (or any ISO-8601 text `datetime.fromisoformat` reads; a `Z` means UTC) -> `datetime`.

    Aware when the text carries `Z` or an offset, naive otherwise. Raises ValueError on text that is no
    ISO-8601 timestamp or date."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def later(text: str, seconds: float) -> str:
    """Stored text `seconds` (float, negative for earlier) after `text` -> stored text.

    Raises ValueError as `parse_iso` does."""
    return iso(parse_iso(text) + timedelta(seconds=seconds))


def epoch(text: str) -> float:
    """Stored text -> POSIX seconds (float). Raises ValueError as `parse_iso` does."""
    return parse_iso(text).timestamp()


def from_epoch(seconds: float) -> str:
    """POSIX seconds (float) -> stored text ('2026-11-20T10:42:13.120Z')."""
    return iso(datetime.fromtimestamp(seconds, UTC))


def day(stamp: str) -> str:
    """For people: the date of stored text, '2026-11-20T10:42:13.120Z' -> '2026-11-20' (UTC)."""
    return stamp[:10]


def minute(stamp: str) -> str:
    """For people, where UTC is stated once nearby: '2026-11-20T10:42:13.120Z' -> '2026-11-20 10:42'."""
    return stamp[:16].replace("T", " ")


def minute_utc(stamp: str) -> str:
    """For people, standing alone: '2026-11-20T10:42:13.120Z' -> '2026-11-20 10:42 UTC'."""
    return stamp[:10] + " " + stamp[11:16] + " UTC"


def span(start: str, end: str) -> str:
    """For people: how long from stored text `start` to `end`, in whole units and rounded down.

    '3d 4h' when it is a day or more, else '4h 12m' (seconds dropped). Raises ValueError as `parse_iso`
    does."""
    seconds = int((parse_iso(end) - parse_iso(start)).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


_AGO = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
SINCE_FORMS = ("a duration back from now (30d, 12h, 90m, 1d12h) or an ISO date or time "
               "(2026-01-31, 2026-01-31T08:00, 2026-01-31T08:00:00Z; UTC unless an offset is given)")


def parse_since(text: str, now: datetime) -> str:
    """The one reading of every `--since`: a duration back from the aware `now` ('30d', '12h', '90m', '2w',
    '1d12h') or an ISO-8601 date or date-time (naive means UTC) -> stored text.

    Raises ValueError naming the accepted forms (SINCE_FORMS) for anything else: a word ('yesterday'), an
    impossible date ('2026-13-45'), a bare number. A time in the future is accepted (it selects nothing)."""
    raw = text.strip()
    m = _AGO.match(raw)
    if raw and m and any(m.groups()):
        w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return iso(now - timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s))
    if re.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", raw):
        try:
            moment = parse_iso(raw)
        except ValueError:
            pass
        else:
            return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    raise ValueError(f"{text!r} is not a time: use {SINCE_FORMS}")


class Clock:
    """The service's two clocks. `wall()` is what is stored and compared with stored times; `monotonic()`
    measures intervals and never steps. Tests substitute a fake to step the wall clock."""

    def wall(self) -> datetime:
        """The wall clock now, an aware UTC `datetime` (it may step, back or forward)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds (float) on a clock that never steps, for intervals only (no meaning as a date)."""
        return time.monotonic()
