"""Plain values passed between the layers: no I/O here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    """What an account looks like on its platform. Stored and compared by value ("active", ...)."""

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
    paused: bool = False  # `enabled: false`: kept in the database, never checked (Watchlist.paused)


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
        """The body decoded as UTF-8, undecodable bytes as U+FFFD; never raises."""
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str:
        """The value of header `name` (any case), "" when absent."""
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
    classifier_version: int = 1  # the platform classifier's version (Platform.version) that read it


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


# -- the record path: what deciding one observation reads, and what it writes ---------------------------------


@dataclass(frozen=True)
class AccountState:
    """An account's confirmed status and the change pending on it, as the state machine (monitor.state) keeps
    it. Times are ISO-8601 UTC text; `pending_count` counts consecutive agreeing conclusive observations."""

    status: Status | None = None  # confirmed status; None before the baseline
    status_since: str | None = None
    last_seen_at: str | None = None  # last observation agreeing with the confirmed status
    pending_status: Status | None = None
    pending_count: int = 0
    pending_since: str | None = None  # first observation of the pending status
    weak: bool = False  # the confirmed status was read by a weak rule and no proof rule has read it since


@dataclass(frozen=True)
class Transition:
    """A confirmed change of status, with its detection window (ISO-8601 UTC times)."""

    from_status: Status
    to_status: Status
    last_seen_before_at: str | None  # last observation of the old status
    first_seen_at: str  # first observation of the new status
    confirmed_at: str
    weak: bool = False  # the confirming observation was read by a weak rule
    from_weak: bool = False  # the status left behind had only ever been read by weak rules


@dataclass(frozen=True)
class Span:
    """An account's latest observation span (run-length: one row per unbroken (status, rule, classifier
    version) run)."""

    id: int
    status: str  # Status value
    rule: str
    classifier_version: int = 1


@dataclass(frozen=True)
class RecordContext:
    """Everything deciding one observation reads from the store, read in one call (`Store.context`).

    `announced`: the status people were last told about (the newest change confirmed by a proof rule or since
    corroborated, else the baseline; None before any change). `open_change`: the id of the account's latest
    status change when it is weak and not yet corroborated (a proof rule reading its status corroborates it),
    else None. `due_at`: when the check being recorded was due. `service`: the service-table values asked for (key -> value, None when absent); `service_sets`:
    for each prefix asked for, the keys under it whose value is set, prefix removed (the watchdog's memory).
    """

    account_key: str
    state: AccountState = AccountState()
    current_handle: str | None = None  # the handle last read while active
    platform_id: str | None = None  # the stable id stored for the account
    announced: Status | None = None
    open_change: int | None = None
    span: Span | None = None  # None before the first observation
    service: Mapping[str, str | None] = field(default_factory=dict)
    service_sets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    due_at: str | None = None  # ISO-8601 UTC: when this check was due (the account's next_check_at), if scheduled


@dataclass(frozen=True)
class HealthAlert:
    """One of banwatch's own health alerts: an outbox row of kind `health` per channel (none: switched off).
    `detail` may quote a platform's answer; the store redacts it before writing."""

    subject: str  # "platform:<name>", "account:<key>", ...
    detail: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Rename:
    """Same stable id under another handle: a `renamed` change (active -> active) and its outbox rows."""

    old: str
    new: str
    alerts: tuple[tuple[str, str], ...] = ()  # (kind, channel)


@dataclass(frozen=True)
class RecordPlan:
    """Everything one observation writes, decided without the store; `Store.apply` writes it in one transaction.

    In write order: `service` (service-table key -> value, at `obs.checked_at`) and `health` rows from the
    watchdog; the observation span (`extend`: the id of the latest span to extend, else a new span with
    `obs.classifier_version`); the account row (`state`, `next_check_at`, and the platform id, display name and
    current handle the observation carries); `rename`; then either `corroborate` (the id of the weak change a
    proof rule now reads: marked corroborated, `alerts` attached to it) or `change` (a confirmed change: its
    row, the observation's evidence and `alerts`). Outbox rows are pending from `obs.checked_at` and given up
    `give_up` seconds after it.
    """

    obs: Observation
    state: AccountState
    next_check_at: str  # ISO-8601 UTC
    extend: int | None = None
    baseline: bool = False
    pending: bool = False
    change: Transition | None = None
    corroborate: int | None = None
    alerts: tuple[tuple[str, str], ...] = ()  # (kind, channel) for the change or the corroboration
    rename: Rename | None = None
    service: tuple[tuple[str, str], ...] = ()
    health: tuple[HealthAlert, ...] = ()
    give_up: float = 86400.0  # seconds

    @property
    def account_key(self) -> str:
        """The account the observation is about ("platform:handle")."""
        return self.obs.account_key
