"""The platform registry: a plain dict, no import side effects."""

from __future__ import annotations

from spiders.platforms import bluesky, mastodon, reddit, weibo
from spiders.platforms.base import Platform, Probe

PLATFORMS: dict[str, Platform] = {
    p.name: p for p in (weibo.PLATFORM, reddit.PLATFORM, bluesky.PLATFORM, mastodon.PLATFORM)
}

__all__ = ["PLATFORMS", "Platform", "Probe"]
