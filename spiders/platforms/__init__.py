"""The platform registry: a plain dict, no import side effects; and profile URL -> (platform, handle)."""

from __future__ import annotations

import ipaddress

from spiders.platforms import (
    bilibili, bluesky, douyin, facebook, instagram, mastodon, reddit, telegram, tiktok, twitch, weibo, x, youtube,
)
from spiders.platforms.base import Platform, Probe, owns

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
}


class UnresolvedUrl(ValueError):
    """A profile URL banwatch cannot give to a platform; the message says why and which forms work."""


def owner(host: str) -> Platform | None:
    """The platform that owns this host (or a parent domain of it), if any."""
    return next((p for p in PLATFORMS.values() if owns(p.hosts, host)), None)


def _forms(platforms: list[Platform]) -> str:
    return "; ".join(f"{p.title}: {', '.join(p.url_forms)}" for p in platforms if p.url_forms)


def resolve_url(url: str, platform: str | None = None) -> tuple[str, str]:
    """A profile URL -> (platform name, canonical handle).

    A host that a platform owns (`Platform.hosts`, subdomains included) is read by that platform alone,
    so `https://www.youtube.com/@name` can never become a Mastodon account. A `host/@user` URL on a host no
    platform owns is read as a fediverse account (Mastodon API) unless the host is a known non-fediverse
    service (NOT_FEDIVERSE), an IP address or a name without a dot. `platform` (as the watchlist gives it)
    must agree with the owner. Raises UnresolvedUrl with a message naming the accepted URL forms.
    """
    from spiders.platforms.base import host_path

    text = str(url).strip()
    host, _ = host_path(text)
    if platform is not None and platform not in PLATFORMS:
        raise UnresolvedUrl(f"unknown platform {platform!r} (known: {', '.join(sorted(PLATFORMS))})")
    if not host:
        raise UnresolvedUrl(f"{text!r} is not a URL (profile URLs: {_forms(list(PLATFORMS.values()))})")
    claimed = owner(host)
    if claimed is not None:
        if platform is not None and platform != claimed.name:
            raise UnresolvedUrl(f"{host} is {claimed.title}'s, not {PLATFORMS[platform].title}'s: "
                                f"write platform: {claimed.name}, or a {PLATFORMS[platform].title} URL "
                                f"({_forms([PLATFORMS[platform]])})")
        handle = claimed.from_url(text)
        if handle is None:
            raise UnresolvedUrl(f"{text!r} is a {claimed.title} URL but not a profile banwatch can read "
                                f"(accepted: {', '.join(claimed.url_forms)})")
        return claimed.name, handle
    open_platforms = [p for p in PLATFORMS.values() if not p.hosts]
    candidates = [PLATFORMS[platform]] if platform is not None else open_platforms
    service = next((title for domain, title in NOT_FEDIVERSE.items() if owns((domain,), host)), None)
    if service is not None:
        raise UnresolvedUrl(f"{host} is {service}, which banwatch does not watch "
                            f"(profile URLs it reads: {_forms(list(PLATFORMS.values()))})")
    if _implausible_server(host):
        raise UnresolvedUrl(f"{host} cannot be a fediverse server (profile URLs banwatch reads: "
                            f"{_forms(list(PLATFORMS.values()))})")
    for p in candidates:
        handle = p.from_url(text)
        if handle is not None:
            return p.name, handle
    raise UnresolvedUrl(f"cannot read an account from {text!r} (profile URLs banwatch reads: "
                        f"{_forms(candidates if platform is not None else list(PLATFORMS.values()))})")


def _implausible_server(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return "." not in host or host.endswith((".local", ".localhost", ".invalid", ".test", ".example"))


__all__ = ["NOT_FEDIVERSE", "PLATFORMS", "Platform", "Probe", "UnresolvedUrl", "owner", "resolve_url"]
