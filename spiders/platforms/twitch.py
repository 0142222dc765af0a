"""Twitch: GET /helix/users?login={login} (or ?id={user id} once known) on api.twitch.tv.

Helix needs an app: `Client-Id: $TWITCH_CLIENT_ID` and `Authorization: Bearer $TWITCH_APP_TOKEN` (an app
access token from the client-credentials flow). Without both the probe raises MissingCredentials.

- 200 `{"data": [{"id": ..., "login": ...}]}` -> active (stable id: the numeric user `id`)
- 200 `{"data": []}` -> not_found. Helix appears to omit suspended users as well (justlog #80: banned users
  can only be found by id in its logs; not confirmed by Twitch), so this also covers suspensions and deleted
  accounts; the rule's reason says so.
- 401 `Invalid OAuth token` / `Client ID and OAuth token do not match` -> unknown (the monitor's OWN
  credential is rejected, e.g. an expired app token)
- 400 `Invalid login names, emails or IDs in request`, 429, 5xx -> unknown

Why Helix and not the channel page or GQL: www.twitch.tv/{login} is a JavaScript app whose HTML is a shell
that looks the same for every state, and the GQL endpoint research names (`user(login:)` vs
`user(login:, lookupType: ALL)`) takes POST requests, which banwatch's probes do not make.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, MissingCredentials, Platform, Politeness, Probe, Secrets, host_path, json_body, owns, transient,
    unrecognised, weak,
)

NAME = "twitch"
CLIENT_ID, APP_TOKEN = "TWITCH_CLIENT_ID", "TWITCH_APP_TOKEN"
_LOGIN = re.compile(r"^[a-z0-9_]{1,25}$")
_USER_ID = re.compile(r"^[0-9]{1,20}$")
HOSTS = ("twitch.tv",)
# Subdomains that are not channel pages: clip slugs (clips.), the signed-in creator's own dashboard, and sites whose
# first path segment is a page, an API name or a locale (dev.twitch.tv/docs, help.twitch.tv/s/…,
# blog.twitch.tv/en/…, api.twitch.tv/helix/…, id.twitch.tv/oauth2/…) that would read as a login. The player
# (player.twitch.tv/?channel=NAME) is read below.
_NOT_PROFILE_SITES = tuple(f"{sub}.twitch.tv" for sub in (
    "clips", "dashboard", "dev", "help", "blog", "safety", "brand", "link", "api", "id", "gql", "passport",
    "inspector", "merch", "embed", "static", "status"))
# first path segments that are site pages, not channels
_NOT_CHANNELS = {"directory", "videos", "settings", "search", "downloads", "jobs", "p", "subscriptions", "inventory",
                 "wallet", "drops", "friends", "messages", "turbo", "prime", "login", "logout", "signup", "team",
                 "collections", "activate", "redeem"}
# first path segments followed by the channel they are about: /subs/NAME, /embed/NAME/chat, /popout/NAME/chat,
# /moderator/NAME
_CHANNEL_PAGES = {"subs", "embed", "popout", "moderator"}


def normalise(handle: str) -> str | None:
    """A Twitch handle as written -> its canonical form (lower-case login, `@` dropped), or None when it is not a
    valid one. Pure."""
    handle = handle.strip().lstrip("@").lower()  # logins are lower-case; display names only change case
    return handle if _LOGIN.match(handle) else None


def from_url(url: str) -> str | None:
    """`twitch.tv/NAME` (www., m., go.), also a page or clip under it (`/NAME/clip/…`, `/NAME/videos`); the
    channel named by `/subs/NAME`, `/embed/NAME/chat`, `/popout/NAME/chat`, `/moderator/NAME` and the player's
    `?channel=NAME`. Site pages (`/directory`, `/videos/ID`, `/team/…`, `/collections/…`: `_NOT_CHANNELS`, in any
    case) and clips.twitch.tv -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host):
        return None
    if owns(("player.twitch.tv",), host):
        channels = parse_qs(urlsplit(url.strip() if "//" in url else "https://" + url.strip()).query).get("channel")
        return normalise(channels[0]) if channels else None  # ?video=ID names no channel
    if path and path[0].lower() in _CHANNEL_PAGES:
        path = path[1:]
    if not path or path[0].lower() in _NOT_CHANNELS:
        return None
    return normalise(path[0])


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): Helix `GET /helix/users`, by numeric id once known,
    else by login. Raises MissingCredentials when TWITCH_CLIENT_ID or TWITCH_APP_TOKEN is not set."""
    secrets = secrets or {}
    for var in (CLIENT_ID, APP_TOKEN):
        if not secrets.get(var):
            raise MissingCredentials(var)
    headers = {"Client-Id": secrets[CLIENT_ID], "Authorization": f"Bearer {secrets[APP_TOKEN]}"}
    # the numeric id survives renames, so ask for it once banwatch knows it
    if account.platform_id and _USER_ID.match(account.platform_id):
        return Probe(f"https://api.twitch.tv/helix/users?id={account.platform_id}", headers=headers)
    return Probe(f"https://api.twitch.tv/helix/users?login={quote(account.handle)}", headers=headers)


def profile_url(handle: str) -> str:
    """A canonical Twitch handle -> the profile link people open, https://www.twitch.tv/{login}. Pure; the handle is
    not checked."""
    return f"https://www.twitch.tv/{handle}"


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (Helix Get Users' JSON) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `twitch.unrecognised`). Called
    only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Twitch"):

    - active `twitch.user`: 200 `{"data":[{"id":…,"login":…}]}` (Twitch API reference, "Get Users").
    - not_found `twitch.no_user`: 200 `{"data":[]}`; suspended accounts read the same (justlog #80, pajbot2 #749), as
      do deleted, renamed-away and never-existing logins.

    Weak: `twitch.no_user`. Unconfirmed: the GQL probe that could separate a suspension (research §9) is not used."""
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        return unrecognised(reply, NAME)
    message = str(doc.get("message", ""))[:200]
    if reply.status == 401:
        return Verdict(Status.UNKNOWN, "twitch.credential_rejected",
                       f"HTTP 401: Twitch rejected the monitor's own app credential ({message or 'Unauthorized'})")
    if reply.status == 400:
        return Verdict(Status.UNKNOWN, "twitch.bad_request", f"HTTP 400: {message or 'Bad Request'}")
    data = doc.get("data")
    if reply.status == 200 and isinstance(data, list):
        if not data:
            return Verdict(Status.NOT_FOUND, "twitch.no_user",
                           "Helix returned no user: never existed, deleted, renamed away, or suspended "
                           "(Helix appears to hide suspended users; they cannot be told apart here)")
        user = data[0]
        if isinstance(user, dict) and user.get("id"):
            login = user.get("login")
            if not account.platform_id and isinstance(login, str) and normalise(login) not in (None, account.handle):
                return Verdict(Status.UNKNOWN, "twitch.other_account",
                               f"asked for login {account.handle}, Helix answered with {login[:40]}: not this account")
            return Verdict(Status.ACTIVE, "twitch.user", f"Helix returned user {user['id']} ({login})",
                           platform_id=str(user["id"]), display_name=user.get("display_name") or None,
                           handle=normalise(login) if isinstance(login, str) else None)
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Twitch", base_url="https://api.twitch.tv",
    hosts=HOSTS, url_forms=("https://www.twitch.tv/{name}",),
    handle_help="a Twitch login (letters, digits and _, up to 25 characters)",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # Helix app tokens get 800 points a minute; one request costs one point
    politeness=Politeness(concurrency=2, delay=0.5, batch=200),
    credentials=(CLIENT_ID, APP_TOKEN),
    strength={
        "twitch.user": PROOF,
        "twitch.no_user": weak("a login renamed away (asked by login before the id is known) and a login never "
                               "registered answer the same empty list; suspended and deleted accounts read the same"),
    },
)
