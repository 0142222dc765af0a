"""Built-in canaries: accounts whose status is public knowledge, asked by `banwatch selftest`.

platform -> {known status -> BuiltinCanary}. Only accounts that are famous and stable are listed: each
platform's own official account (on Reddit and Bilibili, a founder's) as `active`. No known-suspended
account is built in: the famous suspensions were reversed (on X, for instance), or are known from a single
report, or what banwatch's probe shows for them is unconfirmed, and a canary whose state quietly changed
reports drift that is not there. A watchlist adds its own (`platforms: {NAME: {canaries: …}}`), and those
take precedence. Douyin has none: no answer of its proves any state. Handles are canonical (as the
platform's `normalise` writes them); a test checks that. docs/platforms.md, "Built-in canaries", says why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinCanary:
    """A built-in canary: an account whose state is public knowledge, asked by `banwatch selftest`. `handle` as the
    platform writes it; `why` one line saying who it is and why it stays in that state (docs/platforms.md, "Built-in
    canaries")."""

    handle: str
    why: str  # one line: who it is, and why it is expected to stay in that state


BUILTIN: dict[str, dict[str, BuiltinCanary]] = {
    "weibo": {"active": BuiltinCanary(
        "1642909335", "微博小秘书 (Weibo Secretary), Weibo's own help account; the uid RSSHub's docs use as their example")},
    "reddit": {"active": BuiltinCanary(
        "spez", "u/spez, Reddit co-founder and CEO Steve Huffman, registered in 2005")},
    "bluesky": {"active": BuiltinCanary(
        "bsky.app", "@bsky.app, Bluesky's official account (did:plc:z72i7hdynmk6r22z27h6tvur)")},
    "mastodon": {"active": BuiltinCanary(
        "mastodon@mastodon.social", "@Mastodon@mastodon.social, the Mastodon project's primary account (id 13179)")},
    "x": {"active": BuiltinCanary(
        "x", "@X, the company's official account (called @Twitter until July 2023)")},
    "youtube": {"active": BuiltinCanary(
        "UCBR8-60-B28hp2BmDPdntcQ", "@YouTube, YouTube's own channel, by its channel id (an id never changes)")},
    "telegram": {"active": BuiltinCanary(
        "telegram", "t.me/telegram, Telegram's official news channel")},
    "tiktok": {"active": BuiltinCanary(
        "tiktok", "@tiktok, TikTok's official account")},
    "twitch": {"active": BuiltinCanary(
        "twitch", "twitch.tv/twitch, Twitch's official channel")},
    "instagram": {"active": BuiltinCanary(
        "instagram", "@instagram, Instagram's official account (its most-followed)")},
    "bilibili": {"active": BuiltinCanary(
        "2", "mid 2, 碧诗, the site's founding administrator account; Maigret's claimed-username check uses it")},
    "facebook": {"active": BuiltinCanary(
        "facebook", "facebook.com/facebook, Facebook's own official Page")},
}
