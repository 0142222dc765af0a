"""Rule strength: a loss read by a weak rule is recorded as unconfirmed and alerts only once proven.

Some platforms give the same answer for an account that is gone and for one merely hidden from this client
(private, age-gated, region-blocked, never registered). Every conclusive rule declares its strength; a loss
confirmed by a weak rule raises no alert unless `alerts.weak_findings: alert`, and is alerted when a proof
rule later reads the same status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from banwatch.monitor.model import Account, Observation, Reply, Status, Verdict
from banwatch.monitor.runner import Checker
from banwatch.monitor.state import AccountState, advance
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import parse
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import PROOF, Platform, weak
from banwatch.spiders.platforms.matrix import STATES, rules

T = "2026-06-05T10:{:02d}:00.000Z"


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_conclusive_rule_declares_its_strength(name: str) -> None:
    """strength names exactly the conclusive rules the module can produce (the rules the support matrix is
    generated from), and a weak one says why."""
    platform = PLATFORMS[name]
    found = rules(platform)
    declared = {rule for state in STATES for rule in found.get(state, [])}
    assert declared - set(platform.strength) == set(), "rules without a strength (proof or weak(why))"
    assert set(platform.strength) - declared == set(), "strengths for rules the module no longer has"
    for rule, strength in platform.strength.items():
        assert not strength.weak or strength.why.strip(), f"{rule}: a weak rule says why"


def test_read_stamps_strength_and_an_unrated_rule_is_weak() -> None:
    base = PLATFORMS["reddit"]

    def classify(reply: Reply, account: Account) -> Verdict:
        return Verdict(Status.NOT_FOUND, reply.text, "test")

    probe = Platform(**{**base.__dict__, "classify": classify,
                        "strength": {"t.proof": PROOF, "t.weak": weak("hidden accounts read the same")}})
    account = Account("reddit", "someone", "reddit:someone")
    ok = {"content-type": "application/json"}
    assert probe.read(Reply("https://r/x", 404, ok, b"t.proof"), account).weak is False
    assert probe.read(Reply("https://r/x", 404, ok, b"t.weak"), account).weak is True
    assert probe.read(Reply("https://r/x", 404, ok, b"t.unrated"), account).weak is True


def test_state_machine_marks_weak_changes_and_corroboration() -> None:
    s = advance(AccountState(), Status.ACTIVE, T.format(0), 1).state
    step = advance(s, Status.NOT_FOUND, T.format(1), 1, weak=True)
    assert step.transition and step.transition.weak and step.state.weak
    again = advance(step.state, Status.NOT_FOUND, T.format(2), 1, weak=True)
    assert not again.corroborated and again.state.weak
    proven = advance(again.state, Status.NOT_FOUND, T.format(3), 1, weak=False)
    assert proven.corroborated and not proven.state.weak and proven.transition is None
    back = advance(again.state, Status.ACTIVE, T.format(4), 1)
    assert back.transition and back.transition.from_weak and not back.state.weak


WATCHLIST = "accounts:\n  - {platform: reddit, handle: someone, confirmations: 1}\n"


class Pipeline:
    """The production recording path (Checker.record: state machine, policy, store) without a network."""

    def __init__(self, tmp_path: Path, alerts: str = "") -> None:
        self.wl = parse(WATCHLIST + alerts, "w.yaml")
        tmp_path.mkdir(exist_ok=True)
        self.store = Store.open(tmp_path / "b.db")
        self.store.sync_watchlist(self.wl, T.format(0))
        self.checker = Checker(self.store, list(self.wl.accounts), {}, "#c", self.wl.politeness, self.wl.alerts)
        self.minute = 0

    def see(self, status: Status, weak_: bool, rule: str = "reddit.rule") -> None:
        self.minute += 1
        self.checker.record(Observation("reddit:someone", status, rule, "r", T.format(self.minute), weak=weak_))

    def alerts(self) -> list[str]:
        return [r["kind"] for r in self.store.db.query("SELECT kind FROM alerts ORDER BY id")]

    def one(self, sql: str) -> Any:
        return next(iter(self.store.db.execute(sql).fetchall()))


def test_a_weak_loss_is_recorded_unconfirmed_without_an_alert(tmp_path: Path) -> None:
    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.NOT_FOUND, True)
    assert p.alerts() == []
    assert p.one("SELECT to_status, strength FROM timeline") == ("not_found", "unconfirmed")
    assert p.one("SELECT status, strength FROM current_status") == ("not_found", "unconfirmed")
    p.see(Status.ACTIVE, False)  # back: nobody was told of the loss, so no "reinstated" either
    assert p.alerts() == []


def test_control_a_proof_loss_alerts_and_so_does_a_weak_one_when_configured(tmp_path: Path) -> None:
    proof = Pipeline(tmp_path / "a")
    proof.see(Status.ACTIVE, False)
    proof.see(Status.NOT_FOUND, False)
    assert proof.alerts() == ["not_found"]
    assert proof.one("SELECT strength FROM timeline") == ("proof",)
    configured = Pipeline(tmp_path / "b", "alerts: {weak_findings: alert}\n")
    configured.see(Status.ACTIVE, False)
    configured.see(Status.SUSPENDED, True)
    assert configured.alerts() == ["suspended"]


def test_a_weak_loss_later_read_by_a_proof_rule_alerts_once(tmp_path: Path) -> None:
    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.SUSPENDED, True)
    p.see(Status.SUSPENDED, True)
    assert p.alerts() == []
    p.see(Status.SUSPENDED, False)
    assert p.alerts() == ["suspended"]
    assert p.one("SELECT strength FROM timeline") == ("proof",)
    assert p.one("SELECT corroborated_at FROM changes") == (T.format(4),)
    p.see(Status.SUSPENDED, False)
    assert p.alerts() == ["suspended"], "corroborated once"


def test_a_weak_baseline_never_alerts_when_proven(tmp_path: Path) -> None:
    p = Pipeline(tmp_path)
    p.see(Status.NOT_FOUND, True)
    p.see(Status.NOT_FOUND, False)
    assert p.alerts() == []


def test_weak_findings_setting_is_checked(tmp_path: Path) -> None:
    from banwatch.monitor.errors import InvalidWatchlist
    with pytest.raises(InvalidWatchlist) as err:
        parse(WATCHLIST + "alerts:\n  weak_findings: sometimes\n", "w.yaml")
    assert "w.yaml:4: weak_findings: 'sometimes' is not one of record, alert" in str(err.value)


def test_status_and_history_show_an_unconfirmed_change(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from banwatch.monitor.cli import cli

    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.NOT_FOUND, True)
    p.store.close()
    db = str(tmp_path / "b.db")
    status = CliRunner().invoke(cli, ["--db", db, "status"])
    assert "not_found (unconfirmed)" in status.stdout, status.stdout
    history = CliRunner().invoke(cli, ["--db", db, "history"])
    assert "active → not_found" in history.stdout and "[unconfirmed: read by a weak rule, no alert]" in history.stdout


def test_a_proof_loss_after_an_unconfirmed_one_alerts(tmp_path: Path) -> None:
    """active -> weak not_found (silent) -> proof suspended: people were told nothing yet, so this alerts."""
    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.NOT_FOUND, True)
    p.see(Status.SUSPENDED, False)
    assert p.alerts() == ["suspended"]


def test_a_reinstatement_alerts_when_the_announced_status_was_a_loss(tmp_path: Path) -> None:
    """proof suspended (alerted) -> weak not_found (silent) -> active: the suspension was announced."""
    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.SUSPENDED, False)
    p.see(Status.NOT_FOUND, True)
    assert p.alerts() == ["suspended"]
    p.see(Status.ACTIVE, False)
    assert p.alerts() == ["suspended", "reinstated"]


def test_back_to_the_announced_loss_after_an_unconfirmed_one_is_one_alert(tmp_path: Path) -> None:
    p = Pipeline(tmp_path)
    p.see(Status.ACTIVE, False)
    p.see(Status.SUSPENDED, False)
    p.see(Status.NOT_FOUND, True)
    p.see(Status.SUSPENDED, False)
    assert p.alerts() == ["suspended"], "people already know it is suspended"
    p.see(Status.NOT_FOUND, False)  # control: a proof change to another loss is news
    assert p.alerts() == ["suspended", "not_found"]
