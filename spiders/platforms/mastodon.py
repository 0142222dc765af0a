"""Mastodon (and compatible servers): GET /api/v1/accounts/lookup?acct={user} on the account's own instance.

- 200 Account -> active (stable id: the instance's account `id`)
- 200 Account with `"suspended": true` -> suspended. Mastodon answers the same for an account its owner
  deleted (the row is kept, suspended, with zeroed counts): the reason says so.
- 200 Account with `"limited": true` -> restricted (silenced by the instance's moderators)
- 404 `{"error": "Record not found"}` -> not_found
- 401 "This API requires an authenticated user" (whitelist-mode instances), 429, 5xx -> unknown
"""

from __future__ import annotations

import re
from urllib.parse import quote

from monitor.model import Account, Reply, Status, Verdict
from spiders.platforms.base import Platform, Politeness, Probe, Secrets, host_path, json_body, transient, unrecognised

NAME = "mastodon"
_ACCT = re.compile(r"^([A-Za-z0-9_.-]{1,64})@([a-z0-9-]+(\.[a-z0-9-]+)+)$")


def normalise(handle: str) -> str | None:
    """`@user@instance` or `user@instance` -> `user@instance` (lower case: Mastodon matches acct case-blind)."""
    m = _ACCT.match(handle.strip().lstrip("@").lower())
    return f"{m.group(1)}@{m.group(2)}" if m else None


def from_url(url: str) -> str | None:
    """`https://instance/@user` -> `user@instance`; `https://instance/@user@other` (a remote account as
    another server shows it) -> `user@other`. Whether the host is plausibly a fediverse server is decided by
    the registry (spiders.platforms.resolve_url), which never gives this function a host another platform owns.
    """
    host, path = host_path(url)
    if not host or "." not in host or not path or not path[0].startswith("@"):
        return None
    user, _, remote = path[0][1:].partition("@")
    return normalise(f"{user}@{remote or host}")


def split(handle: str) -> tuple[str, str]:
    user, _, instance = handle.partition("@")
    return user, instance


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    user, instance = split(account.handle)
    return Probe(f"https://{instance}/api/v1/accounts/lookup?acct={quote(user)}")


def profile_url(handle: str) -> str:
    user, instance = split(handle)
    return f"https://{instance}/@{user}"


def classify(reply: Reply, account: Account) -> Verdict:
    if reply.status == 401:
        return Verdict(Status.UNKNOWN, "mastodon.auth_required",
                       "HTTP 401: this instance requires authentication for lookups")
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        return unrecognised(reply, NAME)
    if reply.status == 404 and doc.get("error") == "Record not found":
        return Verdict(Status.NOT_FOUND, "mastodon.record_not_found", "HTTP 404 Record not found")
    if reply.status == 200 and doc.get("id") and "acct" in doc:
        ident = dict(platform_id=str(doc["id"]), display_name=doc.get("display_name") or None)
        if doc.get("suspended") is True:
            return Verdict(Status.SUSPENDED, "mastodon.suspended",
                           "account lookup says suspended: true (owner-deleted accounts read the same)",
                           **ident)
        if doc.get("limited") is True:
            return Verdict(Status.RESTRICTED, "mastodon.limited",
                           "account lookup says limited: true (silenced by the instance)", **ident)
        return Verdict(Status.ACTIVE, "mastodon.account", f"account {doc['acct']}", **ident)
    return unrecognised(reply, NAME)


def second_probe(verdict: Verdict, account: Account, secrets: Secrets | None = None) -> Probe | None:
    """The API says suspended for moderator suspensions and self-deletions alike; the HTML profile does not."""
    if verdict.rule == "mastodon.suspended":
        return Probe(profile_url(account.handle), headers={"Accept": "text/html"}, note="HTML profile: 403 or 410?")
    return None


def classify_second(reply: Reply, account: Account, first: Verdict) -> Verdict:
    """HTML profile of an account the API calls suspended (Mastodon's AccountOwnedConcern)."""
    if reply.status == 403:
        return Verdict(Status.SUSPENDED, "mastodon.html_suspended",
                       "the profile page answers 403: suspended by the instance's moderators (reversible for 30 days)",
                       platform_id=first.platform_id)
    if reply.status == 410:
        return Verdict(Status.DEACTIVATED, "mastodon.html_gone",
                       "the profile page answers 410: deleted by its owner (or a suspension whose data is purged)",
                       platform_id=first.platform_id)
    if (early := transient(reply, NAME)) is not None:
        return early
    if reply.status == 200:
        return Verdict(Status.UNKNOWN, "mastodon.html_disagrees",
                       "the API says suspended but the profile page is served: proves nothing")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Mastodon", base_url="https://mastodon.social",
    hosts=(), url_forms=("https://{instance}/@{user}",),
    handle_help="user@instance, e.g. Gargron@mastodon.social",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # per instance: 300 requests / 5 min
    politeness=Politeness(concurrency=1, delay=1.0, batch=100),
    second_probe=second_probe, classify_second=classify_second,
)
