"""Instagram: GET /api/v1/users/web_profile_info/?username={name} on i.instagram.com, header
`x-ig-app-id: 936619743392459` (the web client's app id; research §11, maigret "Instagram").

- 200 `{"data": {"user": {"id", "username", "biography", ...}}, "status": "ok"}` -> active (stable id: the
  numeric `id`; private accounts are active too)
- 404 with an empty body (Instagram's answer for a missing user: public clients fail to parse it, "Expecting
  value: line 1 column 1") -> not_found. Suspended, deactivated, deleted, renamed and (for some viewers) 18+
  age-gated profiles all read the same from public signals (research §11, Low): the reason says so. Instagram is
  existence-only. A 404 with any other body (a CDN or WAF block page, a captcha, a login page, an HTML "page
  isn't available" for a route the API no longer has) proves nothing -> unknown (`instagram.unrecognised`)
- a user whose `username` is not the one asked (compared case-blind; the probe always asks by name) -> unknown
  (`instagram.other_account`); an envelope `status` other than ok/fail -> unknown, named after it
  (`instagram.status:<value>`)
- 401 `{"message": "Please wait a few minutes before you try again.", "require_login": true, "status": "fail"}`,
  other `"status": "fail"` answers (checkpoint, login required), a redirect to /accounts/login, the login page
  (`Login • Instagram`, `"routePath":"\\/"`), 403, 400 with a session, 429, 5xx -> unknown

`status`, `require_login` and the "Please wait" message are compared whatever their case and spacing. The
state is read only from the HTTP status and the JSON envelope (`status`, `message`, `data.user.id`), never
from the profile's text, so a biography quoting "Sorry, this page isn't available" stays active.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, blocked, enum_key, host_path, html_title, json_body, named_rule,
    owns, transient, unrecognised, weak,
)

NAME = "instagram"
_APP_ID = "936619743392459"
_HANDLE = re.compile(r"^(?!.*\.\.)(?!\.)(?!.*\.$)[a-z0-9._]{1,30}$")
HOSTS = ("instagram.com", "instagr.am")
# Subdomains that are not profile sites: their first path segment is a page, an article id or an API name
# (help.instagram.com/581066165581870, about.instagram.com/blog, business.instagram.com/advertising,
# graph.instagram.com/me, i.instagram.com/api/…, accountscenter.instagram.com/personal_info...), which would
# otherwise read as a username.
_NOT_PROFILE_SITES = tuple(f"{sub}.instagram.com" for sub in (
    "help", "about", "blog", "business", "developers", "graph", "api", "i", "creators", "privacycenter",
    "accountscenter", "familycenter"))
# first path segments that are pages, not profiles: posts and reels without their author, share and highlight
# links (/share/…, /s/…), AR effects, app deep links (/_n/…), the site's own pages
_RESERVED = {"p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct", "about", "legal",
             "developer", "web", "api", "challenge", "emails", "session", "privacy", "terms", "press", "graphql",
             "s", "share", "ar", "_n", "_u", "directory", "invites", "nametag", "oauth", "static", "your_activity"}
_SESSION = "BANWATCH_INSTAGRAM_SESSIONID"


def normalise(handle: str) -> str | None:
    """A Instagram handle as written -> its canonical form (lower-case username, `@` dropped, reserved paths refused),
    or None when it is not a valid one. Pure."""
    handle = handle.strip().lstrip("@").lower()  # usernames are stored lower-case
    return handle if _HANDLE.match(handle) and handle not in _RESERVED else None


def from_url(url: str) -> str | None:
    """`instagram.com/NAME/` (www., m., instagr.am), also a post or reel under it (`/NAME/p/ID`: the author); the
    app link `/_u/NAME` and a story `/stories/NAME/ID` (the account). Posts and reels without their author
    (`/p/ID`, `/reel/ID`), highlights (`/stories/highlights/ID`, `/s/…`), share links and site pages
    (`_RESERVED`, in any case) -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or not path:
        return None
    if path[0].lower() in {"_u", "stories"} and len(path) >= 2 and path[1].lower() != "highlights":
        path = path[1:]
    elif path[0].lower() in _RESERVED:
        return None
    return normalise(path[0])


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers):
    `i.instagram.com/api/v1/users/web_profile_info/?username=`, with the web app id and the optional session cookie.
    Never raises."""
    headers = {"x-ig-app-id": _APP_ID, "Accept": "*/*",
               "Referer": f"https://www.instagram.com/{quote(account.handle)}/"}
    session = (secrets or {}).get(_SESSION)
    if session:  # optional: logged-out calls are often answered 401 require_login
        headers["Cookie"] = f"sessionid={session}"
    return Probe(f"https://i.instagram.com/api/v1/users/web_profile_info/?username={quote(account.handle)}",
                 headers)


def profile_url(handle: str) -> str:
    """A canonical Instagram handle -> the profile link people open, https://www.instagram.com/{name}/. Pure; the
    handle is not checked."""
    return f"https://www.instagram.com/{handle}/"


def _login_wall(reply: Reply) -> str | None:
    host, path = host_path(reply.url)
    if "instagram.com" in host and (path[:2] == ["accounts", "login"] or path[:1] == ["challenge"]):
        return f"redirected to /{'/'.join(path[:2])}"
    title = html_title(reply)
    if title.lower().startswith("login") and "instagram" in title.lower():
        return f"login page ({title})"
    if '"routePath":"\\/"' in reply.text or '"routePath":"/"' in reply.text:
        return 'login shell ("routePath":"\\/"): login required, rate-limited or session blocked'
    return None


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (web_profile_info's JSON) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `instagram.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Instagram"):

    - active `instagram.profile`: 200 `data.user` with `id` (maigret's `"biography"` marker; instaloader #2688).
    - not_found `instagram.not_found`: HTTP 404 with an empty body (instaloader #2372/#2244, Osintgram #1675,
      InstagramOSINT #31).

    Weak: `instagram.not_found` (renamed, deactivated, suspended and never-registered accounts answer the same).
    Unconfirmed: every fixture is synthetic, none a live capture."""
    doc = json_body(reply)
    envelope = doc if isinstance(doc, dict) else {}
    message = str(envelope.get("message") or "")
    if reply.status == 401 or "please wait a few minutes" in " ".join(message.split()).lower():
        return Verdict(Status.UNKNOWN, "instagram.please_wait",
                       f"HTTP {reply.status}: {message or 'unauthorised'} (logged-out or rate-limited)"[:200])
    if (early := transient(reply, NAME)) is not None:
        return early
    if reply.status == 403:
        return Verdict(Status.UNKNOWN, "instagram.forbidden",
                       "HTTP 403: blocked (IP reputation / TLS fingerprint); proves nothing about the account")
    if not isinstance(doc, dict) and (wall := _login_wall(reply)) is not None:
        return Verdict(Status.UNKNOWN, "instagram.login_wall", wall)
    require_login = envelope.get("require_login") is True or enum_key(envelope.get("require_login")) == "true"
    if enum_key(envelope.get("status")) == "fail" or require_login:
        what = message or envelope.get("error_type") or ("login required" if require_login else "")
        return Verdict(Status.UNKNOWN, "instagram.request_failed",
                       f"HTTP {reply.status} status: fail ({what or 'no message'}); the caller was refused"[:200])
    if reply.status == 404:
        if reply.body.strip():  # Instagram's own 404 for a missing user is empty: anything else proves nothing
            return blocked(reply, NAME) or unrecognised(reply, NAME)
        return Verdict(Status.NOT_FOUND, "instagram.not_found",
                       "HTTP 404 from web_profile_info: suspended, deactivated, deleted, renamed and never-existing "
                       "accounts all read the same (existence only)")
    if enum_key(envelope.get("status")) not in ("", "ok"):
        return Verdict(Status.UNKNOWN, named_rule(NAME, "status", envelope.get("status")),
                       f"HTTP {reply.status}, an envelope status no rule knows: {str(envelope.get('status'))[:40]!r}")
    data = envelope.get("data")
    user = data.get("user") if isinstance(data, dict) else None
    username = user.get("username") if isinstance(user, dict) else None
    if isinstance(username, str) and username.strip().lower() != account.handle.lower():
        return Verdict(Status.UNKNOWN, "instagram.other_account",
                       f"asked for @{account.handle}, web_profile_info answered for @{username[:40]}: it is about "
                       "another account, whatever it says")
    if reply.status == 200 and isinstance(user, dict) and user.get("id") and "biography" in user:
        return Verdict(Status.ACTIVE, "instagram.profile", f"web_profile_info returned @{user.get('username')}",
                       platform_id=str(user["id"]), handle=str(user.get("username") or "").lower() or None,
                       display_name=user.get("full_name") or None)
    if reply.status == 200 and isinstance(data, dict) and "user" in data and user is None:
        return Verdict(Status.UNKNOWN, "instagram.user_null",
                       "data.user is null: not a documented not-found answer (age gate / region / drift?)")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Instagram", base_url="https://i.instagram.com",
    hosts=HOSTS, url_forms=("https://www.instagram.com/{name}/",),
    handle_help="an Instagram username (1-30 letters, digits, . or _)",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # 401 "Please wait a few minutes" comes quickly when polled
    politeness=Politeness(concurrency=1, delay=5.0, batch=30),
    max_answer=4 * 1024 * 1024,  # web_profile_info carries the first posts: ~100-400 KiB
    credentials=(_SESSION,),
    strength={
        "instagram.profile": PROOF,
        "instagram.not_found": weak("renamed, deactivated and never-registered accounts 404 alike, and 18+ age-gated "
                                    "profiles can look missing to some viewers"),
    },
)
