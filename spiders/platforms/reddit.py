"""Reddit: GET /user/{name}/about.json on www.reddit.com, or /user/{name}/about on oauth.reddit.com with an
app-only token (BANWATCH_REDDIT_TOKEN), which is how a monitor on a datacenter IP still gets answers.

- 200 `{"kind": "t2", "data": {"id": ...}}` -> active (stable id `t2_<id>`)
- 200 `{"kind": "t2", "data": {"is_suspended": true, "name": ...}}` -> suspended. Reddit also answers
  this way for accounts locked until a password reset, which the rule's reason says.
- 404 `{"message": "Not Found", "error": 404}` -> not_found (deleted, shadowbanned and never-existed
  accounts all look like this)
- 403 "whoa there, pardner!" / "blocked by network security", 429, 5xx -> unknown
- 401 (the monitor's own token rejected) -> unknown, `reddit.credential_rejected`
- a `t2` whose `data.name` is not the name asked (compared case-blind; the probe always asks by name) -> unknown,
  `reddit.other_account`: the answer is about another account, whatever it says
- `is_suspended` with a value other than true/false -> unknown, named after it (`reddit.is_suspended:<value>`)

`kind`, `is_suspended` and `error` are compared in one spelling (`base.enum_key`; `404` or `"404"`), the block
markers whatever their case and line breaks.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, enum_key, host_path, json_body, named_rule, owns, transient,
    unrecognised, weak,
)

NAME = "reddit"
# every subdomain of reddit.com serves /user/NAME (www., old., new., np., m., sh., i., amp.); redd.it is Reddit's
# short-link domain for posts, so it is claimed but names no account
HOSTS = ("reddit.com", "redd.it")
_NOT_PROFILE_SITES = ("redd.it",)
_HANDLE = re.compile(r"^[A-Za-z0-9_-]{3,20}$")
_BLOCK_MARKERS = ("whoa there, pardner", "blocked by network security", "blocked due to a network policy",
                  "<title>Blocked</title>")


def normalise(handle: str) -> str | None:
    """A Reddit handle as written -> its canonical form (lower-case name; `u/`, `/u/`, `user/` prefixes dropped), or
    None when it is not a valid one. Pure."""
    handle = handle.strip()
    for prefix in ("/u/", "u/", "/user/", "user/"):
        if handle.lower().startswith(prefix):
            handle = handle[len(prefix):]
    return handle.lower() if _HANDLE.match(handle) else None  # Reddit names are case-blind


def from_url(url: str) -> str | None:
    """`/user/NAME` or `/u/NAME` (also a post or comment under it: the author), or the profile's own subreddit
    `/r/u_NAME`; keywords in any case. Subreddits and post links without the author (`/r/SUB/comments/…`) -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or len(path) < 2:
        return None
    keyword = path[0].lower()
    if keyword in {"user", "u"}:
        return normalise(path[1])
    if keyword == "r" and path[1].lower().startswith("u_"):
        return normalise(path[1][2:])
    return None


TOKEN = "BANWATCH_REDDIT_TOKEN"  # an app-only OAuth bearer token (client_credentials grant; valid 24 h)


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    """With an app-only token, oauth.reddit.com (which datacenter IPs can still reach); else the public JSON."""
    token = (secrets or {}).get(TOKEN)
    if token:
        return Probe(f"https://oauth.reddit.com/user/{quote(account.handle)}/about?raw_json=1",
                     headers={"Authorization": f"Bearer {token}"})
    return Probe(f"https://www.reddit.com/user/{quote(account.handle)}/about.json")


def profile_url(handle: str) -> str:
    """A canonical Reddit handle -> the profile link people open, https://www.reddit.com/user/{name}/. Pure; the
    handle is not checked."""
    return f"https://www.reddit.com/user/{handle}/"


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (about.json, public or through oauth.reddit.com) -> Verdict; `account` is not read.

    Pure; never raises on anything the platform sends (an answer it does not know reads `reddit.unrecognised`). Called
    only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and the rule
    strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "Reddit"):

    - active `reddit.profile`: 200 `{"kind":"t2","data":{"id":…}}` (Pyprohly/reddit-api-doc-notes user.rst).
    - suspended `reddit.is_suspended`: 200 `data.is_suspended: true` (snew #10, praw #1241); also accounts locked
      until a password reset, which the reason says.
    - not_found `reddit.not_found`: 404 `{"error": 404}` (praw #1241: deleted, shadowbanned and never-existing
      accounts alike).

    Weak: `reddit.not_found`. Unconfirmed: temporary suspensions may return the full object; see the section's "Not
    confirmed" list."""
    if reply.status == 401:
        return Verdict(Status.UNKNOWN, "reddit.credential_rejected",
                       f"HTTP 401: the monitor's own {TOKEN} is missing, expired or revoked")
    if reply.status == 403:
        text = " ".join(reply.text.split()).lower()  # markers match whatever the case and line breaks
        if any(m.lower() in text for m in _BLOCK_MARKERS):
            return Verdict(Status.UNKNOWN, "reddit.blocked", "HTTP 403: the monitor's IP is blocked")
        return Verdict(Status.UNKNOWN, "reddit.forbidden", "HTTP 403 without a known block page")
    if (early := transient(reply, NAME)) is not None:
        return early
    doc = json_body(reply)
    if not isinstance(doc, dict):
        return unrecognised(reply, NAME)
    if reply.status == 404 and str(doc.get("error")).strip() == "404":  # 404 or "404"
        return Verdict(Status.NOT_FOUND, "reddit.not_found",
                       "HTTP 404 Not Found: deleted, shadowbanned or never existed")
    data = doc.get("data")
    if reply.status == 200 and enum_key(doc.get("kind")) == "t2" and isinstance(data, dict):
        name = data.get("name")
        if isinstance(name, str) and name.strip().lower() != account.handle.lower():
            return Verdict(Status.UNKNOWN, "reddit.other_account",
                           f"asked for u/{account.handle}, about.json answered for u/{name[:40]}: it is about "
                           "another account, whatever it says")
        flag = data.get("is_suspended")
        if flag is not None and not isinstance(flag, bool) and enum_key(flag) not in ("true", "false"):
            return Verdict(Status.UNKNOWN, named_rule(NAME, "is_suspended", flag),
                           f"is_suspended has a value no rule knows: {str(flag)[:40]!r}")
        if data.get("is_suspended") is True or enum_key(data.get("is_suspended")) == "true":
            return Verdict(Status.SUSPENDED, "reddit.is_suspended",
                           "about.json says is_suspended: true (also used for security locks)")
        if data.get("id"):
            profile = data.get("subreddit") if isinstance(data.get("subreddit"), dict) else {}
            return Verdict(Status.ACTIVE, "reddit.profile", "about.json returned the profile",
                           platform_id=f"t2_{data['id']}", display_name=profile.get("title") or None)
    return unrecognised(reply, NAME)


PLATFORM = Platform(
    name=NAME, title="Reddit", base_url="https://www.reddit.com",
    hosts=HOSTS, url_forms=("https://www.reddit.com/user/{name}",),
    handle_help="a Reddit username (3-20 letters, digits, _ or -)",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    politeness=Politeness(concurrency=1, delay=2.0, batch=50),
    credentials=(TOKEN,),
    strength={
        "reddit.profile": PROOF,
        # proof: the same answer for an account locked until a password reset is a caveat the reason states,
        # not an account hidden from this client (Reddit shows that lock to everyone)
        "reddit.is_suspended": PROOF,
        "reddit.not_found": weak("a shadowbanned account (it exists, hidden from others) and a never-registered "
                                 "name read the same"),
    },
)
