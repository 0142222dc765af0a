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

`decide` is the whole decision about one observation, pure: from what the store held (`RecordContext`) and what
the watchdog concluded (`Watch`), the step, the alert policy (`alert_for`) and routing (`route`), a rename, and
everything to write as one `RecordPlan` (`plan`), which `Store.apply` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from banwatch.monitor.due import next_check
from banwatch.monitor.model import (Account, AccountState, HealthAlert, Observation, RecordContext, RecordPlan, Rename,
                           Status, Transition)
from banwatch.monitor.timeutil import iso, parse_iso

if TYPE_CHECKING:
    from banwatch.monitor.watchdog import Watch
    from banwatch.monitor.watchlist import AlertSettings

__all__ = ["ALERT_KINDS", "HELD", "LOSSES", "AccountState", "Step", "Transition", "advance", "alert_for", "alert_kind",
           "decide", "plan", "rename", "route"]

HELD = 10**9  # confirmations needed while a platform's classifier is drifting: never reached


@dataclass(frozen=True)
class Step:
    """What one observation did to an account's state: the new state, and whether it was the baseline, confirmed
    a change (`transition`) or corroborated a weak confirmed status (`corroborated`)."""

    state: AccountState
    baseline: bool = False
    transition: Transition | None = None
    corroborated: bool = False  # a weak confirmed status was just read by a proof rule

    @property
    def pending(self) -> bool:
        """A change is pending (the account is checked again after its confirm_delay)."""
        return self.state.pending_status is not None


def advance(state: AccountState, observed: Status, at: str, confirmations: int, weak: bool = False) -> Step:
    """Apply one observation made at `at` (ISO-8601 UTC), read by a weak rule or not, to `state`.

    `confirmations`: consecutive agreeing conclusive observations that confirm a change (below 1 counts as 1).
    Pure; never raises for a valid Status."""
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


def plan(account: Account, obs: Observation, step: Step, context: RecordContext,
         alerts: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (), give_up: float = 86400.0,
         rename: Rename | None = None, service: tuple[tuple[str, str], ...] = (),
         health: tuple[HealthAlert, ...] = ()) -> RecordPlan:
    """What recording `obs` writes, given the `step` the state machine took and the `context` read before it.

    `alerts`: the (kind, channel) outbox rows the step raises (the caller's policy, Checker.outbox_rows); they
    are attached to the confirmed change, or to the corroborated weak change (none when there is no such change
    left to corroborate: `context.open_change` is None). `give_up`: seconds after `obs.checked_at` an outbox
    row is given up. `service`/`health`: the watchdog's writes. Pure; raises ValueError on a `checked_at` that
    is not ISO-8601.
    """
    corroborate = context.open_change if step.corroborated else None
    raises = step.transition is not None or corroborate is not None
    span = context.span
    extend = span.id if span is not None and (span.status, span.rule, span.classifier_version) == (
        obs.status.value, obs.rule, obs.classifier_version) else None
    return RecordPlan(
        obs=obs, state=step.state,
        next_check_at=iso(next_check(account, parse_iso(obs.checked_at), step.pending,
                                     parse_iso(context.due_at) if context.due_at else None)),
        extend=extend, baseline=step.baseline and not step.corroborated, pending=step.pending and not step.corroborated,
        change=None if step.corroborated else step.transition, corroborate=corroborate,
        alerts=tuple(alerts) if raises else (), rename=rename, service=tuple(service), health=tuple(health),
        give_up=give_up)


def alert_for(step: Step, told: Status | None, weak_findings: str = "record") -> str | None:
    """The alert kind a step raises, under `alerts.weak_findings` ("record" or "alert"); None for none.

    With "alert", every confirmed change alerts by its own kind. With "record" (the default), alerts follow
    what people were told (`told`: the status last announced, RecordContext.announced, else the baseline): a
    loss confirmed by a weak rule raises nothing (it is an unconfirmed change) and is alerted when a proof rule
    later reads it (`corroborated`) or reads another loss; a change back to the status last announced raises
    nothing (suspended, a weak not_found, suspended again is one alert); a return to active alerts
    `reinstated` only when the status last announced was a loss.
    """
    if weak_findings != "record":
        return alert_kind(step.transition) if step.transition is not None else None
    if step.corroborated:
        status = step.state.status
        return ALERT_KINDS.get(status) if status in LOSSES and status != told else None
    change = step.transition
    if change is None or (change.weak and change.to_status in LOSSES):
        return None
    announced = told or change.from_status
    if change.to_status == announced:
        return None
    return alert_kind(replace(change, from_status=announced))


def route(account: Account, kind: str | None, alerts: AlertSettings, channel: str | None) -> list[tuple[str, str]]:
    """(kind, channel) outbox rows for an alert of `kind` about `account`: none when `kind` is None, switched
    off or the account is a canary; else one per channel whose route tags meet the account's (else `channel`,
    the default)."""
    if kind is None or kind not in alerts.kinds or account.canary:
        return []
    return [(kind, ch) for ch in alerts.channels(account.tags, channel)]


def rename(account: Account, obs: Observation, old: str | None, alerts: AlertSettings,
           channel: str | None) -> Rename | None:
    """Same stable id (`account.platform_id`), another handle than `old` (the handle last read while active,
    RecordContext.current_handle), compared ignoring case: the rename with its `renamed` outbox rows, else None.
    Only an active observation renames."""
    if not obs.handle or obs.status is not Status.ACTIVE or not account.platform_id \
            or obs.platform_id != account.platform_id:
        return None
    if old is None or old.lower() == obs.handle.lower():
        return None
    return Rename(old, obs.handle, tuple(route(account, "renamed", alerts, channel)))


def decide(account: Account, obs: Observation, context: RecordContext, watch: Watch, alerts: AlertSettings,
           channel: str | None) -> RecordPlan:
    """Everything recording `obs` writes, from what the store held (`context`) and what the watchdog concluded
    (`watch`): the state machine's step (every change held pending while the platform drifts, canaries
    excepted), the alerts it raises under `alerts` routed by tags (`channel`: the default), the rename, and
    the watchdog's service values and health alerts. Pure; ValueError on a `checked_at` that is not ISO-8601.
    """
    held = not account.canary and watch.drifting
    step = advance(context.state, obs.status, obs.checked_at, HELD if held else account.confirmations,
                   weak=obs.weak)
    told = context.announced if step.transition or step.corroborated else None
    rows = route(account, alert_for(step, told, alerts.weak_findings), alerts, channel)
    return plan(account, obs, step, context, rows, alerts.give_up,
                rename=rename(account, obs, context.current_handle, alerts, channel), service=watch.service,
                health=watch.health)
