"""The platform registry: a plain dict, no import side effects."""

from __future__ import annotations

from spiders.platforms import (
    bilibili, bluesky, douyin, facebook, instagram, mastodon, reddit, telegram, tiktok, twitch, weibo, x, youtube,
)
from spiders.platforms.base import Platform, Probe

PLATFORMS: dict[str, Platform] = {
    p.name: p for p in (
        weibo.PLATFORM, reddit.PLATFORM, bluesky.PLATFORM, mastodon.PLATFORM, x.PLATFORM, youtube.PLATFORM,
        telegram.PLATFORM, tiktok.PLATFORM, twitch.PLATFORM, instagram.PLATFORM, bilibili.PLATFORM,
        facebook.PLATFORM, douyin.PLATFORM,
    )
}

__all__ = ["PLATFORMS", "Platform", "Probe"]
