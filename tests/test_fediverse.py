"""Mastodon-compatible servers answer the account lookup in their own words, and banwatch reads each one right.

Every case starts from a saved response (tests/fixtures/mastodon, each modelled on the server's source) and goes
through `Platform.read`, the production path:

- not-found messages are matched per server in any spelling (Pleroma/Akkoma/Rebased's "Can't find user" used to
  read `mastodon.unrecognised`, unknown forever);
- an error message no rule knows stays unknown under a rule that names it (`mastodon.lookup_error:<message>`);
- a server that does not speak the Mastodon API reads `mastodon.not_mastodon_api`, and the watchdog raises one
  health alert for the account, not one per check, and one when it reads again;
- the HTML profile's 403 / 410 prove a suspension / deletion only on Mastodon's own error page.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from banwatch.monitor.model import Account, Observation, Reply, Status, Verdict
from banwatch.monitor.runner import Checker
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings, parse
from banwatch.spiders.platforms import PLATFORMS, mastodon
from tests.fixtures import Fixture, load
from tests.sim import own

M = PLATFORMS["mastodon"]
SUSPENDED = Verdict(Status.SUSPENDED, "mastodon.suspended", "first probe")
DOC = (Path(__file__).resolve().parent.parent / "docs" / "platforms.md").read_text(encoding="utf-8")
SECTION = DOC.split("\n## Mastodon (and compatible servers)", 1)[1].split("\n## ", 1)[0]


def _account(fx: Fixture) -> Account:
    return Account(platform="mastodon", handle=fx.handle, key=f"mastodon:{fx.handle}", platform_id=fx.platform_id)


def _read(fx: Fixture, reply: Reply | None = None) -> Verdict:
    reply = reply or fx.reply()
    return M.read(reply, _account(fx), SUSPENDED if fx.first else None)


def _error(fx: Fixture, message: str, status: int | None = None) -> Reply:
    """The saved response with its `{"error": ...}` message replaced (and its status, if given)."""
    doc = json.loads(fx.body)
    assert isinstance(doc.get("error"), str), "the saved response is a Mastodon-style error"
    return replace(fx.reply(), body=json.dumps({**doc, "error": message}).encode(),
                   status=fx.status if status is None else status)


# -- not-found messages, per server, in any spelling ------------------------------------------------------------

@pytest.mark.parametrize(("case", "message", "rule"), [
    ("cant_find_user_akkoma", "Can't find user", "mastodon.cant_find_user"),
    ("cant_find_user_akkoma", "Can\u2019t find user", "mastodon.cant_find_user"),  # typographic apostrophe
    ("cant_find_user_rebased", "CAN'T FIND USER.", "mastodon.cant_find_user"),
    ("record_not_found", "record_not_found", "mastodon.record_not_found"),
    ("record_not_found_iceshrimp", "Record Not Found", "mastodon.record_not_found"),
])
def test_not_found_messages_read_in_any_spelling(case: str, message: str, rule: str) -> None:
    fx = load("mastodon", case)
    verdict = _read(fx, _error(fx, message))
    assert (verdict.status, verdict.rule) == (Status.NOT_FOUND, rule), verdict.reason


def test_pleroma_family_says_deactivation_and_absence_read_the_same() -> None:
    """Before: `{"error": "Can't find user"}` read `mastodon.unrecognised`, unknown for ever."""
    verdict = _read(load("mastodon", "cant_find_user_akkoma"))
    assert verdict.status is Status.NOT_FOUND and not verdict.weak
    assert "deactivated" in verdict.reason and "does not tell them apart" in verdict.reason


@pytest.mark.parametrize(("case", "message", "status", "value"), [
    # GoToSocial's 404 wording, were a lookup ever answered without a token
    ("record_not_found", "Not Found: @alice not found", 404, "not_found_alice_not_found"),
    # Pleroma's own catalogue translates its messages (priv/gettext/fr): another language is not a known message
    ("cant_find_user_akkoma", "Compte non trouvé", 404, "compte_non_trouv"),
    # Mastodon's NotPermittedError
    ("record_not_found", "This action is not allowed", 403, "this_action_is_not_allowed"),
    # a known not-found message under another status is not a finding either
    ("cant_find_user_rebased", "Can't find user", 200, "can_t_find_user"),
])
def test_an_error_message_no_rule_knows_stays_unknown_and_is_named(case: str, message: str, status: int,
                                                                  value: str) -> None:
    """Before: any JSON error other than Mastodon's exact "Record not found" read `mastodon.unrecognised`."""
    fx = load("mastodon", case)
    verdict = _read(fx, _error(fx, message, status))
    assert (verdict.status, verdict.rule) == (Status.UNKNOWN, f"mastodon.lookup_error:{value}"), verdict.reason


def test_private_and_token_only_servers_are_auth_walls_not_losses() -> None:
    for case in ("auth_required", "auth_required_gotosocial", "auth_required_pleroma_private"):
        verdict = _read(load("mastodon", case))
        assert (verdict.status, verdict.rule) == (Status.UNKNOWN, "mastodon.auth_required"), case


# -- servers that do not speak the Mastodon API -------------------------------------------------------------------

@pytest.mark.parametrize("case", ["not_mastodon_api_misskey", "not_mastodon_api_html_404",
                                  "not_mastodon_api_redirect", "not_mastodon_api_json_list"])
def test_a_server_without_the_api_reads_not_mastodon_api(case: str) -> None:
    """Before: all of these read `mastodon.unrecognised`, indistinguishable from a changed Mastodon page."""
    verdict = _read(load("mastodon", case))
    assert (verdict.status, verdict.rule) == (Status.UNKNOWN, "mastodon.not_mastodon_api"), verdict.reason


def test_walls_keep_their_names_even_when_they_redirect_off_the_api() -> None:
    """A redirect to a sign-in page is a login wall (no health alert for the account), not a foreign server."""
    fx = load("mastodon", "not_mastodon_api_redirect")
    login = replace(fx.reply(), url="https://studio.example/auth/sign_in")
    assert _read(fx, login).rule == "mastodon.login_wall"
    maintenance = _read(load("mastodon", "unrecognised_maintenance_page"))
    assert maintenance.rule == "mastodon.unrecognised", "a 200 page served for every path may be maintenance"


class Pipeline:
    """The production recording path (Checker.record: watchdog, state machine, store) without a network."""

    def __init__(self, tmp_path: Path, *handles: str) -> None:
        text = "accounts:\n" + "".join(f"  - {{platform: mastodon, handle: {h}}}\n" for h in handles)
        self.wl = parse(text, "w.yaml")
        self.store = Store.open(tmp_path / "b.db")
        self.store.sync_watchlist(self.wl, "2026-06-05T10:00:00.000Z")
        self.minute = 0
        self.restart()

    def restart(self) -> None:
        """A new `banwatch check` process on the same database."""
        self.checker = Checker(self.store, list(self.wl.accounts), {}, "#c", self.wl.politeness, AlertSettings())

    def see(self, handle: str, case: str) -> Verdict:
        """Read a saved response for this account through Platform.read and record it."""
        fx = own(load("mastodon", case), f"mastodon:{handle}")  # the saved answer, made this account's
        account = self.checker.accounts[f"mastodon:{handle}"]
        verdict = M.read(fx.reply(), account)
        self.minute += 1
        self.checker.record(Observation(account.key, verdict.status, verdict.rule, verdict.reason,
                                        f"2026-06-05T10:{self.minute:02d}:00.000Z", weak=verdict.weak))
        return verdict

    def health(self) -> list[dict[str, Any]]:
        return list(self.store.db.query("SELECT subject, detail FROM alerts WHERE kind = 'health' ORDER BY id"))


def test_a_foreign_server_raises_one_health_alert_per_account_and_one_when_it_reads_again(tmp_path: Path) -> None:
    p = Pipeline(tmp_path, "alice@misskey.example", "bob@misskey.example")
    assert p.see("alice@misskey.example", "not_mastodon_api_misskey").rule == "mastodon.not_mastodon_api"
    (first,) = p.health()
    assert first["subject"] == "account:mastodon:alice@misskey.example"
    assert first["detail"].startswith("banwatch cannot read alice@misskey.example on Mastodon: HTTP 404")
    assert "no suspension is inferred" in first["detail"]

    p.see("alice@misskey.example", "not_mastodon_api_misskey")
    p.restart()  # the next `banwatch check`: the state is in the service table, not in memory
    p.see("alice@misskey.example", "not_mastodon_api_misskey")
    p.see("alice@misskey.example", "rate_limited")  # an unknown reading neither alerts nor recovers
    assert len(p.health()) == 1, "one alert for the account, not one per check"

    p.see("bob@misskey.example", "not_mastodon_api_misskey")  # per account: bob gets his own
    assert [a["subject"] for a in p.health()][1:] == ["account:mastodon:bob@misskey.example"]

    p.see("alice@misskey.example", "active")
    recovered = p.health()[2]
    assert recovered["subject"] == "account:mastodon:alice@misskey.example"
    assert recovered["detail"] == "Mastodon account alice@misskey.example reads again (active by mastodon.account)."
    p.see("alice@misskey.example", "active")
    assert len(p.health()) == 3, "one recovery alert"
    assert p.store.db["changes"].count == 0, "never a status change"


# -- the HTML profile: only Mastodon's own error page proves anything --------------------------------------------

def _second(fx: Fixture, body: bytes, status: int | None = None) -> Verdict:
    reply = replace(fx.reply(), body=body, status=fx.status if status is None else status)
    return M.classify_second(reply, _account(fx), SUSPENDED)  # type: ignore[misc]


def test_an_unmarked_403_or_410_is_unknown_even_without_the_shared_guard() -> None:
    """Before: classify_second read any 403 as `suspended` and any 410 as `deactivated`."""
    own = load("mastodon", "html_403_suspended")
    cloudflare = (b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
                  b"<body><h1>Sorry, you have been blocked</h1></body></html>")
    assert _second(own, cloudflare).status is Status.UNKNOWN
    for case in ("html_403_unmarked", "html_410_unmarked"):
        fx = load("mastodon", case)
        assert _second(fx, fx.body).rule == "mastodon.html_unmarked", case
    # Rails' default error pages share the .dialog markup but not the `error` class on <body>
    rails = own.body.replace(b'<body class="error">', b'<body class="rails-default-error-page">')
    assert rails != own.body and _second(own, rails).rule == "mastodon.html_unmarked"
    assert _second(own, own.body.replace(b'class="dialog"', b'class="box"')).rule == "mastodon.html_unmarked"


def test_mastodons_own_page_proves_it_in_any_language_and_quote_style() -> None:
    for case, status, rule in (("html_403_suspended", Status.SUSPENDED, "mastodon.html_suspended"),
                               ("html_403_suspended_de", Status.SUSPENDED, "mastodon.html_suspended"),
                               ("html_410_gone", Status.DEACTIVATED, "mastodon.html_gone")):
        verdict = _read(load("mastodon", case))
        assert (verdict.status, verdict.rule, verdict.weak) == (status, rule, False), case
    de = _read(load("mastodon", "html_403_suspended_de"))
    assert "Dir fehlt die Berechtigung, diese Seite aufzurufen." in de.reason
    # the same German page with a 410 is Mastodon's "gone"
    fx = load("mastodon", "html_403_suspended_de")
    assert _second(fx, fx.body, 410).rule == "mastodon.html_gone"


# -- strength and docs -----------------------------------------------------------------------------------------

def test_every_conclusive_rule_is_rated_and_its_strength_explained_in_the_docs() -> None:
    assert set(M.strength) == {"mastodon.account", "mastodon.suspended", "mastodon.limited",
                               "mastodon.record_not_found", "mastodon.cant_find_user", "mastodon.html_suspended",
                               "mastodon.html_gone"}
    strength = SECTION.split("Strength", 1)[1]
    for rule, rated in M.strength.items():
        word = "weak" if rated.weak else "proof"
        assert any(f"`{rule}`" in line and word in line.lower() for line in strength.splitlines()), rule


def test_the_docs_table_names_every_server_and_every_known_message() -> None:
    servers = SECTION.split("### Servers", 1)[1].split("###", 1)[0]
    rows = [line.split("|")[1] for line in servers.splitlines() if line.startswith("| ")]
    for server in ("Mastodon", "Pleroma", "Akkoma", "Rebased", "GoToSocial", "Misskey", "Sharkey", "Iceshrimp.NET",
                   "Firefish"):
        assert any(server in row for row in rows), server
    for verdict in mastodon._NOT_FOUND.values():
        assert f"`{verdict.rule}`" in SECTION
    for rule in ("mastodon.not_mastodon_api", "mastodon.lookup_error:", "mastodon.html_unmarked"):
        assert rule in SECTION


@pytest.mark.parametrize(("value", "status"), [("true", "suspended"), ("TRUE", "suspended"), (True, "suspended"),
                                               ("false", "active"), (None, "active")])
def test_the_suspended_flag_in_any_spelling(value: object, status: str) -> None:
    import json

    from banwatch.monitor.model import Reply

    fx = load("mastodon", "active")
    body = json.dumps({**json.loads(fx.body), "suspended": value}).encode()
    verdict = M.read(Reply(fx.url, 200, fx.reply().headers, body), Account("mastodon", fx.handle, "k"))
    assert verdict.status.value == status
