"""The state machine: baseline, confirmation, unknown never a finding, the change window."""

from __future__ import annotations

from banwatch.monitor.model import Status
from banwatch.monitor.state import AccountState, Transition, advance, alert_kind

A, S, N, U, D = Status.ACTIVE, Status.SUSPENDED, Status.NOT_FOUND, Status.UNKNOWN, Status.DEACTIVATED


def walk(observed: list[Status], confirmations: int = 2, state: AccountState | None = None) -> list:
    state = state or AccountState()
    steps = []
    for i, status in enumerate(observed):
        step = advance(state, status, f"t{i}", confirmations)
        steps.append(step)
        state = step.state
    return steps


def test_first_conclusive_observation_is_a_baseline_without_change() -> None:
    steps = walk([U, S])
    assert not steps[0].baseline and steps[0].state.status is None
    assert steps[1].baseline and steps[1].transition is None and steps[1].state.status is S


def test_change_confirmed_after_n_agreeing_observations_with_its_window() -> None:
    steps = walk([A, A, S, S])
    assert steps[2].transition is None and steps[2].pending
    assert steps[3].transition == Transition(A, S, last_seen_before_at="t1", first_seen_at="t2", confirmed_at="t3")
    assert steps[3].state.status is S and not steps[3].pending


def test_unknown_neither_confirms_nor_resets_a_pending_change() -> None:
    steps = walk([A, S, U, U, S])
    assert [s.transition is not None for s in steps] == [False, False, False, False, True]
    assert steps[4].transition.first_seen_at == "t1"  # type: ignore[union-attr]


def test_unknown_never_becomes_a_change_however_long() -> None:
    steps = walk([A] + [U] * 50)
    assert all(s.transition is None for s in steps) and steps[-1].state.status is A


def test_going_back_to_the_confirmed_status_clears_the_pending_one() -> None:
    steps = walk([A, S, A, S])
    assert all(s.transition is None for s in steps)
    assert steps[3].state.pending_count == 1 and steps[3].state.pending_since == "t3"


def test_a_different_conclusive_status_restarts_the_count() -> None:
    steps = walk([A, S, N, N])
    assert steps[2].state.pending_status is N and steps[2].transition is None
    assert steps[3].transition.to_status is N  # type: ignore[union-attr]


def test_one_confirmation_confirms_at_once_and_the_control_case_does_not() -> None:
    assert walk([A, S], confirmations=1)[1].transition is not None
    assert walk([A, S], confirmations=2)[1].transition is None


def test_alert_kinds() -> None:
    assert alert_kind(Transition(A, S, None, "x", "x")) == "suspended"
    assert alert_kind(Transition(A, N, None, "x", "x")) == "not_found"
    assert alert_kind(Transition(A, D, None, "x", "x")) == "deactivated"
    assert alert_kind(Transition(S, A, None, "x", "x")) == "reinstated"
    assert alert_kind(Transition(A, Status.RESTRICTED, None, "x", "x")) == "restricted"  # off by default
    assert alert_kind(Transition(Status.RESTRICTED, A, None, "x", "x")) is None
