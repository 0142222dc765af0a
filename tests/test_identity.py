"""Identity, credentials and canaries: banwatch watching its own eyes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.alerts.render import render
from banwatch.monitor.cli import cli
from banwatch.monitor.model import Account, Observation, Status
from banwatch.monitor.runner import Checker
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings, parse
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import by_rule

T = "2026-06-05T10:{:02d}:00.000Z"


class Pipeline:
    """The production recording path (Checker.record: watchdog, state machine, store) without a network."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.wl = parse(text, "w.yaml")
        self.store = Store.open(tmp_path / "b.db")
        self.store.sync_watchlist(self.wl, T.format(0))
        self.checker = Checker(self.store, list(self.wl.accounts), {}, "#c", self.wl.politeness, AlertSettings())
        self.minute = 0

    def see(self, key: str, status: Status, rule: str = "x.rule", **extra: Any) -> None:
        self.minute += 1
        self.checker.record(Observation(key, status, rule, extra.pop("reason", "r"), T.format(self.minute), **extra))

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.store.db.query("SELECT kind, subject, detail, account_key FROM alerts ORDER BY id"))

    def status(self, key: str) -> tuple[str, str | None]:
        row = self.store.db["accounts"].get(key)
        return row["status"], row["pending_status"]


def test_same_id_under_a_new_handle_is_a_rename_not_a_loss(tmp_path: Path) -> None:
    p = Pipeline(tmp_path, "accounts:\n  - {platform: bluesky, handle: alice.bsky.social}\n")
    did = "did:plc:queiogp4cavuzrnq4k3hxh6t"
    p.see("bluesky:alice.bsky.social", Status.ACTIVE, "bluesky.profile", platform_id=did, handle="alice.bsky.social")
    p.see("bluesky:alice.bsky.social", Status.ACTIVE, "bluesky.profile", platform_id=did, handle="alice.example.com")
    (change,) = p.store.db.query("SELECT from_status, to_status, from_handle, to_handle FROM changes")
    assert change == {"from_status": "active", "to_status": "active", "from_handle": "alice.bsky.social",
                      "to_handle": "alice.example.com"}
    (alert,) = p.alerts()
    assert alert["kind"] == "renamed"
    text = render(p.store.alert_context(1)).text
    assert text.startswith("Renamed on Bluesky: alice.bsky.social | alice.bsky.social → alice.example.com (same id")
    p.see("bluesky:alice.bsky.social", Status.ACTIVE, "bluesky.profile", platform_id=did, handle="alice.example.com")
    assert len(p.alerts()) == 1 and p.status("bluesky:alice.bsky.social") == ("active", None)


def test_the_bluesky_classifier_reports_the_current_handle() -> None:
    fx = by_rule("bluesky", "bluesky.profile")
    verdict = PLATFORMS["bluesky"].classify(fx.reply(), Account("bluesky", fx.handle, f"bluesky:{fx.handle}"))
    assert verdict.handle == fx.handle and verdict.platform_id.startswith("did:")


def test_missing_or_rejected_credentials_raise_one_health_alert_each_way(tmp_path: Path) -> None:
    p = Pipeline(tmp_path, "accounts:\n  - {platform: x, handle: jack}\n  - {platform: x, handle: dorsey}\n")
    for key in ("x:jack", "x:dorsey", "x:jack"):
        p.see(key, Status.UNKNOWN, "x.no_credentials", reason="set X_BEARER_TOKEN in the environment")
    p.see("x:jack", Status.UNKNOWN, "x.credential_rejected", reason="HTTP 401: the monitor's token is invalid")
    p.see("x:jack", Status.ACTIVE, "x.v2_user")
    details = [a["detail"] for a in p.alerts()]
    assert len(details) == 3
    assert details[0].startswith("banwatch has no credentials on X (set X_BEARER_TOKEN in the environment)")
    assert "had its own credential rejected" in details[1] and "no suspension is inferred" in details[1]
    assert details[2] == "banwatch's X credentials work again."
    assert p.store.db["changes"].count == 0


def test_a_drifting_canary_holds_changes_until_it_reads_right(tmp_path: Path) -> None:
    p = Pipeline(tmp_path, "defaults: {confirmations: 1}\nplatforms:\n  reddit: {canaries: {active: spez, "
                           "suspended: publicmodlogs}}\naccounts:\n  - {platform: reddit, handle: watched}\n")
    for key, status in (("reddit:spez", Status.ACTIVE), ("reddit:publicmodlogs", Status.SUSPENDED),
                        ("reddit:watched", Status.ACTIVE)):
        p.see(key, status)
    assert p.alerts() == [], "canaries and baselines are silent"
    p.see("reddit:publicmodlogs", Status.NOT_FOUND, "reddit.not_found")  # the layout changed under us
    p.see("reddit:watched", Status.SUSPENDED, "reddit.is_suspended")
    assert p.status("reddit:watched") == ("active", "suspended"), "held as pending while drifting"
    p.see("reddit:publicmodlogs", Status.SUSPENDED, "reddit.is_suspended")
    p.see("reddit:watched", Status.SUSPENDED, "reddit.is_suspended")
    assert p.status("reddit:watched") == ("suspended", None)
    kinds = [(a["kind"], a["account_key"]) for a in p.alerts()]
    assert kinds == [("health", None), ("health", None), ("suspended", "reddit:watched")]
    assert "drifting: canary publicmodlogs (known suspended) reads not_found" in p.alerts()[0]["detail"]


@pytest.mark.parametrize(("rule", "drifts"), [("reddit.unrecognised", True), ("reddit.about:new_kind", True),
                                              ("reddit.classifier_error", True), ("reddit.rate_limited", False),
                                              ("reddit.blocked", False)])
def test_a_canary_reading_an_unknown_page_is_drift_but_a_wall_is_not(tmp_path: Path, rule: str, drifts: bool) -> None:
    """A canary whose page no longer matches any marker means the classifier is blind to changes: hold them.
    A rate limit or a wall on the canary proves nothing about the classifier (the control)."""
    p = Pipeline(tmp_path, "defaults: {confirmations: 1}\nplatforms:\n  reddit: {canaries: {active: spez}}\n"
                           "accounts:\n  - {platform: reddit, handle: watched}\n")
    p.see("reddit:spez", Status.ACTIVE)
    p.see("reddit:watched", Status.ACTIVE)
    p.see("reddit:spez", Status.UNKNOWN, rule)
    p.see("reddit:watched", Status.SUSPENDED, "reddit.is_suspended")
    if drifts:
        assert p.status("reddit:watched") == ("active", "suspended"), "held while the canary reads drift"
        assert [a["kind"] for a in p.alerts()] == ["health"] and rule in p.alerts()[0]["detail"]
    else:
        assert p.status("reddit:watched") == ("suspended", None)
        assert [a["kind"] for a in p.alerts()] == ["suspended"]


def test_control_without_canaries_the_same_change_confirms_at_once(tmp_path: Path) -> None:
    p = Pipeline(tmp_path, "defaults: {confirmations: 1}\naccounts:\n  - {platform: reddit, handle: watched}\n")
    p.see("reddit:watched", Status.ACTIVE)
    p.see("reddit:watched", Status.SUSPENDED, "reddit.is_suspended")
    assert p.status("reddit:watched") == ("suspended", None)


def test_validate_lists_credentials_present_and_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wl = tmp_path / "w.yaml"
    wl.write_text("platforms:\n  reddit: {canaries: {active: spez}}\naccounts:\n  - {platform: x, handle: jack}\n",
                  encoding="utf-8")
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-secret-bearer")
    monkeypatch.delenv("TWITCH_CLIENT_ID", raising=False)
    out = CliRunner().invoke(cli, ["--watchlist", str(wl), "validate"]).output
    assert "X credentials (watched): X_BEARER_TOKEN present, X_AUTH_TOKEN absent" in out
    assert "Twitch credentials: TWITCH_CLIENT_ID absent" in out
    assert "canaries: reddit:spez (known active)" in out
    assert "AAAA-secret-bearer" not in out
