"""Weibo: GET /api/container/getIndex?type=uid&value={uid} on m.weibo.cn (no login needed).

- `{"ok": 1, "data": {"userInfo": {...}}}` -> active (stable id: the numeric uid)
- the ban notice, in any of its wordings (`违反` … `微博社区公约` … `无法查看`) -> suspended
- the self-closed notice (`自行申请关闭` / `该账号已关闭`) -> deactivated
- the security-lock notice (`行为异常` / `内容存在风险` … `暂时不能查看`) -> restricted
- `用户不存在` -> not_found
- `{"ok": -100, "url": ".../captcha..."}`, HTTP 403/414/418/432, the Sina Visitor System page, `网络繁忙`,
  and the ambiguous `这里还没有内容` (also served to cookie-less clients for real users) -> unknown

Notices are matched by fragment, after folding full-width forms (NFKC) and removing all whitespace, so a
notice re-spaced or broken over lines still matches; `ok` is read as a number or a string of digits.
Notices are read only from structural places — the JSON `msg`/`errmsg` fields, or the error page's
`<p class="h5-4con">` and `<title>` — never from a profile's own text, so a bio quoting a ban notice is
not a ban. The exact getIndex JSON for a banned uid is not confirmed publicly (docs/platforms.md).
"""

from __future__ import annotations

import html
import re
import unicodedata

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, enum_int, host_path, html_title, json_body, owns, transient,
    unrecognised, weak,
)

NAME = "weibo"
HOSTS = ("weibo.com", "weibo.cn")
# d.weibo.com (Discover) names its pages by numeric category ids (d.weibo.com/102803) that look like uids
_NOT_PROFILE_SITES = ("d.weibo.com",)
_UID = re.compile(r"^[1-9][0-9]{4,11}$")
_H5_NOTICE = re.compile(r'<p class="h5-4con">(.*?)</p>', re.S)
_BLOCK_STATUSES = {403: "forbidden", 414: "too many requests", 418: "rate limited", 432: "cookie-less client"}

# (status, rule, every fragment that must appear, reason); first match wins, ban notice first.
_NOTICES: tuple[tuple[Status, str, tuple[str, ...], str], ...] = (
    (Status.SUSPENDED, "weibo.ban_notice", ("违反", "微博社区公约", "无法查看"),
     "ban notice: violated laws/regulations or the Weibo Community Convention"),
    (Status.DEACTIVATED, "weibo.closed_by_user", ("自行申请关闭",), "closed at the user's own request"),
    (Status.DEACTIVATED, "weibo.closed", ("该账号已关闭",), "account closed"),
    (Status.RESTRICTED, "weibo.security_lock", ("行为异常", "暂时不能查看"), "locked for abnormal behaviour"),
    (Status.RESTRICTED, "weibo.content_risk_lock", ("内容存在风险", "暂时不能查看"), "locked for risky content"),
    (Status.NOT_FOUND, "weibo.user_not_found", ("用户不存在",), "user does not exist"),
    (Status.UNKNOWN, "weibo.no_content", ("这里还没有内容",),
     "'这里还没有内容' is also served for real users without cookies: proves nothing"),
    (Status.UNKNOWN, "weibo.busy", ("网络繁忙",), "Weibo says the network is busy"),
    (Status.UNKNOWN, "weibo.no_data", ("暂无数据",), "Weibo says there is no data"),
)


def normalise(handle: str) -> str | None:
    """A Weibo handle as written -> its canonical form (the numeric uid, 5–12 digits, no leading 0; screen names are
    refused), or None when it is not a valid one. Pure."""
    handle = handle.strip()
    return handle if _UID.match(handle) else None


def from_url(url: str) -> str | None:
    """`/u/UID` or `/profile/UID` (keywords in any case), or a path that starts with the uid: `weibo.com/UID` and
    a post under it, `weibo.com/UID/POSTID` (the author). Screen-name (`/n/NAME`) and custom-domain links -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or not path:
        return None
    if path[0].lower() in {"u", "profile"}:
        return normalise(path[1]) if len(path) >= 2 else None
    return normalise(path[0])  # weibo.com/1234567890, weibo.com/1234567890/N4xlMvjhI


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the mobile container API
    `m.weibo.cn/api/container/getIndex?type=uid&value={uid}`, with the headers the mobile site sends; no login. Never
    raises."""
    uid = account.handle
    return Probe(f"https://m.weibo.cn/api/container/getIndex?type=uid&value={uid}",
                 headers={"Referer": f"https://m.weibo.cn/u/{uid}", "MWeibo-Pwa": "1",
                          "X-Requested-With": "XMLHttpRequest", "Accept": "application/json, text/plain, */*"})


def profile_url(handle: str) -> str:
    """A canonical Weibo handle -> the profile link people open, https://weibo.com/u/{uid}. Pure; the handle is not
    checked."""
    return f"https://weibo.com/u/{handle}"


def _notices(reply: Reply, doc: object) -> str:
    """The notice text in one spelling: NFKC (full-width forms folded) and no whitespace at all, so a notice
    broken over lines or spaced out still contains its fragments."""
    if isinstance(doc, dict):
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        parts = [doc.get("msg"), doc.get("errmsg"), data.get("msg")]
        text = " ".join(p for p in parts if isinstance(p, str))
    else:
        texts = [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in _H5_NOTICE.findall(reply.text)]
        text = " ".join([html_title(reply), *texts])
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (getIndex's JSON, or an HTML error page) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `weibo.unrecognised`). Called
    only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md, "Weibo"):

    - active `weibo.user_info`: `ok == 1` with `data.userInfo.id` (RSSHub lib/routes/weibo/user.ts;
      dataabc/weibo-crawler weibo.py).
    - suspended `weibo.ban_notice`: a notice with 违反, 微博社区公约 and 无法查看 (research §2.2; public scrapers).
    - deactivated `weibo.closed_by_user` (自行申请关闭) and `weibo.closed` (该账号已关闭).
    - restricted `weibo.security_lock` (行为异常 … 暂时不能查看) and `weibo.content_risk_lock` (内容存在风险 …).
    - not_found `weibo.user_not_found`: 用户不存在 (snscrape `_ensure_user_id`, on m.weibo.cn/n/NAME).

    Weak: `weibo.user_not_found`. Unconfirmed: the getIndex answer for a banned, closed or locked uid (the notice
    wording is sourced, its placement in the JSON is not), and for a uid never registered."""
    if reply.status in _BLOCK_STATUSES:
        return Verdict(Status.UNKNOWN, f"weibo.http_{reply.status}",
                       f"HTTP {reply.status}: {_BLOCK_STATUSES[reply.status]}")
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    host, _ = host_path(reply.url)
    if not isinstance(doc, dict) and (host.startswith("passport.")
                                      or "sina visitor system" in " ".join(html_title(reply).split()).lower()):
        return Verdict(Status.UNKNOWN, "weibo.visitor_system", "Sina Visitor System cookie gate")
    if isinstance(doc, dict):
        if enum_int(doc.get("ok")) == -100 or "captcha" in str(doc.get("url", "")).lower():
            return Verdict(Status.UNKNOWN, "weibo.captcha", "ok: -100, captcha / risk control")
        data = doc.get("data")
        user = data.get("userInfo") if isinstance(data, dict) else None
        if enum_int(doc.get("ok")) == 1 and isinstance(user, dict) and user.get("id"):
            if str(user["id"]) != account.handle:
                return Verdict(Status.UNKNOWN, "weibo.other_account",
                               f"asked for uid {account.handle}, getIndex answered with uid {str(user['id'])[:20]}")
            return Verdict(Status.ACTIVE, "weibo.user_info", "getIndex returned userInfo",
                           platform_id=str(user["id"]), display_name=user.get("screen_name"))
    text = _notices(reply, doc)
    for status, rule, fragments, reason in _NOTICES:
        if all(f in text for f in fragments):
            return Verdict(status, rule, reason)
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Weibo", base_url="https://m.weibo.cn",
    hosts=HOSTS, url_forms=("https://weibo.com/u/{uid}", "https://m.weibo.cn/u/{uid}"),
    handle_help="a numeric Weibo uid such as 1234567890 (screen names change; uids do not)",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # 418/414 when polled faster
    politeness=Politeness(concurrency=1, delay=3.0, batch=50),
    strength={
        "weibo.user_info": PROOF, "weibo.ban_notice": PROOF, "weibo.closed_by_user": PROOF, "weibo.closed": PROOF,
        "weibo.security_lock": PROOF, "weibo.content_risk_lock": PROOF,
        "weibo.user_not_found": weak("a suspended account has also been reported to answer 用户不存在 (June 2021), and "
                                     "what getIndex answers for a uid never registered is not confirmed"),
    },
)
