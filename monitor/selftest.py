"""`banwatch selftest`: ask each platform about its canaries, and say whether each still reads as known.

This is banwatch's counterpart to Maigret's `--self-check`, where every site names a claimed and an unclaimed
username, and a site whose answers no longer match is disabled. Maigret also disables a site when a claimed
name reads unknown. Here a platform that refused to answer is kept apart from a page that changed:

- **ok**: the canary read as its known status.
- **drift**: it read another conclusive status, or an unknown that means the page is no longer the one the
  classifier knows: `<platform>.unrecognised`, a named-rule value (`<platform>.<rule>:<value>`, see
  `base.named_rule`) or `<platform>.classifier_error`. Exit 1.
- **inconclusive**: any other unknown, such as a rate limit, a wall or block page, a timeout, or the
  monitor's own credential rejected. It proves nothing either way, so the exit code is 0, or 3 with `--strict`.
- **skipped**: the platform needs a credential the environment lacks; nothing is asked.

The canaries are the watchlist's (`platforms: {NAME: {canaries: …}}`) plus the built-in ones
(`spiders/platforms/canaries.py`). They are crawled through the production path (StatusSpider, Platform.read),
and nothing is written to the database. `--save DIR` writes every response received as a fixture in the
tests' own format (`DIR/<platform>/<case>.<ext>` + `<case>.meta.json`, read back by
`tests.fixtures.load(platform, case, root=DIR)`). Only allow-listed headers are kept (KEEP_HEADERS; Set-Cookie
as cookie names), cookie and token assignments in bodies and token-like query parameters are masked, and every
configured credential's value is replaced wherever and in whatever encoding it appears (see "scrubbing").
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, unquote_to_bytes

from banwatch.monitor.errors import ConfigError
from banwatch.monitor.model import Account, Observation, Politeness, Reply, Status, Verdict, drift_rule
from banwatch.monitor.timeutil import day, now_iso
from banwatch.monitor.watchlist import Watchlist
from banwatch.spiders.platforms import PLATFORMS  # the composition: this also installs the registry the core reads
from banwatch.spiders.platforms.base import BLOCK_HEADERS, MissingCredentials
from banwatch.spiders.platforms.canaries import BUILTIN

OK, DRIFT, INCONCLUSIVE, SKIPPED, NONE = "ok", "drift", "inconclusive", "skipped", "none"
EXIT_OK, EXIT_DRIFT, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
CAPTURED = "live capture by banwatch selftest"


@dataclass(frozen=True)
class Canary:
    """One canary to ask: the account (its `canary` field is the known status), where it came from ('watchlist' or
    'built-in') and why its state is known."""

    account: Account  # account.canary is the known status
    source: str  # "watchlist" or "built-in"
    why: str = ""

    @property
    def known(self) -> str:
        """The status this canary is known to have ('active', 'suspended', …); '' when none is set."""
        return self.account.canary or ""


@dataclass
class Result:
    """What one canary read: its outcome (ok, drift, inconclusive, skipped), the status and rule read, the reason,
    HTTP status, strength, the probe URLs (scrubbed) and the fixture cases saved for it."""

    canary: Canary
    outcome: str  # OK, DRIFT, INCONCLUSIVE or SKIPPED
    status: str | None  # what it read (None: not asked)
    rule: str
    reason: str
    http_status: int | None = None
    weak: bool = False
    probes: tuple[str, ...] = ()
    saved: list[str] = field(default_factory=list)  # fixture cases written for it (`--save`)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (the account's key and handle, known and read status, rule, reason, …)."""
        a = self.canary.account
        return {"key": a.key, "handle": a.handle, "known": self.canary.known, "source": self.canary.source,
                "why": self.canary.why, "outcome": self.outcome, "read": self.status, "rule": self.rule,
                "reason": self.reason, "weak": self.weak, "http_status": self.http_status,
                "probes": list(self.probes), "saved": self.saved, "notes": self.notes}


@dataclass
class PlatformReport:
    """One platform's canaries and their results; `note` says why nothing was asked, when nothing was."""

    name: str
    results: list[Result] = field(default_factory=list)
    note: str = ""  # why nothing was asked, when nothing was

    @property
    def title(self) -> str:
        """The platform's title, as people write it. Raises KeyError for a platform not registered."""
        return PLATFORMS[self.name].title

    @property
    def outcome(self) -> str:
        """The platform's worst outcome: drift, else inconclusive, else ok, else skipped; 'none' without results."""
        outcomes = {r.outcome for r in self.results}
        return next((o for o in (DRIFT, INCONCLUSIVE, OK, SKIPPED) if o in outcomes), NONE)


@dataclass
class Report:
    """A selftest run: every platform's report, the watchlist read (None: the built-in canaries only), whether
    inconclusive answers fail it (`strict`), and where fixtures were saved."""

    platforms: list[PlatformReport]
    watchlist: str | None
    strict: bool = False
    saved_to: str | None = None

    @property
    def results(self) -> list[Result]:
        """Every canary's result, platform by platform."""
        return [r for p in self.platforms for r in p.results]

    def counts(self) -> Counter[str]:
        """How many results per outcome (ok, drift, inconclusive and skipped always present)."""
        counts = Counter({OK: 0, DRIFT: 0, INCONCLUSIVE: 0, SKIPPED: 0})
        counts.update(r.outcome for r in self.results)
        return counts

    def exit_code(self) -> int:
        """The command's exit code: 1 on any drift, 3 on an inconclusive answer when strict, else 0."""
        counts = self.counts()
        if counts[DRIFT]:
            return EXIT_DRIFT
        if self.strict and counts[INCONCLUSIVE]:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict: exit code, counts, and per platform its canaries' results."""
        return {"exit_code": self.exit_code(), "strict": self.strict, "watchlist": self.watchlist,
                "saved_to": self.saved_to, "counts": dict(self.counts()),
                "platforms": [{"platform": p.name, "title": p.title, "outcome": p.outcome, "note": p.note,
                               "canaries": [r.as_dict() for r in p.results]} for p in self.platforms]}


# -- judging -------------------------------------------------------------------------------------


def judge(known: str, status: Status, rule: str) -> str:
    """OK, DRIFT, INCONCLUSIVE or SKIPPED for a canary of known status that read `status` by `rule`."""
    if rule.endswith(".no_credentials"):
        return SKIPPED
    if status.conclusive:
        return OK if status.value == known else DRIFT
    return DRIFT if drift_rule(rule) else INCONCLUSIVE


# -- choosing canaries ---------------------------------------------------------------------------


def platform_names(names: Sequence[str]) -> list[str]:
    """The platforms asked for (all of them when none is named), in the order given, once each."""
    chosen = [n.strip().lower() for n in names] or list(PLATFORMS)
    unknown = [n for n in chosen if n not in PLATFORMS]
    if unknown:
        raise ConfigError(f"unknown platform {', '.join(repr(n) for n in unknown)} "
                          f"(known: {', '.join(sorted(PLATFORMS))})")
    return list(dict.fromkeys(chosen))


def canaries(names: Sequence[str], watchlist: Watchlist | None) -> dict[str, list[Canary]]:
    """platform -> its canaries: the watchlist's first, then the built-in ones it does not already name."""
    out: dict[str, list[Canary]] = {name: [] for name in names}
    seen: set[str] = set()
    for account in watchlist.accounts if watchlist else ():
        if account.canary and account.platform in out:
            out[account.platform].append(Canary(account, "watchlist"))
            seen.add(account.key)
    for name in names:
        for known, builtin in BUILTIN.get(name, {}).items():
            key = f"{name}:{builtin.handle}"
            if key not in seen:
                account = Account(platform=name, handle=builtin.handle, key=key, name=f"canary ({known})",
                                  tags=("canary",), canary=known)
                out[name].append(Canary(account, "built-in", builtin.why))
    return out


def _no_canaries(name: str) -> str:
    if not PLATFORMS[name].findings:
        return f"no canaries: no answer of {PLATFORMS[name].title}'s proves any state, so there is nothing to test"
    return f"no canaries: add platforms.{name}.canaries to the watchlist"


# -- scrubbing -----------------------------------------------------------------------------------
#
# A saved fixture keeps the headers on an allow-list (what a fixture needs and what any classifier reads) and
# drops every other one, whatever its name says: session material travels under names no pattern foresees
# (Instagram's ig-set-* and x-ig-set-www-claim). Set-Cookie is kept with its cookie names only (Douyin's wall
# is recognised by the name `__ac_nonce`). In bodies, what assigns or echoes a cookie or a token is masked by
# its shape (document.cookie = …, Set-Cookie:/Cookie: strings, "csrf_token":"…", <meta name="csrf-token">, a
# guest token), and every value masked that way or dropped with a secret-named header is then replaced
# wherever else the same response repeats it. Every configured credential is replaced in each encoding a
# response can reflect it in: as written, percent-encoded with any safe set (or twice), percent-decoded,
# form-encoded, JSON-escaped (`\/`, `\"`, `\u002f`, nested), HTML-escaped, and base64 or urlsafe base64 of
# anything that contains it (the value, `name=value`, `Bearer value`), where the whole base64 run is masked.

KEEP_HEADERS = frozenset({
    "content-type", "content-length", "content-language", "location", "content-location", "cache-control",
    "expires", "age", "date", "last-modified", "server", "vary", "retry-after", "www-authenticate",
    "x-robots-tag", "cf-mitigated", "cf-cache-status", "set-cookie",
    *(name for name, *_ in BLOCK_HEADERS),  # the bot-management markers `blocked` reads
})
# Rate-limit headers: x-ratelimit-* (Reddit), x-rate-limit-* / x-app-limit-* / x-user-limit-* (X), ratelimit-*
# (Twitch, the IETF RateLimit fields).
KEEP_HEADER_PREFIXES = ("x-ratelimit", "x-rate-limit-", "ratelimit", "x-app-limit-", "x-user-limit-")
# Dropped headers whose values are learned as secrets of that response (so that an echo in the body goes too).
_SECRET_HEADER = re.compile(r"cookie|auth|csrf|xsrf|token|secret|sess|api[-_]?key|passw|signature|claim|ig-set|"
                            r"(?:^|-)(?:mid|rur|shbid|shbts|gt|guest)(?:$|-)", re.I)
_SECRET_PARAM = re.compile(r"token|secret|passw|pwd|sig|auth|sess|key|code|ticket|nonce|credential|jwt|bogus|csrf|"
                           r"guest|claim|dtsg|jazoest|cookie|^gt$|^ct0$|^lsd$", re.I)
MASK = "REDACTED"
LEARNED = 8  # a value masked by its shape is also replaced elsewhere in the response when at least this long
_COOKIE_ATTRIBUTES = {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "partitioned",
                      "priority", "version", "comment", ""}
# Names of session cookies the platforms set, recognised as `name=value` anywhere in a body or URL.
_SESSION_COOKIES = re.compile(
    r"(?<![\w.-])(gt|guest_id|guest_token|ct0|auth_token|kdt|twid|sessionid|sessionid_ss|csrftoken|ds_user_id|"
    r"shbid|shbts|rur|SESSDATA|bili_jct|DedeUserID__ckMd5|SUB|SUBP|sid_tt|sid_guard|uid_tt|msToken|ttwid|"
    r"odin_tt|passport_csrf_token|c_user|datr|SAPISID|APISID|HSID|SSID|SID|LOGIN_INFO|__Secure-[0-9A-Z]+PSID\w*)"
    r"=(?!REDACTED)([^;&\s\"'<>\\,]+)")
_TOKEN_WORDS = (r"token|csrf|xsrf|secret|passw|session|sessid|cookie|bearer|jwt|api_?key|apikey|claim|"
                r"signature|dtsg|jazoest")
# "csrf_token": "…", csrfToken = '…', \"guest_token\":\"…\" (JSON inside a JSON string), "gt":"…",
# lsd: "…": any key/value pair whose key _TOKEN_KEY accepts (possessive quantifiers: one pass over a large page).
_KEY_VALUE = re.compile(
    r"(?<![\w$.-])(?P<q1>\\*[\"']?)(?P<key>[\w$.-]{1,80}+)(?P=q1)\s*+(?::|=>?)\s*+(?P<q2>\\*[\"'])"
    r"(?P<value>(?:[^\"'\\\r\n<>]|\\/|\\u[0-9a-fA-F]{4})++)(?P=q2)")
_TOKEN_KEY = re.compile(_TOKEN_WORDS + r"|^(?:gt|ct0|lsd|sid)$", re.I)
# <meta name="csrf-token" content="…">, <input type="hidden" name="fb_dtsg" value="…">
_TAG = re.compile(r"<(?:meta|input)\b[^>]{0,2000}>", re.I)
_TAG_NAME = re.compile(r"\b(?:name|property|id|itemprop|http-equiv)\s*=\s*[\"']?[^\"'>\s]*(?:" + _TOKEN_WORDS +
                       r"|\blsd\b|\bgt\b)", re.I)
_TAG_VALUE = re.compile(r"\b(content|value)(\s*=\s*)([\"'])(.*?)\3", re.I | re.S)
_DOCUMENT_COOKIE = re.compile(r"document\s*(?:\.\s*cookie|\[\s*[\"']cookie[\"']\s*\])\s*\+?=(?!=)", re.I)
# $.cookie("gt", "…"), Cookies.set('gt', '…'), require('Cookies').set(…), setCookie("gt", "…")
_COOKIE_CALL = re.compile(r"(?:\bcookies?(?:[\"')\]]*\s*\.\s*set)?|\bset_?cookie)\s*\(\s*([\"'])[^\"']{1,100}\1"
                          r"\s*,\s*([\"'])((?:(?!\2)[^\\]|\\.){1,4096})\2", re.I)
# Set-Cookie: a=b; Path=/, "cookie": "a=b; c=d", cookie: 'a=b'
_COOKIE_HEADER = re.compile(r"(?<![\w.-])(?:set-)?cookies?(?:\\*[\"'])?\s*:\s*(?:(?P<list>\[)|(?P<q>\\*[\"'])?)",
                            re.I)
_STRING = re.compile(r"([\"'`])((?:\\.|(?!\1)[^\\])*)\1", re.S)
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _hexes(n: int, width: int) -> str:
    """A regex for n as `width` hex digits in either case."""
    return "".join(f"[{d.upper()}{d.lower()}]" if d.isalpha() else d for d in f"{n:0{width}x}")


def _char(ch: str) -> str:
    """A regex for one character of a secret as a response may reflect it (in the latin-1 view of its bytes)."""
    if ch.isascii() and ch.isalnum():
        return ch
    if "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8 (surrogateescape)
        raw, point = bytes([ord(ch) - 0xDC00]), None
    else:
        raw, point = ch.encode("utf-8"), ord(ch)
    percent = "".join("%" + _hexes(b, 2) for b in raw)
    alts = [re.escape(raw.decode("latin-1")), percent, percent.replace("%", "%25")]
    if point is not None:
        if point < 0x10000:
            alts.append(r"\\u" + _hexes(point, 4))
        alts += [f"&#0*{point};", f"&#[xX]0*{_hexes(point, 1)};"]
        if ch in _ENTITIES:
            alts.append(f"&{_ENTITIES[ch]};")
    alts += {" ": [r"\+"], "+": [" "]}.get(ch, [])
    return r"(?:\\|%5[Cc])*(?:" + "|".join(alts) + ")"  # escaping backslashes (JSON, JSON in JSON)


def _needle(text: str) -> str:
    """The longest run of ASCII letters and digits in text: every reflection _pattern matches contains it."""
    return max(re.findall(r"[A-Za-z0-9]+", text), key=len, default="")


@functools.lru_cache(maxsize=1024)
def _pattern(chars: str) -> re.Pattern[str]:
    return re.compile("".join(_char(ch) for ch in chars))


@dataclass(frozen=True)
class _Matcher:
    chars: str  # the secret (or its base64 core), as characters: _pattern makes the regex of its reflections
    needle: str  # a literal every match contains: the regex is neither made nor run when it is absent
    mask: str
    base64: bool = False  # mask the whole base64 run around a match
    learned: bool = False  # skipped unless its needle is a whole word of the text (see _replace)

    def apply(self, view: str, words: set[str]) -> str:
        if len(self.needle) >= 3 and (self.needle not in words if self.learned else self.needle not in view):
            return view
        regex = _pattern(self.chars)
        if not self.base64:
            return regex.sub(lambda _: self.mask, view)
        spans: list[list[int]] = []
        for hit in regex.finditer(view):
            start, end = _run_start(view, hit.start()), _run_end(view, hit.end())
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        for start, end in reversed(spans):
            view = view[:start] + self.mask + view[end:]
        return view


def _run_start(view: str, i: int) -> int:
    """Where the base64 run (plain, percent-encoded or JSON-escaped) that reaches i begins."""
    while i > 0:
        if view[i - 1] in _B64:
            i -= 1
        elif i >= 3 and re.fullmatch(r"%(?:2[BbFf]|3[Dd])", view[i - 3:i]):
            i -= 3
        elif view[i - 1] == "\\" and i < len(view) and view[i] == "/":
            i -= 1
        else:
            return i
    return i


def _run_end(view: str, i: int) -> int:
    while i < len(view):
        if view[i] in _B64 or view[i] == "=":
            i += 1
        elif re.match(r"%(?:2[BbFf]|3[Dd])", view[i:i + 3]):
            i += 3
        elif view.startswith("\\/", i):
            i += 2
        else:
            return i
    return i


def _bytes_to_chars(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _matchers(value: str, mask: str, learned: bool = False) -> list[_Matcher]:
    """Matchers for one secret value, given as the latin-1 view of its bytes. A value learned from the response
    itself is matched as written, escaped or encoded, not inside base64 (there can be thousands of them)."""
    raw = value.encode("latin-1")
    canon = raw
    for _ in range(3):  # percent-decoded, as often as it was encoded (X publishes its bearer token encoded)
        decoded = unquote_to_bytes(canon)
        if decoded == canon:
            break
        canon = decoded
    out: list[_Matcher] = []
    for form in dict.fromkeys((canon, raw)):
        chars = _bytes_to_chars(form)
        out.append(_Matcher(chars, _needle(chars), mask, learned=learned))
    if len(canon) >= 6 and not learned:  # base64 of anything containing it: the characters that depend on it alone
        for form in dict.fromkeys((canon, raw)):
            for shift in range(3):
                encoded = base64.b64encode(bytes(shift) + form).decode("ascii")
                core = encoded[(0, 2, 3)[shift]:(8 * (shift + len(form))) // 6]
                for alphabet in dict.fromkeys((core, core.translate(str.maketrans("+/", "-_")))):
                    if len(alphabet) >= 6:
                        out.append(_Matcher(alphabet, _needle(alphabet), mask, base64=True))
    return out


def _pieces(value: str) -> list[str]:
    """A value and, for a cookie or query string, each part and each part's value of at least 8 characters."""
    out = [value]
    for part in re.split(r"[;&,\s]+", value):
        out += [piece for piece in (part, part.partition("=")[2]) if len(piece) >= LEARNED]
    return list(dict.fromkeys(p for p in out if p))


def _view(text: str) -> str:
    """text as the latin-1 view of its UTF-8 bytes: what bodies are scrubbed as, one character per byte."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _unview(view: str) -> str:
    return view.encode("latin-1").decode("utf-8", "replace")


def _mask_cookie_string(text: str, learned: set[str]) -> str:
    """`a=b; Path=/; Secure` -> `a=REDACTED; Path=/; Secure`: every value but the attributes'. A part that is
    not `name=value` nor an attribute (a value concatenated on its own, an encoded string) is masked whole."""
    out = []
    for part in re.split(r"([;,])", text):
        if part in (";", ","):
            out.append(part)
            continue
        lead = part[:len(part) - len(part.lstrip())]
        name, eq, value = (p.strip() for p in part.partition("="))
        if name.lower() in _COOKIE_ATTRIBUTES and (name or not eq):
            out.append(part)  # Path=/, Max-Age=…, Secure, or nothing between two separators
        elif eq and re.fullmatch(r"[\w!#$%&'*+.^`|~-]+", name):
            _learn(learned, value.strip("\"'"))
            out.append(f"{lead}{name}={MASK}" if value else part)
        else:
            _learn(learned, part.strip())
            out.append(f"{lead}{MASK}")
    return "".join(out)


def _learn(learned: set[str], value: str) -> None:
    """Keep a value masked by its shape, to be replaced wherever else the response repeats it: a token has no
    whitespace (what has, such as an Expires date, is not one)."""
    if value and MASK not in value and not re.search(r"\s", value):
        learned.add(value)


def _statement_end(view: str, start: int) -> int:
    """The end of the JavaScript expression that starts at start: `;` or a line end outside strings, `</script`."""
    quote_char, i, limit = "", start, min(len(view), start + 8192)
    while i < limit:
        ch = view[i]
        if quote_char:
            if ch == "\\":
                i += 1
            elif ch == quote_char:
                quote_char = ""
        elif ch in "\"'`":
            quote_char = ch
        elif ch in ";\n\r" or view.startswith("</", i):
            return i
        i += 1
    return i


def _mask_structures(view: str, learned: set[str]) -> str:
    """Mask cookie assignments, cookie strings and token fields by their shape; add what was masked to learned."""
    out, pos = [], 0
    for m in _DOCUMENT_COOKIE.finditer(view):
        if m.start() < pos:
            continue
        end = _statement_end(view, m.end())
        expression = _STRING.sub(lambda s: s.group(1) + _mask_cookie_string(s.group(2), learned) + s.group(1),
                                 view[m.end():end])
        out += [view[pos:m.end()], expression]
        pos = end
    view = "".join(out) + view[pos:]

    def view_sub(m: re.Match[str], group: int | str, new: str) -> str:
        a, b = m.span(group)
        return m.group(0)[:a - m.start()] + new + m.group(0)[b - m.start():]

    def call(m: re.Match[str]) -> str:
        _learn(learned, m.group(3))
        return view_sub(m, 3, MASK)

    view = _COOKIE_CALL.sub(call, view)

    out, pos = [], 0
    for m in _COOKIE_HEADER.finditer(view):
        if m.start() < pos:
            continue
        quote_mark = m.group("q")
        if m.group("list"):  # "set-cookie": ["a=b; Path=/", "c=d"]
            end = view.find("]", m.end())
            end = len(view) if end < 0 else end
            out += [view[pos:m.end()], _STRING.sub(
                lambda s: s.group(1) + _mask_cookie_string(s.group(2), learned) + s.group(1), view[m.end():end])]
            pos = end
            continue
        if quote_mark:
            close = re.compile(r"(?:\\.|[^\\])*?" + re.escape(quote_mark) if not quote_mark.startswith("\\")
                               else r".*?" + re.escape(quote_mark), re.S)
            found = close.match(view, m.end())
            end = found.end() - len(quote_mark) if found else m.end()
        else:
            found = re.compile(r"[^\r\n<\"']*").match(view, m.end())
            end = found.end() if found else m.end()
        value = view[m.end():end]
        if "=" not in value:
            continue
        out += [view[pos:m.end()], _mask_cookie_string(value, learned)]
        pos = end
    view = "".join(out) + view[pos:]

    def field(m: re.Match[str]) -> str:
        value = m.group("value")
        if value == MASK or not _TOKEN_KEY.search(m.group("key")):
            return m.group(0)
        _learn(learned, value.replace("\\/", "/"))
        return view_sub(m, "value", MASK)

    view = _KEY_VALUE.sub(field, view)

    def tag(m: re.Match[str]) -> str:
        if not _TAG_NAME.search(m.group(0)):
            return m.group(0)

        def attribute(a: re.Match[str]) -> str:
            _learn(learned, a.group(4))
            return f"{a.group(1)}{a.group(2)}{a.group(3)}{MASK}{a.group(3)}"

        return _TAG_VALUE.sub(attribute, m.group(0))

    view = _TAG.sub(tag, view)

    def cookie(m: re.Match[str]) -> str:
        _learn(learned, m.group(2))
        return f"{m.group(1)}={MASK}"

    return _SESSION_COOKIES.sub(cookie, view)


@dataclass(frozen=True)
class Scrubbed:
    """A response with what must not leave the machine removed, and what was removed from it."""

    reply: Reply
    dropped_headers: tuple[str, ...]
    matchers: tuple[_Matcher, ...]  # the configured credentials' and the values learned from this response

    def text(self, text: str) -> str:
        """Any other text about this response (a verdict's reason) with the same values replaced."""
        return _unview(_replace(_view(text), self.matchers))


# The words of a text: runs of letters and digits, with percent and \\u escapes as separators.
_WORDS = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|[A-Za-z0-9]+")


def _replace(view: str, matchers: Iterable[_Matcher]) -> str:
    words: set[str] | None = None
    for matcher in matchers:
        if matcher.learned and words is None:
            words = set(_WORDS.findall(view))
        view = matcher.apply(view, words or set())
    return view


class Scrubber:
    """Removes what must not leave the machine from a response: every header not on KEEP_HEADERS (cookie values
    in a kept Set-Cookie), token-like query parameters, cookie and token assignments in the body, and the value
    of every configured credential wherever and however it appears."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self._matchers = _ordered((_view(piece), f"[{MASK} {name}]") for name, value in secrets.items()
                                  for piece in _pieces(value))

    def text(self, text: str) -> str:
        """`text` with every configured credential's value (in any encoding it appears in) masked."""
        return _unview(_replace(_view(text), self._matchers))

    def body(self, body: bytes) -> bytes:
        """A response body (bytes) scrubbed as `scrub` scrubs a reply's body."""
        return self.scrub(Reply("", 0, {}, body)).reply.body

    def url(self, url: str) -> str:
        """`url` with token-like query parameters and every configured credential masked."""
        return _unview(_replace(_mask_url(_view(url), set()), self._matchers))

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Response headers (name -> value) reduced to those kept (KEEP_HEADERS; Set-Cookie as cookie names), masked."""
        return self.scrub(Reply("", 0, headers, b"")).reply.headers

    def reply(self, reply: Reply) -> Reply:
        """`reply` scrubbed (see `scrub`), without the account of what was removed."""
        return self.scrub(reply).reply

    def scrub(self, reply: Reply) -> Scrubbed:
        """`reply` with what must not leave the machine removed: headers not kept, cookie values, token-like query
        parameters, cookie and token assignments in the body, every credential's value. Returns a Scrubbed (the reply,
        the headers dropped, the matchers used)."""
        learned: set[str] = set()
        kept: dict[str, str] = {}
        dropped: list[str] = []
        unicode: set[str] = set()  # headers given as text beyond latin-1, not as spiders.status decodes them
        for name, value in reply.headers.items():
            try:  # spiders.status decodes header values as latin-1: already the view of their bytes
                view = value.encode("latin-1").decode("latin-1")
            except UnicodeEncodeError:
                view = _view(value)
                unicode.add(name)
            if name.lower() == "set-cookie":
                kept[name] = _set_cookie_names(view, learned)
            elif name.lower() in KEEP_HEADERS or name.lower().startswith(KEEP_HEADER_PREFIXES):
                kept[name] = _mask_url(view, learned) if name.lower() in ("location", "content-location") else view
            else:
                dropped.append(name)
                if _SECRET_HEADER.search(name):
                    for piece in _pieces(view.strip().strip('"')):
                        _learn(learned, piece)
        body = _mask_structures(reply.body.decode("latin-1"), learned)
        url = _mask_url(_view(reply.url), learned)
        redirects = [_mask_url(_view(u), learned) for u in reply.redirects]
        matchers = self._matchers + _ordered(((value, MASK) for value in learned if len(value) >= LEARNED),
                                             learned=True)
        headers = {name: _replace(view, matchers) for name, view in kept.items()}
        clean = Reply(url=_unview(_replace(url, matchers)), status=reply.status,
                      body=_replace(body, matchers).encode("latin-1"),
                      headers={name: _unview(view) if name in unicode else view for name, view in headers.items()},
                      redirects=tuple(_unview(_replace(u, matchers)) for u in redirects))
        return Scrubbed(clean, tuple(sorted(dropped)), matchers)


def _ordered(pairs: Iterable[tuple[str, str]], learned: bool = False) -> tuple[_Matcher, ...]:
    """Matchers for (value, mask) pairs, longest value first (a cookie string before the values in it)."""
    unique = dict.fromkeys(pairs)
    return tuple(m for value, mask in sorted(unique, key=lambda p: len(p[0]), reverse=True)
                 for m in _matchers(value, mask, learned))


def _set_cookie_names(view: str, learned: set[str]) -> str:
    """Set-Cookie (several joined by ", ") as `name=REDACTED, …`: the names say which cookies were set (Douyin's
    wall is recognised by one), the values and attributes are dropped."""
    names = []
    for m in re.finditer(r"(?:^|,)\s*([\w!#$%&'*+.^`|~-]+)=([^;,]*)", view):
        if m.group(1).lower() not in _COOKIE_ATTRIBUTES:
            names.append(f"{m.group(1)}={MASK}")
            _learn(learned, m.group(2).strip().strip('"'))
    return ", ".join(names) or MASK


def _mask_url(view: str, learned: set[str]) -> str:
    """Token-like query parameters set to REDACTED (their values learned)."""
    base, sep, query = view.partition("?")
    if not sep:
        return view
    query, hash_, fragment = query.partition("#")
    params = []
    for param in query.split("&"):
        name, eq, value = param.partition("=")
        if eq and value and value != MASK and _SECRET_PARAM.search(unquote_plus(name)):
            _learn(learned, value)
            params.append(f"{name}={MASK}")
        else:
            params.append(param)
    return base + "?" + "&".join(params) + hash_ + fragment


# -- saving --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    """One response a canary's check received, and the first probe's verdict when it answers the second."""

    reply: Reply
    first: Verdict | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "account"


def _extension(reply: Reply) -> str:
    kind = reply.header("content-type").lower()
    if "json" in kind:
        return "json"
    if "html" in kind or "xml" in kind:
        return "html"
    head = reply.body.lstrip()[:1]
    return {b"{": "json", b"[": "json", b"<": "html"}.get(head, "txt")


def _read(account: Account, reply: Reply, first: Verdict | None) -> Verdict:
    return PLATFORMS[account.platform].read_safely(reply, account, first)


def save(root: Path, canary: Canary, captured: Sequence[Captured], scrubber: Scrubber, date: str,
         outcome: str) -> tuple[list[str], list[str]]:
    """Write each response as `root/<platform>/<case>.<ext>` + `<case>.meta.json`; (cases, notes)."""
    account = canary.account
    folder = root / account.platform
    folder.mkdir(parents=True, exist_ok=True)
    cases, notes = [], []
    for i, item in enumerate(captured):
        verdict = _read(account, item.reply, item.first)
        scrubbed_reply = scrubber.scrub(item.reply)
        clean = scrubbed_reply.reply
        case = f"selftest_{canary.known}_{_slug(account.handle)}"
        case += "_second" if item.first is not None else ("" if i == 0 else f"_{i + 1}")
        meta: dict[str, Any] = {
            "url": clean.url, "handle": account.handle, "status": clean.status, "headers": clean.headers,
            "expected": {"status": verdict.status.value, "rule": verdict.rule},
            "source": f"banwatch selftest {date}", "captured": CAPTURED,
            "selftest": {"known": canary.known, "canary_from": canary.source, "outcome": outcome,
                         "reason": scrubbed_reply.text(verdict.reason)},
        }
        if scrubbed_reply.dropped_headers:  # not on the allow-list: named, their values not written
            meta["dropped_headers"] = list(scrubbed_reply.dropped_headers)
        if item.first is not None:
            meta["first"] = {"status": item.first.status.value, "rule": item.first.rule}
        if clean.redirects:
            meta["redirects"] = list(clean.redirects)
        scrubbed = _read(account, clean, item.first)
        if (scrubbed.status, scrubbed.rule) != (verdict.status, verdict.rule):
            note = (f"{case}: with secrets removed this response reads {scrubbed.status.value} by "
                    f"{scrubbed.rule}, not {verdict.status.value} by {verdict.rule}")
            meta["scrub_changed_verdict"] = note
            notes.append(note)
        for old in folder.glob(f"{case}.*"):  # a previous run's body may have had another extension
            old.unlink()
        (folder / f"{case}.{_extension(item.reply)}").write_bytes(clean.body)
        (folder / f"{case}.meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n",
                                                   encoding="utf-8")
        cases.append(f"{account.platform}/{case}")
    return cases, notes


def save_dir(path: str) -> Path:
    """The `--save` directory, created if needed; ConfigError when it cannot be used."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--save {path}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--save {path}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--save {path}: not writable")
    return folder.resolve()


# -- crawling ------------------------------------------------------------------------------------


async def crawl(runner: Any, accounts: list[Account], base_urls: dict[str, str], secrets: dict[str, str],
                politeness: Callable[[str], Politeness]) -> tuple[dict[str, Observation], dict[str, list[Captured]]]:
    """One production crawl of these accounts: each one's observation, and every response its check received."""
    from scrapy import signals
    from scrapy.crawler import Crawler
    from scrapy.utils.defer import deferred_to_future

    from banwatch.spiders.status import StatusSpider, _reply, download_slots

    observations: dict[str, Observation] = {}
    captured: dict[str, list[Captured]] = {}

    def on_item(item: Observation, **_: Any) -> None:
        observations[item.account_key] = item

    def on_response(response: Any, request: Any, **_: Any) -> None:
        key = (request.cb_kwargs or {}).get("key")
        if key is not None:
            captured.setdefault(key, []).append(Captured(_reply(response), request.cb_kwargs.get("first")))

    settings = runner.settings.copy()
    settings.set("DOWNLOAD_SLOTS", download_slots(accounts, politeness), priority="cmdline")
    crawler = Crawler(StatusSpider, settings)
    crawler.signals.connect(on_item, signal=signals.item_scraped)  # both held by this frame until the crawl ends
    crawler.signals.connect(on_response, signal=signals.response_received)
    await deferred_to_future(runner.crawl(crawler, accounts=accounts, base_urls=base_urls, secrets=secrets,
                                          keep_evidence=True))
    return observations, captured


def run(names: Sequence[str], watchlist_path: str, watchlist_given: bool, save_to: str | None, strict: bool,
        log_level: str = "WARNING", announce: Callable[[str], None] = lambda _: None) -> Report:
    """Everything `banwatch selftest` does except printing. Raises ConfigError (or another BanwatchError) for
    a user error, before any request is made."""
    from banwatch.monitor.runner import run_in_reactor
    from banwatch.monitor.settings import base_urls_from_env, scrapy_overrides, secrets_from_env
    from banwatch.monitor.watchlist import load

    chosen = platform_names(names)
    folder = save_dir(save_to) if save_to else None
    watchlist = load(watchlist_path) if watchlist_given or Path(watchlist_path).exists() else None
    base_urls = base_urls_from_env()
    overrides = scrapy_overrides()
    secrets = secrets_from_env()
    scrubber = Scrubber(secrets)
    politeness = watchlist.politeness if watchlist else (lambda name: PLATFORMS[name].politeness)

    reports = {name: PlatformReport(name) for name in chosen}
    asked: list[Canary] = []
    for name, found in canaries(chosen, watchlist).items():
        if not found:
            reports[name].note = _no_canaries(name)
        for canary in found:
            try:
                PLATFORMS[name].probe(canary.account, secrets)
            except MissingCredentials as exc:
                reports[name].results.append(Result(canary, SKIPPED, None, f"{name}.no_credentials", str(exc)))
                reports[name].note = f"skipped: no credentials ({exc})"
                continue
            asked.append(canary)

    observations: dict[str, Observation] = {}
    captured: dict[str, list[Captured]] = {}
    if asked:
        announce(f"asking {len(asked)} canar{'y' if len(asked) == 1 else 'ies'} on "
                 f"{len({c.account.platform for c in asked})} platform(s)…")

        async def main(runner: Any) -> Any:
            return await crawl(runner, [c.account for c in asked], base_urls, secrets, politeness)

        observations, captured = run_in_reactor(main, {"LOG_LEVEL": log_level, **overrides})

    date = day(now_iso())
    for canary in asked:
        key, name = canary.account.key, canary.account.platform
        obs = observations.get(key)
        if obs is None:  # the crawl ended without an answer for it (it was closed early)
            result = Result(canary, INCONCLUSIVE, Status.UNKNOWN.value, f"{name}.no_answer", "the crawl ended first")
        else:
            result = Result(canary, judge(canary.known, obs.status, obs.rule), obs.status.value, obs.rule,
                            scrubber.text(obs.reason), obs.http_status, obs.weak,
                            tuple(scrubber.url(u) for u in obs.probes))
        if folder is not None and captured.get(key):
            result.saved, result.notes = save(folder, canary, captured[key], scrubber, date, result.outcome)
        reports[name].results.append(result)
    return Report(list(reports.values()), watchlist.path if watchlist else None, strict,
                  str(folder) if folder else None)


# -- printing ------------------------------------------------------------------------------------

_MARKS = {OK: "✓", DRIFT: "✗", INCONCLUSIVE: "?", SKIPPED: "-"}


def _headline(p: PlatformReport) -> str:
    outcome = p.outcome
    if outcome == OK:
        n = len(p.results)
        return f"ok: {'its canary reads' if n == 1 else f'all {n} canaries read'} as known"
    if outcome == DRIFT:
        return ("DRIFT: a canary reads other than its known status (the page changed, the classifier is wrong, "
                "or the account itself changed)")
    if outcome == INCONCLUSIVE:
        return "inconclusive: not answered conclusively (rate limit, wall or timeout); proves nothing either way"
    return p.note


def render(report: Report) -> str:
    """The report as text for a terminal: per platform a headline, per canary a line (mark, handle, known, read, rule,
    reason) and its notes."""
    lines = [f"canaries: the watchlist's ({report.watchlist}) and the built-in ones" if report.watchlist
             else "canaries: the built-in ones (no watchlist)"]
    rows: list[tuple[str, ...]] = []
    for p in report.platforms:
        rows.append(("platform", p.title, _headline(p)))
        if p.outcome == SKIPPED:
            continue
        for r in p.results:
            rows.append(("canary", _MARKS[r.outcome], r.canary.account.handle, f"known {r.canary.known}",
                         f"read {r.status or '-'}", r.rule, r.reason))
            rows += [("note", n) for n in r.notes]
    widths = [max((len(row[i]) for row in rows if row[0] == "canary"), default=0) for i in range(2, 6)]
    for row in rows:
        if row[0] == "platform":
            lines.append(f"{row[1]}: {row[2]}")
        elif row[0] == "note":
            lines.append(f"    note: {row[1]}")
        else:
            cells = [cell.ljust(width) for cell, width in zip(row[2:6], widths)]
            lines.append(f"  {row[1]} " + "  ".join(cells) + f"  {row[6]}")
    counts = report.counts()
    summary = (f"{counts[OK]} ok, {counts[DRIFT]} drifted, {counts[INCONCLUSIVE]} inconclusive, "
               f"{counts[SKIPPED]} skipped")
    code = report.exit_code()
    why = {EXIT_OK: "every canary asked read as known" if not counts[INCONCLUSIVE] else
           "no drift; inconclusive canaries prove nothing (--strict makes them fail)",
           EXIT_DRIFT: "a classifier drifted", EXIT_INCONCLUSIVE: "--strict: a canary could not be read"}[code]
    if report.saved_to:
        saved = sum(len(r.saved) for r in report.results)
        lines.append(f"saved {saved} response(s) as fixtures under {report.saved_to} (secrets removed)")
    elif counts[DRIFT]:
        lines.append("run it again with --save DIR to keep the responses, ready to attach to a bug report")
    lines.append(f"{summary}; exit {code}: {why}")
    return "\n".join(lines)


def to_json(report: Report) -> str:
    """The report as indented JSON text (`Report.as_dict`), non-ASCII kept as is."""
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)


def main(names: Iterable[str], watchlist_path: str, watchlist_given: bool, save_to: str | None, as_json: bool,
         strict: bool, log_level: str, echo: Callable[..., None]) -> int:
    """The command: run, print, return the exit code. Lets BanwatchError through (the CLI exits 2 with it)."""
    report = run(list(names), watchlist_path, watchlist_given, save_to, strict, log_level,
                 announce=lambda message: echo(message, err=True))
    echo(to_json(report) if as_json else render(report))
    return report.exit_code()

