"""`include:` — accounts listed in CSV files next to the watchlist, for lists too long to write as YAML.

    include: accounts.csv            # or a list: [news.csv, crypto.csv]; relative to the watchlist file

A CSV has a header row naming its columns: `platform`, at least one of `handle` / `id` / `url`, and optionally
`entity` and `tags` (several tags in one cell are separated by `;`). Each row is read as the same entry written
under `accounts:` would be (monitor.watchlist.accounts): the same resolution, `defaults:`, duplicate detection
across the watchlist and every CSV, and problems reported as `accounts.csv:17: handle: ...`. All the CSV files of a
watchlist together are bounded (MAX_INCLUDE_BYTES, MAX_INCLUDE_ROWS; docs/watchlist.md, "Large lists: CSV
include"): nothing past a bound is read.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from banwatch.monitor.errors import WatchlistError
from banwatch.monitor.watchlist.accounts import AccountReader
from banwatch.monitor.watchlist.yaml_safety import LineList

# Every CSV file of one watchlist together (the watchlist file has its own cap, MAX_BYTES). A row is ~20-60 bytes,
# so 16 MiB holds the 250,000 rows; 250,000 accounts take ~400 MiB of memory while they load.
MAX_INCLUDE_BYTES = 16 << 20
MAX_INCLUDE_ROWS = 250_000
MAX_INCLUDES = 100  # files named by `include:`

COLUMNS = ("platform", "handle", "id", "url", "entity", "tags")
HANDLE_COLUMNS = ("handle", "id", "url")
TAG_SEPARATOR = ";"


class Budget:
    """What is left of the bounds shared by every CSV file a watchlist includes."""

    def __init__(self, max_bytes: int, max_rows: int) -> None:
        self.max_bytes, self.max_rows = max_bytes, max_rows
        self.bytes, self.rows = max_bytes, max_rows


def include_paths(reader: AccountReader, value: Any, line: int, base: Path) -> list[tuple[str, Path]]:
    """`include:`'s value (a path or a list of paths, relative to `base`, the watchlist's folder) -> (name used in
    messages, path) for each file; a malformed value is a problem at `line`."""
    items = value if isinstance(value, LineList) else [value]
    lines = value.item_lines if isinstance(value, LineList) else [line]
    if not items:
        reader.problem(line, "include", "an empty list: name a CSV file, e.g. include: accounts.csv")
    if len(items) > MAX_INCLUDES:
        reader.problem(line, "include", f"{len(items)} files: at most {MAX_INCLUDES} may be included")
        return []
    out: list[tuple[str, Path]] = []
    seen: dict[Path, int] = {}
    for item, at in zip(items, lines):
        if not isinstance(item, str) or not item.strip():
            reader.problem(at, "include", f"must be the path of a CSV file (or a list of them), not {item!r}"[:200])
            continue
        path = base / item.strip()
        if path in seen:
            reader.problem(at, "include", f"{item.strip()} is included twice (first on line {seen[path]})")
            continue
        seen[path] = at
        out.append((str(path), path))
    return out


def read_csv(reader: AccountReader, name: str, path: Path, line: int, budget: Budget) -> str | None:
    """The file's text, or None with a problem: missing, unreadable or not UTF-8 is reported on the watchlist's
    `include:` line (`line`) naming the file; past the bytes left in `budget`, a `name:` problem."""
    try:
        with path.open("rb") as f:
            data = f.read(budget.bytes + 1)
    except FileNotFoundError:
        reader.problem(line, "include", f"{name}: file not found")
        return None
    except IsADirectoryError:
        reader.problem(line, "include", f"{name}: is a directory, not a CSV file")
        return None
    except OSError as exc:
        reader.problem(line, "include", f"{name}: cannot read: {exc.strerror or exc}")
        return None
    if len(data) > budget.bytes:
        reader.problems.append(WatchlistError(
            name, None, None, f"the included CSV files are larger than {budget.max_bytes // 1024} KiB together, the "
            "most a watchlist may include (docs/watchlist.md)"))
        return None
    budget.bytes -= len(data)
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the first column's name
    except UnicodeDecodeError as exc:
        reader.problems.append(WatchlistError(name, data.count(b"\n", 0, exc.start) + 1, None,
                                              f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8 CSV"))
        return None


def header(reader: AccountReader, cells: list[str], line: int) -> list[str] | None:
    """The column names of the header row (stripped, lower case), or None with the problems recorded."""
    names = [c.strip().lower() for c in cells]
    ok = True
    for i, column in enumerate(names):
        if not column:
            reader.problem(line, "header", f"column {i + 1} has no name (name it, or delete the column)")
            ok = False
        elif column not in COLUMNS:
            reader.problem(line, "header", f"unknown column {cells[i].strip()!r} (expected: {', '.join(COLUMNS)})")
            ok = False
        elif column in names[:i]:
            reader.problem(line, "header", f"column {column!r} appears twice")
            ok = False
    if "platform" not in names:
        reader.problem(line, "header", "no 'platform' column: the first row must name the columns, e.g. "
                                       "platform,handle,entity,tags")
        ok = False
    if not any(c in names for c in HANDLE_COLUMNS):
        reader.problem(line, "header", "needs a 'handle', 'id' or 'url' column")
        ok = False
    return names if ok else None


def tags(cell: str, line: int) -> LineList:
    """A `tags` cell -> the list `tags:` would hold: `;`-separated, each stripped, empty ones dropped."""
    out = LineList(t.strip() for t in cell.split(TAG_SEPARATOR) if t.strip())
    out.line, out.item_lines = line, [line] * len(out)
    return out


def read_rows(reader: AccountReader, name: str, text: str, defaults: dict[str, Any], budget: Budget) -> None:
    """Every row of one CSV file into `reader`'s accounts, problems reported as `name:line: column:`."""
    rows = csv.reader(io.StringIO(text, newline=""))
    columns: list[str] | None = None
    end = 0  # the last physical line read: a row starts on the next one (a quoted cell may span lines)
    try:
        for cells in rows:
            line, end = end + 1, rows.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines are skipped
            if columns is None:
                columns = header(reader, cells, line)
                if columns is None:
                    return
                continue
            if budget.rows == 0:
                reader.problem(line, None, f"more than {budget.max_rows:,} rows in the included CSV files, the most "
                                           "a watchlist may include (docs/watchlist.md)")
                return
            budget.rows -= 1
            if len(cells) > len(columns):
                reader.problem(line, None, f"{len(cells)} cells, but the header names {len(columns)} columns "
                                           "(a cell with a comma must be quoted)")
                continue
            given = {column: value for column, cell in zip(columns, cells) if (value := cell.strip())}
            if "tags" in given:
                given["tags"] = tags(given["tags"], line)
            reader.row(given, line, defaults)
    except csv.Error as exc:
        reader.problem(rows.line_num, None, f"not readable as CSV: {exc}")
        return
    if columns is None:
        reader.problem(None, None, "empty: the first row must name the columns (platform, handle, ...)")


def include(reader: AccountReader, value: Any, line: int, base: Path, defaults: dict[str, Any],
            max_bytes: int = MAX_INCLUDE_BYTES, max_rows: int = MAX_INCLUDE_ROWS) -> tuple[str, ...]:
    """Read the CSV files `include:` names (its `value`, on `line`; paths relative to `base`) into `reader`'s
    accounts with `defaults`. Returns every file named, read or not (a service watches them for edits)."""
    budget = Budget(max_bytes, max_rows)
    names = []
    for name, path in include_paths(reader, value, line, base):
        names.append(name)
        text = read_csv(reader, name, path, line, budget)
        if text is None:
            continue
        watchlist, reader.path = reader.path, name  # problems, and where accounts are first declared, are the CSV's
        try:
            read_rows(reader, name, text, defaults, budget)
        finally:
            reader.path = watchlist
    return tuple(names)
