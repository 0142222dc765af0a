"""The per-account state machine: confirmed status + one observation -> what changes. Pure.

- Unknown is never a finding: it neither advances nor resets a pending change.
- The first conclusive observation of a new account is its baseline (no change, no alert).
- A conclusive status different from the confirmed one becomes pending; it is confirmed after
  `confirmations` consecutive agreeing conclusive observations. A disagreeing one restarts the count;
  the confirmed status itself clears it.
- Strength: a status read by a *weak* rule (one the platform also answers for accounts merely hidden from
  this client) is confirmed like any other but marked weak (`AccountState.weak`, `Transition.weak`). A later
  reading of the same status by a proof rule corroborates it (`Step.corroborated`). Whether a weak change
  alerts is the caller's policy (`alerts.weak_findings`), not the state machine's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.model import Status


@dataclass(frozen=True)
class AccountState:
    status: Status | None = None  # confirmed status; None before the baseline
    status_since: str | None = None
    last_seen_at: str | None = None  # last observation agreeing with the confirmed status
    pending_status: Status | None = None
    pending_count: int = 0
    pending_since: str | None = None  # first observation of the pending status
    weak: bool = False  # the confirmed status was read by a weak rule and no proof rule has read it since


@dataclass(frozen=True)
class Transition:
    """A confirmed change of status, with its detection window."""

    from_status: Status
    to_status: Status
    last_seen_before_at: str | None  # last observation of the old status
    first_seen_at: str  # first observation of the new status
    confirmed_at: str
    weak: bool = False  # the confirming observation was read by a weak rule
    from_weak: bool = False  # the status left behind had only ever been read by weak rules


@dataclass(frozen=True)
class Step:
    state: AccountState
    baseline: bool = False
    transition: Transition | None = None
    corroborated: bool = False  # a weak confirmed status was just read by a proof rule

    @property
    def pending(self) -> bool:
        return self.state.pending_status is not None


def advance(state: AccountState, observed: Status, at: str, confirmations: int, weak: bool = False) -> Step:
    """Apply one observation made at `at` (ISO-8601 UTC), read by a weak rule or not, to `state`."""
    if not observed.conclusive:
        return Step(state)
    if state.status is None:
        return Step(AccountState(status=observed, status_since=at, last_seen_at=at, weak=weak), baseline=True)
    if observed == state.status:
        corroborated = state.weak and not weak
        return Step(replace(state, last_seen_at=at, pending_status=None, pending_count=0, pending_since=None,
                            weak=state.weak and weak), corroborated=corroborated)
    if observed == state.pending_status:
        count, since = state.pending_count + 1, state.pending_since or at
    else:
        count, since = 1, at
    if count < max(1, confirmations):
        return Step(replace(state, pending_status=observed, pending_count=count, pending_since=since))
    change = Transition(from_status=state.status, to_status=observed, last_seen_before_at=state.last_seen_at,
                        first_seen_at=since, confirmed_at=at, weak=weak, from_weak=state.weak)
    return Step(AccountState(status=observed, status_since=since, last_seen_at=at, weak=weak), transition=change)


LOSSES = frozenset({Status.SUSPENDED, Status.NOT_FOUND, Status.DEACTIVATED})
ALERT_KINDS = {
    Status.SUSPENDED: "suspended",
    Status.NOT_FOUND: "not_found",
    Status.DEACTIVATED: "deactivated",
    Status.RESTRICTED: "restricted",
}


def alert_kind(change: Transition) -> str | None:
    """Which alert kind a confirmed change is (the watchlist's alerts.kinds decides which are sent)."""
    if change.to_status is Status.ACTIVE and change.from_status in LOSSES:
        return "reinstated"
    return ALERT_KINDS.get(change.to_status)
