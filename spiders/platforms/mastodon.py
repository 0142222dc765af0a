"""Mastodon (and compatible servers): GET /api/v1/accounts/lookup?acct={user} on the account's own instance.

Mastodon, Pleroma, Akkoma, Rebased, Iceshrimp.NET, GoToSocial, Sharkey and Firefish all serve this path, each in
its own words; docs/platforms.md ("Mastodon (and compatible servers)") has, per server, what it can tell and the
source code each answer is taken from. Error messages are matched in one spelling (`base.enum_key`) against a
table per server, never byte for byte:

- 200 Account -> active (stable id: the instance's account `id`)
- 200 Account with `"suspended": true` -> suspended. Mastodon before 4.7 answers the same for an account its
  owner deleted (the row is kept, suspended, with zeroed counts): the reason says so, and the second probe (the
  HTML profile, 403 or 410) tells them apart.
- 200 Account with `"limited": true` -> restricted (silenced by the instance's moderators)
- 404 `{"error": "Record not found"}` (Mastodon, Iceshrimp.NET) -> not_found
- 404 `{"error": "Can't find user"}` (Pleroma, Akkoma, Rebased) -> not_found. These servers answer the same for
  an account deactivated by its owner or by their staff: the reason says it may be either.
- 401 (any server), 403 "This resource requires authentication." (private Pleroma/Akkoma) -> unknown
- any other `{"error": "<message>"}` -> unknown, `mastodon.lookup_error:<message>`: a message no rule knows
  stays unknown and shows in `status` under its own name
- a 404 that is not JSON, a redirect away from the API, or JSON that is neither an account nor an error
  (Misskey's `{"error": {"code": "UNKNOWN_API_ENDPOINT", ...}}`) -> unknown, `mastodon.not_mastodon_api`: the
  server does not speak the Mastodon API; the watchdog raises one health alert naming the account
- 429, 5xx, challenge and block pages, login redirects -> unknown (shared rules)
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, blocked, enum_key, host_path, json_body, named_rule, unrecognised,
)

NAME = "mastodon"
_ACCT = re.compile(r"^([A-Za-z0-9_.-]{1,64})@([a-z0-9-]+(\.[a-z0-9-]+)+)$")


def normalise(handle: str) -> str | None:
    """`@user@instance` or `user@instance` -> `user@instance` (lower case: Mastodon matches acct case-blind;
    a `www.` before the instance is dropped: `user@www.example.social` is `user@example.social`)."""
    m = _ACCT.match(handle.strip().lstrip("@").lower())
    if not m:
        return None
    instance = m.group(2).rstrip(".")
    instance = instance[4:] if instance.startswith("www.") and instance.count(".") >= 2 else instance
    return f"{m.group(1)}@{instance}"


def from_url(url: str) -> str | None:
    """`https://instance/@user` (also `/web/@user`, `/%40user`) -> `user@instance`;
    `https://instance/@user@other` (a remote account as another server shows it) -> `user@other`. Whether
    the server is plausibly a fediverse server is decided by the registry (spiders.platforms.resolve_url and
    server_problem), which never gives this function a host another platform owns.
    """
    host, path = host_path(url)
    path = [unquote(p) for p in path]
    if path[:1] == ["web"]:
        path = path[1:]
    if not host or "." not in host or not path or not path[0].startswith("@"):
        return None
    user, _, remote = path[0][1:].partition("@")
    return normalise(f"{user}@{remote or host}")


def _flag(value: object) -> bool:
    """A boolean as a server sends it: true, or the string "true" in any case."""
    return value is True or enum_key(value) == "true"


def instance(handle: str) -> str:
    """The server a canonical handle is asked at: `user@instance` -> `instance`."""
    return split(handle)[1]


def split(handle: str) -> tuple[str, str]:
    """A canonical Mastodon handle 'user@instance' -> ('user', 'instance'); ('user', '') without '@'. Pure."""
    user, _, instance = handle.partition("@")
    return user, instance


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers):
    `https://{instance}/api/v1/accounts/lookup?acct={user}` on the account's own instance. Never raises."""
    user, instance = split(account.handle)
    return Probe(f"https://{instance}/api/v1/accounts/lookup?acct={quote(user)}")


def profile_url(handle: str) -> str:
    """A canonical Mastodon handle -> the profile link people open, https://{instance}/@{user}. Pure; the handle is
    not checked."""
    user, instance = split(handle)
    return f"https://{instance}/@{user}"


# 404 {"error": <message>} meaning "no account by this name here", per server (keys in base.enum_key spelling).
# A message missing here is never a finding: it reads `mastodon.lookup_error:<message>` (unknown).
_NOT_FOUND: dict[str, Verdict] = {
    # Mastodon: Api::BaseController `rescue_from ActiveRecord::RecordNotFound`; Iceshrimp.NET:
    # GracefulException.RecordNotFound(). Mastodon 4.7+ also raises it for an account its owner deleted.
    "record_not_found": Verdict(
        Status.NOT_FOUND, "mastodon.record_not_found",
        "HTTP 404 Record not found: no account by this name (Mastodon 4.7 and later answer the same for an "
        "account its owner deleted)"),
    # Pleroma, Akkoma, Rebased: AccountController#lookup -> user_visibility_error, for a missing account and
    # for every account User.visible_for hides (deactivated by its owner or by staff, awaiting approval).
    "can_t_find_user": Verdict(
        Status.NOT_FOUND, "mastodon.cant_find_user",
        "HTTP 404 Can't find user (Pleroma/Akkoma/Rebased): no account by this name, or one deactivated by its "
        "owner or by the instance's staff; this endpoint does not tell them apart"),
}
# {"error": <message>} meaning only signed-in users may ask (a 401 always does, whatever it says).
_AUTH_REQUIRED = {
    "this_resource_requires_authentication",  # Pleroma/Akkoma EnsurePublicOrAuthenticatedPlug: 403, private instance
}


def _not_api(what: str) -> Verdict:
    return Verdict(Status.UNKNOWN, "mastodon.not_mastodon_api",
                   f"{what}: this server does not answer the Mastodon API's account lookup (not a Mastodon-compatible "
                   "server, or one too old for /api/v1/accounts/lookup); proves nothing about the account")


def _off_api(reply: Reply) -> bool:
    """Redirected away from the API (to a home page, a blog, a shop...)."""
    return bool(reply.redirects) and host_path(reply.url)[1][:1] != ["api"]


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the lookup API's JSON) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `mastodon.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md, "Mastodon
    (and compatible servers)"):

    - active `mastodon.account`: 200 Account with `id` and `acct` (Mastodon docs methods/accounts.md,
      entities/Account.md; Akkoma AccountView; Sharkey via megalodon).
    - suspended `mastodon.suspended`: 200 Account with `"suspended": true` (accounts.md "Suspended user";
      account_serializer.rb); the HTML second probe separates an owner's deletion (410) before Mastodon 4.7.
    - restricted `mastodon.limited`: 200 Account with `"limited": true` (silenced).
    - not_found `mastodon.record_not_found`: 404 `{"error":"Record not found"}` (Api::BaseController; Iceshrimp.NET);
      `mastodon.cant_find_user`: 404 `{"error":"Can't find user"}` (Pleroma/Akkoma AccountController#lookup).

    Weak: none (each answer is the account's own state on its home instance). Unconfirmed: see the section's "Not
    confirmed" list (servers other than Mastodon are modelled on their source)."""
    if reply.status == 401:
        return Verdict(Status.UNKNOWN, "mastodon.auth_required",
                       "HTTP 401: this instance requires authentication for lookups")
    if (wall := blocked(reply, NAME)) is not None:
        return wall
    if _off_api(reply):
        return _not_api(f"redirected from {reply.redirects[0]} to {reply.url} (HTTP {reply.status})")
    doc = json_body(reply)
    if doc is None:
        if reply.status == 404:
            return _not_api(f"HTTP 404, {len(reply.body)} bytes that are not JSON")
        return unrecognised(reply, NAME)
    if not isinstance(doc, dict):
        return _not_api(f"HTTP {reply.status}: JSON {type(doc).__name__}, neither an account nor an error")
    error = doc.get("error")
    if isinstance(error, str):
        key = enum_key(error)
        if reply.status == 404 and key in _NOT_FOUND:
            return _NOT_FOUND[key]
        if key in _AUTH_REQUIRED:
            return Verdict(Status.UNKNOWN, "mastodon.auth_required",
                           f"HTTP {reply.status} {error!r}: this instance answers signed-in users only")
        return Verdict(Status.UNKNOWN, named_rule(NAME, "lookup_error", error),
                       f"HTTP {reply.status} {{\"error\": {error[:80]!r}}}: a message no rule knows; proves nothing")
    if "error" in doc:  # Misskey: {"error": {"code": "UNKNOWN_API_ENDPOINT", "message": ...}}
        code = (error.get("code") or error.get("message")) if isinstance(error, dict) else error
        return _not_api(f"HTTP {reply.status}: an error object, not Mastodon's {{\"error\": message}} "
                        f"({str(code)[:80]})")
    if doc.get("id") and "acct" in doc:
        if reply.status != 200:
            return unrecognised(reply, NAME)
        asked, server = split(account.handle)
        acct = str(doc["acct"]).lstrip("@")
        name, _, domain = acct.partition("@")
        # Sharkey/Firefish fall back to a fuzzy search, whose first hit may be a namesake on another server
        if name.lower() != asked.lower() or (domain and domain.lower() != server.lower()):
            return Verdict(Status.UNKNOWN, "mastodon.other_account",
                           f"asked for {asked}, the server answered with account {acct[:80]} (a fuzzy lookup: "
                           "what it says is not about this account)")
        ident = dict(platform_id=str(doc["id"]), display_name=doc.get("display_name") or None)
        if _flag(doc.get("suspended")):
            return Verdict(Status.SUSPENDED, "mastodon.suspended",
                           "account lookup says suspended: true (before Mastodon 4.7, owner-deleted accounts read "
                           "the same)", **ident)
        if _flag(doc.get("limited")):
            return Verdict(Status.RESTRICTED, "mastodon.limited",
                           "account lookup says limited: true (silenced by the instance)", **ident)
        return Verdict(Status.ACTIVE, "mastodon.account", f"account {doc['acct']}", **ident)
    return _not_api(f"HTTP {reply.status}: a JSON object that is neither an account nor an error")


def second_probe(verdict: Verdict, account: Account, secrets: Secrets | None = None) -> Probe | None:
    """The API says suspended for moderator suspensions and self-deletions alike; the HTML profile does not."""
    if verdict.rule == "mastodon.suspended":
        return Probe(profile_url(account.handle), headers={"Accept": "text/html"}, note="HTML profile: 403 or 410?")
    return None


def classify_second(reply: Reply, account: Account, first: Verdict) -> Verdict:
    """HTML profile of an account the API calls suspended (Mastodon's AccountOwnedConcern).

    A 403 or 410 proves something only when the page is Mastodon's own error page (`_own_error_page`): any
    other 403 or 410 (a proxy, a firewall without a known marker, a shut-down instance's placeholder) is unknown.

    Reply -> Verdict; `first` is the API's verdict (mastodon.suspended). Pure; never raises on what the instance
    sends. Rules (source: Mastodon's `AccountOwnedConcern#check_account_suspension` and `layouts/error.html.haml`;
    full table: docs/platforms.md, "Mastodon (and compatible servers)", "Second probe"): 403 on Mastodon's error
    page -> suspended `mastodon.html_suspended`; 410 -> deactivated `mastodon.html_gone`; 403/410 on any other page
    -> unknown `mastodon.html_unmarked`; 200 -> unknown `mastodon.html_disagrees`.
    """
    if (wall := blocked(reply, NAME)) is not None:
        return wall
    if reply.status in (403, 410):
        message = _own_error_page(reply)
        if message is None:
            return Verdict(Status.UNKNOWN, "mastodon.html_unmarked",
                           f"the profile page answers {reply.status}, but not with Mastodon's own error page: "
                           "proves nothing")
        if reply.status == 403:
            return Verdict(Status.SUSPENDED, "mastodon.html_suspended",
                           f"the profile page answers 403 with Mastodon's error page ({message!r}): suspended by the "
                           "instance's moderators (reversible for 30 days)", platform_id=first.platform_id)
        return Verdict(Status.DEACTIVATED, "mastodon.html_gone",
                       f"the profile page answers 410 with Mastodon's error page ({message!r}): deleted by its owner "
                       "(or a suspension whose data is purged)", platform_id=first.platform_id)
    if reply.status == 200:
        return Verdict(Status.UNKNOWN, "mastodon.html_disagrees",
                       "the API says suspended but the profile page is served: proves nothing")
    return unrecognised(reply, NAME)


# Mastodon's error layout (app/views/layouts/error.html.haml, every version since 2018 and its forks):
# `<body class='error'>` holding a `.dialog` whose `<h1>` is the message (t('errors.403'), t('errors.410')).
# Markup, not words: the message is in the instance's language. Rails' own error pages use
# `class="rails-default-error-page"`, which is not the `error` class.
_ERROR_BODY = re.compile(r"""<body\b[^>]*\bclass\s*=\s*["'](?:[^"']*\s)?error(?:\s[^"']*)?["']""", re.I)
_DIALOG = re.compile(r"""\bclass\s*=\s*["'](?:[^"']*\s)?dialog(?:\s[^"']*)?["']""", re.I)
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def _own_error_page(reply: Reply) -> str | None:
    """The message of Mastodon's own error page, or None when the page is anything else."""
    text = reply.text
    if not (_ERROR_BODY.search(text) and _DIALOG.search(text)):
        return None
    headings = [" ".join(_TAG.sub(" ", h).split()) for h in _H1.findall(text)]
    return headings[-1] if headings and headings[-1] else None


PLATFORM = Platform(
    name=NAME, title="Mastodon", base_url="https://mastodon.social",
    hosts=(), url_forms=("https://{instance}/@{user}",),
    handle_help="user@instance, e.g. Gargron@mastodon.social",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # per instance: 300 requests / 5 min
    politeness=Politeness(concurrency=1, delay=1.0, batch=100),
    max_answer=2 * 1024 * 1024,  # the HTML profile (second probe) is ~20-100 KiB; the API answer a few KiB
    second_probe=second_probe, classify_second=classify_second, instance=instance,
    version=2,
    # Why each rule is proof (docs/platforms.md, "Strength"): every answer is the account's own state on its home
    # instance, which no client-side condition (sign-in, region, age, privacy) changes for an anonymous lookup.
    strength={
        "mastodon.account": PROOF,  # the home instance serves the account
        "mastodon.suspended": PROOF,  # its own flag; a self-deletion on Mastodon < 4.7 is a loss too
        "mastodon.limited": PROOF,  # its own flag (silenced); not set per viewer
        "mastodon.record_not_found": PROOF,  # Mastodon finds every local account, even unconfirmed or pending
        "mastodon.cant_find_user": PROOF,  # hidden from everyone but staff: deactivated, never "hidden from us"
        "mastodon.html_suspended": PROOF,  # Mastodon's own 403 page, asked only after suspended: true
        "mastodon.html_gone": PROOF,  # Mastodon's own 410 page, asked only after suspended: true
    },
)
