"""Bilibili: GET https://api.bilibili.com/x/web-interface/card?mid={mid} (unsigned; no WBI signature needed).

- `{"code": 0, "data": {"card": {"mid": "…", "name": …, "spacesta": 0}}}` -> active (stable id: the mid)
- `code: 0` with `data.card.spacesta == -2` ("被封禁", banned) -> suspended; any other `spacesta` (or none) ->
  unknown, named after it (`bilibili.spacesta:minus_1` for -1): only 0 and -2 are documented
- a card for another mid than the one asked -> unknown (`bilibili.other_account`)
- HTTP 200 `{"code": -404, "message": "啥都木有"}` -> not_found, weak (a cancelled account, 注销, reads the same).
  -404 (ecode NothingFound) is Bilibili's catch-all "nothing here" (unknown b23.tv codes, paywalled playurl,
  retired endpoints, public code shows handlers stubbed to answer only it). Bilibili's handlers send it with HTTP
  200 (`c.JSON(nil, ecode.NothingFound)` in its Go services), so -404 with any other HTTP status is not the card
  handler's answer (a route miss in front of it) -> unknown (`bilibili.route_not_found`); with 200 it is weak: a
  retired or stubbed endpoint would answer it for every mid.
- `-352` 风控校验失败 (with `data.v_voucher`), `-401` 非法访问 (captcha), `-412` 请求被拦截 and the HTTP 412
  "安全风控策略" page, `-799` 请求过于频繁, `-509` over limit, `-101` 账号未登录, any other non-zero code,
  429, 5xx -> unknown (the public codes of errcode.md as `bilibili.api_error`; a code no table knows is named
  after itself, `bilibili.code:minus_<n>` for -n, so a new code shows in `status`)
- `-102` 账号被封停 is the CALLER's account (the optional BANWATCH_BILIBILI_COOKIE) being banned -> unknown
  (`bilibili.credential_rejected`), never the target's state.

The card endpoint carries no `silence` and no `sys_notice`: the frozen-account notices (ids 5/22/25/31/34)
and dispute warnings (8/16/36) are only in `/x/space/wbi/acc/info`, which needs a WBI signature built from
keys that rotate daily, so banwatch does not read them (docs/platforms.md). States are read only from the
`code` field and `data.card.spacesta` (numbers, also read when sent as strings of digits), never from the
user's name or sign (bio).
"""

from __future__ import annotations

import re

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, enum_int, host_path, html_title, json_body, named_rule, owns,
    transient, unrecognised, weak,
)

NAME = "bilibili"
# b23.tv is Bilibili's short-link domain: its codes need a redirect to resolve, so it names no account here
HOSTS = ("bilibili.com", "b23.tv")
COOKIE = "BANWATCH_BILIBILI_COOKIE"  # optional: a browser cookie (buvid3=…; SESSDATA=…) for risk-controlled IPs
_MID = re.compile(r"^[1-9][0-9]{0,15}$")

# root `code` -> (status, rule, reason); none of these says anything about the target account
_CODES: dict[int, tuple[Status, str, str]] = {
    -352: (Status.UNKNOWN, "bilibili.risk_control", "code -352 风控校验失败: risk control, proves nothing"),
    -401: (Status.UNKNOWN, "bilibili.illegal_access", "code -401 非法访问: anti-crawler captcha, proves nothing"),
    -412: (Status.UNKNOWN, "bilibili.request_blocked", "code -412 请求被拦截: the monitor's IP is blocked"),
    -799: (Status.UNKNOWN, "bilibili.too_frequent", "code -799 请求过于频繁: rate limited"),
    -509: (Status.UNKNOWN, "bilibili.over_limit", "code -509: request over limit"),
    -101: (Status.UNKNOWN, "bilibili.not_logged_in", "code -101 账号未登录: the endpoint wants a login cookie"),
    -102: (Status.UNKNOWN, "bilibili.credential_rejected",
           "code -102 账号被封停: the MONITOR's cookie account is banned, not the target"),
}
# The other public error codes (bilibili-API-collect docs/misc/errcode.md): none says anything about the target
# account (-626 用户不存在 and -643 被锁定 are login answers), so they are unknown under one rule. A code in
# neither table is unknown and named after itself (`bilibili.code:minus_<n>` for -n).
_OTHER_CODES = {-1, -2, -3, -4, -103, -104, -105, -106, -107, -108, -110, -111, -112, -113, -114, -115, -304,
                -307, -400, -403, -405, -409, -500, -503, -504, -616, -617, -625, -626, -628, -629, -632, -643,
                -650, -652, -658, -662, -688, -689, -701, -8888}


def normalise(handle: str) -> str | None:
    """A Bilibili handle as written -> its canonical form (the numeric mid; a `UID:` prefix or a space.bilibili.com
    URL is accepted), or None when it is not a valid one. Pure."""
    handle = handle.strip()
    if "/" in handle:
        return from_url(handle)
    if handle.upper().startswith("UID:"):
        handle = handle[4:].strip()
    return handle if _MID.match(handle) else None


def from_url(url: str) -> str | None:
    """`space.bilibili.com/MID` (also a tab or a video list under it: the owner) and `/space/MID` on the other
    Bilibili sites (the mobile `m.bilibili.com/space/MID`); the keyword in any case. Video (`/video/BV…`), live
    room (`live.bilibili.com/ROOM`: a room number, not a mid) and b23.tv short links -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or not path:
        return None
    if host == "space.bilibili.com":
        return normalise(path[0])
    if len(path) >= 2 and path[0].lower() == "space" and owns(("bilibili.com",), host):
        return normalise(path[1])
    return None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the user card API
    `api.bilibili.com/x/web-interface/card?mid=`, with the optional cookie when set. Never raises."""
    mid = account.handle
    headers = {"Referer": f"https://space.bilibili.com/{mid}", "Origin": "https://space.bilibili.com",
               "Accept": "application/json, text/plain, */*"}
    cookie = (secrets or {}).get(COOKIE)
    if cookie:
        headers["Cookie"] = cookie
    return Probe(f"https://api.bilibili.com/x/web-interface/card?mid={mid}", headers=headers)


def profile_url(handle: str) -> str:
    """A canonical Bilibili handle -> the profile link people open, https://space.bilibili.com/{mid}. Pure; the handle
    is not checked."""
    return f"https://space.bilibili.com/{handle}"


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the card API's JSON) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `bilibili.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Bilibili"):

    - active `bilibili.card`: `code 0` with `data.card.mid` (SocialSisterYi/bilibili-API-collect docs/user/info.md;
      maigret).
    - suspended `bilibili.spacesta_banned`: `data.card.spacesta == -2`, "被封禁" per the same docs.
    - not_found `bilibili.not_found`: HTTP 200 `{"code":-404,"message":"啥都木有"}` (maigret; errcode.md, which says a
      cancelled account reads the same).

    Weak: `bilibili.not_found` (-404 is Bilibili's catch-all NothingFound). Unconfirmed: no recorded answer for a
    banned mid (`spacesta_banned` follows the docs' field definition only)."""
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        if reply.status == 412 or "安全风控策略" in reply.text:
            return Verdict(Status.UNKNOWN, "bilibili.request_blocked",
                           f"HTTP {reply.status} '{html_title(reply) or 'security control'}': "
                           "the monitor's IP is risk-controlled")
        return unrecognised(reply, NAME)
    code = enum_int(doc.get("code"))
    if code == -404 and reply.status != 200:  # not the card handler's answer (it sends -404 with HTTP 200)
        return Verdict(Status.UNKNOWN, "bilibili.route_not_found",
                       f"HTTP {reply.status} code -404 {str(doc.get('message', ''))[:40]}: Bilibili's catch-all "
                       "'nothing here' for a route or resource it does not know, not an answer about the user")
    if code == -404:
        return Verdict(Status.NOT_FOUND, "bilibili.not_found",
                       f"code -404 {str(doc.get('message', ''))[:40]}: no such user (cancelled accounts read the "
                       "same; -404 is also Bilibili's catch-all for any missing resource)")
    if code in _CODES:
        return Verdict(*_CODES[code])
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    card = data.get("card")
    if code == 0 and isinstance(card, dict) and "mid" in card and str(card["mid"]).strip() != account.handle:
        return Verdict(Status.UNKNOWN, "bilibili.other_account",
                       f"asked for mid {account.handle}, the card is of mid {str(card['mid'])[:20]}: it is about "
                       "another account, whatever it says")
    if code == 0 and isinstance(card, dict) and str(card.get("mid", "")) == account.handle:
        name = card.get("name") or None
        spacesta = enum_int(card.get("spacesta"))
        if spacesta == -2:
            return Verdict(Status.SUSPENDED, "bilibili.spacesta_banned",
                           "card.spacesta is -2 (被封禁, banned)", platform_id=account.handle, display_name=name)
        if spacesta != 0:  # only 0 (正常) and -2 (被封禁) are documented: never read another value as active
            value = card.get("spacesta") if spacesta is None else (f"minus {-spacesta}" if spacesta < 0 else spacesta)
            return Verdict(Status.UNKNOWN, named_rule(NAME, "spacesta", value),
                           f"card.spacesta is {str(card.get('spacesta'))[:20]!r}: a value no rule knows")
        return Verdict(Status.ACTIVE, "bilibili.card", f"card of mid {account.handle}",
                       platform_id=account.handle, display_name=name)
    if code in _OTHER_CODES:
        return Verdict(Status.UNKNOWN, "bilibili.api_error",
                       f"code {code} {doc.get('message', '')}: proves nothing about the account"[:200])
    if code is not None and code != 0:
        return Verdict(Status.UNKNOWN, named_rule(NAME, "code", f"minus {-code}" if code < 0 else code),
                       f"code {code} {doc.get('message', '')}: a code no rule knows"[:200])
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Bilibili", base_url="https://api.bilibili.com",
    hosts=HOSTS, url_forms=("https://space.bilibili.com/{mid}",),
    handle_help="a numeric Bilibili mid (UID), e.g. 2 or space.bilibili.com/2",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # /x/ user endpoints rate-limit around 150 requests / 5 min per IP (research §12)
    politeness=Politeness(concurrency=1, delay=3.0, batch=50),
    credentials=(COOKIE,),
    strength={
        "bilibili.card": PROOF, "bilibili.spacesta_banned": PROOF,
        "bilibili.not_found": weak("-404 (NothingFound) is Bilibili's catch-all 'nothing here': a retired or stubbed "
                                   "endpoint answers it for every mid, and cancelled and never-registered mids read "
                                   "the same"),
    },
)
