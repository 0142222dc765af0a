"""Hostile servers on 127.0.0.1, through the production path (`banwatch check`, Scrapy, Platform.read).

A Mastodon instance's API says `suspended: true`, and banwatch asks the HTML profile to tell a moderator's
suspension (403) from a self-deletion (410). Here the profile answers with a CDN's block page (a Cloudflare
challenge, an Akamai 403), a 429, or a redirect to the sign-in page that ends in a 403. None of these may
become a suspension. The control serves Mastodon's own 403 page and the suspension is confirmed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Banwatch
from tests.fakes import FakeSlack, LocalServer, QuietHandler
from tests.fixtures import load
from tests.sim import own

ACTIVE = load("mastodon", "active")
SUSPENDED = load("mastodon", "suspended")
OWN_403 = load("mastodon", "html_403_suspended")
CF = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
      b"<noscript>Enable JavaScript and cookies to continue</noscript>"
      b"<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a1b2c3d4e5f6789\"></script>"
      b"</body></html>")
AKAMAI = (b"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n"
          b"You don't have permission to access \"http&#58;&#47;&#47;example&#46;social&#47;&#64;walled\" on this "
          b"server.<P>\nReference&#32;&#35;18&#46;2f1c1b17&#46;1700000000&#46;3b4c5d6e\n"
          b"<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;2f1c1b17\n</BODY>\n</HTML>\n")
# what the profile page answers, per scenario: (status, headers, body, redirect to)
PROFILE: dict[str, tuple[int, dict[str, str], bytes, str | None]] = {
    "cloudflare_403": (403, {"Content-Type": "text/html", "cf-mitigated": "challenge", "Server": "cloudflare"}, CF, None),
    "cloudflare_403_no_header": (403, {"Content-Type": "text/html", "Server": "cloudflare"}, CF, None),
    "akamai_403": (403, {"Content-Type": "text/html", "Server": "AkamaiGHost"}, AKAMAI, None),
    "rate_limited": (429, {"Retry-After": "30", "Content-Type": "text/plain"}, b"Too many requests", None),
    "sign_in_redirect": (403, {"Content-Type": "text/html"}, OWN_403.body, "/auth/sign_in"),
    "own_403": (403, {"Content-Type": "text/html", "Set-Cookie": "_session_id=abc; path=/; secure; HttpOnly"},
                OWN_403.body, None),  # the control: a real suspension (with a cookie, as instances set one)
}


class Hostile(LocalServer):
    def __init__(self) -> None:
        self.lookup = ACTIVE
        self.profile = "own_403"
        hostile = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/api/v1/accounts/lookup"):
                    fx = own(hostile.lookup, "mastodon:walled@example.social")  # its name, its id
                    self.send(fx.status, {"Content-Type": "application/json"}, fx.body)
                    return
                status, headers, body, redirect = PROFILE[hostile.profile]
                if redirect and not self.path.startswith(redirect):
                    self.send(302, {"Location": redirect}, b"")
                    return
                self.send(status, headers, body)

        super().__init__(Handler)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


@pytest.mark.parametrize("scenario", ["cloudflare_403", "cloudflare_403_no_header", "akamai_403", "rate_limited",
                                      "sign_in_redirect", "own_403"])
def test_a_block_page_on_the_second_probe_is_never_a_suspension(
        tmp_path: Path, hostile: Hostile, slack: FakeSlack, scenario: str) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {confirmations: 1, confirm_delay: 0s}\nalerts: {slack_channel: '#walls'}\n"
        "platforms: {mastodon: {delay: 0s}}\naccounts:\n  - url: https://example.social/@walled\n", encoding="utf-8")
    banwatch = Banwatch(tmp_path, hostile, slack)  # type: ignore[arg-type]
    banwatch.env["TLDEXTRACT_CACHE"] = str(tmp_path / "tld")  # as on a new machine: no public suffix list yet
    banwatch("check")
    assert banwatch.rows("SELECT status FROM accounts") == [{"status": "active"}]
    hostile.lookup, hostile.profile = SUSPENDED, scenario
    second = banwatch("check")
    assert "Traceback" not in second.stderr, second.stderr
    (row,) = banwatch.rows("SELECT status, last_rule FROM accounts")
    if scenario == "own_403":  # control: Mastodon's own 403 page is the proof
        assert row == {"status": "suspended", "last_rule": "mastodon.html_suspended"}
        assert len(slack.posted()) == 1
        return
    assert row["status"] == "active", row
    assert row["last_rule"].split(".")[1] in {"bot_challenge", "waf_block", "rate_limited", "login_wall"}, row
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}]
    assert slack.posted() == []
