"""What every platform module provides, and helpers they share.

A platform module knows one platform's responses and nothing else: it builds the probe for an account
and classifies the reply. `classify` is a pure function of the reply (status, headers, body, final URL),
so every rule is proven by a saved response under tests/fixtures/<platform>/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from monitor.model import Account, Reply, Status, Verdict


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


@dataclass(frozen=True)
class Politeness:
    """How hard banwatch may ask one platform: parallel requests, delay between them, accounts per tick."""

    concurrency: int = 2
    delay: float = 1.0  # seconds between requests in one download slot
    batch: int = 100  # most accounts of this platform started per scheduler tick


@dataclass(frozen=True)
class Platform:
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
    version: int = 1  # classifier version, recorded with every observation
    credentials: tuple[str, ...] = ()  # environment variables the platform can use (listed by `validate`)
    # A second probe, part of the same check, where one endpoint cannot separate two states: given the first
    # verdict, the probe to ask next (or None), and how to read its reply knowing the first verdict.
    second_probe: Callable[[Verdict, Account, Secrets], Probe | None] | None = None
    classify_second: Callable[[Reply, Account, Verdict], Verdict] | None = None
    findings: bool = True  # False: supported, but no public answer is known to prove any state (all unknown)


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


def unrecognised(reply: Reply, platform: str) -> Verdict:
    """No marker matched: never a finding, and a sign that the platform's page may have changed."""
    return Verdict(Status.UNKNOWN, f"{platform}.unrecognised",
                   f"HTTP {reply.status}, {len(reply.body)} bytes matched no known marker")


def host_path(url: str) -> tuple[str, list[str]]:
    """Lower-case host without 'www.'/'m.' and the non-empty path segments of a URL."""
    parts = urlsplit(url if "//" in url else "https://" + url)
    host = (parts.hostname or "").lower()
    return host, [p for p in parts.path.split("/") if p]
