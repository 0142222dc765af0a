"""Reading watchlist YAML safely: bounded in bytes, values, nesting and aliases, keeping every line number.

Nothing here knows what a watchlist contains: it turns text into plain `str`, `LineList` and `LineDict` values
(docs/watchlist.md, "Size limits and aliases"), or raises InvalidWatchlist with a `file:line:` error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from banwatch.monitor.errors import InvalidWatchlist, WatchlistError

# Bounds on what a watchlist file may cost to load (docs/watchlist.md, "Size limits and aliases"). A file of
# one-line accounts is ~40-60 bytes and 5-8 nodes an account, so 8 MiB is ~150,000-200,000 accounts (and
# ~500 MiB of memory while it loads: a file that size is the user's own list, linear in its size). Aliases are
# what can grow without bound: once expanded, a document may hold at most MAX_NODES values or twice its own
# distinct values, whichever is more, so a file written out in full is never refused for its size in values,
# and a "billion laughs" file is. A real watchlist nests about 6 levels deep. monitor.watchlist re-exports
# these and passes its own copies in, so they are set (or lowered by a test) there.
MAX_BYTES = 8 << 20
MAX_NODES = 500_000  # nodes after aliases are expanded: every use of an alias counts its whole subtree again
MAX_DEPTH = 50
EXPANSION = 2  # ...or this many times the document's distinct nodes, when that is more


class LineDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers where it was written: `line` (1-based) and `key_lines` (key -> line)."""

    line: int
    key_lines: dict[Any, int]


class LineList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers where it was written: `line` (1-based) and `item_lines` (one per item)."""

    line: int
    item_lines: list[int]


class _Loader(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """libyaml's parser and composer with no implicit typing: every scalar is the text it is, so handles and
    ids stay exactly as written (`no`, `0123`); the reader types each field itself."""

    _TAGS = {yaml.ScalarNode: yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG,
             yaml.SequenceNode: yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
             yaml.MappingNode: yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG}

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:  # called once per node: keep it trivial
        return self._TAGS[kind]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _uses(node: yaml.Node) -> list[tuple[yaml.Node, int]]:
    """A collection's children, each with the line it is used on. A child is the very node its alias names, marked
    where that node was anchored; a sequence item that starts before its sequence is such an alias, and is
    reported on the sequence's line. A mapping's key and value are reported on the key's line."""
    if isinstance(node, yaml.SequenceNode):
        return [(c, _line(node) if c.start_mark.index <= node.start_mark.index else _line(c)) for c in node.value]
    if isinstance(node, yaml.MappingNode):
        return [(child, _line(k)) for k, v in node.value for child in (k, v)]
    return []


def _distinct(root: yaml.Node) -> int:
    """How many distinct nodes the composed document has: each counted once, however many aliases use it."""
    seen, todo = {id(root)}, [root]
    while todo:
        node = todo.pop()
        for child, _ in _uses(node):
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    return len(seen)


def _measure(root: yaml.Node, path: str, max_nodes: int, max_depth: int) -> WatchlistError | None:
    """Before any value is built: a recursive alias, nesting deeper than max_depth, or more than max_nodes nodes
    once aliases are expanded is an error at the line where it happens.

    Counts every visit, not every distinct node (aliases make the composed graph share nodes), but memoises each
    node's expanded size, so a billion-laughs file is measured in as many steps as it has distinct nodes. No
    recursion: the path from the root is an explicit stack."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes once expanded, levels)
    open_ = {id(root)}
    # the path from the root: each node with its children still to visit, [nodes, levels] so far, line of use
    stack: list[tuple[yaml.Node, Iterator[tuple[yaml.Node, int]], list[int], int]] = [
        (root, iter(_uses(root)), [1, 1], _line(root))]

    def too_deep(line: int) -> WatchlistError:
        return WatchlistError(path, line, "syntax", f"nested more than {max_depth} levels deep")

    def too_many(line: int) -> WatchlistError:
        return WatchlistError(path, line, "aliases", f"the watchlist grows past {max_nodes:,} values once its "
                              "aliases (*name) are expanded; write the entries out, or use fewer aliases")

    while stack:
        node, uses, acc, used_on = stack[-1]
        use = next(uses, None)
        if use is None:
            stack.pop()
            open_.discard(id(node))
            done[id(node)] = (acc[0], acc[1])
            if stack:
                parent = stack[-1][2]
                parent[0], parent[1] = parent[0] + acc[0], max(parent[1], acc[1] + 1)
                if parent[0] > max_nodes:
                    return too_many(used_on)
            continue
        child, line = use
        if isinstance(child, yaml.ScalarNode):
            acc[0], acc[1] = acc[0] + 1, max(acc[1], 2)
            if acc[0] > max_nodes:
                return too_many(line)
            if len(stack) >= max_depth:
                return too_deep(line)
            continue
        if id(child) in open_:
            return WatchlistError(path, line, "aliases", f"an alias refers to the node that contains it (anchored on "
                                  f"line {_line(child)}): a recursive structure cannot be a watchlist")
        if id(child) in done:
            size, levels = done[id(child)]
            acc[0], acc[1] = acc[0] + size, max(acc[1], levels + 1)
            if acc[0] > max_nodes:
                return too_many(line)
            if len(stack) + levels > max_depth:
                return too_deep(line)
            continue
        if len(stack) >= max_depth:
            return too_deep(line)
        open_.add(id(child))
        stack.append((child, iter(_uses(child)), [1, 1], line))
    return None


def _value(node: yaml.Node) -> Any:
    """Nodes -> str / LineList / LineDict, remembering lines; duplicate keys are errors."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if isinstance(node, yaml.SequenceNode):
        seq = LineList(_value(child) for child in node.value)
        seq.line, seq.item_lines = node.start_mark.line + 1, [c.start_mark.line + 1 for c in node.value]
        return seq
    mapping = LineDict()
    mapping.line, mapping.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = _value(key_node)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, "a key must be plain text", key_node.start_mark)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {mapping.key_lines[key]})", key_node.start_mark)
        mapping[key] = _value(value_node)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def empty_mapping(line: int = 1) -> LineDict:
    """An empty LineDict at `line` (1-based), for a document or value that has none."""
    mapping = LineDict()
    mapping.line, mapping.key_lines = line, {}
    return mapping


def compose(text: str, path: str, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """The document as str / LineList / LineDict (None when empty), measured before it is built."""
    try:
        root = yaml.compose(text, Loader=_Loader)  # noqa: S506 - composing builds nodes only, never objects
        if root is not None:
            max_nodes = max(max_nodes, EXPANSION * _distinct(root))
        if root is not None and (bomb := _measure(root, path, max_nodes, max_depth)) is not None:
            raise InvalidWatchlist([bomb])
        return None if root is None else _value(root)  # depth ≤ max_depth, size ≤ max_nodes: measured above
    except RecursionError:  # pure-Python composer only (libyaml refuses deep nesting itself): no traceback
        raise InvalidWatchlist([WatchlistError(path, None, "syntax", "nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if (tab := _tab_at_fault(text, exc)) is not None:
            raise InvalidWatchlist([WatchlistError(path, tab[0], "syntax", f"a tab at column {tab[1]}: tabs are not "
                                                   "allowed in YAML indentation; indent with spaces", column=tab[1])]) from None
        raise InvalidWatchlist([WatchlistError(path, mark.line + 1 if mark else None, "syntax",
                                               str(exc.problem or exc.context))]) from None
    except yaml.YAMLError as exc:
        raise InvalidWatchlist([WatchlistError(path, None, "syntax", str(exc))]) from None


def _tab_at_fault(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, int] | None:
    """(line, column), both 1-based, of the tab that broke parsing, or None when no tab did.

    libyaml reports a tab it cannot take as "found character that cannot start any token" (or "a tab character that
    violates indentation"), at the tab or at the start of its line. A tab is at fault when it is the character the
    error points at, or sits in the indentation of the line the error names (or of the line its context started
    on): the run of spaces, tabs and `-` sequence indicators before the line's first content."""
    lines = text.split("\n")
    for mark in (exc.problem_mark, exc.context_mark):
        if mark is None or mark.line >= len(lines):
            continue
        line = lines[mark.line]
        if mark.column < len(line) and line[mark.column] == "\t":
            return mark.line + 1, mark.column + 1
        indent = len(line) - len(line.lstrip(" \t-"))
        if (column := line.find("\t", 0, indent)) >= 0:
            return mark.line + 1, column + 1
    return None


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """The file's text: missing, a directory, unreadable, larger than max_bytes or not UTF-8 is a `file:` (or
    `file:line:`) error. Nothing past the cap is read."""
    p, name = Path(path), str(path)

    def fail(message: str, line: int | None = None) -> InvalidWatchlist:
        return InvalidWatchlist([WatchlistError(name, line, None, message)])

    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise fail("file not found (give --watchlist PATH or set BANWATCH_WATCHLIST)") from None
    except IsADirectoryError:
        raise fail("is a directory, not a watchlist file") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise fail(f"larger than {max_bytes // 1024} KiB, the most a watchlist may be (docs/watchlist.md)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
                   data.count(b"\n", 0, exc.start) + 1) from None
