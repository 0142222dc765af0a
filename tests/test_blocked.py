"""Generic block answers never become a finding, on any platform, on the first probe or the second.

Every platform's classifier is walked through `Platform.read` with the same block pages: Cloudflare
challenges (403 and 503), Cloudflare, Akamai, Imperva, Sucuri, F5, AWS WAF, DataDome and HUMAN block pages,
a redirect to a login page and a plain 429. Each must read `unknown`. The control walks the same pages
through the raw classify functions (no shared guard) with a classifier that reads status codes as proof: every page is then a finding, and
only the guard makes it unknown.
"""

from __future__ import annotations

import pytest

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import blocked
from tests.fixtures import all_fixtures

HTML = {"content-type": "text/html; charset=UTF-8"}


def _page(title: str, body: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>").encode()


# name -> (status, headers, body, redirected to)
BLOCK_PAGES: dict[str, tuple[int, dict[str, str], bytes, str | None]] = {
    "cloudflare_challenge_403": (403, {**HTML, "cf-mitigated": "challenge", "server": "cloudflare"},
                                 _page("Just a moment...", '<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script>'), None),
    "cloudflare_challenge_503": (503, {**HTML, "server": "cloudflare"}, _page("Just a moment...", "Checking your browser"), None),
    "cloudflare_challenge_no_header_403": (403, HTML, _page("Just a moment...", "Enable JavaScript and cookies to continue"), None),
    "cloudflare_block_403": (403, {**HTML, "server": "cloudflare"},
                             _page("Attention Required! | Cloudflare", "<h1>Sorry, you have been blocked</h1>"), None),
    "cloudflare_turnstile_200": (200, HTML, _page("example.social", '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>'), None),
    "akamai_403": (403, {**HTML, "server": "AkamaiGHost"},
                   _page("Access Denied", "<h1>Access Denied</h1>You don't have permission to access this server."
                         "<p>Reference #18.6f2c1b17.1700000000.2a3b4c5d</p><p>https://errors.edgesuite.net/18.6f2c1b17</p>"), None),
    "imperva_403": (403, HTML, b'<html><head><META NAME="robots" CONTENT="noindex,nofollow"><script src="/_Incapsula_Resource?SWJIYLWA=5074a744e2e3d891814e9a2dace20bd4"></script></head>'
                    b'<body>Request unsuccessful. Incapsula incident ID: 1234000560012345678-123456789012345678</body></html>', None),
    "sucuri_403": (403, {**HTML, "server": "Sucuri/Cloudproxy", "x-sucuri-block": "BL001"},
                   _page("Sucuri WebSite Firewall - Access Denied", "Access Denied - Sucuri Website Firewall"), None),
    "f5_rejected_200": (200, HTML, _page("Request Rejected", "The requested URL was rejected. Please consult with your administrator."), None),
    "aws_waf_405": (405, {**HTML, "x-amzn-waf-action": "captcha"}, _page("", '<script src="https://x.token.awswaf.com/x/captcha.js"></script>'), None),
    "aws_waf_202": (202, {"x-amzn-waf-action": "challenge"}, b"", None),
    "datadome_403": (403, {**HTML, "x-datadome": "protected", "x-dd-b": "1"},
                     _page("", '<script src="https://ct.captcha-delivery.com/c.js"></script>'), None),
    "perimeterx_403": (403, HTML, _page("Access to this page has been denied", '<div id="px-captcha"></div>'), None),
    "generic_waf_403": (403, HTML, _page("Access Denied", "Your request was blocked."), None),
    "login_redirect_200": (200, HTML, _page("Welcome", "<form><input type=password></form>"), "https://{host}/accounts/login/?next=/"),
    "login_title_200": (200, HTML, _page("Log in to continue", "<form><input type=password></form>"), None),
    "cloudflare_1020_404": (404, HTML, _page("Access denied | www.example.com used Cloudflare to restrict access",
                                                "<h1>Error 1020</h1> Ray ID: 8a1b2c3d4e5f6789"), None),
    "recaptcha_unusual_traffic_404": (404, HTML, _page("https://www.example.com/",
                                                       "Our systems have detected unusual traffic from your computer"
                                                       " network.<script src=\"https://www.google.com/recaptcha/api.js\">"
                                                       "</script><div class=\"g-recaptcha\"></div>"), None),
    "chinese_waf_404": (404, HTML, _page("405 访问被拦截", "您的访问被拦截, 请求ID: 0b1c2d3e"), None),
    "chinese_captcha_200": (200, HTML, _page("安全验证", "请完成下方验证后继续操作"), None),
    "vercel_checkpoint_429": (429, {**HTML, "x-vercel-mitigated": "challenge"}, _page("Vercel Security Checkpoint"), None),
    "vercel_checkpoint_404": (404, HTML, _page("Vercel Security Checkpoint", "We're verifying your browser"), None),
    "rate_limited_429": (429, {"retry-after": "60"}, b"Too Many Requests", None),
    "rate_limited_429_json": (429, {"content-type": "application/json"}, b'{"error":"Too many requests"}', None),
}


def _accounts() -> list[tuple[str, Account, str, Verdict | None]]:
    """(platform, account, probe URL, first verdict) for every first probe and every second probe."""
    out: list[tuple[str, Account, str, Verdict | None]] = []
    handles = {fx.platform: fx for fx in all_fixtures() if not fx.first}
    for name, platform in PLATFORMS.items():
        fx = handles[name]
        account = Account(platform=name, handle=fx.handle, key=f"{name}:{fx.handle}", platform_id=fx.platform_id)
        try:
            url = platform.probe(account, {"X_BEARER_TOKEN": "t", "TWITCH_CLIENT_ID": "c", "TWITCH_APP_TOKEN": "t",
                                           "BANWATCH_INSTAGRAM_SESSIONID": "s", "BANWATCH_BILIBILI_COOKIE": "c"}).url
        except Exception:
            url = fx.url
        out.append((name, account, url, None))
        firsts = {(f.first["status"], f.first["rule"]) for f in all_fixtures() if f.platform == name and f.first}
        for status, rule in sorted(firsts):
            out.append((name, account, url, Verdict(Status(status), rule, "first probe")))
    return out


CASES = [(page, *acc) for page in BLOCK_PAGES for acc in _accounts()]


def _reply(page: str, url: str) -> Reply:
    status, headers, body, redirect = BLOCK_PAGES[page]
    if redirect:
        from urllib.parse import urlsplit
        return Reply(url=redirect.format(host=urlsplit(url).netloc), status=status, headers=headers, body=body,
                     redirects=(url,))
    return Reply(url=url, status=status, headers=headers, body=body)


@pytest.mark.parametrize(("page", "name", "account", "url", "first"), CASES,
                         ids=[f"{c[1]}{'-second' if c[4] else ''}-{c[0]}" for c in CASES])
def test_block_page_reads_unknown(page: str, name: str, account: Account, url: str, first: Verdict | None) -> None:
    verdict = PLATFORMS[name].read(_reply(page, url), account, first)
    assert verdict.status is Status.UNKNOWN, f"{page} read as {verdict.status} by {verdict.rule}: {verdict.reason}"
    assert verdict.rule.startswith(f"{name}.")


def _naive(reply: Reply, account: Account) -> Verdict:
    """The mistake this guard exists for: a status code read as proof before ruling out block answers."""
    by_status = {200: Status.ACTIVE, 202: Status.ACTIVE, 403: Status.SUSPENDED, 404: Status.NOT_FOUND,
                 405: Status.RESTRICTED, 410: Status.DEACTIVATED, 429: Status.SUSPENDED, 503: Status.SUSPENDED}
    return Verdict(by_status.get(reply.status, Status.SUSPENDED), "naive.rule", "read from the status code")


@pytest.mark.parametrize("page", sorted(BLOCK_PAGES))
def test_control_the_guard_is_what_turns_a_naive_finding_into_unknown(page: str) -> None:
    """With a classifier that reads status codes as proof, every block page is a finding without the guard
    (the raw function) and unknown through Platform.read, on the first and the second probe."""
    from dataclasses import replace

    naive = replace(PLATFORMS["mastodon"], classify=_naive, classify_second=lambda r, a, f: _naive(r, a))
    account = Account("mastodon", "someone@example.social", "mastodon:someone@example.social")
    reply = _reply(page, "https://example.social/api/v1/accounts/lookup?acct=someone")
    assert _naive(reply, account).status.conclusive
    assert naive.read(reply, account).status is Status.UNKNOWN
    assert naive.read(reply, account, Verdict(Status.SUSPENDED, "mastodon.suspended", "")).status is Status.UNKNOWN


def test_guard_leaves_a_profile_that_merely_mentions_block_words_alone() -> None:
    """Markers are headers, exact titles and vendor script addresses, never words a user can write."""
    bio = _page("Someone (@someone) - Example", "<p>Access Denied. Just a moment... captcha, login, Cloudflare</p>")
    assert blocked(Reply("https://example.com/@someone", 200, HTML, bio), "x") is None
    assert blocked(Reply("https://example.com/user/login/about.json", 200, {}, b'{"kind": "t2"}'), "reddit") is None


@pytest.mark.parametrize(("page", "name", "account", "url", "first"), CASES,
                         ids=[f"{c[1]}{'-second' if c[4] else ''}-{c[0]}" for c in CASES])
def test_a_block_page_is_never_counted_as_classifier_drift(page: str, name: str, account: Account, url: str,
                                                           first: Verdict | None) -> None:
    """A wall the platform's classifier does not know by name reads as the wall, not as an answer it no longer
    recognises: drift (status, platform_health, the watchdog) counts changed platforms, not captchas."""
    from banwatch.spiders.platforms.base import drift_rule

    verdict = PLATFORMS[name].read(_reply(page, url), account, first)
    assert not drift_rule(verdict.rule), f"{page} on {name} counted as drift: {verdict.rule}"


def test_control_without_the_guard_an_unrecognised_wall_is_drift() -> None:
    from dataclasses import replace

    from banwatch.spiders.platforms.base import drift_rule, unrecognised

    platform = replace(PLATFORMS["bluesky"], classify=lambda r, a: unrecognised(r, "bluesky"))
    account = Account("bluesky", "someone.bsky.social", "bluesky:someone.bsky.social")
    reply = _reply("recaptcha_unusual_traffic_404", "https://public.api.bsky.app/xrpc/x")
    assert drift_rule(platform.classify(reply, account).rule), "the raw classifier calls the wall drift"
    assert not drift_rule(platform.read(reply, account).rule), "read names it a wall"
