"""Bluesky: GET /xrpc/app.bsky.actor.getProfile?actor={handle or did} on public.api.bsky.app.

- 200 profileViewDetailed -> active (stable id: the `did`); a `!hide` or `!warn` label -> restricted
- 400 `AccountTakedown` -> suspended (temporary and permanent takedowns read the same)
- 400 `AccountDeactivated` -> deactivated
- 400 `InvalidRequest` "Profile not found" -> not_found (a deleted account reads the same; weak: a handle nobody
  holds and an AppView that lost the profile read the same too)
- 400 `InvalidRequest` with a known message that proves nothing (the actor failed atproto's syntax check) ->
  unknown (`bluesky.invalid_request`); with a message no rule knows -> unknown, named after it
  (`bluesky.invalid_request:<message>`, a short hash for a message with no Latin letters or digits); any other
  error name -> unknown, named after it (`bluesky.error:<name>`)
- asked by handle (before the DID is known), a profile with another `handle` (or asked by DID, another `did`) ->
  unknown (`bluesky.other_account`). A profile's `handle.invalid` names nobody and is not compared; asked by
  the stored DID, a new handle is a rename (`Platform.read` compares the DID).
- 429 `RateLimitExceeded`, 5xx -> unknown

Error names, messages and repo statuses are compared in one spelling (`base.enum_key`, camelCase split):
`AccountTakedown`, `ACCOUNT_TAKEDOWN` and `account-takedown` are one value. A repo status no rule knows is
unknown and named (`bluesky.repo_status:<value>`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, enum_flat, enum_key, host_path, json_body, named_rule, owns,
    transient, unrecognised, weak,
)

NAME = "bluesky"
HOSTS = ("bsky.app",)
_HANDLE = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-z0-9.:%-]+)$")
_RESTRICTING_LABELS = {"!hide", "!warn"}


def normalise(handle: str) -> str | None:
    """A Bluesky handle as written -> its canonical form (a `did:` kept as written, else the handle lower-cased, `@`
    dropped), or None when it is not a valid one. Pure."""
    handle = handle.strip().lstrip("@")
    if _DID.match(handle):
        return handle
    handle = handle.lower()
    return handle if _HANDLE.match(handle) else None


def from_url(url: str) -> str | None:
    """`bsky.app/profile/HANDLE-OR-DID` (the keyword in any case; a percent-encoded DID too), also a post, feed or
    list under it (`/profile/NAME/post/…`: the author)."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or len(path) < 2 or path[0].lower() != "profile":
        return None
    name = path[1]
    if name.lower().startswith("did%3a"):  # a DID copied percent-encoded: decode the two method separators only
        name = ":".join(re.split("%3a", name, maxsplit=2, flags=re.I))
    return normalise(name)


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """The first probe for `account` (a Probe: URL and headers): the AppView's `app.bsky.actor.getProfile`, asked by
    the stable DID once known, else by handle. Never raises."""
    actor = account.platform_id or account.handle  # the did survives handle changes
    return Probe(f"https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor={quote(actor)}")


def profile_url(handle: str) -> str:
    """A canonical Bluesky handle -> the profile link people open, https://bsky.app/profile/{handle}. Pure; the handle
    is not checked."""
    return f"https://bsky.app/profile/{handle}"


# XRPC `error` names of a 400 from getProfile, in `_flat` form (atproto getProfile.ts / xrpc-server errors.ts)
_ERRORS = {
    "accounttakedown": (Status.SUSPENDED, "bluesky.account_takedown"),
    "accountdeactivated": (Status.DEACTIVATED, "bluesky.account_deactivated"),
}


# InvalidRequest messages (in `_flat` form, any `Error:` prefix removed) that are known and prove nothing: the
# actor failed atproto's lexicon check for an at-identifier (invalid_request_other.json)
_KNOWN_INVALID_REQUESTS = {"actormustbeavaliddidorahandle"}


def _named(rule: str, message: str) -> str:
    """`bluesky.<rule>:<message>` for a message no rule knows; a message `enum_key` leaves empty (no Latin letters
    or digits) is named by a short stable hash of its normalised text (whitespace left out), so it still shows as
    itself in `status`."""
    text = unicodedata.normalize("NFKC", message).lower()
    squeezed = "".join(text.split())
    key = enum_key(text) or (f"h{hashlib.sha1(squeezed.encode()).hexdigest()[:10]}" if squeezed else "")
    return named_rule(NAME, rule, key)


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (getProfile's JSON) -> Verdict; `account` (its DID) decides whether "Profile not found"
    needs the second probe.

    Pure; never raises on anything the platform sends (an answer it does not know reads `bluesky.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Bluesky"):

    - active `bluesky.profile`: 200 profileViewDetailed with `did` and `handle` (atproto getProfile.ts).
    - restricted `bluesky.moderation_label`: a `!hide` / `!warn` label not negated (atproto label lexicon).
    - suspended `bluesky.account_takedown`: 400 `AccountTakedown` (AppView views/index.ts).
    - deactivated `bluesky.account_deactivated`: 400 `AccountDeactivated`.
    - not_found `bluesky.profile_not_found`: 400 `InvalidRequest` "Profile not found" (deleted accounts read the same;
      for a known DID the second probe asks the relay).

    Weak: `bluesky.profile_not_found`. Unconfirmed: label expiry (`exp`) is not read; the fixtures are modelled on the
    atproto source, not live captures."""
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        return unrecognised(reply, NAME)
    if reply.status == 400:
        error, message = doc.get("error"), str(doc.get("message", ""))
        error_key = enum_flat(error)
        if error_key in _ERRORS:
            status, rule = _ERRORS[error_key]
            return Verdict(status, rule, f"HTTP 400 {error}: {message}"[:200])
        if error_key == "invalidrequest":
            if enum_flat(message, "error") == "profilenotfound":
                return Verdict(Status.NOT_FOUND, "bluesky.profile_not_found",
                               f"HTTP 400 {error}: {message} (deleted or never existed)"[:200])
            if enum_flat(message, "error") in _KNOWN_INVALID_REQUESTS:
                return Verdict(Status.UNKNOWN, "bluesky.invalid_request", f"HTTP 400 {error}: {message}"[:200])
            return Verdict(Status.UNKNOWN, _named("invalid_request", message),
                           f"HTTP 400 {error} with a message no rule knows: {message}"[:200])
        return Verdict(Status.UNKNOWN, named_rule(NAME, "error", enum_key(error)),
                       f"HTTP 400 with an error name no rule knows: {error}: {message}"[:200])
    if reply.status == 200 and isinstance(doc.get("did"), str) and "handle" in doc:
        # asked by the watched handle (or a DID written as the handle) before the DID is known: the profile must be
        # the one asked for. Asked by the stored DID, Platform.read compares it (and a new handle is a rename).
        asked, handle = account.handle.strip().lower(), str(doc["handle"]).strip().lower()
        answered = doc["did"].strip().lower() if asked.startswith("did:") else handle
        if not account.platform_id and answered not in (asked, "handle.invalid"):
            return Verdict(Status.UNKNOWN, "bluesky.other_account",
                           f"asked for {asked[:80]}, the profile is {doc['did'][:60]} ({handle[:80]}): it is about "
                           "another account, whatever it says")
        # a negated label withdraws an earlier one; only the account's live labels count
        labels = {str(lab.get("val")).strip().lower() for lab in doc.get("labels") or []
                  if isinstance(lab, dict) and not lab.get("neg")}
        hit = sorted(labels & _RESTRICTING_LABELS)
        if hit:
            return Verdict(Status.RESTRICTED, "bluesky.moderation_label",
                           f"profile carries the label {', '.join(hit)}",
                           platform_id=doc["did"], display_name=doc.get("displayName"))
        return Verdict(Status.ACTIVE, "bluesky.profile", f"profile of {doc['handle']}",
                       platform_id=doc["did"], display_name=doc.get("displayName"),
                       handle=None if str(doc["handle"]).strip().lower() == "handle.invalid" else doc["handle"])
    return unrecognised(reply, NAME)


RELAY = "https://bsky.network"
# getRepoStatus `status`, in `_flat` form (knownValues of lexicons/com/atproto/sync/getRepoStatus.json)
_REPO_STATUSES = {
    "takendown": (Status.SUSPENDED, "bluesky.repo_takendown", "the relay says the repo is taken down"),
    "suspended": (Status.SUSPENDED, "bluesky.repo_suspended", "the relay says the repo is suspended"),
    "deleted": (Status.DEACTIVATED, "bluesky.repo_deleted", "the owner deleted the account (repo status deleted)"),
    "deactivated": (Status.DEACTIVATED, "bluesky.repo_deactivated", "the owner deactivated the account"),
    # known values that say nothing about the account's fate, and an inactive repo with no status at all
    "desynchronized": (Status.UNKNOWN, "bluesky.repo_status_other", "the relay lost sync with the repo"),
    "throttled": (Status.UNKNOWN, "bluesky.repo_status_other", "the relay is throttling the repo"),
    "": (Status.UNKNOWN, "bluesky.repo_status_other", "the repo is inactive and the relay gives no status"),
}


def second_probe(verdict: Verdict, account: Account, secrets: Secrets | None = None) -> Probe | None:
    """'Profile not found' for a DID we saw active: deleted, or gone some other way? Ask the relay."""
    if verdict.rule == "bluesky.profile_not_found" and (account.platform_id or "").startswith("did:"):
        return Probe(f"{RELAY}/xrpc/com.atproto.sync.getRepoStatus?did={quote(account.platform_id or '')}",
                     note="getRepoStatus on the stored DID")
    return None


def classify_second(reply: Reply, account: Account, first: Verdict) -> Verdict:
    """com.atproto.sync.getRepoStatus: `{did, active, status}` or 400 RepoNotFound -> Verdict; `first` is the
    first probe's verdict (bluesky.profile_not_found). Pure; never raises on what the relay sends.

    Rules (source: the atproto `com.atproto.sync.getRepoStatus` lexicon and its `status` values; full table:
    docs/platforms.md, "Bluesky", "Second probe"): `takendown` / `suspended` -> suspended (`bluesky.repo_takendown`,
    `bluesky.repo_suspended`); `deleted` / `deactivated` -> deactivated; 400 RepoNotFound -> not_found
    (`bluesky.repo_not_found`); `active: true` -> unknown `bluesky.appview_lag`; another status -> unknown
    (`bluesky.repo_status_other`, or a named rule `bluesky.repo_status:<value>`). Unconfirmed: the relay's answer for
    a real deleted DID (not captured)."""
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        return unrecognised(reply, NAME)
    if reply.status == 400 and enum_flat(doc.get("error")) == "reponotfound":
        return Verdict(Status.NOT_FOUND, "bluesky.repo_not_found",
                       "profile not found and the relay has no repo for the DID (deleted and purged)")
    if reply.status == 200 and doc.get("did") == account.platform_id:
        if doc.get("active") is True:
            return Verdict(Status.UNKNOWN, "bluesky.appview_lag",
                           "the repo is active but the AppView has no profile: proves nothing")
        repo_status = enum_flat(doc.get("status"))
        if repo_status not in _REPO_STATUSES:
            return Verdict(Status.UNKNOWN, named_rule(NAME, "repo_status", enum_key(doc.get("status"))),
                           f"repo inactive with a status no rule knows: {str(doc.get('status'))[:40]!r}")
        status, rule, reason = _REPO_STATUSES[repo_status]
        return Verdict(status, rule, f"{reason} (status {str(doc.get('status'))[:40]!r})")
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Bluesky", base_url="https://public.api.bsky.app",
    hosts=HOSTS, url_forms=("https://bsky.app/profile/{handle}",),
    handle_help="a Bluesky handle (name.bsky.social or a domain) or a did:plc:/did:web: identifier",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # public AppView: high limits
    politeness=Politeness(concurrency=4, delay=0.2, batch=200),
    second_probe=second_probe, classify_second=classify_second,
    strength={
        "bluesky.profile": PROOF, "bluesky.moderation_label": PROOF,
        "bluesky.account_takedown": PROOF, "bluesky.account_deactivated": PROOF,
        "bluesky.profile_not_found": weak("a handle nobody holds (asked before the DID is known) and a profile the "
                                          "AppView lost while the repo is fine (bluesky.appview_lag) read the same"),
        "bluesky.repo_takendown": PROOF, "bluesky.repo_suspended": PROOF, "bluesky.repo_deleted": PROOF,
        "bluesky.repo_deactivated": PROOF, "bluesky.repo_not_found": PROOF,
    },
)
