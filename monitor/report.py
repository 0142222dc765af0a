"""`banwatch report`: one self-contained HTML file an editor can open anywhere (no network, no scripts).

An entity × platform grid of current statuses, a timeline of changes per platform (waves stand out), the
suspensions with their detection windows and evidence hashes, and each platform's unknown rate. Every
value that came from a platform or the watchlist is HTML-escaped.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from html import escape
from typing import Any

from banwatch.monitor.reads import Reader
from banwatch.monitor.timeutil import day, minute, parse_iso

COLOURS = {"active": "#2e7d32", "suspended": "#c62828", "not_found": "#6a1b9a", "deactivated": "#ef6c00",
           "restricted": "#f9a825", "unknown": "#9e9e9e", None: "#bdbdbd"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#212121;max-width:1200px}
h1{font-size:1.6rem;margin:0 0 .2rem} h2{font-size:1.15rem;margin:2rem 0 .6rem;border-bottom:1px solid #ddd}
.meta{color:#616161} table{border-collapse:collapse;width:100%} th,td{padding:.3rem .5rem;text-align:left;
border-bottom:1px solid #eee;vertical-align:top} th{background:#fafafa} .pill{display:inline-block;padding:0 .45rem;
border-radius:.6rem;color:#fff;font-size:12px} code{font-size:12px;color:#455a64} .num{text-align:right}
"""


def _t(stamp: str | None) -> str:
    """A table cell's time: `timeutil.minute`, HTML-escaped (UTC is stated in the header); None -> '—'."""
    return escape(minute(stamp)) if stamp else "—"


def _pill(status: str | None) -> str:
    label = status or "unchecked"
    return f'<span class="pill" style="background:{COLOURS.get(status, "#9e9e9e")}">{escape(label)}</span>'


def gather(conn: sqlite3.Connection, since: str) -> dict[str, Any]:
    """What the report shows since `since` (ISO text), read through `conn` (read-only): {'accounts': watched accounts,
    'changes': changes confirmed since, 'health': checks and unknowns per platform}."""
    reader = Reader(conn)
    return {"accounts": reader.watched_accounts(), "changes": reader.changes_since(since),
            "health": reader.checks_since(since)}


def _grid(accounts: list[dict[str, Any]], titles: dict[str, str]) -> str:
    platforms = sorted({a["platform"] for a in accounts})
    cells: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for a in accounts:
        cells[a["entity"] or a["key"]][a["platform"]].append(a)
    head = "".join(f"<th>{escape(titles.get(p, p))}</th>" for p in platforms)
    body = []
    for who, by_platform in cells.items():
        tds = "".join("<td>" + "<br>".join(f"{_pill(a['status'])} <code>{escape(a['handle'])}</code>"
                                           for a in by_platform.get(p, [])) + "</td>" for p in platforms)
        body.append(f"<tr><th>{escape(who)}</th>{tds}</tr>")
    return f"<table><tr><th>entity / account</th>{head}</tr>{''.join(body)}</table>"


def _timeline(changes: list[dict[str, Any]], since: str, until: str, titles: dict[str, str]) -> str:
    """An inline SVG: one lane per platform, a dot per change; a wave's members are drawn large, ringed."""
    platforms = sorted({c["platform"] for c in changes}) or ["—"]
    width, lane, left = 1000, 34, 120
    start, end = parse_iso(since).timestamp(), max(parse_iso(until).timestamp(), parse_iso(since).timestamp() + 1)
    x = lambda stamp: left + (parse_iso(stamp).timestamp() - start) / (end - start) * (width - left - 20)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{lane * len(platforms) + 40}" '
             f'role="img" aria-label="changes per platform over time">']
    for i, p in enumerate(platforms):
        y = 20 + i * lane + lane / 2
        parts.append(f'<text x="4" y="{y + 4}" font-size="13">{escape(titles.get(p, p))}</text>'
                     f'<line x1="{left}" y1="{y}" x2="{width - 20}" y2="{y}" stroke="#e0e0e0"/>')
        for c in (c for c in changes if c["platform"] == p):
            r, ring = (9, ' stroke="#000" stroke-width="2"') if c["wave_id"] else (5, "")
            parts.append(f'<circle cx="{x(c["confirmed_at"]):.1f}" cy="{y}" r="{r}" '
                         f'fill="{COLOURS.get(c["to_status"], "#9e9e9e")}"{ring}><title>'
                         f'{escape(c["account_key"])}: {escape(c["from_status"])} → {escape(c["to_status"])} '
                         f'{escape(c["confirmed_at"])}</title></circle>')
    y = 20 + lane * len(platforms) + 14
    parts.append(f'<text x="{left}" y="{y}" font-size="11" fill="#757575">{escape(day(since))}</text>'
                 f'<text x="{width - 20}" y="{y}" font-size="11" fill="#757575" text-anchor="end">'
                 f'{escape(day(until))}</text></svg>')
    return "".join(parts)


def render(data: dict[str, Any], since: str, now: str, titles: dict[str, str]) -> str:
    """The report as one self-contained HTML document (text). `data`: from `gather`; `since`, `now`: ISO text (shown
    to the minute, in UTC); `titles`: platform name -> title. Every platform or watchlist value is escaped."""
    suspensions = [c for c in data["changes"] if c["to_status"] == "suspended"]
    rows = "".join(
        f"<tr><td><code>{escape(c['account_key'])}</code></td><td>{escape(c['entity'] or '')}</td>"
        f"<td>{_t(c['last_seen_before_at'])}</td><td>{_t(c['first_seen_at'])}</td>"
        f"<td>{_t(c['confirmed_at'])}</td><td>{_t(c['until']) if c['until'] else 'still suspended'}</td>"
        f"<td><code>{escape(c['rule'])}</code></td><td><code>#{c['evidence_id'] or '—'} "
        f"{escape((c['evidence_sha256'] or '')[:16])}</code></td></tr>" for c in suspensions)
    health = "".join(
        f"<tr><td>{escape(titles.get(h['platform'], h['platform']))}</td><td class=num>{h['checks']}</td>"
        f"<td class=num>{(h['unknown'] or 0) / max(1, h['checks'] or 0):.1%}</td></tr>" for h in data["health"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>banwatch report {escape(day(since))} – {escape(day(now))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>
<h1>banwatch report</h1>
<p class="meta">{escape(minute(since))} UTC – {escape(minute(now))} UTC ·
{len(data['accounts'])} accounts · {len(data['changes'])} changes · {len(suspensions)} suspensions</p>
<h2>Where everyone stands</h2>{_grid(data['accounts'], titles)}
<h2>Changes over time</h2><p class="meta">One dot per confirmed change, coloured by the new status; members of
a suspension wave are drawn large and ringed.</p>{_timeline(data['changes'], since, now, titles)}
<h2>Suspensions</h2><table><tr><th>account</th><th>entity</th><th>last seen before</th><th>first seen</th>
<th>confirmed</th><th>until</th><th>rule</th><th>evidence</th></tr>{rows or '<tr><td colspan=8>none</td></tr>'}</table>
<h2>How well banwatch could see</h2><table><tr><th>platform</th><th class=num>checks</th>
<th class=num>unknown</th></tr>{health or '<tr><td colspan=3>no runs</td></tr>'}</table>
<p class="meta">Generated by banwatch at {escape(now)}. Evidence can be exported and verified with
<code>banwatch evidence ID --out DIR</code>.</p></body></html>
"""

