"""python -m banwatch.monitor.watchlist --write-docs docs/watchlist.md: regenerate the settings tables there.
--check-docs PATH exits 1 when they are out of date."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import banwatch.spiders.platforms  # noqa: F401 - an entry point: installs the platform registry the tables list
from banwatch.monitor.watchlist.docs import render


def main(argv: list[str] | None = None) -> int:
    """`python -m banwatch.monitor.watchlist --write-docs PATH | --check-docs PATH`: rewrite, or check, the generated settings
    tables in a Markdown file. Returns the exit code: 0, or 1 when --check-docs finds them stale."""
    ap = argparse.ArgumentParser(prog="python -m banwatch.monitor.watchlist", description=__doc__)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-docs", metavar="PATH", type=Path, help="rewrite the generated blocks in PATH")
    group.add_argument("--check-docs", metavar="PATH", type=Path, help="exit 1 when PATH's blocks are stale")
    args = ap.parse_args(argv)
    path = args.write_docs or args.check_docs
    text = path.read_text(encoding="utf-8")
    fresh = render(text)
    if args.check_docs:
        if fresh != text:
            print(f"{path}: the settings tables are out of date; run: python -m banwatch.monitor.watchlist --write-docs "
                  f"{path}", file=sys.stderr)
            return 1
        return 0
    if fresh != text:
        path.write_text(fresh, encoding="utf-8")
        print(f"{path}: settings tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
