"""docs/watchlist.md's settings tables, generated from the declarations in monitor.watchlist.settings.

Each section's table sits between `<!-- settings:<section>:begin -->` and `<!-- settings:<section>:end -->`;
`python -m banwatch.monitor.watchlist --write-docs docs/watchlist.md` rewrites them, and tests/test_watchlist_settings.py
fails when they are out of date or a setting has no doc or default.
"""

from __future__ import annotations

import re

from banwatch.monitor.registry import Registry, current
from banwatch.monitor.watchlist.settings import PLATFORMS_SECTION, SECTIONS, Section
from banwatch.monitor.watchlist.values import show_duration

GENERATED = ("<!-- generated from monitor/watchlist/settings.py: "
             "python -m banwatch.monitor.watchlist --write-docs docs/watchlist.md -->")


def _markers(section: Section) -> tuple[str, str]:
    return f"<!-- settings:{section.key}:begin -->", f"<!-- settings:{section.key}:end -->"


def undocumented(sections: tuple[Section, ...] = SECTIONS) -> list[str]:
    """`section.key: what is missing` for every setting without a doc or a default the docs can write."""
    out = []
    for section in sections:
        for s in section.settings:
            if not s.doc.strip():
                out.append(f"{section.key}.{s.key}: no doc")
            if s.documented_default() is None:
                out.append(f"{section.key}.{s.key}: no default (or none the docs can write: give shown=)")
    return out


def table(section: Section, registry: Registry | None = None) -> str:
    """The section's settings table; the `platforms:` one also lists each platform's own politeness (the
    platforms of `registry`, the installed one when None)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.key}` | {s.documented_default()} | {s.doc} |" for s in section.settings]
    if section is PLATFORMS_SECTION:
        rows += ["", "Each platform's own politeness, used for whatever its `platforms:` entry leaves out:", "",
                 "| platform | concurrency | delay | batch |", "|---|---|---|---|"]
        rows += [f"| `{name}` | {p.politeness.concurrency} | {show_duration(p.politeness.delay)} | "
                 f"{p.politeness.batch} |" for name, p in current(registry).platforms.items()]
    return "\n".join(rows)


def block(section: Section, registry: Registry | None = None) -> str:
    """The generated table of `section`'s settings between its begin/end markers, as docs/watchlist.md holds it."""
    begin, end = _markers(section)
    return f"{begin}\n{GENERATED}\n{table(section, registry)}\n{end}"


def render(text: str, registry: Registry | None = None) -> str:
    """`text` with every section's block regenerated. A section without its markers is an error."""
    for section in SECTIONS:
        begin, end = _markers(section)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"no {begin} ... {end} block: add one where the {section.key} table belongs")
        text = pattern.sub(lambda _: block(section, registry), text, count=1)
    return text
