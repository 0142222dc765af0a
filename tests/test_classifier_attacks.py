"""Answers that must never become findings, found by attacking the classifiers.

Four kinds, each checked on every platform where it can happen:

1. An answer that names another account than the one asked (before the stable id is known: `Platform.read`
   compares stable ids once one is stored) is `<platform>.other_account` / `youtube.other_channel`, never this
   account's state. Names are compared only where the probe asked by that name: asked by a stable id, a new name
   is a rename, not another account.
2. A platform value no rule knows (an error message, an alert text, an enum value) is unknown under a rule that
   names it (`<platform>.<rule>:<value>`), so the drift shows in `status`; it never falls through to active.
3. A platform's generic "nothing here" envelope is not a proof: Bilibili's -404 with any HTTP status but 200 is a
   route miss (unknown), and with 200 it is weak.
4. A rule that reads an HTTP status must also see the platform's own answer in the body: any other page served
   with that status (a CDN or WAF block page, a captcha, a login page) is unknown.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import load

HTML = {"content-type": "text/html; charset=UTF-8"}
JSON = {"content-type": "application/json; charset=utf-8"}
MINE = ("x", "reddit", "telegram", "bluesky", "youtube", "bilibili", "instagram")


def _account(platform: str, handle: str, platform_id: str | None = None) -> Account:
    return Account(platform=platform, handle=handle, key=f"{platform}:{handle}", platform_id=platform_id)


def _read(platform: str, reply: Reply, handle: str, platform_id: str | None = None) -> Verdict:
    return PLATFORMS[platform].read(reply, _account(platform, handle, platform_id))


def _json_reply(url: str, doc: object, status: int = 200) -> Reply:
    return Reply(url, status, dict(JSON), json.dumps(doc, ensure_ascii=False).encode())


def _fixture_json(platform: str, case: str) -> object:
    return json.loads(load(platform, case).body)


def _is_other(verdict: Verdict, rule: str) -> None:
    assert (verdict.status, verdict.rule) == (Status.UNKNOWN, rule), f"{verdict.status} by {verdict.rule}"
    assert verdict.platform_id is None, "an answer about another account must not give this one a stable id"


# ------------------------------------------------------------------------------------------------------------
# 1. An answer about another account
# ------------------------------------------------------------------------------------------------------------

X_BY_NAME = "https://api.x.com/2/users/by/username/{}?user.fields=id,name,username,protected,withheld"
X_BY_ID = "https://api.x.com/2/users/{}?user.fields=id,name,username,protected,withheld"


@pytest.mark.parametrize("case", ["v2_suspended", "v2_not_found"])
def test_x_v2_problem_about_another_username_is_other_account(case: str) -> None:
    doc = _fixture_json("x", case)
    doc["errors"][0].update(value="bob", resource_id="bob", detail=doc["errors"][0]["detail"].replace(
        doc["errors"][0]["value"], "bob"))
    _is_other(_read("x", _json_reply(X_BY_NAME.format("alice"), doc), "alice"), "x.other_account")
    # control: the same problem about the name asked, in another case, keeps its verdict
    doc["errors"][0].update(value="Alice")
    assert _read("x", _json_reply(X_BY_NAME.format("alice"), doc), "alice").status.conclusive


def test_x_v2_problem_about_another_id_is_other_account() -> None:
    doc = _fixture_json("x", "v2_suspended_by_id")
    doc["errors"][0].update(value="999", resource_id="999")
    _is_other(_read("x", _json_reply(X_BY_ID.format("481186914"), doc), "481186914"), "x.other_account")


def test_x_user_with_another_username_is_other_account_only_when_asked_by_name() -> None:
    doc = {"data": {"id": "2244994945", "name": "Developers", "username": "XDevelopers", "protected": False}}
    _is_other(_read("x", _json_reply(X_BY_NAME.format("twitterdev"), doc), "twitterdev"), "x.other_account")
    # asked by the stored id, the new username is a rename: active, with the current handle
    renamed = _read("x", _json_reply(X_BY_ID.format("2244994945"), doc), "twitterdev", "2244994945")
    assert (renamed.status, renamed.handle) == (Status.ACTIVE, "xdevelopers")
    # asked by id, a user with another id is another account, even before the id is stored
    _is_other(_read("x", _json_reply(X_BY_ID.format("12"), doc), "twitterdev"), "x.other_account")


def test_x_graphql_user_with_another_screen_name_is_other_account() -> None:
    fx = load("x", "graphql_user")
    verdict = PLATFORMS["x"].read(fx.reply(), _account("x", "someone_else"))
    _is_other(verdict, "x.other_account")
    assert PLATFORMS["x"].read(fx.reply(), _account("x", fx.handle.upper())).status is Status.ACTIVE  # case-blind


def test_reddit_about_for_another_name_is_other_account() -> None:
    doc = {"kind": "t2", "data": {"is_suspended": True, "name": "SomeoneElse"}}
    url = "https://www.reddit.com/user/alice_a/about.json"
    _is_other(_read("reddit", _json_reply(url, doc), "alice_a"), "reddit.other_account")
    doc["data"]["name"] = "Alice_A"  # the name asked, in its own case
    assert _read("reddit", _json_reply(url, doc), "alice_a").status is Status.SUSPENDED
    active = _fixture_json("reddit", "active")
    _is_other(_read("reddit", _json_reply("https://www.reddit.com/user/alice_a/about.json", active), "alice_a"),
              "reddit.other_account")


def test_telegram_contact_page_for_another_name_is_other_account() -> None:
    fx = load("telegram", "no_profile_card")
    body = fx.body.replace(fx.handle.encode(), b"someone_else")
    _is_other(_read("telegram", Reply("https://t.me/alice_channel", 200, dict(HTML), body), "alice_channel"),
              "telegram.other_account")
    # only a link names another user: still not an answer about the name asked
    mixed = fx.body.replace(b"domain=" + fx.handle.encode(), b"domain=someone_else", 1)
    _is_other(_read("telegram", Reply(fx.url, 200, dict(HTML), mixed), fx.handle), "telegram.other_account")
    assert _read("telegram", fx.reply(), fx.handle.upper()).status is Status.NOT_FOUND  # control, case-blind


def test_bluesky_profile_of_another_handle_is_other_account_only_when_asked_by_handle() -> None:
    fx = load("bluesky", "active")
    url = "https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=bob-example.bsky.social"
    _is_other(_read("bluesky", Reply(url, 200, dict(JSON), fx.body), "bob-example.bsky.social"),
              "bluesky.other_account")
    did = json.loads(fx.body)["did"]
    # asked by a DID written as the handle: another DID is another account
    _is_other(_read("bluesky", Reply(url, 200, dict(JSON), fx.body), "did:plc:" + "a" * 24), "bluesky.other_account")
    # asked by the stored DID, a new handle is a rename
    renamed = _read("bluesky", Reply(url, 200, dict(JSON), fx.body), "bob-example.bsky.social", did)
    assert (renamed.status, renamed.handle) == (Status.ACTIVE, "alice-example.bsky.social")
    # restricted profiles are compared too
    hide = load("bluesky", "restricted_hide")
    _is_other(_read("bluesky", replace(hide.reply(), url=url), "bob-example.bsky.social"), "bluesky.other_account")


def test_youtube_channel_with_another_handle_is_other_channel_only_when_asked_by_handle() -> None:
    fx = load("youtube", "active")
    page = fx.body
    _is_other(_read("youtube", Reply("https://www.youtube.com/@someone_else", 200, dict(HTML), page),
                    "@someone_else"), "youtube.other_channel")
    control = _read("youtube", Reply("https://www.youtube.com/@lofigirl", 200, dict(HTML), page), "@lofigirl")
    assert control.status is Status.ACTIVE  # the handle asked, in another case
    by_id = _read("youtube", fx.reply(), fx.handle)  # asked by channel id: any current handle is the channel's
    assert by_id.status is Status.ACTIVE


def test_instagram_profile_of_another_username_is_other_account() -> None:
    fx = load("instagram", "active")
    url = "https://i.instagram.com/api/v1/users/web_profile_info/?username=someone_else"
    _is_other(_read("instagram", Reply(url, 200, dict(JSON), fx.body), "someone_else"), "instagram.other_account")


def test_bilibili_card_of_another_mid_is_other_account() -> None:
    fx = load("bilibili", "spacesta_banned")
    url = "https://api.bilibili.com/x/web-interface/card?mid=123"
    _is_other(_read("bilibili", Reply(url, 200, dict(JSON), fx.body), "123"), "bilibili.other_account")


# ------------------------------------------------------------------------------------------------------------
# 2. A value no rule knows is named, never read as active
# ------------------------------------------------------------------------------------------------------------


def _named(verdict: Verdict, prefix: str) -> str:
    assert verdict.status is Status.UNKNOWN, f"{verdict.status} by {verdict.rule}"
    assert verdict.rule.startswith(prefix + ":"), verdict.rule
    value = verdict.rule.split(":", 1)[1]
    assert value and value != "none", verdict.rule
    return value


BSKY = "https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=alice.bsky.social"


def test_bluesky_invalid_request_with_an_unknown_message_is_named() -> None:
    doc = {"error": "InvalidRequest", "message": "Actor not found"}
    verdict = _read("bluesky", _json_reply(BSKY, doc, 400), "alice.bsky.social")
    assert _named(verdict, "bluesky.invalid_request") == "actor_not_found"
    # the known message keeps its rule; "Profile not found" keeps its verdict
    known = load("bluesky", "invalid_request_other")
    assert PLATFORMS["bluesky"].read(known.reply(), _account("bluesky", known.handle)).rule == "bluesky.invalid_request"
    assert _read("bluesky", _json_reply(BSKY, {**doc, "message": "Profile not found"}, 400),
                 "alice.bsky.social").status is Status.NOT_FOUND


def test_bluesky_message_without_latin_letters_is_named_by_a_stable_hash() -> None:
    first = _read("bluesky", _json_reply(BSKY, {"error": "InvalidRequest", "message": "找不到该用户"}, 400),
                  "alice.bsky.social")
    again = _read("bluesky", _json_reply(BSKY, {"error": "InvalidRequest", "message": " 找不到该用户 "}, 400),
                  "alice.bsky.social")
    other = _read("bluesky", _json_reply(BSKY, {"error": "InvalidRequest", "message": "帐户已停用"}, 400),
                  "alice.bsky.social")
    assert _named(first, "bluesky.invalid_request") == _named(again, "bluesky.invalid_request")
    assert first.rule != other.rule


def _yt_alert_page(text: str) -> bytes:
    data = {"alerts": [{"alertRenderer": {"type": "ERROR", "text": {"simpleText": text}}}]}
    return f"<html><script>var ytInitialData = {json.dumps(data, ensure_ascii=False)};</script></html>".encode()


@pytest.mark.parametrize(("text", "expected"), [
    ("This channel is no longer available due to a legal complaint.",
     "this_channel_is_no_longer_available_due"),  # 40 characters, no trailing _
    ("Dieser Kanal existiert nicht.", "dieser_kanal_existiert_nicht"),
])
def test_youtube_error_alert_with_an_unknown_text_is_named(text: str, expected: str) -> None:
    url = "https://www.youtube.com/channel/UCSJ4gkVC6NrvII8umztf0Ow"
    verdict = _read("youtube", Reply(url, 200, dict(HTML), _yt_alert_page(text)), "UCSJ4gkVC6NrvII8umztf0Ow")
    assert _named(verdict, "youtube.error_alert") == expected


def test_youtube_alert_without_latin_letters_is_named_by_a_stable_hash() -> None:
    url = "https://www.youtube.com/channel/UCSJ4gkVC6NrvII8umztf0Ow"
    rules = [_read("youtube", Reply(url, 200, dict(HTML), _yt_alert_page(text)), "UCSJ4gkVC6NrvII8umztf0Ow")
             for text in ("此频道不存在。", "此频道  不存在", "该账号已被终止。")]
    names = [_named(v, "youtube.error_alert") for v in rules]
    assert names[0] == names[1] != names[2]


@pytest.mark.parametrize(("value", "name"), [(-1, "minus_1"), (1, "1"), ("-3", "minus_3"), ("banned", "banned")])
def test_bilibili_spacesta_no_rule_knows_is_named_not_active(value: object, name: str) -> None:
    doc = _fixture_json("bilibili", "active")
    doc["data"]["card"]["spacesta"] = value
    verdict = _read("bilibili", _json_reply("https://api.bilibili.com/x/web-interface/card?mid=2", doc), "2")
    assert _named(verdict, "bilibili.spacesta") == name


def test_bilibili_card_without_spacesta_is_not_active() -> None:
    doc = _fixture_json("bilibili", "active")
    del doc["data"]["card"]["spacesta"]
    verdict = _read("bilibili", _json_reply("https://api.bilibili.com/x/web-interface/card?mid=2", doc), "2")
    assert verdict.status is Status.UNKNOWN and verdict.rule == "bilibili.spacesta:none"
    doc["data"]["card"]["spacesta"] = "0"  # control: 0 in any spelling is active
    assert _read("bilibili", _json_reply("https://api.bilibili.com/x/web-interface/card?mid=2", doc),
                 "2").status is Status.ACTIVE


@pytest.mark.parametrize("value", [1, "yes", "locked"])
def test_reddit_is_suspended_no_rule_knows_is_named_not_active(value: object) -> None:
    doc = _fixture_json("reddit", "active")
    doc["data"]["is_suspended"] = value
    verdict = _read("reddit", _json_reply("https://www.reddit.com/user/spez/about.json", doc), "spez")
    _named(verdict, "reddit.is_suspended")
    for known in (False, "false", None):  # control
        doc["data"]["is_suspended"] = known
        assert _read("reddit", _json_reply("https://www.reddit.com/user/spez/about.json", doc),
                     "spez").status is Status.ACTIVE


def test_instagram_envelope_status_no_rule_knows_is_named_not_active() -> None:
    fx = load("instagram", "active")
    doc = json.loads(fx.body)
    doc["status"] = "partial"
    assert _named(_read("instagram", _json_reply(fx.url, doc), fx.handle), "instagram.status") == "partial"


# ------------------------------------------------------------------------------------------------------------
# 3. A generic "nothing here" envelope is not a proof
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 400, 403, 410])
def test_bilibili_minus_404_with_an_http_error_is_a_route_miss(status: int) -> None:
    body = '{"code":-404,"message":"啥都木有","ttl":1}'.encode()
    reply = Reply("https://api.bilibili.com/x/web-interface/card?mid=123456", status, dict(JSON), body)
    verdict = _read("bilibili", reply, "123456")
    assert (verdict.status, verdict.rule) == (Status.UNKNOWN, "bilibili.route_not_found"), verdict


def test_bilibili_minus_404_with_200_is_a_weak_not_found() -> None:
    fx = load("bilibili", "not_found")
    verdict = _read("bilibili", fx.reply(), fx.handle)
    assert (verdict.status, verdict.rule, verdict.weak) == (Status.NOT_FOUND, "bilibili.not_found", True)


# ------------------------------------------------------------------------------------------------------------
# 4. A status code alone is never a finding: the body must be the platform's own answer
# ------------------------------------------------------------------------------------------------------------


def _page(title: str, body: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


# Block, captcha and login pages the shared guard (`base.blocked`) does not know.
FOREIGN_PAGES = {
    "cloudflare_1020": _page("Access denied | www.example.com used Cloudflare to restrict access",
                             '<div id="cf-wrapper"><h1><span>Error</span><span>1020</span></h1>'
                             "<span>Cloudflare Ray ID: <strong>8a1b2c3d4e5f6a7b</strong></span></div>"),
    "google_unusual_traffic": _page("https://www.youtube.com/@x",
                                    '<div id="infoDiv">Our systems have detected unusual traffic from your computer '
                                    'network.</div><form id="captcha-form"><div class="g-recaptcha"></div></form>'),
    "cn_waf": _page("访问被拦截", "您的访问被阻断"),
    "cn_verification": _page("安全验证", "请完成人机验证"),
    "vercel_checkpoint": _page("Vercel Security Checkpoint", "We're verifying your browser"),
    "login_de": _page("Anmelden – Google Konten", '<form><input type="password"></form>'),
    "bare_404": _page("404 Not Found", "<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"),
    "instagram_html_404": _page("Page not found • Instagram",
                                "<h2>Sorry, this page isn't available.</h2><p>The link you followed may be broken, "
                                "or the page may have been removed.</p>"),
}


def _probe_url(platform: str) -> tuple[str, str]:
    handle = {"x": "alice", "reddit": "alice_a", "telegram": "alice_channel", "bluesky": "alice.bsky.social",
              "youtube": "@somecreator", "bilibili": "123456", "instagram": "somecreator"}[platform]
    return PLATFORMS[platform].probe(_account(platform, handle), {"X_BEARER_TOKEN": "t"}).url, handle


@pytest.mark.parametrize("page", sorted(FOREIGN_PAGES))
@pytest.mark.parametrize("status", [200, 400, 403, 404, 410])
@pytest.mark.parametrize("platform", MINE)
def test_a_foreign_page_is_never_a_finding_whatever_its_status(platform: str, status: int, page: str) -> None:
    url, handle = _probe_url(platform)
    verdict = _read(platform, Reply(url, status, dict(HTML), FOREIGN_PAGES[page]), handle)
    assert not verdict.status.conclusive, f"HTTP {status} {page}: {verdict.status} by {verdict.rule}"


def test_youtube_own_404_page_is_not_found_in_any_language() -> None:
    fx = load("youtube", "handle_not_found")
    assert _read("youtube", fx.reply(), fx.handle).status is Status.NOT_FOUND
    german = ('<!DOCTYPE html><html lang="de" dir="ltr"><head><title>404 Not Found</title></head><body>'
              '<div id="error-page"><div id="error-page-content"><img id="error-page-hh-illustration" '
              'src="https://www.gstatic.com/youtube/src/web/htdocs/img/monkey.png" alt="">'
              "<p>Diese Seite ist leider nicht verfügbar.</p><p>Suche nach etwas anderem.</p></div></div></body></html>")
    verdict = _read("youtube", replace(fx.reply(), body=german.encode()), fx.handle)
    assert (verdict.status, verdict.rule, verdict.weak) == (Status.NOT_FOUND, "youtube.page_not_found", True)


def test_instagram_not_found_needs_its_empty_404() -> None:
    fx = load("instagram", "not_found")
    assert _read("instagram", fx.reply(), fx.handle).status is Status.NOT_FOUND
    assert _read("instagram", replace(fx.reply(), body=b" \n"), fx.handle).status is Status.NOT_FOUND
    for body in (b"Not Found", b"<html></html>", b'{"data": {}}'):
        assert _read("instagram", replace(fx.reply(), body=body), fx.handle).status is Status.UNKNOWN, body
