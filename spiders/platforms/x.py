"""X (Twitter): no unauthenticated profile check works any more (research §6), so X needs a credential.

Probes, in order of preference:

1. `X_BEARER_TOKEN` set: API v2 `GET https://api.x.com/2/users/by/username/{name}` (or `/2/users/{id}` once
   the stable id is known, which survives renames) with `Authorization: Bearer …`.
   - 200 `{"data": {"id", "username", "name", ...}}` -> active; `withheld.country_codes` non-empty -> restricted
   - 200 `{"errors": [{"title": "Forbidden", "detail": "User has been suspended: [name].", ...}]}` -> suspended
   - 200 `{"errors": [{"title": "Not Found Error", "detail": "Could not find user with username: [name].", ...}]}`
     -> not_found (deactivated and renamed accounts read the same)
   - any other per-user problem -> unknown (`x.v2_user_error` for a known title, else `x.v2_problem:<title>`)
   - a problem whose `value` (or a user whose `username` / `id`) is not the name or id the probe asked for ->
     unknown (`x.other_account`): the answer is about another account, whatever it says
   Enum-like values (`__typename`, `reason`, `resource_type`, problem titles and details, error codes given as
   numbers or strings) are compared in one spelling (`base.enum_key`, camelCase split), never byte for byte.
2. `X_AUTH_TOKEN` + `X_CT0` + `BANWATCH_X_WEB_BEARER_TOKEN` set (a logged-in web session): GraphQL `UserByScreenName`.
   - `data.user.result.__typename == "User"` -> active (`rest_id`); `legacy.withheld_in_countries` -> restricted
   - `__typename == "UserUnavailable"`, by `reason` (read in any spelling: `Suspended`,
     `USER_UNAVAILABLE_REASON_SUSPENDED`, `suspended`...): Suspended -> suspended, Deactivated -> deactivated,
     Offboarded -> not_found (weak: its meaning is not public), Protected -> active (the account exists);
     NoReason / Unavailable / no reason -> unknown (`x.user_unavailable_other`); any other value -> unknown
     named after it (`x.user_unavailable:<value>`), so a new value shows in `status`
   - `{"data": {}}` / `{"data": {"user": {}}}` -> not_found (Med)
   - a `User` whose `screen_name` is not the one asked -> unknown (`x.other_account`)
3. Neither: `probe` raises MissingCredentials, recorded as unknown (`x.no_credentials`), never a guess.

Error codes in an `errors` list (v1.1 and GraphQL): 63 -> suspended, 50 -> not_found; 64 "Your account is
suspended" is the CALLER's account, and 32/89/215/326 are the caller's credentials -> unknown
(`x.credential_rejected`); 88 -> unknown (`x.rate_limited`). HTTP 401/402/403 without a per-user error -> the
credential was rejected -> unknown. 429, 5xx, login-wall HTML -> unknown.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, quote, urlsplit

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, MissingCredentials, Platform, Politeness, Probe, Secrets, enum_flat, enum_int, enum_key, host_path,
    html_title, json_body, named_rule, owns, transient, unrecognised, weak,
)

NAME = "x"
_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
HOSTS = ("x.com", "twitter.com")
# Subdomains that are not profile sites: their first path segment is an API version, a locale or a page name
# (api.x.com/2/…, help.x.com/en/…, blog.x.com/en_us/…, analytics.x.com/user/…, platform.twitter.com/embed/…,
# syndication.twitter.com/srv/…), which would otherwise read as a screen name.
_NOT_PROFILE_SITES = tuple(f"{sub}.{domain}" for domain in HOSTS for sub in (
    "api", "ads", "ads-api", "analytics", "business", "developer", "dev", "help", "about", "blog", "careers",
    "transparency", "privacy", "legal", "status", "platform", "publish", "syndication", "cdn", "upload",
    "tweetdeck", "pro", "media", "marketing", "investor", "gnip", "partners", "support"))
# first path segments on x.com / twitter.com that are pages, not profiles (a post link without its author,
# /statuses/ID and /i/web/status/ID, too)
_RESERVED = {"home", "i", "search", "settings", "intent", "explore", "notifications", "messages", "compose",
             "login", "logout", "signup", "share", "hashtag", "tos", "privacy", "about", "jobs", "account",
             "download", "places", "lists", "bookmarks", "communities", "premium", "verified", "who_to_follow",
             "follower_requests", "oauth", "help", "rules", "en", "static", "statuses", "grok"}
# the follow buttons sites embed: /intent/follow?screen_name=NAME, /intent/user?screen_name=NAME
_INTENTS = {"follow", "user"}
_USER_FIELDS = "id,name,username,protected,withheld"
# GraphQL operation id of UserByScreenName as the web client used it (kiroraynes/nba_socmed_data:scraper.js,
# Feb 2024). X rotates these ids; a stale one answers with an error -> unknown, never a state.
_GQL_QUERY_ID = "k5XapwcSikNsEsILW5FvgA"
_GQL_FEATURES = {
    "hidden_profile_likes_enabled": True, "hidden_profile_subscriptions_enabled": True,
    "responsive_web_graphql_exclude_directive_enabled": True, "verified_phone_label_enabled": False,
    "subscriptions_verification_info_is_identity_verified_enabled": True,
    "subscriptions_verification_info_verified_since_enabled": True, "highlights_tweets_tab_ui_enabled": True,
    "responsive_web_twitter_article_notes_tab_enabled": True,
    "creator_subscriptions_tweet_preview_api_enabled": True,
    "responsive_web_graphql_skip_user_profile_image_extensions_enabled": False,
    "responsive_web_graphql_timeline_navigation_enabled": True,
}
# v1.1 / GraphQL error codes that speak about the caller's own credential, not the account asked about
_CALLER_CODES = {32: "could not authenticate you", 64: "the monitor's own account is suspended",
                 89: "invalid or expired token", 215: "bad authentication data",
                 326: "the monitor's own account is locked"}


def normalise(handle: str) -> str | None:
    """A X handle as written -> its canonical form (the screen name as X validates it, `@` dropped), or None when it
    is not a valid one. Pure."""
    handle = handle.strip().lstrip("@")
    return handle.lower() if _HANDLE.match(handle) else None  # screen names are case-blind


def from_url(url: str) -> str | None:
    """`x.com/NAME` or `twitter.com/NAME` on any of their profile subdomains, also a post under it
    (`/NAME/status/ID`: the author), and the follow-button links `/intent/follow?screen_name=NAME` and
    `/intent/user?screen_name=NAME`. Site pages (`/home`, `/i/…`, `/statuses/ID`...: `_RESERVED`, in any case)
    -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or not path:
        return None
    first = path[0].lower()
    if first == "intent" and len(path) >= 2 and path[1].lower() in _INTENTS:
        names = parse_qs(urlsplit(url.strip() if "//" in url else "https://" + url.strip()).query).get("screen_name")
        return normalise(names[0]) if names else None  # ?user_id= is a number, not a screen name
    if first in _RESERVED:
        return None
    return normalise(path[0])


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): API v2 users lookup (by id once known) with
    X_BEARER_TOKEN, else GraphQL UserByScreenName with a web session (X_AUTH_TOKEN, X_CT0,
    BANWATCH_X_WEB_BEARER_TOKEN). Raises MissingCredentials('X_BEARER_TOKEN') when neither is configured."""
    secrets = secrets or {}
    if secrets.get("X_BEARER_TOKEN"):
        headers = {"Authorization": f"Bearer {secrets['X_BEARER_TOKEN']}"}
        if account.platform_id and account.platform_id.isdigit():  # the id survives handle changes
            return Probe(f"https://api.x.com/2/users/{account.platform_id}?user.fields={_USER_FIELDS}", headers)
        return Probe(f"https://api.x.com/2/users/by/username/{quote(account.handle)}?user.fields={_USER_FIELDS}",
                     headers)
    if all(secrets.get(v) for v in ("X_AUTH_TOKEN", "X_CT0", "BANWATCH_X_WEB_BEARER_TOKEN")):
        variables = json.dumps({"screen_name": account.handle, "withSafetyModeUserFields": True},
                               separators=(",", ":"))
        features = json.dumps(_GQL_FEATURES, separators=(",", ":"))
        return Probe(f"https://x.com/i/api/graphql/{_GQL_QUERY_ID}/UserByScreenName"
                     f"?variables={quote(variables)}&features={quote(features)}",
                     {"Authorization": f"Bearer {secrets['BANWATCH_X_WEB_BEARER_TOKEN']}",
                      "Cookie": f"auth_token={secrets['X_AUTH_TOKEN']}; ct0={secrets['X_CT0']}",
                      "x-csrf-token": secrets["X_CT0"], "x-twitter-auth-type": "OAuth2Session",
                      "x-twitter-active-user": "yes", "Accept": "application/json"},
                     note="GraphQL UserByScreenName with a web session")
    raise MissingCredentials("X_BEARER_TOKEN")


def profile_url(handle: str) -> str:
    """A canonical X handle -> the profile link people open, https://x.com/{name}. Pure; the handle is not checked."""
    return f"https://x.com/{handle}"


def _codes(doc: dict) -> dict[int, str]:
    errors = doc.get("errors")
    if not isinstance(errors, list):
        return {}
    return {code: str(e.get("message", "")) for e in errors
            if isinstance(e, dict) and (code := enum_int(e.get("code"))) is not None}


def _user_errors(doc: dict) -> list[dict]:
    """v2 per-resource problems about a user (they carry `resource_type`/`parameter`, unlike auth problems)."""
    errors = doc.get("errors")
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict) and enum_flat(e.get("resource_type")) == "user"
            and enum_flat(e.get("parameter")) in {"username", "usernames", "id", "ids"}]


def _asked(reply: Reply, account: Account) -> tuple[str, str] | None:
    """What the probe asked for, read from the request URL: ("username", name) for API v2 by username and for
    GraphQL UserByScreenName (the watched handle), ("id", id) for API v2 by id; None for any other URL. A renamed
    account shows its new name when asked by id, so a name is compared only when the probe asked by name."""
    _, path = host_path(reply.url)
    if len(path) == 5 and path[:4] == ["2", "users", "by", "username"]:
        return "username", path[4]
    if len(path) == 3 and path[:2] == ["2", "users"] and path[2].isdigit():
        return "id", path[2]
    if path and path[-1] == "UserByScreenName":
        return "username", account.handle
    return None


def _other_account(asked: tuple[str, str] | None, named: object, where: str) -> Verdict | None:
    """`x.other_account` when the answer names a user (`named`, found in `where`) other than the one asked."""
    if asked is None or named is None or isinstance(named, bool) or not isinstance(named, (str, int)):
        return None
    kind, value = asked
    if str(named).strip().lstrip("@").lower() == value.lower():  # screen names are case-blind
        return None
    return Verdict(Status.UNKNOWN, "x.other_account",
                   f"asked for the user with {kind} {value}, the answer's {where} is {str(named)[:40]!r}: it is "
                   "about another account, whatever it says")


def _withheld(countries: object) -> list[str]:
    return [str(c) for c in countries] if isinstance(countries, list) else []


def _v2_user(user: dict) -> Verdict:
    withheld = user.get("withheld") if isinstance(user.get("withheld"), dict) else {}
    countries = _withheld(withheld.get("country_codes"))
    kw = dict(platform_id=str(user["id"]), handle=str(user["username"]).lower(), display_name=user.get("name"))
    if countries:
        return Verdict(Status.RESTRICTED, "x.withheld", f"withheld in {', '.join(countries)}", **kw)
    return Verdict(Status.ACTIVE, "x.v2_user", f"API v2 returned @{user['username']}", **kw)


# GraphQL `UserUnavailable.reason`, in `_key` form with any `USER_UNAVAILABLE_REASON_` prefix removed, ->
# (status, rule, what it means). The GraphQL enum is Deactivated, NoReason, Offboarded, Protected, Suspended
# (a public Rust model of X's GraphQL types); X's own visibility code keeps Offboarded apart from Suspended,
# Deactivated and Erased (twitter/the-algorithm visibilitylib UserUnavailableStateEnum). docs/platforms.md.
_UNAVAILABLE_REASONS: dict[str, tuple[Status, str, str]] = {
    "suspended": (Status.SUSPENDED, "x.user_unavailable_suspended", "the account is suspended"),
    "deactivated": (Status.DEACTIVATED, "x.user_unavailable_deactivated", "the owner deactivated the account"),
    "offboarded": (Status.NOT_FOUND, "x.user_unavailable_offboarded",
                   "X took the account off the platform (Offboarded: not Suspended and not Deactivated in X's "
                   "own code; what puts an account there is not public)"),
    "protected": (Status.ACTIVE, "x.user_unavailable_protected",
                  "the account exists and its owner protected it (the owner's choice, not a sanction)"),
    "no_reason": (Status.UNKNOWN, "x.user_unavailable_other", "no reason given: proves nothing"),
    "unavailable": (Status.UNKNOWN, "x.user_unavailable_other", "no specific reason: proves nothing"),
    "": (Status.UNKNOWN, "x.user_unavailable_other", "no reason field: proves nothing"),
}
_REASON_PREFIXES = ("user_unavailable_reason", "unavailable_reason", "reason")
_UNAVAILABLE_BY_FLAT = {key.replace("_", ""): value for key, value in _UNAVAILABLE_REASONS.items()}


def _graphql_result(result: dict) -> Verdict | None:
    kind = enum_flat(result.get("__typename"))
    if kind == "userunavailable":
        raw = result.get("reason") or result.get("unavailable_reason") or ""
        reason = enum_key(raw, *_REASON_PREFIXES)
        if reason.replace("_", "") not in _UNAVAILABLE_BY_FLAT:
            return Verdict(Status.UNKNOWN, named_rule(NAME, "user_unavailable", reason),
                           f"GraphQL UserUnavailable with a reason no rule knows: {str(raw)[:80]!r}")
        status, rule, meaning = _UNAVAILABLE_BY_FLAT[reason.replace("_", "")]
        return Verdict(status, rule, f"GraphQL UserUnavailable, reason {str(raw)[:80] or 'none'}: {meaning}"[:240])
    if kind == "user" and result.get("rest_id"):
        legacy = result.get("legacy") if isinstance(result.get("legacy"), dict) else {}
        core = result.get("core") if isinstance(result.get("core"), dict) else {}  # newer layout
        screen_name = legacy.get("screen_name") or core.get("screen_name")
        kw = dict(platform_id=str(result["rest_id"]), handle=str(screen_name).lower() if screen_name else None,
                  display_name=legacy.get("name") or core.get("name"))
        countries = _withheld(legacy.get("withheld_in_countries"))
        if countries:
            return Verdict(Status.RESTRICTED, "x.withheld", f"withheld in {', '.join(countries)}", **kw)
        return Verdict(Status.ACTIVE, "x.graphql_user", f"GraphQL returned @{screen_name}", **kw)
    if kind not in ("", "user"):  # a __typename no rule knows: layout drift, named in the reason
        return Verdict(Status.UNKNOWN, "x.unrecognised",
                       f"GraphQL user result with a __typename no rule knows: {str(result.get('__typename'))[:60]!r}")
    return None


# v2 problem titles (in `_flat` form) that are known but prove no state: "Authorization Error" (not authorized
# to see the user), and "Forbidden" / "Not Found Error" with a detail other than the suspended / not-found one.
_V2_KNOWN_TITLES = {"authorizationerror", "forbidden", "notfounderror"}


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (API v2 or GraphQL JSON) -> Verdict; `account` says whether it was asked by id or by
    name (an answer for another account is `other_account`).

    Pure; never raises on anything the platform sends (an answer it does not know reads `x.unrecognised`). Called only
    through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md, "X"):

    - active `x.v2_user` (v2 users-lookup shape in public code), `x.graphql_user` (twitter-api-client, nitter),
      `x.user_unavailable_protected`.
    - suspended `x.v2_suspended` ("User has been suspended"; sfm harvester, semifor gist),
      `x.user_unavailable_suspended` (nitter, snscrape; UserUnavailableReason enum), `x.code_63` (nextcloud
      integration_twitter #25).
    - not_found `x.v2_not_found`, `x.graphql_no_user`, `x.code_50` (nitter src/types.nim),
      `x.user_unavailable_offboarded` (twitter/the-algorithm UserUnavailableStateEnum.scala).
    - deactivated `x.user_unavailable_deactivated`; restricted `x.withheld` (nitter src/parser.nim).

    Weak: `x.v2_not_found`, `x.graphql_no_user`, `x.code_50`, `x.user_unavailable_offboarded`. Unconfirmed: every
    fixture is synthetic, modelled on public code; none is a live capture."""
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        host, path = host_path(reply.url)
        title = " ".join(html_title(reply).split()).lower()
        if (path[:3] == ["i", "flow", "login"]) or title.startswith("log in to x") or "/i/flow/login" in reply.text:
            return Verdict(Status.UNKNOWN, "x.login_wall", "X served its login page instead of data")
        return unrecognised(reply, NAME)

    codes = _codes(doc)
    for code, what in _CALLER_CODES.items():
        if code in codes:
            return Verdict(Status.UNKNOWN, "x.credential_rejected",
                           f"error code {code}: {what} (about the monitor's credential, not the account)")
    if 88 in codes:
        return Verdict(Status.UNKNOWN, "x.rate_limited", "error code 88: rate limit exceeded")
    if 63 in codes:
        return Verdict(Status.SUSPENDED, "x.code_63", f"error code 63: {codes[63] or 'User has been suspended.'}")
    if 50 in codes:
        return Verdict(Status.NOT_FOUND, "x.code_50",
                       f"error code 50: {codes[50] or 'User not found.'} (deactivated reads the same)")

    # v2 per-user problems come with HTTP 200
    asked = _asked(reply, account)
    for err in _user_errors(doc):
        named = err.get("value") if err.get("value") is not None else err.get("resource_id")
        if (other := _other_account(asked, named, "problem value")) is not None:
            return other
        title, detail = str(err.get("title", "")), str(err.get("detail", ""))
        title_key, detail_key = enum_flat(title), enum_flat(detail)
        if title_key.startswith("forbidden") and detail_key.startswith("userhasbeensuspended"):
            return Verdict(Status.SUSPENDED, "x.v2_suspended", f"API v2: {detail}"[:200])
        if title_key == "notfounderror" and detail_key.startswith("couldnotfinduser"):
            return Verdict(Status.NOT_FOUND, "x.v2_not_found",
                           f"API v2: {detail} (deactivated, renamed and never-existing accounts read the same)"[:240])
        if title_key in _V2_KNOWN_TITLES:  # a known problem that says nothing about the account's state
            return Verdict(Status.UNKNOWN, "x.v2_user_error", f"API v2 {title}: {detail}"[:200])
        return Verdict(Status.UNKNOWN, named_rule(NAME, "v2_problem", enum_key(title)),
                       f"API v2 problem no rule knows: {title}: {detail}"[:200])

    if reply.status in (401, 402, 403):
        detail = doc.get("detail") or doc.get("title") or doc.get("reason") or ""
        return Verdict(Status.UNKNOWN, "x.credential_rejected",
                       f"HTTP {reply.status}: the monitor's credential was refused ({detail})"[:240])

    data = doc.get("data")
    if reply.status == 200 and isinstance(data, dict):
        if isinstance(data.get("id"), str) and isinstance(data.get("username"), str):
            named = data["id"] if asked and asked[0] == "id" else data["username"]
            return _other_account(asked, named, asked[0] if asked else "") or _v2_user(data)
        user = data.get("user")
        result = user.get("result") if isinstance(user, dict) else None
        if isinstance(result, dict) and (verdict := _graphql_result(result)) is not None:
            if verdict.handle and asked and asked[0] == "username":
                return _other_account(asked, verdict.handle, "screen_name") or verdict
            return verdict
        if not doc.get("errors") and (data == {} or user == {}):
            return Verdict(Status.NOT_FOUND, "x.graphql_no_user",
                           "GraphQL returned no user (deactivated and renamed accounts read the same)")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="X", base_url="https://api.x.com",
    hosts=HOSTS, url_forms=("https://x.com/{name}",),
    handle_help="an X/Twitter screen name (1-15 letters, digits or _), with or without @",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # API v2 user lookups are metered per app (tier-dependent); keep it slow
    politeness=Politeness(concurrency=1, delay=5.0, batch=20),
    credentials=("X_BEARER_TOKEN", "X_AUTH_TOKEN", "X_CT0", "BANWATCH_X_WEB_BEARER_TOKEN"),
    strength={
        "x.v2_user": PROOF, "x.graphql_user": PROOF, "x.user_unavailable_protected": PROOF, "x.withheld": PROOF,
        "x.v2_suspended": PROOF, "x.user_unavailable_suspended": PROOF, "x.code_63": PROOF,
        "x.user_unavailable_deactivated": PROOF,
        "x.v2_not_found": weak("deactivated, renamed-away and never-registered names read the same"),
        "x.graphql_no_user": weak("deactivated, renamed-away and never-registered names read the same"),
        "x.code_50": weak("'User not found' is also the answer for deactivated, renamed-away and never-registered "
                          "names"),
        "x.user_unavailable_offboarded": weak("what X means by Offboarded is not public: it is neither Suspended "
                                              "nor Deactivated in X's own code"),
    },
)
