"""Douyin: GET https://www.douyin.com/user/{sec_uid} (the public profile page).

Douyin gives NO finding today: no public source shows what an active, banned, cancelled or missing
account's page or API answer looks like (research §13, "State markers: not confirmed"), and the data APIs
need signed parameters (`a_bogus`, `msToken`) and browser cookies a monitor cannot make. So every answer is
`unknown`; the rules below only say *which* kind of unknown, so a wall is not mistaken for layout drift:

- `<title>验证码中间页</title>` (the slider-captcha middle page) -> unknown (`douyin.captcha`)
- an empty page ("Empty html. The request may be filtered by WAF.") -> unknown (`douyin.empty_page`)
- the `byted_acrawler` / `__ac_nonce` JavaScript challenge (risk control, 风控) -> unknown (`douyin.js_challenge`)
- 429, 5xx -> unknown
- anything else, including a page that seems to carry profile data -> unknown (`douyin.unrecognised`)

Walls are recognised from the page `<title>`, the `Set-Cookie` header and the challenge script, never from
text a user can write, so a bio quoting "验证码中间页" is not read as a captcha.
"""

from __future__ import annotations

import re

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import Platform, Politeness, Probe, Secrets, host_path, html_title, owns, transient

NAME = "douyin"
HOSTS = ("douyin.com", "iesdouyin.com")
# sec_uid: base64url of a protobuf, always starting "MS4wLjABAAAA" (e.g. MS4wLjABAAAAw-ZZkQBLr4Zc…)
_SEC_UID = re.compile(r"^MS4wLjABAAAA[A-Za-z0-9_-]{20,100}$")
_CHALLENGE = ("byted_acrawler", "__ac_signature", "__ac_nonce")


def normalise(handle: str) -> str | None:
    """A Douyin handle as written -> its canonical form (the case-sensitive `sec_uid` `MS4wLjABAAAA…`, kept as
    written; a profile URL is accepted), or None when it is not a valid one. Pure."""
    handle = handle.strip()
    if "/" in handle:
        return from_url(handle)
    return handle if _SEC_UID.match(handle) else None  # case-sensitive: never lower-case a sec_uid


def from_url(url: str) -> str | None:
    """`douyin.com/user/SEC_UID` (any subdomain; also with a video open on it, `?modal_id=…`: the author) and the
    share page `iesdouyin.com/share/user/SEC_UID`; keywords in any case. Video links (`/video/ID`), v.douyin.com
    short links (they need a redirect to resolve) and numeric uids -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host):
        return None
    keys = [p.lower() for p in path[:2]]
    if owns(("iesdouyin.com",), host):
        return normalise(path[2]) if len(path) >= 3 and keys == ["share", "user"] else None
    return normalise(path[1]) if len(path) >= 2 and keys[0] == "user" else None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the HTML profile page
    `www.douyin.com/user/{sec_uid}`, asking for Chinese. Never raises."""
    return Probe(f"https://www.douyin.com/user/{account.handle}",
                 headers={"Accept": "text/html,application/xhtml+xml", "Accept-Language": "zh-CN,zh;q=0.9"})


def profile_url(handle: str) -> str:
    """A canonical Douyin handle -> the profile link people open, https://www.douyin.com/user/{sec_uid}. Pure; the
    handle is not checked."""
    return f"https://www.douyin.com/user/{handle}"


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the HTML profile page) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `douyin.unrecognised`). Called
    only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Douyin"):

    - none. Every answer is `unknown`: the walls are named (`douyin.captcha`: RSSHub #12256; `douyin.empty_page`:
      RSSHub #12029; `douyin.js_challenge`: biliup #114, amemv-crawler #19/#31), anything else is
      `douyin.unrecognised`.

    Weak: none (no rule is conclusive). Unconfirmed: every account state: no public source shows what Douyin returns
    for an active, banned, cancelled or never-existing account (research §13, §17)."""
    if (early := transient(reply, NAME)) is not None:
        return early
    text = reply.text
    if "验证码中间页" in re.sub(r"\s+", "", html_title(reply)):  # whatever the spacing
        return Verdict(Status.UNKNOWN, "douyin.captcha", "captcha middle page (验证码中间页): a wall, proves nothing")
    if not re.sub(r"<[^>]*>|\s", "", text):
        return Verdict(Status.UNKNOWN, "douyin.empty_page",
                       f"HTTP {reply.status} with an empty page: filtered by the WAF, proves nothing")
    if "__ac_nonce" in reply.header("set-cookie") or (
            len(text) < 20_000 and any(marker in text for marker in _CHALLENGE[:2])):
        return Verdict(Status.UNKNOWN, "douyin.js_challenge",
                       "byted_acrawler / __ac_nonce JavaScript challenge (风控): a wall, proves nothing")
    return Verdict(Status.UNKNOWN, "douyin.unrecognised",
                   f"HTTP {reply.status}, {len(reply.body)} bytes: Douyin account states are not confirmed, "
                   "so no page is read as a state")


PLATFORM = Platform(
    findings=False,
    name=NAME, title="Douyin", base_url="https://www.douyin.com",
    hosts=HOSTS, url_forms=("https://www.douyin.com/user/{sec_uid}",),
    handle_help="a Douyin sec_uid (MS4wLjABAAAA…), e.g. from www.douyin.com/user/MS4wLjABAAAA…",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # every answer is unknown today: ask rarely
    politeness=Politeness(concurrency=1, delay=5.0, batch=20),
    max_answer=8 * 1024 * 1024,  # user pages inline ~0.5-1 MiB of RENDER_DATA
    strength={},  # no rule is conclusive, so none needs a strength
)
