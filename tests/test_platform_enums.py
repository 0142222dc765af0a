"""Platform-controlled enums and messages are matched in any spelling, and rules are rated.

Platforms rename and re-case their values without notice: X's `UserUnavailable` reason `Suspended` also comes
as `USER_UNAVAILABLE_REASON_SUSPENDED`, an error name may turn up in another case, a code as a string, a
notice with other spacing. Each case below takes a saved response (tests/fixtures), respells one platform
value, and reads it through `Platform.read`: a known value keeps its verdict in every spelling, and a value no
rule knows stays `unknown` under a rule that names it (`<platform>.<rule>:<value>`), so drift shows in
`status`. (That every conclusive rule carries a strength is tested in tests/test_strength.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import Fixture, load

MINE = ("weibo", "reddit", "bluesky", "x", "youtube", "telegram", "tiktok", "twitch", "instagram", "bilibili",
        "facebook", "douyin")


@dataclass(frozen=True)
class Case:
    id: str
    platform: str
    fixture: str  # saved response the variant is made from
    change: Callable[[Reply], Reply]
    status: str
    rule: str  # exact rule, or `<platform>.<name>:` for a named rule (the value follows the colon)


def _json(edit: Callable[[Any], Any], status: int | None = None) -> Callable[[Reply], Reply]:
    """Rewrite the JSON body with `edit` (which may change it in place and return None)."""
    def change(reply: Reply) -> Reply:
        doc = json.loads(reply.body)
        doc = edit(doc) or doc
        return replace(reply, body=json.dumps(doc, ensure_ascii=False).encode(),
                       status=reply.status if status is None else status)
    return change


def _sub(old: str, new: str, status: int | None = None) -> Callable[[Reply], Reply]:
    """Replace one piece of the body's text (it must be there)."""
    def change(reply: Reply) -> Reply:
        assert old in reply.text, f"{old!r} is not in the saved response"
        return replace(reply, body=reply.text.replace(old, new, 1).encode(),
                       status=reply.status if status is None else status)
    return change


def _set(*path: str | int, value: Any) -> Callable[[Reply], Reply]:
    def edit(doc: Any) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return _json(edit)


def _x_reason(value: Any) -> Callable[[Reply], Reply]:
    return _set("data", "user", "result", "reason", value=value)


def _x_v2(title: str, detail: str, resource_type: str = "user", parameter: str = "username"):
    return _json(lambda doc: {"errors": [{**doc["errors"][0], "title": title, "detail": detail,
                                          "resource_type": resource_type, "parameter": parameter}]})


def _x_code(code: Any) -> Callable[[Reply], Reply]:
    return _json(lambda doc: {"errors": [{**doc["errors"][0], "code": code}]})


def _weibo_msg(text: str) -> Callable[[Reply], Reply]:
    return _set("msg", value=text)


def _yt_alert(text: str, kind: str = "ERROR") -> Callable[[Reply], Reply]:
    def change(reply: Reply) -> Reply:
        body = re.sub(r'"alertRenderer":\{"type":"ERROR","text":\{"simpleText":"[^"]*"\}\}',
                      lambda _: '"alertRenderer":' + json.dumps({"type": kind, "text": {"simpleText": text}},
                                                                ensure_ascii=False),
                      reply.text, count=1)
        assert body != reply.text, "no ERROR alert to respell"
        return replace(reply, body=body.encode())
    return change


def _tiktok_code(code: str) -> Callable[[Reply], Reply]:
    return _sub('"statusCode":10221', f'"statusCode":{code}')


SUSPENDED_NOTICE = "该账号因被投诉违反法律法规和《微博社区公约》的相关规定，现已无法查看。"

CASES = [
    # --- X: GraphQL UserUnavailable.reason (fault 3) ---
    *[Case(f"x reason {v!r}", "x", "user_unavailable_suspended", _x_reason(v), "suspended",
           "x.user_unavailable_suspended")
      for v in ("USER_UNAVAILABLE_REASON_SUSPENDED", "suspended", "SUSPENDED", " Suspended ",
                "user-unavailable-reason-suspended", "UserUnavailableReasonSuspended", "Reason.Suspended")],
    *[Case(f"x reason {v!r}", "x", "user_unavailable_suspended", _x_reason(v), "deactivated",
           "x.user_unavailable_deactivated")
      for v in ("USER_UNAVAILABLE_REASON_DEACTIVATED", "Deactivated", "deactivated")],
    *[Case(f"x reason {v!r}", "x", "user_unavailable_suspended", _x_reason(v), "not_found",
           "x.user_unavailable_offboarded")
      for v in ("USER_UNAVAILABLE_REASON_OFFBOARDED", "Offboarded")],
    *[Case(f"x reason {v!r}", "x", "user_unavailable_suspended", _x_reason(v), "active",
           "x.user_unavailable_protected")
      for v in ("USER_UNAVAILABLE_REASON_PROTECTED", "protected")],
    *[Case(f"x reason {v!r}", "x", "user_unavailable_suspended", _x_reason(v), "unknown", "x.user_unavailable_other")
      for v in ("USER_UNAVAILABLE_REASON_NO_REASON", "NoReason", "no_reason", "Unavailable", "", None)],
    Case("x reason unknown", "x", "user_unavailable_suspended", _x_reason("USER_UNAVAILABLE_REASON_QUARANTINED"),
         "unknown", "x.user_unavailable:quarantined"),
    Case("x reason unknown, other spelling", "x", "user_unavailable_suspended", _x_reason("Locked Out!"),
         "unknown", "x.user_unavailable:locked_out"),
    *[Case(f"x __typename {v!r}", "x", "user_unavailable_suspended",
           _set("data", "user", "result", "__typename", value=v), "suspended", "x.user_unavailable_suspended")
      for v in ("USER_UNAVAILABLE", "userUnavailable", "user_unavailable")],
    *[Case(f"x __typename {v!r}", "x", "graphql_user", _set("data", "user", "result", "__typename", value=v),
           "active", "x.graphql_user") for v in ("USER", "user")],
    # --- X: API v2 problems ---
    Case("x v2 suspended, other case", "x", "v2_suspended",
         _x_v2("FORBIDDEN", "user has been  suspended: [adfldf].", "USER", "Username"), "suspended", "x.v2_suspended"),
    Case("x v2 not found, other case", "x", "v2_not_found",
         _x_v2("not found error", "COULD NOT FIND USER with username: [someone]."), "not_found", "x.v2_not_found"),
    Case("x v2 known title, other detail", "x", "v2_not_found",
         _x_v2("Not Found Error", "Something else happened."), "unknown", "x.v2_user_error"),
    Case("x v2 unknown title", "x", "v2_not_found", _x_v2("Gone Error", "The user is gone."),
         "unknown", "x.v2_problem:gone_error"),
    # --- X: error codes given as strings ---
    Case("x code '63'", "x", "code_50", _x_code("63"), "suspended", "x.code_63"),
    Case("x code ' 50 '", "x", "code_50", _x_code(" 50 "), "not_found", "x.code_50"),
    Case("x code '64' is the caller's", "x", "code_50", _x_code("64"), "unknown", "x.credential_rejected"),
    # --- Bluesky: XRPC error names and messages ---
    *[Case(f"bluesky error {v!r}", "bluesky", "account_takedown", _set("error", value=v), "suspended",
           "bluesky.account_takedown") for v in ("ACCOUNT_TAKEDOWN", "accountTakedown", "account-takedown")],
    *[Case(f"bluesky error {v!r}", "bluesky", "account_deactivated", _set("error", value=v), "deactivated",
           "bluesky.account_deactivated") for v in ("ACCOUNT_DEACTIVATED", "accountdeactivated")],
    *[Case(f"bluesky message {m!r}", "bluesky", "profile_not_found", _json(lambda d, m=m, e=e: {**d, "error": e,
                                                                                                  "message": m}),
           "not_found", "bluesky.profile_not_found")
      for e, m in (("InvalidRequest", "PROFILE NOT FOUND"), ("INVALID_REQUEST", "profile not found."),
                   ("invalidRequest", "  Profile   not found "), ("InvalidRequest", "Error: Profile not found"))],
    Case("bluesky unknown error name", "bluesky", "account_takedown", _set("error", value="AccountQuarantined"),
         "unknown", "bluesky.error:account_quarantined"),
    # --- Bluesky: relay repo status (second probe) ---
    *[Case(f"bluesky repo status {v!r}", "bluesky", "repo_takendown", _set("status", value=v), s, r)
      for v, s, r in (("TAKENDOWN", "suspended", "bluesky.repo_takendown"),
                      ("taken_down", "suspended", "bluesky.repo_takendown"),
                      ("Suspended", "suspended", "bluesky.repo_suspended"),
                      ("DELETED", "deactivated", "bluesky.repo_deleted"),
                      (" deactivated ", "deactivated", "bluesky.repo_deactivated"),
                      ("DESYNCHRONIZED", "unknown", "bluesky.repo_status_other"),
                      ("Quarantined", "unknown", "bluesky.repo_status:quarantined"))],
    *[Case(f"bluesky repo error {v!r}", "bluesky", "repo_not_found", _set("error", value=v), "not_found",
           "bluesky.repo_not_found") for v in ("REPO_NOT_FOUND", "repoNotFound")],
    # --- TikTok: webapp.user-detail statusCode as a string; unknown codes ---
    Case("tiktok statusCode '10221'", "tiktok", "user_ban", _tiktok_code('"10221"'), "suspended", "tiktok.user_ban"),
    Case("tiktok statusCode ' 10202 '", "tiktok", "user_ban", _tiktok_code('" 10202 "'), "not_found",
         "tiktok.user_not_exist"),
    Case("tiktok statusCode '10222'", "tiktok", "user_ban", _tiktok_code('"10222"'), "restricted",
         "tiktok.user_private"),
    Case("tiktok known other code", "tiktok", "user_ban", _tiktok_code("10114"), "unknown", "tiktok.other_status_code"),
    Case("tiktok unknown code", "tiktok", "user_ban", _tiktok_code("10299"), "unknown", "tiktok.status_code:10299"),
    # --- Bilibili: code and spacesta as strings; unknown codes ---
    Case("bilibili code '-404'", "bilibili", "not_found", _set("code", value="-404"), "not_found",
         "bilibili.not_found"),
    Case("bilibili spacesta '-2'", "bilibili", "spacesta_banned", _set("data", "card", "spacesta", value="-2"),
         "suspended", "bilibili.spacesta_banned"),
    Case("bilibili code '-352'", "bilibili", "not_found", _set("code", value="-352"), "unknown",
         "bilibili.risk_control"),
    Case("bilibili known other code", "bilibili", "not_found", _set("code", value=-626), "unknown",
         "bilibili.api_error"),
    Case("bilibili unknown code", "bilibili", "not_found", _set("code", value=-77777), "unknown",
         "bilibili.code:minus_77777"),
    # --- Reddit: kind, is_suspended and error in other spellings; block page re-cased ---
    Case("reddit kind 'T2', is_suspended 'true'", "reddit", "suspended",
         _json(lambda d: {"kind": "T2", "data": {**d["data"], "is_suspended": "true"}}), "suspended",
         "reddit.is_suspended"),
    Case("reddit error '404'", "reddit", "not_found", _set("error", value="404"), "not_found", "reddit.not_found"),
    Case("reddit block page re-cased", "reddit", "blocked_whoa_there",
         _sub("whoa there, pardner!", "WHOA THERE,\n      PARDNER!"), "unknown", "reddit.blocked"),
    # --- Weibo: notices with other spacing, full-width forms; ok as a string ---
    Case("weibo ban notice spaced", "weibo", "ban_notice", _weibo_msg("该账号因被投诉违反 法律法规和《微博 社区公约》\n的相关规定，现已无法\u3000查看。"),
         "suspended", "weibo.ban_notice"),
    Case("weibo closed notice spaced", "weibo", "closed", _weibo_msg("该账号 已关闭，现无法查看。"), "deactivated",
         "weibo.closed"),
    Case("weibo not-found notice spaced", "weibo", "ban_notice", _weibo_msg("用户 不存在"), "not_found",
         "weibo.user_not_found"),
    Case("weibo ok '1'", "weibo", "active", _set("ok", value="1"), "active", "weibo.user_info"),
    # --- YouTube: alert type and text in other spellings ---
    Case("youtube terminated, other case", "youtube", "terminated_tos",
         _yt_alert("THIS ACCOUNT HAS BEEN  TERMINATED for a violation of YouTube\u2019s Terms of Service."),
         "suspended", "youtube.terminated"),
    Case("youtube alert type 'error'", "youtube", "terminated_tos",
         _yt_alert("This account has been terminated for a violation of YouTube's Terms of Service.", "error"),
         "suspended", "youtube.terminated"),
    *[Case(f"youtube does not exist {t!r}", "youtube", "terminated_tos", _yt_alert(t), "not_found",
           "youtube.channel_does_not_exist")
      for t in ("This channel does not exist", "this channel doesn\u2019t exist.", " This  channel does not exist. ")],
    Case("youtube unknown alert stays unknown", "youtube", "terminated_tos", _yt_alert("Dieser Kanal existiert nicht."),
         "unknown", "youtube.error_alert:dieser_kanal_existiert_nicht"),
    # --- Telegram: the contact page with other spacing ---
    Case("telegram contact page re-spaced", "telegram", "no_profile_card",
         lambda r: _sub('content="noindex, nofollow"', 'content="NOINDEX,NOFOLLOW"')(
             _sub('content="Telegram: Contact @', 'content="TELEGRAM:  Contact  @')(r)),
         "not_found", "telegram.no_profile_card"),
    # --- Instagram: envelope values in other spellings ---
    Case("instagram status 'FAIL'", "instagram", "checkpoint_required", _set("status", value="FAIL"), "unknown",
         "instagram.request_failed"),
    Case("instagram please-wait re-cased (HTTP 400)", "instagram", "please_wait",
         _json(lambda d: {**d, "message": "PLEASE WAIT a few  minutes before you try again."}, status=400),
         "unknown", "instagram.please_wait"),
    # --- Facebook: markers in other case and spacing ---
    Case("facebook interstitial re-cased", "facebook", "content_unavailable",
         _sub('"title":"This content isn\'t available at the moment"',
              '"title": "THIS CONTENT ISN\'T AVAILABLE  AT THE MOMENT."'),
         "not_found", "facebook.content_unavailable"),
    Case("facebook __isProfile re-cased", "facebook", "active_page", _sub('"__isProfile":"Page"', '"__isProfile": "page"'),
         "active", "facebook.profile"),
    Case("facebook bare title re-cased", "facebook", "generic_shell", _sub("<title>Facebook", "<title> FACEBOOK "),
         "unknown", "facebook.generic_shell"),
    # --- Douyin: the captcha title with other spacing ---
    Case("douyin captcha title spaced", "douyin", "captcha", _sub("<title>验证码中间页", "<title>验证码 中间页 "),
         "unknown", "douyin.captcha"),
]


def _read(case: Case) -> Verdict:
    fx: Fixture = load(case.platform, case.fixture)
    account = Account(platform=fx.platform, handle=fx.handle, key=f"{fx.platform}:{fx.handle}",
                      platform_id=fx.platform_id)
    reply = case.change(fx.reply())
    platform = PLATFORMS[case.platform]
    if fx.first:
        return platform.read(reply, account, Verdict(Status(fx.first["status"]), fx.first["rule"], "first probe"))
    return platform.read(reply, account)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_platform_values_are_read_in_any_spelling(case: Case) -> None:
    verdict = _read(case)
    assert (verdict.status.value, verdict.rule) == (case.status, case.rule), verdict.reason
    assert verdict.reason


def test_a_value_no_rule_knows_is_named_and_never_conclusive() -> None:
    named = [c for c in CASES if ":" in c.rule]
    assert {c.platform for c in named} >= {"x", "bluesky", "tiktok", "bilibili"}
    for case in named:
        verdict = _read(case)
        assert verdict.status is Status.UNKNOWN and ":" in verdict.rule, case.id
        assert verdict.rule.split(":", 1)[1] and verdict.rule.split(":", 1)[1] != "none", case.id


def test_read_marks_weak_rules_weak() -> None:
    x = PLATFORMS["x"]
    for case, weak in (("v2_not_found", True), ("user_unavailable_offboarded", True), ("v2_suspended", False),
                       ("user_unavailable_reason_suspended_enum", False)):
        fx = load("x", case)
        verdict = x.read(fx.reply(), Account(platform="x", handle=fx.handle, key=f"x:{fx.handle}"))
        assert verdict.status.conclusive and verdict.weak is weak, (case, verdict)


def test_every_weak_rule_is_justified_in_the_docs() -> None:
    """Each weak rule appears in its platform's section of docs/platforms.md on a line saying it is weak."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "platforms.md").read_text(encoding="utf-8")
    for name in MINE:
        platform = PLATFORMS[name]
        section = doc.split(f"\n## {platform.title}", 1)[1].split("\n## ", 1)[0]
        for rule, strength in platform.strength.items():
            if strength.weak:
                assert any(f"`{rule}`" in line and "weak" in line.lower() for line in section.splitlines()), \
                    f"docs/platforms.md, {platform.title}: no line says why `{rule}` is weak"
