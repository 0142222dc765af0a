"""When each account is checked next. Pure: `now` and times are arguments, randomness is a hash.

- A new account's first check is spread over the time its platform needs to check every new account at its
  politeness (`n × delay / concurrency`), capped at the account's interval. A short watchlist is checked at
  once; 10,000 accounts added together do not all fire in the same second.
- Afterwards an account is checked every `interval` ± 10 % jitter, or after `confirm_delay` while a change
  is pending. The jitter is a hash of the key and the check time, so it is reproducible and still spreads.
- Stored times are wall-clock. When the wall clock steps back, every scheduled check would wait out the
  step as well, so `rebase` moves them back by it. A step forward is left alone: it looks like a machine
  that slept (the monotonic clock stops in suspend), and the due query catches every account up once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from banwatch.monitor.model import Account, Politeness

JITTER = 0.1
STEP_S = 5.0  # a wall-clock jump this much larger or smaller than the monotonic time elapsed is a step


def fraction(*parts: str) -> float:
    """A stable pseudo-random number in [0, 1) from its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def first_checks(accounts: Iterable[Account], now: datetime,
                 politeness: Callable[[str], Politeness]) -> dict[str, datetime]:
    """When each new account is checked first: key -> aware datetime, spread from `now` over the time its platform's
    politeness needs to check every new account of that platform (capped at the account's interval), by a hash of the
    key, so it is reproducible. `politeness`: platform name -> Politeness."""
    accounts = list(accounts)
    per_platform = Counter(a.platform for a in accounts)
    out = {}
    for a in accounts:
        p = politeness(a.platform)
        window = min(a.interval, per_platform[a.platform] * p.delay / max(1, p.concurrency))
        out[a.key] = now + timedelta(seconds=fraction(a.key, "first") * window)
    return out


def next_check(account: Account, checked_at: datetime, pending: bool, due_at: datetime | None = None) -> datetime:
    """When `account` is checked next after `checked_at` (aware datetime): `confirm_delay` seconds later while a
    change is `pending`, else its interval in seconds ±10 % (JITTER), by a hash of key and time.

    The interval counts from when this check was due (`due_at`), not from when it was answered, while it was
    late by less than an interval: otherwise every round would add its wait for a free slot and its fetch to
    the interval, and a service would check each account less often than asked (2,000 accounts every 20 s
    were checked every 24.4 s). A check later than that (the service was stopped) counts from `checked_at`,
    so a backlog is never repaid with a burst."""
    if pending:
        return checked_at + timedelta(seconds=account.confirm_delay)
    spread = 1 + JITTER * (2 * fraction(account.key, checked_at.isoformat()) - 1)
    late = (checked_at - due_at).total_seconds() if due_at is not None else None
    base = due_at if due_at is not None and late is not None and 0 <= late < account.interval else checked_at
    return base + timedelta(seconds=account.interval * spread)


def clock_step(before: tuple[datetime, float], after: tuple[datetime, float]) -> float:
    """Seconds the wall clock jumped between two (wall, monotonic) readings, beyond the time that passed:
    negative when it stepped back. Within ±STEP_S it is jitter, slewing or a late tick, and reads as 0."""
    step = (after[0] - before[0]).total_seconds() - (after[1] - before[1])
    return step if abs(step) > STEP_S else 0.0


def rebase(store: Any, back_s: float, now: str) -> int:
    """After the wall clock stepped back by `back_s` seconds: move every check scheduled after `now` (the new
    wall time) back by the step, so it comes when it was meant to, not `back_s` later. Their spread is kept.

    A check recorded between the step and its detection (at most one tick) is moved too: one early check.
    Returns how many checks moved (Store.move_checks_back runs the UPDATE).
    """
    return int(store.move_checks_back(back_s, now))
