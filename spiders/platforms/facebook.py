"""Facebook: GET https://www.facebook.com/{name} (or /profile.php?id={id}), logged out. Existence only.

- the page's bootstrap JSON carries `"__isProfile":"User"|"Page"` (WMN's presence marker) -> active. Stable id
  from the `al:android:url` / `al:ios:url` app-link meta (`fb://profile/{id}` / `fb://page/?id={id}`) when present.
- the interstitial `"title":"This content isn't available at the moment"` (before Aug 2026: "…right now") ->
  not_found, **Low**: suspended, deactivated, deleted, renamed and privacy-restricted profiles all show it to a
  logged-out viewer (research §14), which the reason says.
- login redirects / "You must log in to continue" / "Log in or sign up to view", a bare `<title>Facebook</title>`
  shell without profile data, HTTP 404 (profiles hidden from search engines 404 when logged out), 429, 5xx
  -> unknown

Markers are compared whatever their case and spacing. They are read from structure only (the JSON key
`__isProfile`, the interstitial's `"title"` prop, `<title>`, meta tags, the final URL), never from a profile's
own text; the active marker is checked first, so a bio quoting the interstitial stays active.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, quote, urlsplit

from monitor.model import Account, Reply, Status, Verdict
from spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, host_path, html_title, transient, unrecognised, weak,
)

NAME = "facebook"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9.]{1,49}$")  # letters, digits and dots (short legacy names like zuck)
_NUMERIC = re.compile(r"^[0-9]{5,20}$")
_HOSTS = {"facebook.com", "www.facebook.com", "m.facebook.com", "mbasic.facebook.com", "web.facebook.com",
          "touch.facebook.com", "fb.com", "www.fb.com"}
_RESERVED = {"groups", "pages", "events", "watch", "marketplace", "login", "login.php", "help", "photo",
             "photo.php", "story.php", "share", "sharer", "sharer.php", "permalink.php", "people", "hashtag",
             "gaming", "reel", "reels", "videos", "policies", "privacy", "settings", "messages", "notifications",
             "friends", "home.php", "recover", "r.php", "dialog", "plugins", "l.php", "checkpoint", "search",
             "business", "ads", "legal", "about", "stories", "live", "fundraisers", "media", "public"}
_IS_PROFILE = re.compile(r'"__isProfile"\s*:\s*"(User|Page)"', re.I)
_APP_LINK = re.compile(r'<meta property="al:(?:android|ios):url" content="fb://(?:profile|page)/(?:\?id=)?([0-9]+)')
_OG_TITLE = re.compile(r'<meta property="og:title" content="([^"]*)"')
_OG_URL = re.compile(r'<meta property="og:url" content="([^"]*)"')
# the interstitial's title prop in the page's bootstrap JSON; apostrophe as ', ’ or \u2019; any case and spacing
_UNAVAILABLE = re.compile(r'"title"\s*:\s*"\s*This\s+content\s+isn(?:\'|\u2019|\\u2019)t\s+available\s+'
                          r'(at\s+the\s+moment|right\s+now)\s*[.!]?\s*"', re.I)
_LOGIN_TEXT = ("You must log in to continue", "Log in or sign up to view", "You must log in first")


def normalise(handle: str) -> str | None:
    handle = handle.strip().lstrip("@").lower()
    if handle.startswith("profile.php?id="):
        handle = handle[len("profile.php?id="):]
    if _NUMERIC.match(handle):
        return handle
    return handle if _USERNAME.match(handle) and handle not in _RESERVED else None


def from_url(url: str) -> str | None:
    host, path = host_path(url)
    if host not in _HOSTS or not path:
        return None
    if path[0] == "profile.php":
        ids = parse_qs(urlsplit(url if "//" in url else "https://" + url).query).get("id")
        return normalise(ids[0]) if ids else None
    if path[0] in {"people", "pages"} and len(path) >= 3:  # /people/Display-Name/100012345678901/
        return normalise(path[2])
    if path[0].lower() in _RESERVED:
        return None
    return normalise(path[0])


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    handle = account.handle
    url = (f"https://www.facebook.com/profile.php?id={handle}" if handle.isdigit()
           else f"https://www.facebook.com/{quote(handle)}")
    # English markers: ask for English pages
    return Probe(url, {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-US,en;q=0.9",
                       "Sec-Fetch-Mode": "navigate"})


def profile_url(handle: str) -> str:
    return (f"https://www.facebook.com/profile.php?id={handle}" if handle.isdigit()
            else f"https://www.facebook.com/{handle}")


def classify(reply: Reply, account: Account) -> Verdict:
    if (early := transient(reply, NAME)) is not None:
        return early
    text = reply.text
    host, path = host_path(reply.url)
    if path[:1] in (["login"], ["login.php"], ["checkpoint"]):
        return Verdict(Status.UNKNOWN, "facebook.login_wall", f"redirected to /{path[0]}: login required")
    if reply.status == 404:
        return Verdict(Status.UNKNOWN, "facebook.http_404",
                       "HTTP 404: logged-out viewers get 404 for profiles hidden from search engines; proves nothing")
    if reply.status == 200 and (kind := _IS_PROFILE.search(text)):
        app_link = _APP_LINK.search(text)
        og_title, og_url = _OG_TITLE.search(text), _OG_URL.search(text)
        return Verdict(Status.ACTIVE, "facebook.profile", f"page carries __isProfile: {kind.group(1)}",
                       platform_id=app_link.group(1) if app_link else None,
                       handle=from_url(html.unescape(og_url.group(1))) if og_url else None,
                       display_name=html.unescape(og_title.group(1)) if og_title else None)
    if reply.status == 200 and (gone := _UNAVAILABLE.search(text)):
        return Verdict(Status.NOT_FOUND, "facebook.content_unavailable",
                       f"interstitial 'This content isn't available {gone.group(1)}' (Low confidence: suspended, "
                       "deactivated, deleted, renamed and privacy-restricted profiles all show it logged out)")
    title = html_title(reply)
    plain, title_key = " ".join(text.split()).lower(), " ".join(title.split()).lower()
    if (any(marker.lower() in plain for marker in _LOGIN_TEXT) or title_key.startswith("log in")
            or ('id="login_form"' in text and not _OG_TITLE.search(text))):
        return Verdict(Status.UNKNOWN, "facebook.login_wall", f"login wall ({title or 'login form'})")
    if title_key == "facebook":
        return Verdict(Status.UNKNOWN, "facebook.generic_shell",
                       "bare <title>Facebook</title> page without profile data (served for missing and existing "
                       "profiles alike since 2024)")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Facebook", base_url="https://www.facebook.com",
    hosts=("facebook.com", "fb.com", "fb.me"),
    url_forms=("https://www.facebook.com/{name}", "https://www.facebook.com/profile.php?id={id}"),
    handle_help="a Facebook username (2-50 letters, digits or dots) or a numeric profile id",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # logged-out profile pages are heavily rate-limited and login-walled
    politeness=Politeness(concurrency=1, delay=10.0, batch=20),
    strength={
        "facebook.profile": PROOF,
        "facebook.content_unavailable": weak("also shown logged out for profiles restricted by privacy, age or "
                                             "country, for renamed ones, and (one note) for open business pages"),
    },
)
