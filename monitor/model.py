"""Plain values passed between the layers: no I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    NOT_FOUND = "not_found"
    DEACTIVATED = "deactivated"
    RESTRICTED = "restricted"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @property
    def conclusive(self) -> bool:
        """Unknown proves nothing; every other status is a finding."""
        return self is not Status.UNKNOWN


@dataclass(frozen=True)
class Account:
    """One account on one platform, as the watchlist declares it."""

    platform: str
    handle: str
    key: str  # "platform:normalised-handle", unique across the watchlist
    name: str | None = None  # display name given in the watchlist (single accounts)
    entity: str | None = None  # the influencer or outlet this account belongs to
    tags: tuple[str, ...] = ()
    interval: float = 600.0
    confirmations: int = 2
    confirm_delay: float = 120.0
    line: int = 0  # watchlist line, for messages
    platform_id: str | None = None  # stable id when the store knows it
    canary: str | None = None  # a canary's known status: it checks the classifier, it is never alerted


@dataclass(frozen=True)
class Reply:
    """An HTTP response reduced to what a classifier may look at."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    redirects: tuple[str, ...] = ()  # URLs redirected from, in order, before `url` answered

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Verdict:
    """What a classifier concluded from one reply, and why."""

    status: Status
    rule: str  # e.g. "reddit.is_suspended"; every verdict names the rule that produced it
    reason: str = ""
    platform_id: str | None = None
    display_name: str | None = None
    handle: str | None = None  # the handle the platform reports now (a rename shows here)
    weak: bool = False  # the rule's answer is also given for accounts merely hidden from this client


@dataclass(frozen=True)
class Observation:
    """A verdict about one account at one moment, with the reply that proved it."""

    account_key: str
    status: Status
    rule: str
    reason: str
    checked_at: str  # ISO-8601 UTC
    http_status: int | None = None
    platform_id: str | None = None
    display_name: str | None = None
    evidence: Reply | None = None
    probes: tuple[str, ...] = field(default=())  # URLs asked, in order
    handle: str | None = None  # the handle the platform reports now
    weak: bool = False  # a conclusive status read by a weak rule (see Platform.strength)


@dataclass(frozen=True)
class Politeness:
    """How hard banwatch may ask one platform: parallel requests, delay between them, accounts per tick.

    Each platform declares its own (spiders.platforms); the watchlist's `platforms:` section overrides it."""

    concurrency: int = 2
    delay: float = 1.0  # seconds between requests in one download slot
    batch: int = 100  # most accounts of this platform started per scheduler tick


DRIFT_SUFFIXES = (".unrecognised", ".classifier_error")


def drift_rule(rule: str) -> bool:
    """An unknown rule saying the platform's answer is not the one its classifier knows (the page may have
    changed): `<platform>.unrecognised`, `<platform>.classifier_error`, or a named rule
    (`x.user_unavailable:new_value`, see spiders.platforms.base.named_rule). Walls, rate limits and network
    failures are not drift."""
    return ":" in rule or rule.endswith(DRIFT_SUFFIXES)
