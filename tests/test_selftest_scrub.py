"""`banwatch selftest --save`: what the scrubber keeps out of a saved fixture, and what it must keep in it.

Each response goes through `monitor.selftest.save`, as in a run, and the files it writes are read back whole:
a secret counts as leaked wherever it lands (body, meta headers, URL, reason).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

import pytest

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.monitor.selftest import Canary, Captured, Scrubber, save
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import BLOCK_HEADERS
from tests.fixtures import all_fixtures, load

ROOT = Path(__file__).resolve().parent.parent
JSON = {"content-type": "application/json; charset=utf-8"}
HTML = {"content-type": "text/html; charset=utf-8"}
# An X bearer token as X publishes it: percent-encoded (%2B, %2F, %3D).
X_BEARER = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2FULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4Xs"
DECODED = unquote(X_BEARER)  # ...0+uSeid/ULvsea...SI=EUif...


def _save(tmp_path: Path, platform: str, handle: str, reply: Reply, secrets: dict[str, str] | None = None,
          first: Verdict | None = None) -> tuple[str, dict, list[str]]:
    """Everything save() wrote for this reply (as one text), its meta, and the notes it returned."""
    canary = Canary(Account(platform=platform, handle=handle, key=f"{platform}:{handle}", canary="active"),
                    "built-in")
    cases, notes = save(tmp_path, canary, [Captured(reply, first)], Scrubber(secrets or {}), "2026-01-01", "ok")
    folder = tmp_path / platform
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.iterdir()))
    (case,) = cases
    meta = json.loads((folder / f"{case.split('/')[1]}.meta.json").read_text(encoding="utf-8"))
    return text, meta, notes


# -- headers: an allow-list, not a list of suspicious names ----------------------------------------------------

IG_CLAIM = "hmac.AR3W0DThY2Mu5Fag4sW5u3RhaR3qhFD_5wvYbOJOhCyUYSID"
IG_MID = "ZxYwVQALAAEYqL0pQ2nB3kT9aFxW"
IG_RUR = "\"RVA\\05458212345678\\0541762000000:01f7a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0\""
IG_PROFILE = b'{"data":{"user":{"id":"25025320","username":"instagram","biography":""}},"status":"ok"}'


def test_instagram_session_headers_are_dropped_and_named_in_the_meta(tmp_path: Path) -> None:
    """Instagram hands session material back under ig-set-* and x-ig-set-* names, which the client echoes
    (X-IG-WWW-Claim, X-Mid, ig-u-rur, ig-u-shbid): no name pattern foresees them, the allow-list drops them."""
    reply = Reply("https://i.instagram.com/api/v1/users/web_profile_info/?username=instagram", 200,
                  {**JSON, "x-ig-set-www-claim": IG_CLAIM, "ig-set-ig-u-rur": IG_RUR, "ig-set-x-mid": IG_MID,
                   "ig-set-ig-u-shbid": "\"12345\\05458212345678\\0541793536000:01f7aa\""}, IG_PROFILE)
    text, meta, notes = _save(tmp_path, "instagram", "instagram", reply,
                              {"BANWATCH_INSTAGRAM_SESSIONID": "58212345678%3AAbCdEfGhIjKlMn%3A12%3AAYfXyzAbCdEf"})
    for value in (IG_CLAIM, IG_MID, "01f7a1b2c3d4e5f6", "1793536000:01f7aa"):
        assert value not in text
    assert meta["dropped_headers"] == ["ig-set-ig-u-rur", "ig-set-ig-u-shbid", "ig-set-x-mid", "x-ig-set-www-claim"]
    assert meta["headers"] == JSON
    assert meta["expected"] == {"status": "active", "rule": "instagram.profile"} and not notes


def test_a_value_of_a_dropped_session_header_is_also_replaced_where_the_body_repeats_it(tmp_path: Path) -> None:
    body = json.dumps({"data": {"user": {"id": "25025320", "username": "instagram", "biography": f"x {IG_MID} y"}},
                       "status": "ok"}).encode()
    reply = Reply("https://i.instagram.com/api/v1/users/web_profile_info/?username=instagram", 200,
                  {**JSON, "ig-set-x-mid": IG_MID}, body)
    text, meta, _ = _save(tmp_path, "instagram", "instagram", reply)
    assert IG_MID not in text and '"biography": "x REDACTED y"' in text
    assert meta["expected"]["rule"] == "instagram.profile"


def _classifier_headers() -> set[str]:
    """Every response header a classifier reads: `reply.header("…")` in spiders/platforms, and blocked()'s
    bot-management markers."""
    names = {name for name, *_ in BLOCK_HEADERS}
    for module in (ROOT / "spiders" / "platforms").glob("*.py"):
        names |= {n.lower() for n in re.findall(r"\.header\(\s*[\"']([^\"']+)[\"']", module.read_text("utf-8"))}
    return names


def test_every_header_a_classifier_reads_is_kept_with_harmless_headers() -> None:
    read = _classifier_headers()
    assert {"retry-after", "cf-mitigated", "x-amzn-waf-action", "set-cookie"} <= read  # the scan found them
    useful = {"content-type": "text/html", "content-length": "1234", "location": "https://example.com/next",
              "cache-control": "no-cache", "date": "Wed, 01 Jan 2026 00:00:00 GMT", "server": "nginx",
              "vary": "Accept-Encoding", "x-ratelimit-remaining": "99", "x-rate-limit-reset": "1767225600",
              "ratelimit-limit": "800", "x-app-limit-24hour-remaining": "10"}
    headers = {**{name: "1" for name in read if name != "set-cookie"}, **useful}
    assert Scrubber({}).reply(Reply("https://example.com/", 429, headers, b"")).headers == headers


def test_set_cookie_keeps_the_cookie_names_a_classifier_reads_and_no_value(tmp_path: Path) -> None:
    """Douyin's wall is recognised by the cookie name __ac_nonce in Set-Cookie: the name stays, the values go."""
    fx = load("douyin", "js_challenge")
    nonce = "0674e1a2b00c2d9e4f1a3"
    assert nonce in fx.headers["Set-Cookie"]
    reply = fx.reply()
    reply = Reply(reply.url, reply.status, {**reply.headers, "set-cookie": reply.headers["set-cookie"] +
                                            ", ttwid=1%7CAbCdEfGhIjKlMnOpQrStUv; Path=/; Expires=Wed, 21 Oct 2026 "
                                            "07:28:00 GMT"}, reply.body)
    text, meta, notes = _save(tmp_path, "douyin", fx.handle, reply)
    assert nonce not in text and "AbCdEfGhIjKlMnOpQrStUv" not in text
    assert meta["headers"]["set-cookie"] == "__ac_nonce=REDACTED, ttwid=REDACTED"
    assert meta["expected"] == {"status": "unknown", "rule": "douyin.js_challenge"} and not notes


# -- bodies: cookies and tokens recognised by their shape ------------------------------------------------------

GT = "1791234567890123456"


def test_a_guest_token_cookie_set_by_an_inline_script_is_masked(tmp_path: Path) -> None:
    """x.com's HTML (where an expired web session is sent) sets the guest-token cookie from an inline script;
    the page repeats the token elsewhere."""
    body = (f'<html><head><title>X</title></head><body><script nonce="abc">document.cookie = decodeURIComponent('
            f'"gt={GT}; Max-Age=10800; Domain=.x.com; Path=/; Secure");</script>'
            f'<script>window.__STATE__={{"gt":{GT},"flow":"/i/flow/login?gt={GT}"}}</script></body></html>').encode()
    reply = Reply("https://x.com/i/flow/login", 200, HTML, body,
                  redirects=("https://x.com/i/api/graphql/k5XapwcSikNsEsILW5FvgA/UserByScreenName",))
    text, meta, notes = _save(tmp_path, "x", "x", reply, {"X_AUTH_TOKEN": "a" * 40, "X_CT0": "b" * 160})
    assert GT not in text
    assert 'decodeURIComponent("gt=REDACTED; Max-Age=10800; Domain=.x.com; Path=/; Secure")' in text
    assert not notes


@pytest.mark.parametrize(("body", "kept"), [
    ('<script>document.cookie="gt="+"SECRETVALUE0123"+"; path=/";</script>', "<script>document.cookie="),
    ("HTTP/1.1 200 OK\r\nSet-Cookie: sessionid=SECRETVALUE0123; Path=/; HttpOnly\r\n", "Set-Cookie: sessionid="),
    ('{"headers": {"set-cookie": ["sid=SECRETVALUE0123; Path=/", "k=SECRETVALUE0456"]}}', '"set-cookie": ["sid='),
    ('{"request": {"Cookie": "auth_token=SECRETVALUE0123; ct0=SECRETVALUE0456"}}', '"Cookie": "'),
    ('{"guest_token":"SECRETVALUE0123","name":"alice"}', '"name":"alice"'),
    ('{"gt":"SECRETVALUE0123"}', '{"gt":"'),
    ('{"config":"{\\"csrf_token\\":\\"SECRETVALUE0123\\",\\"user\\":\\"bob\\"}"}', '\\"user\\":\\"bob\\"'),
    ('<meta name="csrf-token" content="SECRETVALUE0123"><meta name="description" content="kept words">',
     'content="kept words"'),
    ('<input type="hidden" name="fb_dtsg" value="SECRETVALUE0123:12:17"><input name="q" value="kept">',
     'value="kept"'),
    ("require('Cookies').set('gt', 'SECRETVALUE0123'); var lsd = {lsd: \"SECRETVALUE0456\"};", "require("),
])
def test_cookie_and_token_assignments_in_a_body_are_masked(body: str, kept: str) -> None:
    clean = Scrubber({}).reply(Reply("https://example.com/", 200, HTML, body.encode())).body.decode()
    assert "SECRETVALUE" not in clean and "REDACTED" in clean, clean
    assert kept in clean, clean


def test_a_masked_token_is_replaced_wherever_the_response_repeats_it() -> None:
    body = (b'<meta name="csrf-token" content="Zm9vYmFyYmF6cXV4"><form action="/s?authenticity=Zm9vYmFyYmF6cXV4">'
            b'<a data-t="Zm9vYmFyYmF6cXV4">')
    scrubbed = Scrubber({}).scrub(Reply("https://m.example/@a?x=Zm9vYmFyYmF6cXV4", 200, HTML, body))
    assert b"Zm9vYmFyYmF6cXV4" not in scrubbed.reply.body and scrubbed.reply.body.count(b"REDACTED") == 3
    assert scrubbed.reply.url == "https://m.example/@a?x=REDACTED"
    assert scrubbed.text("token Zm9vYmFyYmF6cXV4 rejected") == "token REDACTED rejected"


# -- configured credentials, in every encoding a response can reflect them -------------------------------------

REFLECTIONS = {
    "as_configured": X_BEARER,
    "percent_decoded": DECODED,
    "quote_no_safe": quote(DECODED, safe=""),
    "quote_keep_slash": quote(DECODED),  # Python's quote() default, JavaScript's encodeURI
    "quote_plus": quote_plus(DECODED),
    "percent_lower_hex": quote(DECODED, safe="").replace("%2B", "%2b").replace("%2F", "%2f"),
    "percent_twice": quote(X_BEARER, safe=""),
    "json_escaped_slash": json.dumps(DECODED).replace("/", "\\/")[1:-1],
    "json_unicode_escapes": DECODED.replace("/", "\\u002F").replace("+", "\\u002b"),
    "json_in_json": json.dumps(json.dumps({"t": DECODED}))[1:-1],
    "html_escaped": html.escape(quote(DECODED, safe="/")),
    "html_numeric": DECODED.replace("/", "&#47;").replace("+", "&#x2B;"),
    "base64_of_value": base64.b64encode(DECODED.encode()).decode(),
    "base64_of_configured": base64.b64encode(X_BEARER.encode()).decode(),
    "base64_of_bearer_header": base64.b64encode(f"Bearer {X_BEARER}".encode()).decode(),
    "base64_of_name_value": base64.b64encode(f"X_BEARER_TOKEN={DECODED}".encode()).decode(),
    "base64_shifted_by_two": base64.b64encode(f"t:{DECODED};".encode()).decode(),
    "urlsafe_base64_unpadded": base64.urlsafe_b64encode(f"Bearer {DECODED}".encode()).decode().rstrip("="),
    "base64_percent_encoded": quote(base64.b64encode(f"k={DECODED}".encode()).decode(), safe=""),
}


@pytest.mark.parametrize("form", sorted(REFLECTIONS))
def test_a_configured_credential_is_replaced_in_every_encoding(tmp_path: Path, form: str) -> None:
    echoed = REFLECTIONS[form]
    body = ('{"errors":[{"message":"Invalid token ' + echoed + '","code":89}]}').encode()
    reply = Reply(f"https://api.x.com/2/users/by/username/x?user.fields=id&echo={echoed}", 401,
                  {**JSON, "www-authenticate": f'Bearer realm="api", error="{echoed}"'}, body)
    text, meta, _ = _save(tmp_path, "x", "x", reply, {"X_BEARER_TOKEN": X_BEARER})
    assert echoed not in text, f"X_BEARER_TOKEN written to the saved fixture as {form}"
    for chunk in ("EUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4Xs", "ULvsea4JtiGRiSDSJSI"):
        assert chunk not in text
    assert "[REDACTED X_BEARER_TOKEN]" in text and '"code":89' in text


def test_values_of_a_configured_cookie_string_are_replaced_one_by_one() -> None:
    cookie = "SESSDATA=c0ffee5e55da7a-not-a-real-session; bili_jct=0123456789abcdef"
    body = json.dumps({"a": "c0ffee5e55da7a-not-a-real-session", "b": base64.b64encode(b"bili_jct=0123456789abcdef")
                       .decode()}).encode()
    clean = Scrubber({"BANWATCH_BILIBILI_COOKIE": cookie}).reply(Reply("https://api.bilibili.com/", 200, JSON, body))
    assert json.loads(clean.body) == {"a": "[REDACTED BANWATCH_BILIBILI_COOKIE]",
                                      "b": "[REDACTED BANWATCH_BILIBILI_COOKIE]"}


# -- controls: what is not a secret stays, and so does every verdict -------------------------------------------


def test_harmless_headers_and_body_text_are_kept_as_they_came() -> None:
    body = (b'<html><head><title>Alice (@alice)</title><meta name="description" content="cookies, tokens and '
            b'sessions: a blog"></head><body><p>Set your cookie preferences.</p><script>var session = 3;'
            b'</script>{"name":"alice","followers":"1200","key":"value"}</body></html>')
    reply = Reply("https://example.social/@alice?lang=en", 200,
                  {"content-type": "text/html", "server": "nginx", "content-language": "en",
                   "x-ratelimit-remaining": "299"}, body)
    assert Scrubber({"X_BEARER_TOKEN": X_BEARER}).reply(reply) == reply


SECRETS = {"X_BEARER_TOKEN": X_BEARER, "X_AUTH_TOKEN": "a" * 40, "X_CT0": "b" * 160,
           "BANWATCH_BILIBILI_COOKIE": "SESSDATA=c0ffee5e55da7a-not-a-real-session; bili_jct=0123456789abcdef",
           "BANWATCH_INSTAGRAM_SESSIONID": "58212345678%3AAbCdEfGhIjKlMn%3A12%3AAYfXyzAbCdEf",
           "TWITCH_CLIENT_ID": "abcdefghij0123456789klmnopqrst", "TWITCH_APP_TOKEN": "0123456789abcdefghijklmnopqrst"}


def test_every_saved_fixture_reads_the_same_once_scrubbed() -> None:
    """The property save() checks on each capture (scrub_changed_verdict), held over every fixture we have."""
    scrubber = Scrubber(SECRETS)
    changed = []
    for fx in all_fixtures():
        platform = PLATFORMS[fx.platform]
        account = Account(fx.platform, fx.handle, f"{fx.platform}:{fx.handle}", platform_id=fx.platform_id)
        first = Verdict(Status(fx.first["status"]), fx.first["rule"]) if fx.first else None
        before = platform.read_safely(fx.reply(), account, first)
        after = platform.read_safely(scrubber.reply(fx.reply()), account, first)
        if (after.status, after.rule) != (before.status, before.rule):
            changed.append(f"{fx.platform}/{fx.case}: {before.rule} -> {after.rule}")
    assert not changed
