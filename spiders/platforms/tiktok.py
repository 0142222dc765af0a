"""TikTok: GET the profile page www.tiktok.com/@{name} and read its embedded state.

The state lives in `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">` →
`__DEFAULT_SCOPE__["webapp.user-detail"].statusCode` (yt-dlp `_get_universal_data`; codes from
TikScraperPHP `Constants/Codes.php`). TikTok answers HTTP 200 for every state, so only this field counts.

- `statusCode` 0 with `userInfo.user.id` -> active (stable id: the numeric `id`; `uniqueId` is the handle)
- 10221 USER_BAN -> suspended. Public username checkers read the same code as "name not registered", so a
  handle that was renamed or never existed may read this way too; the reason says so.
- 10202 USER_NOT_EXIST -> not_found
- 10222 USER_PRIVATE, 10223 USER_FTC -> restricted
- 10000 VERIFY_CODE, the codes of Codes.php that prove nothing (`tiktok.other_status_code`), any other code
  (named after itself, `tiktok.status_code:<code>`, so a new code shows in `status`), the `tiktok-verify-page`
  captcha, the SlardarWAF challenge, the client-rendered shell without data (what plain requests get since
  Aug 2026), HTTP 403 "Access Denied", 429, 5xx -> unknown

`statusCode` is read as a number whether TikTok sends it as one or as a string of digits. It is read only
from the `webapp.user-detail` object of that script element, never from the page text, so a bio quoting
`"statusCode":10221` is not a ban. Wall markers are looked for only on pages that carry no such script.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, enum_int, host_path, named_rule, owns, transient, unrecognised,
    weak,
)

NAME = "tiktok"
HOSTS = ("tiktok.com",)
_HANDLE = re.compile(r"^[a-z0-9_.]{2,24}$")
_UNIVERSAL = re.compile(r'<script[^>]*\bid="__UNIVERSAL_DATA_FOR_REHYDRATION__"[^>]*>(.*?)</script>', re.S)
_VERIFY_MARKERS = ("tiktok-verify-page", "captcha_verify", "verify-bar-close")
_WAF_MARKERS = ("SlardarWAF", "_wafchallengeid", 'id="slardar-config"')
# TikTok serves data only to what looks like a browser navigation (research §10; public notes, 2026)
_HEADERS = {
    "User-Agent": ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
                   "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none",
}

# webapp.user-detail statusCode -> verdict (TikScraperPHP src/Constants/Codes.php)
_CODES: dict[int, tuple[Status, str, str]] = {
    10221: (Status.SUSPENDED, "tiktok.user_ban",
            "statusCode 10221 USER_BAN (TikTok may answer the same for a renamed or never-registered handle)"),
    10202: (Status.NOT_FOUND, "tiktok.user_not_exist", "statusCode 10202 USER_NOT_EXIST"),
    10222: (Status.RESTRICTED, "tiktok.user_private", "statusCode 10222 USER_PRIVATE: the account is private"),
    10223: (Status.RESTRICTED, "tiktok.user_ftc", "statusCode 10223 USER_FTC: restricted (under-13 / FTC) account"),
    10000: (Status.UNKNOWN, "tiktok.verify_code", "statusCode 10000 VERIFY_CODE: TikTok wants a captcha solved"),
}
# Other codes of Codes.php that say nothing about the account's state (server, login, network, anti-bot and
# USER_UNIQUE_SENSITIVITY): unknown under one rule. A code in neither table is unknown and named after itself.
_OTHER_CODES = {10101: "SERVER_ERROR_NOT_500", 10102: "USER_NOT_LOGIN", 10111: "NET_ERROR", 10113: "SHARK_SLIDE",
                10114: "SHARK_BLOCK", 10225: "USER_UNIQUE_SENSITIVITY"}


def normalise(handle: str) -> str | None:
    """A TikTok handle as written -> its canonical form (lower-case username, `@` dropped, not ending in '.'), or None
    when it is not a valid one. Pure."""
    handle = handle.strip().lstrip("@").lower()  # TikTok usernames are case-blind
    return handle if _HANDLE.match(handle) and not handle.endswith(".") else None


def from_url(url: str) -> str | None:
    """`tiktok.com/@NAME` (also `%40NAME`) on any subdomain (www., m.), also a video or live page under it
    (`/@NAME/video/ID`: the author). Links without the author (`/video/ID`, `/embed/…`, the short links
    vm./vt.tiktok.com/…, /t/…: they need a browser to resolve) -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or not path:
        return None
    name = unquote(path[0])  # /%40NAME is /@NAME
    return normalise(name) if name.startswith("@") else None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the HTML profile page
    `https://www.tiktok.com/@{name}` with browser headers. Never raises."""
    return Probe(f"https://www.tiktok.com/@{quote(account.handle)}", headers=dict(_HEADERS))


def profile_url(handle: str) -> str:
    """A canonical TikTok handle -> the profile link people open, https://www.tiktok.com/@{name}. Pure; the handle is
    not checked."""
    return f"https://www.tiktok.com/@{handle}"


def universal_data(text: str) -> dict[str, Any] | None:
    """The `__DEFAULT_SCOPE__` of the page's rehydration script, or None when the page has none."""
    m = _UNIVERSAL.search(text)
    if not m:
        return None
    try:
        doc = json.loads(m.group(1))
    except ValueError:
        return None
    scope = doc.get("__DEFAULT_SCOPE__") if isinstance(doc, dict) else None
    return scope if isinstance(scope, dict) else None


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the profile page's embedded universal data) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `tiktok.unrecognised`). Called
    only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "TikTok"):

    - active `tiktok.user_detail`: `statusCode 0` with `userInfo.user.id` (yt-dlp; public profile parsers).
    - suspended `tiktok.user_ban`: `statusCode 10221` USER_BAN (TikScraperPHP Codes.php; ProxiTok #141).
    - not_found `tiktok.user_not_exist`: `statusCode 10202` USER_NOT_EXIST (Codes.php; tiktok-scraper #404).
    - restricted `tiktok.user_private` (10222, yt-dlp #14585) and `tiktok.user_ftc` (10223).

    Weak: `tiktok.user_ban` (username checkers read 10221 as "name available": Sherlock, user-scanner #118) and
    `tiktok.user_not_exist` (asked by name). Unconfirmed: every fixture is synthetic; no distinct code for a
    self-deleted account."""
    if (early := transient(reply, NAME)) is not None:
        return early
    if reply.status == 403:
        return Verdict(Status.UNKNOWN, "tiktok.access_denied",
                       "HTTP 403: TikTok refused the monitor's request (region or IP block)")
    if reply.status != 200:
        return unrecognised(reply, NAME)
    text = reply.text
    scope = universal_data(text)
    if scope is None:
        if any(m in text for m in _VERIFY_MARKERS):
            return Verdict(Status.UNKNOWN, "tiktok.verify_page", "tiktok-verify-page captcha instead of the profile")
        if any(m in text for m in _WAF_MARKERS):
            return Verdict(Status.UNKNOWN, "tiktok.waf_challenge", "SlardarWAF bot challenge instead of the profile")
        return Verdict(Status.UNKNOWN, "tiktok.no_data",
                       f"{len(reply.body)}-byte page without __UNIVERSAL_DATA_FOR_REHYDRATION__ "
                       "(client-rendered shell)")
    detail = scope.get("webapp.user-detail")
    code = enum_int(detail.get("statusCode")) if isinstance(detail, dict) else None
    if code is None:
        return Verdict(Status.UNKNOWN, "tiktok.no_data", "rehydration data without webapp.user-detail.statusCode")
    if code == 0:
        info = detail.get("userInfo") if isinstance(detail.get("userInfo"), dict) else {}
        user = info.get("user") if isinstance(info.get("user"), dict) else {}
        if user.get("id"):
            unique_id = user.get("uniqueId")
            if isinstance(unique_id, str) and normalise(unique_id) not in (None, account.handle):
                return Verdict(Status.UNKNOWN, "tiktok.other_account",
                               f"asked for @{account.handle}, the page is @{unique_id[:40]}'s: not this account")
            return Verdict(Status.ACTIVE, "tiktok.user_detail", f"statusCode 0: profile of @{unique_id}",
                           platform_id=str(user["id"]), display_name=user.get("nickname") or None,
                           handle=normalise(unique_id) if isinstance(unique_id, str) else None)
        return unrecognised(reply, NAME)
    if code in _CODES:
        status, rule, reason = _CODES[code]
        return Verdict(status, rule, reason)
    if code in _OTHER_CODES:
        return Verdict(Status.UNKNOWN, "tiktok.other_status_code",
                       f"webapp.user-detail statusCode {code} {_OTHER_CODES[code]}: proves nothing about the account")
    return Verdict(Status.UNKNOWN, named_rule(NAME, "status_code", code),
                   f"webapp.user-detail statusCode {code} no rule knows {detail.get('statusMsg') or ''}".strip()[:200])


PLATFORM = Platform(
    name=NAME, title="TikTok", base_url="https://www.tiktok.com",
    hosts=HOSTS, url_forms=("https://www.tiktok.com/@{name}",),
    handle_help="a TikTok username (2-24 letters, digits, _ or .), with or without the @",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # SlardarWAF triggers on bursts from one IP
    politeness=Politeness(concurrency=1, delay=5.0, batch=50),
    max_answer=8 * 1024 * 1024,  # profile pages carry ~0.3-1 MiB of inline rehydration JSON
    strength={
        "tiktok.user_detail": PROOF, "tiktok.user_private": PROOF, "tiktok.user_ftc": PROOF,
        "tiktok.user_ban": weak("username checkers read 10221 as 'name not registered': a renamed or never-registered "
                                "handle may answer it too"),
        "tiktok.user_not_exist": weak("the probe asks by name (TikTok has no lookup by id): a renamed account's old "
                                      "name and a never-registered name read the same"),
    },
)
