"""When each account is checked next. Pure: `now` and times are arguments, randomness is a hash.

- A new account's first check is spread over the time its platform needs to check every new account at its
  politeness (`n × delay / concurrency`), capped at the account's interval. A short watchlist is checked at
  once; 10,000 accounts added together do not all fire in the same second.
- Afterwards an account is checked every `interval` ± 10 % jitter, or after `confirm_delay` while a change
  is pending. The jitter is a hash of the key and the check time, so it is reproducible and still spreads.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from monitor.model import Account
from spiders.platforms.base import Politeness

JITTER = 0.1


def fraction(*parts: str) -> float:
    """A stable pseudo-random number in [0, 1) from its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def first_checks(accounts: Iterable[Account], now: datetime,
                 politeness: Callable[[str], Politeness]) -> dict[str, datetime]:
    accounts = list(accounts)
    per_platform = Counter(a.platform for a in accounts)
    out = {}
    for a in accounts:
        p = politeness(a.platform)
        window = min(a.interval, per_platform[a.platform] * p.delay / max(1, p.concurrency))
        out[a.key] = now + timedelta(seconds=fraction(a.key, "first") * window)
    return out


def next_check(account: Account, checked_at: datetime, pending: bool) -> datetime:
    if pending:
        return checked_at + timedelta(seconds=account.confirm_delay)
    spread = 1 + JITTER * (2 * fraction(account.key, checked_at.isoformat()) - 1)
    return checked_at + timedelta(seconds=account.interval * spread)
