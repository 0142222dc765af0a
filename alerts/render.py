"""Alert context -> Slack Block Kit + plain text. Pure.

Everything that comes from a platform or the watchlist is untrusted: `&`, `<` and `>` are escaped so a
display name like `<!channel>` can neither ping anyone nor forge a link, and long values are truncated.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from alerts.notifier import Message
from spiders.platforms import PLATFORMS

TITLES = {
    "suspended": "Suspended",
    "not_found": "Gone (not found)",
    "deactivated": "Deactivated",
    "reinstated": "Reinstated",
    "restricted": "Restricted",
    "renamed": "Renamed",
}
_STATUS_WORDS = {"active": "still active", "suspended": "also suspended", "not_found": "also gone",
                 "deactivated": "also deactivated", "restricted": "restricted", None: "not yet checked"}


def escape(text: object, limit: int = 300) -> str:
    """Slack needs only these three escaped; truncation keeps every field within Block Kit's limits."""
    raw = str(text)
    if len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    return raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def platform_title(name: str) -> str:
    return PLATFORMS[name].title if name in PLATFORMS else name


def siblings_summary(siblings: list[dict[str, Any]]) -> str:
    """'still active on Bluesky, Mastodon; also suspended on X' — what is left of the entity."""
    by_status: dict[str | None, list[str]] = defaultdict(list)
    for s in siblings:
        title = platform_title(s["platform"])
        if title not in by_status[s["status"]]:
            by_status[s["status"]].append(title)
    order = ["active", "suspended", "not_found", "deactivated", "restricted", None]
    parts = [f"{_STATUS_WORDS.get(st, st)} on {', '.join(by_status[st])}" for st in order if by_status.get(st)]
    return "; ".join(parts)


def render(ctx: dict[str, Any]) -> Message:
    if ctx["kind"] == "health":
        return _render_health(ctx)
    if ctx["kind"] == "renamed":
        return _render_rename(ctx)
    kind, platform = ctx["kind"], platform_title(ctx["platform"])
    who = ctx["entity"] or ctx["name"] or ctx["handle"]
    title = f"{TITLES.get(kind, kind)} on {platform}: {who}"
    account = f"{platform} {ctx['handle']}"
    if ctx["display_name"] and ctx["display_name"] != ctx["handle"]:
        account += f" ({ctx['display_name']})"
    left = siblings_summary(ctx["siblings"])
    window = (f"last seen {ctx['from_status']} {ctx['last_seen_before_at'] or 'never'} → "
              f"first seen {ctx['to_status']} {ctx['first_seen_at']} → confirmed {ctx['confirmed_at']}")
    proof = f"rule {ctx['rule']}"
    if ctx.get("evidence_id"):
        proof += f" · evidence #{ctx['evidence_id']} sha256 {ctx['sha256'][:16]}…"
    text_lines = [title, f"{account} {ctx['url']}"]
    if left:
        text_lines.append(left[0].upper() + left[1:] + ".")
    text_lines += [window, proof]
    text = " | ".join(escape(line, 600) for line in text_lines)

    detail = f"*<{ctx['url']}|{escape(account, 200)}>*"
    if ctx["tags"]:
        detail += "  " + " ".join(f"`{escape(t, 40)}`" for t in ctx["tags"][:10])
    if left:
        detail += "\n" + escape(left[0].upper() + left[1:] + ".", 1000)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": detail[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(window, 1000)},
                                         {"type": "mrkdwn", "text": escape(proof, 500)}]},
    ]
    return Message(text=text, blocks=blocks)


def _plain(text: str, limit: int) -> str:
    """plain_text fields are not parsed for mentions, so they only need truncating."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render_health(ctx: dict[str, Any]) -> Message:
    """banwatch's own health: a platform it cannot see, a watchlist it cannot read."""
    text = f"banwatch health ({ctx['subject']}): {ctx['detail']}"
    return Message(text=escape(text, 1000), blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: *banwatch health* · {escape(text, 2800)}"}},
    ])


def _when(stamp: str) -> str:
    """'2021-06-05T10:42:13.120Z' -> '2021-06-05 10:42 UTC'."""
    return stamp[:10] + " " + stamp[11:16] + " UTC"


def render_wave(wave: dict[str, Any], earlier: list[dict[str, Any]] | None = None) -> Message:
    """One message for a suspension wave: how many, since when, and who (later members join its thread)."""
    members = wave["members"]
    platform = platform_title(wave["platform"])
    title = f"{len(members)} {platform} accounts suspended since {_when(wave['started_at'])}"
    lines = [f"• {escape(m['entity'] or m['name'] or m['handle'], 100)} — "
             f"<{m['url']}|{escape(platform + ' ' + m['handle'], 100)}>" for m in members[:40]]
    if len(members) > 40:
        lines.append(f"… and {len(members) - 40} more in the thread")
    text = escape(title + ": " + ", ".join(m["entity"] or m["name"] or m["handle"] for m in members), 3000)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            "Each account's details and evidence follow in the thread; accounts that join later too.", 300)}]},
    ]
    return Message(text=text, blocks=blocks)


def _render_rename(ctx: dict[str, Any]) -> Message:
    """Same stable id, new handle: the watchlist keeps working with the old handle."""
    platform = platform_title(ctx["platform"])
    who = ctx["entity"] or ctx["name"] or ctx["handle"]
    title = f"Renamed on {platform}: {who}"
    line = f"{ctx['from_handle']} → {ctx['to_handle']} (same id {ctx['platform_id']}), seen {ctx['confirmed_at']}"
    text = escape(f"{title} | {line} | rule {ctx['rule']}", 1000)
    return Message(text=text, blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(line, 2000)}},
    ])
