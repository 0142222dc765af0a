"""Alert context -> Slack Block Kit + plain text. Pure.

Everything that comes from a platform or the watchlist is untrusted: `&`, `<` and `>` are escaped so a
display name like `<!channel>` can neither ping anyone nor forge a link. Every text is escaped first and
truncated after (`escape` for one value, `fit` for mrkdwn already made of escaped parts), to Block Kit's
limits, cutting only between entities and links: escaping grows a text (`&` is five characters), so a
text truncated before escaping can still be too long, and Slack rejects the whole message.

Platform titles are data: each function takes `titles` (platform name -> title, given by the dispatcher, which
gets them from the composition); when None, the titles of the installed platform registry (monitor.registry).
A platform without a title is shown by its name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from banwatch.alerts.notifier import Message
from banwatch.monitor import registry
from banwatch.monitor.timeutil import minute_utc

Titles = Mapping[str, str]  # platform name -> how people write it

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


# Slack's documented limits (docs.slack.dev Block Kit reference; chat.postMessage): a header's text 150,
# a section's text 3,000 (its fields 2,000), a context at most 10 elements; a message's `text` is cut by
# Slack at 40,000 and should stay under 4,000. Context elements are kept to 2,000, like section fields.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000
TEXT_LIMIT = 4000
SIMPLE_LIMIT = 3000  # the plain-text-only message sent once when Slack rejects the full one as malformed
URL_LIMIT = 1000  # a longer profile URL is hostile: shown as text, never as a link
ELLIPSIS = "…"
# What a cut must not split: an entity, or a link or mention `<…>`.
_ATOMS = re.compile(r"&(?:amp|lt|gt);|<[^<>]*>")


def fit(mrkdwn: str, limit: int) -> str:
    """Truncate already-escaped mrkdwn to `limit` characters (ellipsis included), never inside an
    `&amp;`/`&lt;`/`&gt;` entity or a `<url|label>` link: a cut that would fall inside one goes before it."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = max(0, limit - len(ELLIPSIS))
    for atom in _ATOMS.finditer(mrkdwn):
        if atom.start() >= cut:
            break
        if atom.end() > cut:
            cut = atom.start()
            break
    return mrkdwn[:cut] + ELLIPSIS


def escape(text: object, limit: int = 300) -> str:
    """Escape (Slack needs only `&`, `<`, `>`), then truncate to `limit` without splitting an entity."""
    return fit(str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), limit)


def link(url: object, label: object, label_limit: int) -> str:
    """`<url|label>`, the URL escaped and the label escaped and truncated; a URL longer than URL_LIMIT is no
    link (the label alone: the message's plain text still carries the URL, truncated)."""
    target = str(url).replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    if len(target) > URL_LIMIT:
        return escape(label, label_limit)
    return f"<{target}|{escape(label, label_limit)}>"


def simplify(message: Message) -> Message:
    """The message without blocks: its escaped plain text only, truncated — what is sent, once, when Slack
    rejects the full message as malformed."""
    return Message(text=fit(message.text, SIMPLE_LIMIT) or "banwatch alert", blocks=[])


def _titles(titles: Titles | None) -> Titles:
    return registry.titles() if titles is None else titles


def platform_title(name: str, titles: Titles | None = None) -> str:
    """The title people know platform `name` by ('x' -> 'X'), from `titles` (platform name -> title; None:
    the installed registry's); a platform without one is shown by its name. Raises NoRegistry when `titles` is
    None and no registry is installed."""
    return _titles(titles).get(name, name)


def siblings_summary(siblings: list[dict[str, Any]], titles: Titles | None = None) -> str:
    """'still active on Bluesky, Mastodon; also suspended on X' — what is left of the entity."""
    titles = _titles(titles)
    by_status: dict[str | None, list[str]] = defaultdict(list)
    for s in siblings:
        title = platform_title(s["platform"], titles)
        if title not in by_status[s["status"]]:
            by_status[s["status"]].append(title)
    order = ["active", "suspended", "not_found", "deactivated", "restricted", None]
    parts = [f"{_STATUS_WORDS.get(st, st)} on {', '.join(by_status[st])}" for st in order if by_status.get(st)]
    return "; ".join(parts)


def render(ctx: dict[str, Any], titles: Titles | None = None) -> Message:
    """One alert's message from its context (Store.alert_context); `titles`: platform name -> title."""
    if ctx["kind"] == "health":
        return _render_health(ctx)
    titles = _titles(titles)
    if ctx["kind"] == "renamed":
        return _render_rename(ctx, titles)
    kind, platform = ctx["kind"], platform_title(ctx["platform"], titles)
    who = ctx["entity"] or ctx["name"] or ctx["handle"]
    title = f"{TITLES.get(kind, kind)} on {platform}: {who}"
    account = f"{platform} {ctx['handle']}"
    if ctx["display_name"] and ctx["display_name"] != ctx["handle"]:
        account += f" ({ctx['display_name']})"
    left = siblings_summary(ctx["siblings"], titles)
    window = (f"last seen {ctx['from_status']} {ctx['last_seen_before_at'] or 'never'} → "
              f"first seen {ctx['to_status']} {ctx['first_seen_at']} → confirmed {ctx['confirmed_at']}")
    proof = f"rule {ctx['rule']}"
    if ctx.get("evidence_id"):
        proof += f" · evidence #{ctx['evidence_id']} sha256 {ctx['sha256'][:16]}…"
    text_lines = [title, f"{account} {ctx['url']}"]
    if left:
        text_lines.append(left[0].upper() + left[1:] + ".")
    text_lines += [window, proof]
    text = fit(" | ".join(escape(line, 600) for line in text_lines), TEXT_LIMIT)

    detail = f"*{link(ctx['url'], account, 200)}*"
    if ctx["tags"]:
        detail += "  " + " ".join(f"`{escape(t, 40)}`" for t in ctx["tags"][:10])
    if left:
        detail += "\n" + escape(left[0].upper() + left[1:] + ".", 1000)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": fit(detail, SECTION_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(window, min(1000, CONTEXT_LIMIT))},
                                         {"type": "mrkdwn", "text": escape(proof, min(500, CONTEXT_LIMIT))}]},
    ]
    return Message(text=text, blocks=blocks)


def _plain(text: str, limit: int) -> str:
    """plain_text fields are not parsed for mentions, so they only need truncating."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _render_health(ctx: dict[str, Any]) -> Message:
    """banwatch's own health: a platform it cannot see, a watchlist it cannot read."""
    text = f"banwatch health ({ctx['subject']}): {ctx['detail']}"
    prefix = ":warning: *banwatch health* · "
    return Message(text=escape(text, 1000), blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": prefix + escape(text, SECTION_LIMIT - len(prefix))}},
    ])


def render_wave(wave: dict[str, Any], earlier: list[dict[str, Any]] | None = None,
                titles: Titles | None = None) -> Message:
    """One message for a suspension wave: how many, since when, and who (later members join its thread)."""
    members = wave["members"]
    platform = platform_title(wave["platform"], titles)
    title = f"{len(members)} {platform} accounts suspended since {minute_utc(wave['started_at'])}"
    lines = [f"• {escape(m['entity'] or m['name'] or m['handle'], 100)} — "
             f"{link(m['url'], platform + ' ' + m['handle'], 100)} · {escape(_proof(m), 200)}" for m in members[:20]]
    if len(members) > 20:
        lines.append(f"… and {len(members) - 20} more: `banwatch history` has each one's evidence")
    text = escape(title + ": " + "; ".join(f"{m['entity'] or m['name'] or m['handle']} ({_proof(m)})"
                                          for m in members), 3000)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": fit("\n".join(lines), SECTION_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            "Each account above with the rule and the evidence that confirmed it; accounts that join later follow "
            "in the thread.", 300)}]},
    ]
    return Message(text=text, blocks=blocks)


def _proof(member: dict[str, Any]) -> str:
    """A wave member's detail in one line: when it was confirmed, by which rule, with which evidence."""
    proof = f"confirmed {minute_utc(member['confirmed_at'])} by {member['rule']}" if member.get("confirmed_at") \
        else f"by {member.get('rule') or 'an unknown rule'}"
    return proof + (f", evidence #{member['evidence_id']}" if member.get("evidence_id") else "")


def _render_rename(ctx: dict[str, Any], titles: Titles) -> Message:
    """Same stable id, new handle: the watchlist keeps working with the old handle."""
    platform = platform_title(ctx["platform"], titles)
    who = ctx["entity"] or ctx["name"] or ctx["handle"]
    title = f"Renamed on {platform}: {who}"
    line = f"{ctx['from_handle']} → {ctx['to_handle']} (same id {ctx['platform_id']}), seen {ctx['confirmed_at']}"
    text = escape(f"{title} | {line} | rule {ctx['rule']}", 1000)
    return Message(text=text, blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": _plain(title, HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(line, 2000)}},
    ])
