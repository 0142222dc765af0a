"""Telegram: GET https://t.me/{username} (the public web preview page; no login, no API key).

- 200 page with a `<div class="tgme_page_title">` (and usually `<div class="tgme_page_extra">`: "12 345
  subscribers", "1 234 members" or "@username") -> active. There is no stable id on t.me: the channel/user
  id needs MTProto or a Bot API token, so `platform_id` stays None.
- 200 generic "contact" page: no `tgme_page_title`, `og:title` "Telegram: Contact @name" and/or
  `<meta name="robots" content="noindex, nofollow">` plus the "If you have Telegram, you can contact
  @name right away." block in `tgme_page_description` -> not_found. A channel or user that was deleted (or
  banned and its username freed) reads exactly the same, and one public report says some owned usernames
  without a public card show it too; the reason says so. A contact page that names another username (in
  `og:title` or a `tg://resolve?domain=` link) than the one asked -> unknown (`telegram.other_account`).
- suspended / restricted: not readable here. The ToS text ("This channel can't be displayed because it
  violated Telegram's Terms of Service") comes from MTProto `restriction_reason` in the apps; it is not
  confirmed on t.me. `t.me/s/{username}` 302 -> `t.me/{username}` happens when the owner turned the preview
  off, when Telegram flagged the channel sensitive, and for every user/bot/group, so it proves no state and
  banwatch does not ask it (no second probe).
- 429, 5xx, timeouts, any other page -> unknown

Texts are compared whatever their case and spacing. Markers are read from page structure (the
`tgme_page_title` element, the `og:title` meta, the `tgme_page_description` element of a page without a
title), so a channel description quoting the "contact @name right away" text stays active.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, host_path, owns, transient, unrecognised, weak,
)

NAME = "telegram"
_HANDLE = re.compile(r"^[A-Za-z0-9_]{5,32}$")
HOSTS = ("t.me", "telegram.me", "telegram.dog")
# t.me paths that are not usernames: invite, folder, sticker, emoji, theme, style, wallpaper, language, proxy, login,
# phone-confirmation, invoice, gift-code, collectible-gift (nft), auction, call, contact-token, business-chat (m),
# share, instant-view and bot-creation links, private-post links (/c/ID/POST) and the web clients (/a, /k, /z) —
# tdlib's LinkManager.cpp, which also refuses these as username.t.me subdomains. /boost/NAME and /s/NAME are
# read below (the NAME after them).
_RESERVED = {"joinchat", "addstickers", "addemoji", "addtheme", "addstyle", "addlist", "share", "msg", "msg_url",
             "proxy", "socks", "setlanguage", "login", "auth", "confirmphone", "invoice", "giftcode", "nft", "auction",
             "call", "contact", "contacts", "m", "boost", "iv", "bg", "c", "s", "i", "newbot", "web", "a", "k", "z"}

_TITLE = re.compile(r'<div class="tgme_page_title"[^>]*>(.*?)</div>', re.S)
_EXTRA = re.compile(r'<div class="tgme_page_extra"[^>]*>(.*?)</div>', re.S)
_DESCRIPTION = re.compile(r'<div class="tgme_page_description"[^>]*>(.*?)</div>', re.S)
_OG_TITLE = re.compile(r'<meta property="og:title" content="([^"]*)"', re.I)
_ROBOTS_NOINDEX = re.compile(r'<meta name="robots" content="\s*noindex\s*,\s*nofollow\s*"', re.I)
_PREVIEW_LINK = re.compile(r'<a class="tgme_page_context_link" href="/s/', re.I)
_RESOLVE_LINK = re.compile(r"tg://resolve\?domain=([A-Za-z0-9_]+)", re.I)  # the name a contact page is about


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def normalise(handle: str) -> str | None:
    """A Telegram handle as written -> its canonical form (lower-case username, `@` dropped; a t.me URL is accepted),
    or None when it is not a valid one. Pure."""
    handle = handle.strip().lstrip("@")
    if "/" in handle or "." in handle:
        return from_url(handle)
    return handle.lower() if _HANDLE.match(handle) else None  # usernames are case-insensitive


def from_url(url: str) -> str | None:
    """`t.me/NAME` (also telegram.me, telegram.dog, www.), a post or story under it (`t.me/NAME/123`: the
    channel), the preview `t.me/s/NAME`, the boost link `t.me/boost/NAME`, and a collectible username's own
    subdomain `NAME.t.me`. Invite (`+…`), invoice (`$…`) and the other `_RESERVED` links, compared in any case,
    -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host):
        return None
    if host.endswith(".t.me") and host != "www.t.me":  # NAME.t.me/…, read exactly as t.me/NAME/…
        path = [host[:-len(".t.me")], *path]
    elif host not in HOSTS and host.removeprefix("www.") not in HOSTS:
        return None  # no other subdomain of telegram.me / telegram.dog serves profiles
    elif len(path) >= 2 and path[0].lower() in {"s", "boost"}:  # t.me/s/NAME: the post preview; boost/NAME
        path = path[1:]
    if not path or path[0].lower() in _RESERVED or path[0].startswith(("+", "$")):
        return None
    name = path[0]
    return name.lower() if _HANDLE.match(name) else None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the public page `https://t.me/{username}`, asking for
    English. Never raises."""
    return Probe(f"https://t.me/{quote(account.handle)}", headers={"Accept-Language": "en-US,en;q=0.8"})


def profile_url(handle: str) -> str:
    """A canonical Telegram handle -> the profile link people open, https://t.me/{username}. Pure; the handle is not
    checked."""
    return f"https://t.me/{handle}"


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the t.me HTML page) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `telegram.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Telegram"):

    - active `telegram.profile`: 200 with a non-empty `tgme_page_title` (WhatsMyName, maigret, sherlock).
    - not_found `telegram.no_profile_card`: 200 generic "contact @NAME" page without the title (maigret absenceStrs,
      sherlock data.json); deleted and freed usernames read the same.

    Weak: `telegram.no_profile_card`. Unconfirmed: whether t.me shows the ToS ban text at all (so there is no
    suspended rule); every fixture is synthetic."""
    if (early := transient(reply, NAME)) is not None:
        return early
    if reply.status != 200:
        return unrecognised(reply, NAME)
    page = reply.text
    title = _TITLE.search(page)
    if title and _text(title.group(1)):
        extra = _EXTRA.search(page)
        extra_text = _text(extra.group(1)) if extra else ""
        handle = extra_text[1:].lower() if re.fullmatch(r"@[A-Za-z0-9_]{4,32}", extra_text) else None
        detail = f" ({extra_text})" if extra_text else ""
        if _PREVIEW_LINK.search(page):
            detail += ", public post preview on"
        return Verdict(Status.ACTIVE, "telegram.profile", f"t.me shows the profile card{detail}"[:200],
                       display_name=_text(title.group(1)), handle=handle)
    og = _OG_TITLE.search(page)
    og_contact = bool(og and _text(og.group(1)).lower().replace(" :", ":").startswith("telegram: contact @"))
    description = " ".join(_text(d) for d in _DESCRIPTION.findall(page))
    contact_block = "you can contact @" in description.lower() and "right away" in description.lower()
    if og_contact and (contact_block or _ROBOTS_NOINDEX.search(page)):
        named = {_text(og.group(1)).rsplit("@", 1)[-1].strip().lower()} if og else set()
        named |= {n.lower() for n in _RESOLVE_LINK.findall(page)}
        if named - {account.handle.lower()}:
            return Verdict(Status.UNKNOWN, "telegram.other_account",
                           f"asked for @{account.handle}, the contact page names "
                           f"{', '.join('@' + n for n in sorted(named))}"[:200] + ": it is about another name")
        return Verdict(Status.NOT_FOUND, "telegram.no_profile_card",
                       "t.me shows the generic 'contact @name' page, no profile card: free, never used, or "
                       "deleted/banned and freed (not separable; one report: some owned names too)")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Telegram", base_url="https://t.me",
    hosts=HOSTS, url_forms=("https://t.me/{name}",),
    handle_help="a public Telegram username (5-32 letters, digits or _), e.g. durov or t.me/durov",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    politeness=Politeness(concurrency=2, delay=1.0, batch=100),
    strength={
        "telegram.profile": PROOF,
        "telegram.no_profile_card": weak("a name never registered, and (one report) some owned collectible names "
                                         "without a public card, show the same generic contact page"),
    },
)
