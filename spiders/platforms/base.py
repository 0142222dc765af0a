"""What every platform module provides, and helpers they share.

A platform module knows one platform's responses and nothing else: it builds the probe for an account
and classifies the reply. `classify` is a pure function of the reply (status, headers, body, final URL),
so every rule is proven by a saved response under tests/fixtures/<platform>/.

Callers never call `classify` directly: `Platform.read` does, and only lets a conclusive verdict through
after `blocked` has ruled out the answers that prove nothing on any platform (rate limits, server errors,
bot challenges, WAF block pages, redirects to a login or consent page). It also stamps each conclusive
verdict with its rule's strength (`Platform.strength`): a *weak* rule's answer is also what the platform
shows for an account that is merely hidden from this client, so it never raises a loss alert on its own.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from banwatch.monitor.model import Account, Reply, Status, Verdict
# Politeness and the drift rules are the core's (monitor.model: the watchlist, scheduler and watchdog use them);
# they stay importable from here, where each platform declares its own.
from banwatch.monitor.model import DRIFT_SUFFIXES, Politeness, drift_rule  # noqa: F401 - re-exported

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """One request a platform wants made for an account."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""  # why this probe is asked (shown in evidence)


class MissingCredentials(Exception):
    """The platform cannot be asked without a credential the environment does not provide."""

    def __init__(self, *variables: str) -> None:
        self.variables = variables
        super().__init__(f"set {' or '.join(variables)} in the environment")


Secrets = Mapping[str, str]  # credential environment variables that are set; values never logged or stored


MiB = 1024 * 1024
DEFAULT_MAX_ANSWER = 1 * MiB  # JSON profile APIs: real answers are a few KiB


def answer_limits(max_answer: int) -> dict[str, int]:
    """Scrapy request meta bounding one answer to `max_answer` bytes, on the wire and after decompression
    (Scrapy's HTTP handler and HttpCompressionMiddleware both read these keys per request); a warning is
    logged from a quarter of it. A larger or endless answer fails the request: `<platform>.too_large`."""
    return {"download_maxsize": max_answer, "download_warnsize": max(1, max_answer // 4)}


@dataclass(frozen=True)
class Strength:
    """How much a conclusive rule proves.

    `weak` is True when the platform gives the very same answer for an account that still exists but is
    hidden from this client (age-gated, region-blocked, private, never registered...); `why` says which.
    """

    weak: bool = False
    why: str = ""


PROOF = Strength()


def weak(why: str) -> Strength:
    """A weak rule, and why its answer does not prove the state on its own."""
    return Strength(weak=True, why=why)


@dataclass(frozen=True)
class Platform:
    """One platform as the core and the spider see it: its handle rules, owned hosts, probes, pure `classify` and each
    rule's strength. Frozen; built once per platform module (spiders/platforms/<name>.py).

    `read` / `read_safely` are the only way a reply is classified (docs/architecture.md, "Reading a reply")."""

    name: str  # registry key, used in the watchlist
    title: str  # how people write it
    base_url: str  # production default; BANWATCH_<NAME>_BASE_URL replaces scheme and host
    handle_help: str  # what a valid handle looks like, for error messages
    normalise: Callable[[str], str | None]  # handle as written -> canonical handle, or None if invalid
    from_url: Callable[[str], str | None]  # profile URL -> handle, or None if not this platform's
    probe: Callable[[Account, Secrets], Probe]  # may raise MissingCredentials
    classify: Callable[[Reply, Account], Verdict]
    profile_url: Callable[[str], str]  # canonical handle -> link people can open
    politeness: Politeness = Politeness()  # safe defaults; the watchlist's `platforms:` section overrides
    # The largest answer (decompressed) a probe can be, sized from real answers with headroom (docs/platforms.md,
    # "Answer size limits"); BANWATCH_<NAME>_MAX_ANSWER overrides it. Larger or endless: unknown, never held.
    max_answer: int = DEFAULT_MAX_ANSWER
    # Registrable domains the platform owns (each with all its subdomains): a URL on one of them is read by
    # this platform's from_url and no other's. Empty for open networks (Mastodon: any instance).
    hosts: tuple[str, ...] = ()
    url_forms: tuple[str, ...] = ()  # the profile URL forms from_url accepts, for error messages
    # The classifier version: bump it when `classify` reads answers differently. The spider puts it on every
    # Observation (classifier_version) and the store records it with the observation span it opens.
    version: int = 1
    credentials: tuple[str, ...] = ()  # environment variables the platform can use (listed by `validate`)
    # A second probe, part of the same check, where one endpoint cannot separate two states: given the first
    # verdict, the probe to ask next (or None), and how to read its reply knowing the first verdict.
    second_probe: Callable[[Verdict, Account, Secrets], Probe | None] | None = None
    classify_second: Callable[[Reply, Account, Verdict], Verdict] | None = None
    findings: bool = True  # False: supported, but no public answer is known to prove any state (all unknown)
    # Open networks (no `hosts`): the server a canonical handle is asked at (Mastodon: user@instance ->
    # instance). The registry checks it is a plausible server that no other platform owns.
    instance: Callable[[str], str] | None = None
    # Every conclusive rule the module can produce -> its strength (PROOF or weak(why)). A conclusive verdict
    # whose rule is missing here is read as weak: an unreviewed rule never alerts on its own.
    strength: Mapping[str, Strength] = field(default_factory=dict)

    def read(self, reply: Reply, account: Account, first: Verdict | None = None) -> Verdict:
        """Classify a reply to the first probe (or, given `first`, to the second probe) safely.

        Returns the platform's own verdict when it is unknown (its specific walls keep their names), except
        that an answer it did not recognise (a drift rule) which `blocked` knows as a block page is that
        block page's verdict: a wall is never counted as classifier drift; a conclusive verdict only when
        `blocked` finds no generic block answer in the reply (else that unknown verdict), with `weak` set from `strength`. Every verdict passes `clean_verdict`: its platform-controlled
        text is bounded, valid UTF-8. Raises whatever the module's classifier raises.
        """
        if first is None:
            verdict = self.classify(reply, account)
        else:
            if self.classify_second is None:
                raise ValueError(f"{self.name} has no second probe")
            verdict = self.classify_second(reply, account, first)
        verdict = clean_verdict(verdict)  # platform-controlled values bounded and valid before anything reads them
        if not verdict.status.conclusive:
            if drift_rule(verdict.rule) and (guard := blocked(reply, self.name)) is not None:
                return guard  # a wall, not an answer the classifier no longer knows: never counted as drift
            return verdict
        if (guard := blocked(reply, self.name)) is not None:
            return clean_verdict(replace(
                guard, reason=f"{guard.reason} (the page would otherwise have read as {verdict.rule})"))
        if account.platform_id and verdict.platform_id and verdict.platform_id != account.platform_id:
            return Verdict(Status.UNKNOWN, f"{self.name}.other_account",
                           f"the answer is about account id {verdict.platform_id}, not {account.platform_id} (a "
                           f"fuzzy lookup, or the handle now belongs to someone else); it would have read as "
                           f"{verdict.rule}"[:300])
        rated = self.strength.get(verdict.rule)
        return replace(verdict, weak=rated is None or rated.weak)

    def read_safely(self, reply: Reply, account: Account, first: Verdict | None = None) -> Verdict:
        """`read`, with a classifier bug named (`<platform>.classifier_error`, unknown) instead of raised:
        a classifier that fails must never become a finding, nor stop a crawl."""
        try:
            return self.read(reply, account, first)
        except Exception:
            log.exception("classifier for %s failed on %s", self.name, reply.url)
            return clean_verdict(Verdict(Status.UNKNOWN, f"{self.name}.classifier_error", "classifier raised"))


def rebase(url: str, base_url: str | None) -> tuple[str, dict[str, str]]:
    """Point `url` at `base_url` (scheme and host replaced, path and query kept).

    The original host travels in the Host header, so one local server can stand in for many hosts
    (Mastodon instances) and route on it.
    """
    if not base_url:
        return url, {}
    orig, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, orig.path, orig.query, "")), {"Host": orig.netloc}


def json_body(reply: Reply) -> Any:
    """The decoded JSON body, or None when the body is not JSON (walls, HTML errors)."""
    try:
        return json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        return None


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def html_title(reply: Reply) -> str:
    """The text of the reply's first `<title>` element, stripped; '' when it has none. Entities are not decoded."""
    m = _HTML_TITLE.search(reply.text)
    return m.group(1).strip() if m else ""


def transient(reply: Reply, platform: str) -> Verdict | None:
    """Answers that prove nothing about the account on any platform: rate limits and server errors."""
    if reply.status == 429:
        retry = reply.header("retry-after")
        return Verdict(Status.UNKNOWN, f"{platform}.rate_limited",
                       "HTTP 429" + (f", Retry-After {retry}" if retry else ""))
    if reply.status >= 500:
        return Verdict(Status.UNKNOWN, f"{platform}.server_error", f"HTTP {reply.status}")
    if reply.header("cf-mitigated") == "challenge" or "<title>Just a moment...</title>" in reply.text:
        return Verdict(Status.UNKNOWN, f"{platform}.bot_challenge", "Cloudflare challenge page")
    return None


# Block pages of the CDNs and bot-management services platforms sit behind. Markers are response headers,
# exact page titles, and script or asset addresses that only those services serve: never words a user could
# put in a profile. Sources: each vendor's documentation of its challenge and block responses (see
# docs/platforms.md, "Block pages").
BLOCK_HEADERS = (  # (header name, rule, what it is)
    ("cf-mitigated", "bot_challenge", "Cloudflare challenge (cf-mitigated header)"),
    ("x-amzn-waf-action", "bot_challenge", "AWS WAF action header"),
    ("x-datadome", "bot_challenge", "DataDome bot protection"),
    ("x-sucuri-block", "waf_block", "Sucuri firewall block"),
    ("x-px-block", "bot_challenge", "HUMAN/PerimeterX block"),
    ("x-vercel-mitigated", "bot_challenge", "Vercel firewall challenge"),
    ("x-kpsdk-ct", "bot_challenge", "Kasada bot protection"),
)
# Words in a page title that only block pages use (Cloudflare's 1xxx error pages, Vercel, Chinese CDN WAFs).
_BLOCK_TITLE_PARTS = (
    ("used cloudflare to restrict access", "waf_block", "Cloudflare 1xxx 'Access denied' page"),
    ("vercel security checkpoint", "bot_challenge", "Vercel security checkpoint"),
    ("访问被拦截", "waf_block", "CDN firewall block page (访问被拦截)"),
    ("安全验证", "bot_challenge", "security verification page (安全验证)"),
    ("人机验证", "bot_challenge", "human verification page (人机验证)"),
    ("滑动验证", "bot_challenge", "slider captcha page (滑动验证)"),
)
_BLOCK_TITLES = {
    "just a moment...": ("bot_challenge", "Cloudflare challenge page"),
    "attention required! | cloudflare": ("waf_block", "Cloudflare block page"),
    "access denied": ("waf_block", "WAF 'Access Denied' page"),
    "access to this page has been denied": ("bot_challenge", "HUMAN/PerimeterX block page"),
    "access to this page has been denied.": ("bot_challenge", "HUMAN/PerimeterX block page"),
    "request rejected": ("waf_block", "F5 BIG-IP ASM 'Request Rejected' page"),
    "sucuri website firewall - access denied": ("waf_block", "Sucuri firewall block page"),
    "ddos-guard": ("bot_challenge", "DDoS-Guard check page"),
    "pardon our interruption": ("bot_challenge", "Imperva/Distil bot check page"),
    "are you a robot?": ("bot_challenge", "robot check page"),
    "robot check": ("bot_challenge", "robot check page"),
    "captcha": ("bot_challenge", "captcha page"),
}
_BLOCK_MARKERS = (
    (b"/cdn-cgi/challenge-platform/", "bot_challenge", "Cloudflare challenge script"),
    (b"challenges.cloudflare.com/turnstile", "bot_challenge", "Cloudflare Turnstile captcha"),
    (b"captcha-delivery.com", "bot_challenge", "DataDome captcha"),
    (b"_Incapsula_Resource", "waf_block", "Imperva Incapsula block page"),
    (b"Incapsula incident ID", "waf_block", "Imperva Incapsula block page"),
    (b"errors.edgesuite.net", "waf_block", "Akamai block page"),
    (b"cdn.perimeterx.net", "bot_challenge", "HUMAN/PerimeterX challenge"),
    (b"id=\"px-captcha\"", "bot_challenge", "HUMAN/PerimeterX challenge"),
    (b"awswaf.com", "bot_challenge", "AWS WAF captcha"),
    (b"AwsWafIntegration", "bot_challenge", "AWS WAF challenge"),
    (b"sucuri.net/privacy-policy", "waf_block", "Sucuri firewall block page"),
    (b"www.google.com/recaptcha/api.js", "bot_challenge", "reCAPTCHA challenge"),
    (b"www.recaptcha.net/recaptcha/api.js", "bot_challenge", "reCAPTCHA challenge"),
    (b"hcaptcha.com/1/api.js", "bot_challenge", "hCaptcha challenge"),
    (b"KPSDK", "bot_challenge", "Kasada challenge"),
)
# Where platforms send a client they will not serve: a redirect that ends here proves nothing about the account.
_LOGIN_HOST_PREFIXES = ("login.", "passport.", "signin.", "consent.", "auth.", "accounts.google.")
_LOGIN_SEGMENTS = {"login", "signin", "sign_in", "sign-in", "servicelogin", "signup", "checkpoint",
                   "challenge", "captcha", "consent", "authorize", "oauth"}
_LOGIN_TITLE = re.compile(r"^\s*(log\s*in|login|sign\s*in|sign\s*up)\b", re.I)


def blocked(reply: Reply, platform: str) -> Verdict | None:
    """An answer that proves nothing about the account on any platform, as an unknown verdict; else None.

    Checked, in order: HTTP 429 (`<platform>.rate_limited`, with Retry-After), 5xx (`.server_error`),
    bot-management headers, block-page titles and vendor script addresses (`.bot_challenge`, `.waf_block`),
    a redirect that ended on a login/consent/checkpoint page, or a page titled "Log in"/"Sign in"
    (`.login_wall`). Pure; never raises.
    """
    if (early := transient(reply, platform)) is not None:
        return early
    for name, rule, what in BLOCK_HEADERS:
        if reply.header(name):
            return Verdict(Status.UNKNOWN, f"{platform}.{rule}", f"HTTP {reply.status}: {what}")
    looks_html = b"<" in reply.body[:2048]
    if looks_html:
        title = html_title(reply).lower()
        if title in _BLOCK_TITLES:
            rule, what = _BLOCK_TITLES[title]
            return Verdict(Status.UNKNOWN, f"{platform}.{rule}", f"HTTP {reply.status}: {what}")
        for part, rule, what in _BLOCK_TITLE_PARTS:
            if part in title:
                return Verdict(Status.UNKNOWN, f"{platform}.{rule}", f"HTTP {reply.status}: {what}")
        if _LOGIN_TITLE.match(title):
            return Verdict(Status.UNKNOWN, f"{platform}.login_wall", f"HTTP {reply.status}: a login page")
        for marker, rule, what in _BLOCK_MARKERS:
            if marker in reply.body:
                return Verdict(Status.UNKNOWN, f"{platform}.{rule}", f"HTTP {reply.status}: {what}")
    if reply.redirects:
        host, path = host_path(reply.url)
        if host.startswith(_LOGIN_HOST_PREFIXES) or {p.lower() for p in path} & _LOGIN_SEGMENTS:
            return Verdict(Status.UNKNOWN, f"{platform}.login_wall",
                           f"redirected from {reply.redirects[0]} to a login or consent page")
    return None


def unrecognised(reply: Reply, platform: str) -> Verdict:
    """No marker matched: never a finding, and a sign that the platform's page may have changed."""
    return Verdict(Status.UNKNOWN, f"{platform}.unrecognised",
                   f"HTTP {reply.status}, {len(reply.body)} bytes matched no known marker")


# Names that point into the machine's own network, never at a public server (RFC 6761 localhost, RFC 6762
# .local, RFC 8375 .home.arpa, RFC 7686 .onion, RFC 9476 .alt, ICANN's .internal, common private zones).
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".onion", ".alt", ".lan", ".intranet",
                  ".corp", ".home", ".localdomain")


def ip_address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address, in any spelling a resolver accepts (IPv4 shorthand `127.1`, hex `0x7f.1`,
    a single number `2130706433`); an IPv4-mapped IPv6 address as its IPv4 address. None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def non_public(host: str) -> str | None:
    """What kind of non-public host `host` is (`loopback`, `private`, `link-local`, `unspecified`,
    `multicast`, `reserved`, `non-global`, `local name`), or None for a public address or name."""
    host = host.lower().rstrip(".")
    address = ip_address_of(host)
    if address is None:
        if host == "localhost" or host.endswith(".localhost"):
            return "loopback"
        if not host or "." not in host or host.endswith(LOCAL_SUFFIXES):
            return "local name"
        return None
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-global"


def owns(domains: tuple[str, ...], host: str) -> bool:
    """True when `host` (lower case) is one of `domains` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def host_path(url: str) -> tuple[str, list[str]]:
    """Lower-case ASCII host (as written: 'www.'/'m.' kept; a trailing dot dropped; a Unicode name in its
    IDNA form) and the non-empty path segments of a URL. A URL that cannot be parsed (a stray `[`, say)
    gives ("", []): never raises."""
    text = url.strip()
    try:
        parts = urlsplit(text if "//" in text else "https://" + text)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return "", []
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return "", []
    return host, [p for p in parts.path.split("/") if p]


_NON_WORD = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def enum_key(value: object, *prefixes: str) -> str:
    """A platform-controlled enum or message value in one spelling: camelCase split, lower case, runs of
    anything but letters and digits as one `_`, no leading/trailing `_`, and the first matching prefix (given
    in that same form) removed. `enum_key("USER_UNAVAILABLE_REASON_SUSPENDED", "user_unavailable_reason")`,
    `enum_key("Suspended")` are `"suspended"`; `enum_key("AccountTakedown")` is `"account_takedown"`.
    None -> "".
    """
    text = _CAMEL.sub("_", str(value)) if value is not None else ""
    key = _NON_WORD.sub("_", text.lower()).strip("_")
    for prefix in prefixes:
        if key.startswith(prefix + "_") and len(key) > len(prefix) + 1:
            return key[len(prefix) + 1:]
    return key


def enum_int(value: object) -> int | None:
    """A code or flag as a platform sends it: a number, or a string of digits ("63", "-404"); booleans and
    anything else -> None (never a code)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def enum_flat(value: object, *prefixes: str) -> str:
    """`enum_key` without separators, the form to compare in: `takendown`, `TAKEN_DOWN` and `TakenDown` match."""
    return enum_key(value, *prefixes).replace("_", "")


def named_rule(platform: str, rule: str, value: object) -> str:
    """`<platform>.<rule>:<value>` for an unknown verdict caused by a value no rule knows yet, so the value
    itself shows in `status` and `platform_health` (drift is visible). The value is `enum_key`-ed and cut
    to 40 characters; empty -> `none`.
    """
    return f"{platform}.{rule}:{enum_key(value)[:40].rstrip('_') or 'none'}"


# The longest text a verdict carries, in characters, for each platform-controlled field. Real values are far
# shorter (display names: X 50, Mastodon 30, YouTube 100, Bluesky 64 graphemes; handles: at most 30 on any
# platform but Mastodon's user@instance; ids: a Bluesky DID is 32); reasons are built by the modules, most cut at
# 200-300, plus a guard's note. Caps keep one hostile answer from bloating a row, an alert or a log line.
CAPS = {"rule": 120, "reason": 600, "display_name": 256, "handle": 253, "platform_id": 128}
_ELLIPSIS = "…"


def clean_text(value: object, cap: int) -> str | None:
    """A platform-controlled value as text any store, log or alert accepts: valid UTF-8 (a lone surrogate, the
    JSON `"\\ud800"`, and NUL become U+FFFD; an escaped surrogate pair becomes its character), at most `cap`
    characters (cut with `…`). A number is written in digits; None stays None; any other value (a list or
    object where a string is expected) becomes its JSON text, so what the platform sent stays visible."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=lambda v: type(v).__name__)[:cap * 2]
        except (TypeError, ValueError):  # circular: never from JSON, but never raise either
            text = type(value).__name__
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").replace("\x00", "\ufffd")
    return text if len(text) <= cap else text[:cap - 1] + _ELLIPSIS


def _clean_identity(value: object, cap: int) -> str | None:
    """A handle or stable id: a string or a number as written, else None. A value that had to be altered (too
    long, a surrogate, NUL) is not the platform's own either: it is dropped, never compared or stored."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    cleaned = clean_text(text, cap)
    return text if cleaned == text and text.strip() else None


def clean_verdict(verdict: Verdict) -> Verdict:
    """The one boundary every verdict passes (`Platform.read`, `read_safely`): each platform-controlled field a
    module copied from the answer made safe for the store, alerts and logs, whatever type the platform sent.

    `reason`, `rule`: `clean_text` (a non-string reason becomes its text). `display_name`: `clean_text`, empty
    -> None; a list or object is dropped (it is not a name). `handle`, `platform_id`: `_clean_identity`. Caps:
    `CAPS`. A verdict that needs nothing is returned as is."""
    name = verdict.display_name
    display = clean_text(name, CAPS["display_name"]) if isinstance(name, (str, int, float)) \
        and not isinstance(name, bool) else None
    fields = {
        "rule": clean_text(verdict.rule, CAPS["rule"]) or "unknown",
        "reason": clean_text(verdict.reason, CAPS["reason"]) or "",
        "display_name": display or None,
        "handle": _clean_identity(verdict.handle, CAPS["handle"]),
        "platform_id": _clean_identity(verdict.platform_id, CAPS["platform_id"]),
    }
    changed = {k: v for k, v in fields.items() if v != getattr(verdict, k) or type(v) is not type(getattr(verdict, k))}
    return replace(verdict, **changed) if changed else verdict
