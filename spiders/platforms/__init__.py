"""The platform registry: a plain dict; and profile URL -> (platform, handle).

Importing this package installs the registry into monitor.registry (`REGISTRY`), the one way the core of
`monitor` learns about platforms: the core never imports `spiders`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from banwatch.monitor import registry
from banwatch.monitor.registry import UnresolvedUrl
from banwatch.spiders.platforms import (
    bilibili, bluesky, douyin, facebook, instagram, mastodon, reddit, telegram, tiktok, twitch, weibo, x, youtube,
)
from banwatch.spiders.platforms.base import Platform, Probe, host_path, ip_address_of, non_public, owns

PLATFORMS: dict[str, Platform] = {
    p.name: p for p in (
        weibo.PLATFORM, reddit.PLATFORM, bluesky.PLATFORM, mastodon.PLATFORM, x.PLATFORM, youtube.PLATFORM,
        telegram.PLATFORM, tiktok.PLATFORM, twitch.PLATFORM, instagram.PLATFORM, bilibili.PLATFORM,
        facebook.PLATFORM, douyin.PLATFORM,
    )
}

# Services whose pages use `host/@name` but are not fediverse servers banwatch can ask through the Mastodon
# API (Threads' profiles are not served by a Mastodon-compatible lookup; the others are blogs and link pages).
NOT_FEDIVERSE: dict[str, str] = {
    "threads.net": "Threads", "threads.com": "Threads", "medium.com": "Medium", "substack.com": "Substack",
    "bsky.social": "Bluesky (use https://bsky.app/profile/NAME)", "linktr.ee": "Linktree",
    "vimeo.com": "Vimeo", "pinterest.com": "Pinterest", "soundcloud.com": "SoundCloud", "kick.com": "Kick",
    "rumble.com": "Rumble", "patreon.com": "Patreon", "snapchat.com": "Snapchat", "vk.com": "VK",
    "github.com": "GitHub", "google.com": "Google", "apple.com": "Apple", "linkedin.com": "LinkedIn",
    # sites whose profile pages are https://HOST/@NAME (WhatsMyName's data)
    "figma.com": "Figma", "unsplash.com": "Unsplash", "replit.com": "Replit", "producthunt.com": "Product Hunt",
    "steemit.com": "Steemit", "kwai.com": "Kwai", "clubhouse.com": "Clubhouse", "tinder.com": "Tinder",
    "hashnode.com": "Hashnode", "pikabu.ru": "Pikabu", "gettr.com": "GETTR", "rutube.ru": "Rutube",
    "dailymotion.com": "Dailymotion", "odysee.com": "Odysee", "lbry.tv": "LBRY", "gab.com": "Gab",
    "truthsocial.com": "Truth Social", "parler.com": "Parler", "minds.com": "Minds", "fiverr.com": "Fiverr",
    "behance.net": "Behance", "dribbble.com": "Dribbble", "tumblr.com": "Tumblr",
}
# The same services under their country domains (pinterest.co.uk, medium.de): the name right before them
_NOT_FEDIVERSE_NAMES = {domain.split(".")[0]: title for domain, title in NOT_FEDIVERSE.items()}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def owner(host: str) -> Platform | None:
    """The platform that owns this host (or a parent domain of it), if any."""
    return next((p for p in PLATFORMS.values() if owns(p.hosts, host)), None)


def _forms(platforms: list[Platform]) -> str:
    return "; ".join(f"{p.title}: {', '.join(p.url_forms)}" for p in platforms if p.url_forms)


def _country_service(labels: list[str]) -> str | None:
    """A NOT_FEDIVERSE service under a country domain: pinterest.co.uk, www.medium.de."""
    if len(labels) < 2 or len(labels[-1]) != 2:
        return None
    for suffix_len in (2, 1):  # co.uk, com.br / de, fr
        if len(labels) > suffix_len and (suffix_len == 1 or len(labels[-2]) <= 3):
            name = labels[-suffix_len - 1]
            if name in _NOT_FEDIVERSE_NAMES:
                return _NOT_FEDIVERSE_NAMES[name]
    return None


def server_problem(host: str) -> str | None:
    """Why banwatch may not ask `host` as a fediverse server, or None when it may.

    Refused: a host a platform owns (it is that platform's), a known service that is not a fediverse server
    (NOT_FEDIVERSE, also under its country domains), an IP address in any spelling (`127.1` and `0x7f.0.0.1`
    are loopback), a name without a dot, a name in a local or special-use zone (`.local`, `.internal`,
    `.home.arpa`, `.onion`...: base.non_public, the check redirects are refused by too), and a name that
    is not a well-formed host name. Documentation names (`.example`, `.test`, `example.com`) are allowed: they
    resolve nowhere and read unknown.
    """
    host = host.lower().rstrip(".")
    claimed = owner(host)
    if claimed is not None:
        return f"{host} is {claimed.title}'s, not a fediverse server"
    labels = host.split(".")
    service = next((title for domain, title in NOT_FEDIVERSE.items() if owns((domain,), host)), None)
    service = service or _country_service(labels)
    if service is not None:
        return f"{host} is {service}, which banwatch does not watch"
    if ip_address_of(host) is not None or non_public(host) is not None:  # any address; a local name
        return f"{host} cannot be a fediverse server (an IP address or a local name)"
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return f"{host[:80]!r} is not a well-formed host name"
    return None


def _short(text: str) -> str:
    return repr(text if len(text) <= 120 else text[:117] + "...")


def resolve_url(url: str, platform: str | None = None) -> tuple[str, str]:
    """A profile URL -> (platform name, canonical handle).

    A host that a platform owns (`Platform.hosts`, subdomains included) is read by that platform alone,
    so `https://www.youtube.com/@name` can never become a Mastodon account. A `host/@user` URL on a host no
    platform owns is read as a fediverse account (Mastodon API) when `server_problem` finds nothing wrong
    with the server the account would be asked at (the URL's host, and the remote server in
    `host/@user@remote`). Only http and https URLs are read. `platform` (as the watchlist gives it) must
    agree with the owner. Raises UnresolvedUrl with a message naming the accepted URL forms.
    """
    text = str(url).strip()
    scheme = text.partition("://")[0].lower() if "://" in text else "https"
    host, _ = host_path(text)
    if platform is not None and platform not in PLATFORMS:
        raise UnresolvedUrl(f"unknown platform {platform!r} (known: {', '.join(sorted(PLATFORMS))})")
    if not host or scheme not in ("http", "https"):
        raise UnresolvedUrl(f"{_short(text)} is not an http(s) URL "
                            f"(profile URLs: {_forms(list(PLATFORMS.values()))})")
    claimed = owner(host)
    if claimed is not None:
        if platform is not None and platform != claimed.name:
            raise UnresolvedUrl(f"{host} is {claimed.title}'s, not {PLATFORMS[platform].title}'s: "
                                f"write platform: {claimed.name}, or a {PLATFORMS[platform].title} URL "
                                f"({_forms([PLATFORMS[platform]])})")
        handle = claimed.from_url(text)
        if handle is None:
            raise UnresolvedUrl(f"{_short(text)} is a {claimed.title} URL but not a profile banwatch can read "
                                f"(accepted: {', '.join(claimed.url_forms)})")
        return claimed.name, handle
    if (problem := server_problem(host)) is not None:
        raise UnresolvedUrl(f"{problem} (profile URLs banwatch reads: {_forms(list(PLATFORMS.values()))})")
    candidates = [PLATFORMS[platform]] if platform is not None else [p for p in PLATFORMS.values() if not p.hosts]
    for p in candidates:
        handle = p.from_url(text)
        if handle is not None:
            if p.instance is not None and (problem := server_problem(p.instance(handle))) is not None:
                raise UnresolvedUrl(f"{problem} (in {_short(text)})")
            return p.name, handle
    raise UnresolvedUrl(f"cannot read an account from {_short(text)} (profile URLs banwatch reads: "
                        f"{_forms(candidates if platform is not None else list(PLATFORMS.values()))})")


@dataclass(frozen=True)
class PlatformRegistry:
    """What the core needs of the platforms (monitor.registry.Registry): PLATFORMS and URL resolution."""

    platforms: Mapping[str, Platform]

    def resolve_url(self, url: str, platform: str | None = None) -> tuple[str, str]:
        """`resolve_url` of this registry: a profile URL -> (platform name, canonical handle); raises UnresolvedUrl
        when no platform reads it."""
        return resolve_url(url, platform)

    def server_problem(self, host: str) -> str | None:
        """`server_problem` of this registry: why `host` may not be asked as a fediverse server, or None."""
        return server_problem(host)


REGISTRY = PlatformRegistry(PLATFORMS)
registry.install(REGISTRY)

__all__ = ["NOT_FEDIVERSE", "PLATFORMS", "REGISTRY", "Platform", "PlatformRegistry", "Probe", "UnresolvedUrl",
           "owner", "resolve_url", "server_problem"]
