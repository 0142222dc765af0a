"""YouTube: GET the channel page www.youtube.com/channel/{UC…} (or /@{handle} until the channel id is known).

The page embeds `var ytInitialData = {…};`, the same object InnerTube `youtubei/v1/browse` returns. The probe
sends the consent cookies `CONSENT=YES+cb; SOCS=CAI` and `Accept-Language: en-US`, because the alert texts
below are English and are localised otherwise.

- `metadata.channelMetadataRenderer.externalId` -> active (stable id: the `UC…` channel id; current
  @handle from `vanityChannelUrl` or the header's `canonicalBaseUrl`)
- `alerts[].alertRenderer` of type ERROR saying "This account has been terminated …" or "This channel was
  removed because it violated our Community Guidelines." -> suspended
- ERROR alert "This channel does not exist." -> not_found (a channel its owner deleted reads the same)
- HTTP 404 with YouTube's own 404 page (the `error-page-hh-illustration` image of its "This page isn't
  available" page, in any language) -> not_found (how an unknown or released @handle answers). A 404 with any
  other body (a CDN or WAF block page, a captcha, a login page) proves nothing -> unknown (`youtube.unrecognised`)
- any other ERROR alert (e.g. a localised text) -> unknown, named after its text (`youtube.error_alert:<text>`, a
  short hash for a text with no Latin letters or digits), so a new alert shows in `status`
- asked by @handle (before the channel id is known), a channel page whose current @handle is another ->
  unknown (`youtube.other_channel`, as for another channel id); asked by id, a new handle is a rename
- the consent interstitial (final URL on consent.youtube.com, or its form), Google's "unusual traffic" /
  "confirm you're not a bot" pages, HTTP 403, a page without ytInitialData or with an incomplete one
  (yt-dlp retries those), 429, 5xx -> unknown

Alert types and texts are compared in one spelling (case, spacing, typographic apostrophes and final
punctuation do not matter; `base.enum_key` for the type). Alerts are read only from
`ytInitialData.alerts[].alertRenderer`, never from the channel's description or
the page text, so a description quoting a termination notice is not a termination. Walls are recognised
before any state is read from a page.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.spiders.platforms.base import (
    PROOF, Platform, Politeness, Probe, Secrets, blocked, enum_key, host_path, html_title, named_rule, owns,
    transient, unrecognised, weak,
)

NAME = "youtube"
_CHANNEL_ID = re.compile(r"^UC[0-9A-Za-z_-]{22}$")
# handles: 3-30 characters, letters (any script), digits, '_', '-', '.'
_HANDLE = re.compile(r"^@[\w.-]{3,30}$")
_INITIAL_DATA = re.compile(r"""(?:var\s+ytInitialData|window\[["']ytInitialData["']\])\s*=\s*""")
# youtube.com and every subdomain (www., m., music.); YouTube Kids; the short-link and embed domains; and the
# country domains Google redirects to youtube.com that people paste (Chromium's google_util treats every
# youtube.<Google country domain> as YouTube; these are the common ones).
HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com", "youtubekids.com",
         "youtube.co.uk", "youtube.de", "youtube.fr", "youtube.es", "youtube.it", "youtube.nl", "youtube.pl",
         "youtube.be", "youtube.at", "youtube.ch", "youtube.ie", "youtube.ca", "youtube.com.au", "youtube.com.br",
         "youtube.com.mx", "youtube.co.in", "youtube.jp")
# Owned, but no channel page is ever on them: youtu.be/ID and youtube-nocookie.com/embed/ID are videos, and
# studio.youtube.com shows only the signed-in creator's own channel, so a link from it names whoever copied it.
_NOT_PROFILE_SITES = ("youtu.be", "youtube-nocookie.com", "studio.youtube.com")
_HEADERS = {"Cookie": "CONSENT=YES+cb; SOCS=CAI", "Accept-Language": "en-US,en;q=0.9"}

# Walls, read only when the page carries no ytInitialData (a description cannot fake their absence).
_CONSENT_MARKERS = ('action="https://consent.youtube.com/save"', "https://consent.youtube.com/m?")
_BOT_MARKERS = ("confirm you\u2019re not a bot", "confirm you're not a bot",
                "unusual traffic from your computer network")

# ERROR alert texts (NewPipeExtractor YoutubeParsingHelper.defaultAlertsCheck; Invidious channels/about.cr), in
# `_message` form: compared whatever their case, spacing, apostrophes and final punctuation
_TERMINATED = ("this account has been terminated", "this channel was removed")
_DOES_NOT_EXIST = ("this channel does not exist", "this channel doesn't exist")
# YouTube's own 404 page ("This page isn't available. Sorry about that.", localised): the illustration's element id
# is the same in every language (public clones and scrapers of the page key on it)
_OWN_404 = re.compile(r"id=[\"']?error-page-hh-illustration\b")


def _message(text: str) -> str:
    """A platform message in one spelling: NFKC, typographic apostrophes as ', lower case, runs of whitespace as
    one space, no trailing punctuation or space."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.lower().split()).rstrip(" .!。")


def normalise(handle: str) -> str | None:
    """A YouTube handle as written -> its canonical form (a `UC…` channel id as written, or an `@handle`), or None
    when it is not a valid one. Pure."""
    handle = handle.strip()
    if _CHANNEL_ID.match(handle):
        return handle  # channel ids are case-sensitive
    handle = "@" + unquote(handle).lstrip("@")
    return handle.lower() if _HANDLE.match(handle) else None  # handles are case-blind


def from_url(url: str) -> str | None:
    """`/channel/UC…` (exactly a channel id: any other text there is an error, never a handle) and `/@handle`
    (also `%40handle`), each also with a tab or a post under it; the `channel` keyword in any case. Video links
    (`/watch?v=`, `/shorts/ID`, youtu.be), and legacy `/c/NAME` and `/user/NAME` names (not handles: open the page
    and copy the channel id) -> None."""
    host, path = host_path(url)
    if not owns(HOSTS, host) or owns(_NOT_PROFILE_SITES, host) or not path:
        return None
    if path[0].lower() == "channel":
        return path[1] if len(path) >= 2 and _CHANNEL_ID.match(path[1]) else None
    name = unquote(path[0])
    return normalise(name) if name.startswith("@") else None  # "@…" is always read as a handle, never an id


def _asked_id(account: Account) -> str | None:
    """The channel id the probe asks for: the stored one, else a handle that is itself a channel id."""
    for ident in (account.platform_id, account.handle):
        if ident and _CHANNEL_ID.match(ident):
            return ident
    return None


def probe(account: Account, secrets: Secrets | None = None) -> Probe:
    # the UC… id survives handle changes, so ask for it once banwatch knows it
    """The first probe for `account` (a Probe: URL and headers): the channel page
    `https://www.youtube.com/channel/{UC…}` (or `/@handle` before the id is known). Never raises."""
    if channel_id := _asked_id(account):
        return Probe(f"https://www.youtube.com/channel/{channel_id}", headers=dict(_HEADERS))
    return Probe(f"https://www.youtube.com/@{quote(account.handle.lstrip('@'))}", headers=dict(_HEADERS))


def profile_url(handle: str) -> str:
    """A canonical YouTube handle -> the profile link people open, https://www.youtube.com/channel/{UC…} or /@handle.
    Pure; the handle is not checked."""
    if _CHANNEL_ID.match(handle):
        return f"https://www.youtube.com/channel/{handle}"
    return f"https://www.youtube.com/{handle}"


def initial_data(text: str) -> dict[str, Any] | None:
    """The `ytInitialData` object embedded in a YouTube page, or None when absent or cut short."""
    m = _INITIAL_DATA.search(text)
    if not m:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, m.end())
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    if isinstance(node.get("simpleText"), str):
        return node["simpleText"]
    return "".join(r.get("text", "") for r in node.get("runs") or [] if isinstance(r, dict))


def _error_alerts(doc: dict[str, Any]) -> list[str]:
    out = []
    for alert in doc.get("alerts") or []:
        renderer = alert.get("alertRenderer") if isinstance(alert, dict) else None
        if isinstance(renderer, dict) and enum_key(renderer.get("type")) == "error":
            out.append(_text(renderer.get("text")))
    return out


def _named_alert(text: str) -> str:
    """`youtube.error_alert:<text>` for an ERROR alert no rule knows; a text `enum_key` leaves empty (no Latin
    letters or digits) is named by a short stable hash of its normalised text (whitespace left out)."""
    message = _message(text)
    squeezed = "".join(message.split())
    key = enum_key(message) or (f"h{hashlib.sha1(squeezed.encode()).hexdigest()[:10]}" if squeezed else "")
    return named_rule(NAME, "error_alert", key)


def _current_handle(doc: dict[str, Any], meta: dict[str, Any]) -> str | None:
    vanity = meta.get("vanityChannelUrl")
    if isinstance(vanity, str) and "/@" in vanity:
        return normalise(vanity.rsplit("/", 1)[-1])
    m = re.search(r'"canonicalBaseUrl":\s*"/(@[^"/]+)"', json.dumps(doc.get("header") or {}))
    return normalise(m.group(1)) if m else None


def _wall(reply: Reply) -> Verdict | None:
    """YouTube's and Google's own walls (consent interstitial, "unusual traffic" / "not a bot" check), read only in
    a page that is not a channel page (no ytInitialData) or not YouTube's own 404 page; else None."""
    text = reply.text
    if any(m in text for m in _CONSENT_MARKERS) or _message(html_title(reply)) == "before you continue to youtube":
        return Verdict(Status.UNKNOWN, "youtube.consent_wall",
                       f"HTTP {reply.status}: consent interstitial instead of the channel")
    if any(m in _message(text) for m in _BOT_MARKERS):
        return Verdict(Status.UNKNOWN, "youtube.bot_wall",
                       f"HTTP {reply.status}: YouTube asks to confirm the client is not a bot (unusual traffic)")
    return None


def classify(reply: Reply, account: Account) -> Verdict:
    """The first probe's reply (the channel page's ytInitialData) -> Verdict; `account` says which channel or handle
    was asked (another one is `other_account`).

    Pure; never raises on anything the platform sends (an answer it does not know reads `youtube.unrecognised`).
    Called only through `Platform.read`, which applies the shared guard (base.blocked), the other-account check and
    the rule strengths around it.

    Conclusive rules and their sources (every rule, transient ones too, with its fixture: docs/platforms.md,
    "YouTube"):

    - active `youtube.channel`: `channelMetadataRenderer.externalId` with no ERROR alert (NewPipe, Invidious).
    - suspended `youtube.terminated`: ERROR alert "This account has been terminated…" (NewPipe
      YoutubeParsingHelper.defaultAlertsCheck).
    - not_found `youtube.channel_does_not_exist`: ERROR alert "This channel does not exist." (NewPipe mock;
      Invidious); `youtube.page_not_found`: HTTP 404 with YouTube's own 404 page.

    Weak: `youtube.channel_does_not_exist`, `youtube.page_not_found`. Unconfirmed: every fixture is synthetic; how
    `/@handle` answers for a handle never held."""
    if (early := transient(reply, NAME)) is not None:
        return early
    host, path = host_path(reply.url)
    if host == "consent.youtube.com":
        return Verdict(Status.UNKNOWN, "youtube.consent_wall", "redirected to the consent.youtube.com interstitial")
    if host.endswith("google.com") and path[:1] == ["sorry"]:
        return Verdict(Status.UNKNOWN, "youtube.bot_wall", "redirected to Google's unusual-traffic page")
    if reply.status == 404:
        if not _OWN_404.search(reply.text):  # a 404 from anything but YouTube's own 404 page proves nothing
            return _wall(reply) or blocked(reply, NAME) or unrecognised(reply, NAME)
        return Verdict(Status.NOT_FOUND, "youtube.page_not_found",
                       "HTTP 404 with YouTube's own 404 page: no channel at this address (a released or renamed "
                       "@handle reads the same)")
    if reply.status == 403:
        return Verdict(Status.UNKNOWN, "youtube.forbidden", "HTTP 403: YouTube refused the monitor's request")
    if reply.status != 200:
        return unrecognised(reply, NAME)
    text = reply.text
    doc = initial_data(text)
    if doc is None:
        return _wall(reply) or Verdict(Status.UNKNOWN, "youtube.no_initial_data",
                                       "HTTP 200 page without a readable ytInitialData")
    for alert in _error_alerts(doc):
        if any(_message(alert).startswith(t) for t in _TERMINATED):
            return Verdict(Status.SUSPENDED, "youtube.terminated", f"ERROR alert: {alert}"[:300])
        if _message(alert) in _DOES_NOT_EXIST:
            return Verdict(Status.NOT_FOUND, "youtube.channel_does_not_exist",
                           "ERROR alert: This channel does not exist. (deleted by its owner or never existed)")
    if errors := _error_alerts(doc):
        return Verdict(Status.UNKNOWN, _named_alert(errors[0]), f"ERROR alert no rule knows: {errors[0]}"[:300])
    metadata = doc.get("metadata")
    meta = metadata.get("channelMetadataRenderer") if isinstance(metadata, dict) else None
    if isinstance(meta, dict) and _CHANNEL_ID.match(str(meta.get("externalId", ""))):
        channel_id, asked = meta["externalId"], _asked_id(account)
        if asked and channel_id != asked:
            return Verdict(Status.UNKNOWN, "youtube.other_channel",
                           f"asked for channel {asked}, the page belongs to {channel_id}")
        current = _current_handle(doc, meta)
        if not asked and current and normalise(account.handle) != current:  # asked by @handle
            return Verdict(Status.UNKNOWN, "youtube.other_channel",
                           f"asked for {account.handle}, the page belongs to {current} ({channel_id}): it is about "
                           "another channel, whatever it says")
        return Verdict(Status.ACTIVE, "youtube.channel", f"channel page of {channel_id}",
                       platform_id=channel_id, display_name=meta.get("title") or None, handle=current)
    return Verdict(Status.UNKNOWN, "youtube.incomplete_initial_data",
                   "ytInitialData has neither an alert nor channel metadata (incomplete page)")


PLATFORM = Platform(
    name=NAME, title="YouTube", base_url="https://www.youtube.com",
    hosts=HOSTS,
    url_forms=("https://www.youtube.com/@{handle}", "https://www.youtube.com/channel/{UC…}"),
    handle_help="a YouTube channel id (UC + 22 characters, preferred) or an @handle",
    normalise=normalise, from_url=from_url, probe=probe, classify=classify, profile_url=profile_url,
    # channel pages are large and Google rate-limits by IP ("unusual traffic")
    politeness=Politeness(concurrency=1, delay=2.0, batch=100),
    max_answer=8 * 1024 * 1024,  # channel pages run to ~1 MiB of inline ytInitialData
    strength={
        "youtube.channel": PROOF, "youtube.terminated": PROOF,
        "youtube.channel_does_not_exist": weak("a channel never created reads the same as one deleted, and whether a "
                                               "channel its owner hid (reversible) shows this alert is not confirmed"),
        "youtube.page_not_found": weak("an @handle nobody ever held, and one renamed away or released, answer 404 "
                                       "alike"),
    },
)
