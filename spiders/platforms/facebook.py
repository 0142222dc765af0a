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

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, host_path, html_title, owns, transient, unrecognised, weak,
)

NAME = "facebook"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9.]{1,49}$")  # letters, digits and dots (short legacy names like zuck)
_NUMERIC = re.compile(r"^[0-9]{5,20}$")
# facebook.com with every subdomain (www., m., mbasic., web., touch., locale sites like de-de.), fb.com, the
# short-link domains fb.me and fb.watch (their codes need a redirect to resolve: no profile is read there), and
# the country domains Meta keeps for Facebook that people paste.
HOSTS = ("facebook.com", "fb.com", "fb.me", "fb.watch",
         "facebook.co.uk", "facebook.de", "facebook.fr", "facebook.it", "facebook.es", "facebook.nl")
# Subdomains that are not profile sites: developer and business tools, the link shims, the Graph API and the
# company's sites, whose first path segment is a page, an API version or a year (developers.facebook.com/docs,
# business.facebook.com/latest, graph.facebook.com/v19.0, about.fb.com/news, engineering.fb.com/2024...).
_NOT_PROFILE_SITES = ("fb.me", "fb.watch", *(f"{sub}.{domain}" for domain in ("facebook.com", "fb.com") for sub in (
    "developers", "business", "graph", "l", "lm", "apps", "upload", "adsmanager", "accountscenter", "about",
    "engineering", "research", "transparency", "investor", "tech", "newsroom", "code")))
# first path segments that are pages, not profiles (posts, photos and videos without their author among them)
_RESERVED = {"groups", "pages", "events", "watch", "marketplace", "login", "login.php", "help", "photo",
             "photo.php", "story.php", "share", "sharer", "sharer.php", "permalink.php", "people", "hashtag",
             "gaming", "reel", "reels", "videos", "policies", "privacy", "settings", "messages", "notifications",
             "friends", "home.php", "recover", "r.php", "dialog", "plugins", "l.php", "checkpoint", "search",
             "business", "ads", "legal", "about", "stories", "live", "fundraisers", "media", "public",
             "video.php", "video", "notes", "watchparty", "share.php", "tr", "flx", "bookmarks", "saved", "memories",
             "onthisday", "jobs", "reg", "logout.php", "index.php", "policy.php", "terms.php", "terms", "adsmanager",
             "p", "pg", "profile.php"}
# a page or profile without a username shows its numeric id last: /p/Some-Name-100064123456789/
_ID_SUFFIX = re.compile(r"-([0-9]{5,20})$")
_IS_PROFILE = re.compile(r'"__isProfile"\s*:\s*"(User|Page)"', re.I)
_APP_LINK = re.compile(r'<meta property="al:(?:android|ios):url" content="fb://(?:profile|page)/(?:\?id=)?([0-9]+)')
_OG_TITLE = re.compile(r'<meta property="og:title" content="([^"]*)"')
_OG_URL = re.compile(r'<meta property="og:url" content="([^"]*)"')
# the interstitial's title prop in the page's bootstrap JSON; apostrophe as ', ’ or \u2019; any case and spacing
_UNAVAILABLE = re.compile(r'"title"\s*:\s*"\s*This\s+content\s+isn(?:\'|\u2019|\\u2019)t\s+available\s+'
                          r'(at\s+the\s+moment|right\s+now)\s*[.!]?\s*"', re.I)
_LOGIN_TEXT = ("You must log in to continue", "Log in or sign up to view", "You must log in first")


def normalise(handle: str) -> str | None:
    """A Facebook handle as written -> its canonical form (a lower-case username not reserved, or a numeric id;
    `profile.php?id=` accepted), or None when it is not a valid one. Pure."""
    handle = handle.strip().lstrip("@").lower()
    if handle.startswith("profile.php?id="):
        handle = handle[len("profile.php?id="):]
    if _NUMERIC.match(handle):
        return handle
    return handle if _USERNAME.match(handle) and handle not in _RESERVED else None


def from_url(url: str) -> str | None:
    """`facebook.com/NAME` (any profile subdomain, fb.com, the country domains), also a post or video under it
    (`/NAME/posts/…`: the author); `/pg/NAME/…`; and the numeric-id forms, which accept exactly a numeric id:
    `profile.php?id=ID`, `/people/Display-Name/ID`, `/pages/Name/ID`, `/pages/category/KIND/Name-ID`,
    `/p/Name-ID`. Posts, photos and videos without their author and site pages (`_RESERVED`, in any case) -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or not path:
        return None
    keys = [p.lower() for p in path]
    if keys[0] == "profile.php":
        ids = parse_qs(urlsplit(url.strip() if "//" in url else "https://" + url.strip()).query).get("id")
        return _numeric(ids[0]) if ids else None
    if keys[:2] == ["pages", "category"]:  # /pages/category/Restaurant/Some-Name-123456789/
        found = _ID_SUFFIX.search(path[3]) if len(path) >= 4 else None
        return found.group(1) if found else None
    if keys[0] in {"people", "pages"}:  # /people/Display-Name/100012345678901/
        return _numeric(path[2]) if len(path) >= 3 else None
    if keys[0] == "p":  # /p/Some-Name-100064123456789/
        found = _ID_SUFFIX.search(path[1]) if len(path) >= 2 else None
        return found.group(1) if found else None
    if keys[0] == "pg" and len(path) >= 2:  # the legacy page address /pg/NAME/posts/
        return normalise(path[1])
    if keys[0] in _RESERVED:
        return None
    return normalise(path[0])


def _numeric(text: str) -> str | None:
    """Where a path names the numeric-id form, only a numeric id is read (never a username)."""
    return text if _NUMERIC.match(text.strip()) else None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the logged-out HTML page, `/{name}` or
    `/profile.php?id={id}`, asking for English. Never raises."""
    handle = account.handle
    url = (f"https://www.facebook.com/profile.php?id={handle}" if handle.isdigit()
           else f"https://www.facebook.com/{quote(handle)}")
    # English markers: ask for English pages
    return Probe(url, {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-US,en;q=0.9",
                       "Sec-Fetch-Mode": "navigate"})


def profile_url(handle: str) -> str:
    """A canonical Facebook handle -> the profile link people open, https://www.facebook.com/{name} or
    /profile.php?id={id}. Pure; the handle is not checked."""
    return (f"https://www.facebook.com/profile.php?id={handle}" if handle.isdigit()
            else f"https://www.facebook.com/{handle}")


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the logged-out HTML page) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `facebook.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Facebook"):

    - active `facebook.profile`: bootstrap JSON `"__isProfile":"User"|"Page"` (WhatsMyName PR #858, Sep 2024).
    - not_found `facebook.content_unavailable`: the interstitial "This content isn't available at the moment" (or
      "…right now"; kaifcodec/user-scanner #490).

    Weak: `facebook.content_unavailable` (Facebook shows it logged out for restricted, renamed and open business pages
    too). Unconfirmed: every fixture is reconstructed, none a live capture; whether the interstitial always appears as
    a `"title"` prop; non-English pages."""
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
    hosts=HOSTS,
    url_forms=("https://www.facebook.com/{name}", "https://www.facebook.com/profile.php?id={id}"),
    handle_help="a Facebook username (2-50 letters, digits or dots) or a numeric profile id",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # logged-out profile pages are heavily rate-limited and login-walled
    politeness=Politeness(concurrency=1, delay=10.0, batch=20),
    max_answer=8 * 1024 * 1024,  # logged-out profile pages are ~0.5-2 MiB of inline script
    strength={
        "facebook.profile": PROOF,
        "facebook.content_unavailable": weak("also shown logged out for profiles restricted by privacy, age or "
                                             "country, for renamed ones, and (one note) for open business pages"),
    },
)
