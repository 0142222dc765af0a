"""Edit watchlist.yaml in place for `banwatch add`, `remove`, `pause` and `resume`: comments, order and layout are
kept (ruamel.yaml round-trip), the result is read by banwatch's own parser before anything is written, and it is
written atomically, the previous version kept as `<file>.bak`.

An edit is all or nothing: a key that is not watched, a duplicate, a handle a platform refuses, or a file that is
already broken raises EditError (or InvalidWatchlist) and the file is not touched. Nothing here talks to the user
(monitor.cli.watchlist_cmds does).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from banwatch.monitor.errors import BanwatchError
from banwatch.monitor.model import Account
from banwatch.monitor.registry import UnresolvedUrl
from banwatch.monitor.watchlist import Watchlist, parse
from banwatch.monitor.watchlist.accounts import looks_like_url
from banwatch.monitor.watchlist.yaml_safety import MAX_BYTES, read_text


class EditError(BanwatchError):
    """An edit that cannot be made; the file is left as it was."""


@dataclass(frozen=True)
class Edited:
    """The result of an edit: the new text, the watchlist it parses to, and the accounts the edit touched (as the
    new watchlist reads them; for `remove`, as the old one did)."""

    text: str
    watchlist: Watchlist
    accounts: tuple[Account, ...]
    notes: tuple[str, ...] = ()


def _yaml(text: str) -> YAML:
    _, indent, offset = load_yaml_guess_indent(text) if text.strip() else (None, 4, 2)
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    indent = indent or 4
    offset = offset if offset is not None else max(0, indent - 2)
    y.indent(mapping=2, sequence=max(indent, offset + 2), offset=offset)
    return y


def _load(text: str) -> tuple[YAML, Any]:
    y = _yaml(text)
    return y, y.load(text)


def _dump(y: YAML, doc: Any) -> str:
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _all(wl: Watchlist) -> list[Account]:
    return [*wl.accounts, *wl.paused]


def _check(text: str, path: str) -> Watchlist:
    """The watchlist `text` parses to; a problem raises InvalidWatchlist (every problem, file:line: field)."""
    return parse(text, path)


# -- finding an account's entry -------------------------------------------------------------------------

@dataclass
class _Place:
    seq: CommentedSeq  # the `accounts:` list
    index: int  # the entry's index in it
    entity_platform: str | None = None  # for an entity's account: its key in the entity's `accounts:` mapping


def _entries(doc: Any) -> CommentedSeq:
    seq = doc.get("accounts") if isinstance(doc, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        raise EditError("the watchlist has no 'accounts:' list to edit")
    return seq


def _place(doc: Any, account: Account) -> _Place:
    """Where `account` (as parsed, with its 1-based line) is written in the round-trip document."""
    seq = _entries(doc)
    starts = [seq.lc.item(i)[0] + 1 for i in range(len(seq))]
    index = max((i for i, start in enumerate(starts) if start <= account.line), default=None)
    if account.canary or index is None:
        raise EditError(f"{account.key} is a canary (line {account.line}, under 'platforms:'), not an entry of "
                        "'accounts:': edit it there")
    item = seq[index]
    if account.entity is not None and isinstance(item, CommentedMap) and isinstance(item.get("accounts"), CommentedMap):
        for platform in item["accounts"]:
            if str(platform) == account.platform:
                return _Place(seq, index, platform)
        raise EditError(f"{account.key}: not found in entity {account.entity!r} (line {starts[index]})")
    return _Place(seq, index)


def _find(wl: Watchlist, keys: Sequence[str]) -> list[Account]:
    by_key = {a.key: a for a in _all(wl)}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise EditError(f"{wl.path}: not in the watchlist: {', '.join(unknown)} (keys are platform:handle, "
                        "as `banwatch list` and `banwatch status` show them)")
    return [by_key[k] for k in dict.fromkeys(keys)]


# -- comments that follow an entry belong to the next one -----------------------------------------------

def _trailing_slot(seq: CommentedSeq, i: int) -> tuple[list[Any], int] | None:
    """The comment slot after entry `i`: (the list holding it, index in that list), created if missing."""
    item = seq[i]
    if isinstance(item, CommentedMap) and not item.fa.flow_style() and len(item):
        last = list(item)[-1]
        if isinstance(item[last], (CommentedMap, CommentedSeq)) and not item[last].fa.flow_style():
            return None  # a nested block: its own comments; rare in an entry, left alone
        return item.ca.items.setdefault(last, [None, None, None, None]), 2
    return seq.ca.items.setdefault(i, [None, None, None, None]), 0


def _keep_comments_of(seq: CommentedSeq, i: int) -> None:
    """Before entry `i` goes: the whole-line comments written after it move to the next entry's front (or after
    the previous entry, when it is the last); its own same-line comment goes with it."""
    slot = _trailing_slot(seq, i)
    token = slot[0][slot[1]] if slot else None
    if token is None:
        return
    _, _, rest = token.value.partition("\n")
    lines = [line for line in rest.splitlines() if line.strip()]
    if not lines:
        return
    if i + 1 < len(seq):
        front = seq.ca.items.setdefault(i + 1, [None, None, None, None])
        tokens = [CommentToken(line.strip() + "\n", CommentMark(len(line) - len(line.lstrip()))) for line in lines]
        front[1] = tokens + (front[1] or [])
    elif i > 0 and (prev := _trailing_slot(seq, i - 1)) is not None:
        holder, at = prev
        text = "\n".join(lines) + "\n"
        if holder[at] is None:
            holder[at] = CommentToken("\n" + text, CommentMark(0))
        else:
            holder[at].value = holder[at].value.rstrip("\n") + "\n" + text


def _expect(got: set[str], wanted: set[str], targets: Iterable[Account]) -> None:
    """The edit did exactly what was asked: otherwise an entry was found where the account is not written (one
    from a CSV file the watchlist includes, say) and nothing may be written."""
    if got != wanted:
        stray = ", ".join(sorted(got ^ wanted))
        raise EditError(f"the edit of {', '.join(a.key for a in targets)} would also change {stray}: those accounts "
                        "are not written as entries of this file's 'accounts:' (an included CSV file?); edit them "
                        "where they are written")


# -- the edits --------------------------------------------------------------------------------------------

def resolve_spec(wl: Watchlist, spec: str) -> tuple[str, str, str]:
    """A command-line account, `platform:handle` or a profile URL -> (platform, canonical handle, key), as the
    watchlist reader resolves it (the registry's resolve_url and handle rules). Raises EditError."""
    registry = wl.registry
    assert registry is not None
    text = spec.strip()
    if looks_like_url(text):
        try:
            platform, handle = registry.resolve_url(text, None)
        except UnresolvedUrl as exc:
            raise EditError(f"{spec}: {exc}") from None
    else:
        platform, sep, handle = text.partition(":")
        if not sep or not handle:
            raise EditError(f"{spec!r}: write an account as platform:handle (e.g. reddit:spez) or a profile URL")
        if platform not in registry.platforms:
            known = ", ".join(sorted(registry.platforms))
            raise EditError(f"{spec}: unknown platform {platform!r} (known: {known})")
    spec_ = registry.platforms[platform]
    canonical = spec_.normalise(str(handle))
    if canonical is None:
        raise EditError(f"{spec}: {str(handle)[:120]!r} is not a valid {spec_.title} handle: expected "
                        f"{spec_.handle_help}")
    if spec_.instance is not None and (problem := registry.server_problem(spec_.instance(canonical))) is not None:
        raise EditError(f"{spec}: {canonical}: {problem}")
    return platform, canonical, f"{platform}:{canonical}"


def _flow(seq: CommentedSeq) -> bool:
    """Whether single-account entries of this list are written as flow mappings (`- {platform: x, handle: y}`):
    as the last single-account entry is, and flow when there is none."""
    singles = [e for e in seq if isinstance(e, CommentedMap) and "accounts" not in e]
    return singles[-1].fa.flow_style() if singles else True


def _mapping(pairs: Iterable[tuple[str, Any]], flow: bool) -> CommentedMap:
    m = CommentedMap(pairs)
    if flow:
        m.fa.set_flow_style()
    else:
        m.fa.set_block_style()
    for value in m.values():
        if isinstance(value, CommentedSeq):
            value.fa.set_flow_style()
    return m


def _seq(items: Iterable[str]) -> CommentedSeq:
    s = CommentedSeq(items)
    s.fa.set_flow_style()
    return s


def add(text: str, path: str, specs: Sequence[str], entity: str | None = None,
        tags: Sequence[str] = ()) -> Edited:
    """Append accounts (each `platform:handle` or a profile URL) to `accounts:`, or to entity `entity`'s accounts
    (the entity is created at the end when there is none by that name). A duplicate names the line of the entry
    already watching it."""
    wl = _check(text, path)
    y, doc = _load(text)
    seq = _entries(doc)
    lines = {a.key: a.line for a in _all(wl)}
    resolved = []
    for spec in specs:
        platform, handle, key = resolve_spec(wl, spec)
        if key in lines:
            raise EditError(f"{spec}: {key} is already in the watchlist (line {lines[key]})")
        if any(key == k for _, _, k, _ in resolved):
            raise EditError(f"{spec}: {key} is given twice")
        resolved.append((platform, handle, key, spec.strip()))
    if entity is None:
        flow = _flow(seq)
        for platform, handle, _key, spec in resolved:
            pairs: list[tuple[str, Any]] = ([("url", spec)] if looks_like_url(spec)
                                            else [("platform", platform), ("handle", spec.partition(":")[2])])
            if tags:
                pairs.append(("tags", _seq(tags)))
            seq.append(_mapping(pairs, flow))
    else:
        target = next((e for e in seq if isinstance(e, CommentedMap) and e.get("name") == entity
                       and "accounts" in e), None)
        if target is None:
            pairs = [("name", entity)] + ([("tags", _seq(tags))] if tags else [])
            accounts = CommentedMap()
            accounts.fa.set_flow_style()
            pairs.append(("accounts", accounts))
            target = _mapping(pairs, flow=False)
            seq.append(target)
        elif tags:
            raise EditError(f"--tag with the existing entity {entity!r}: an entity's accounts take its tags; "
                            "edit the entity's tags in the file")
        accounts = target["accounts"]
        if not isinstance(accounts, CommentedMap):
            raise EditError(f"entity {entity!r}: its 'accounts:' is not a mapping")
        for platform, _handle, key, spec in resolved:
            if platform in accounts:
                raise EditError(f"{spec}: entity {entity!r} already has a {platform} account "
                                f"({platform}:{accounts[platform]}); an entity has one account per platform")
            accounts[platform] = spec if looks_like_url(spec) else spec.partition(":")[2]
    new_text = _dump(y, doc)
    fresh = _check(new_text, path)
    keys = {k for _, _, k, _ in resolved}
    return Edited(new_text, fresh, tuple(a for a in _all(fresh) if a.key in keys))


def remove(text: str, path: str, keys: Sequence[str]) -> Edited:
    """Remove the entries of `keys` (platform:handle). An entity whose last account goes is removed with it."""
    wl = _check(text, path)
    targets = _find(wl, keys)
    y, doc = _load(text)
    notes = []
    places = [(a, _place(doc, a)) for a in targets]
    # from the bottom up, so the indexes of the entries still to edit do not move
    for account, place in sorted(places, key=lambda p: (p[1].index, str(p[1].entity_platform)), reverse=True):
        if place.entity_platform is not None:
            accounts = place.seq[place.index]["accounts"]
            del accounts[place.entity_platform]
            if len(accounts):
                continue
            notes.append(f"entity {account.entity!r} had no account left and was removed")
        _keep_comments_of(place.seq, place.index)
        del place.seq[place.index]
    new_text = _dump(y, doc)
    fresh = _check(new_text, path)
    _expect({a.key for a in _all(fresh)}, {a.key for a in _all(wl)} - {a.key for a in targets}, targets)
    return Edited(new_text, fresh, tuple(targets), tuple(notes))


def set_enabled(text: str, path: str, keys: Sequence[str], enabled: bool) -> Edited:
    """Pause (`enabled: false`) or resume the entries of `keys`. An account of an entity is paused and resumed with
    its entity (the entity's `enabled`), since an entity's account is written as a bare handle."""
    wl = _check(text, path)
    targets = _find(wl, keys)
    y, doc = _load(text)
    notes = []
    for account in targets:
        place = _place(doc, account)
        item = place.seq[place.index]
        if place.entity_platform is not None:
            others = [a.key for a in _all(wl) if a.entity == account.entity and a.key not in keys]
            if others:
                raise EditError(f"{account.key} belongs to entity {account.entity!r} (line {item.lc.line + 1}), "
                                f"whose accounts are paused and resumed together; name them all: "
                                f"{' '.join([account.key, *others])}")
            notes.append(f"entity {account.entity!r} {'resumed' if enabled else 'paused'}")
        if enabled:
            if "enabled" in item:
                del item["enabled"]
        elif item.get("enabled") is not False:
            item["enabled"] = False
    new_text = _dump(y, doc)
    fresh = _check(new_text, path)
    if enabled:  # still paused by `defaults: {enabled: false}` or an entity: say so explicitly
        still = {a.key for a in fresh.paused} & set(keys)
        if still:
            for account in targets:
                if account.key in still:
                    _place(doc, account).seq[_place(doc, account).index]["enabled"] = True
            new_text = _dump(y, doc)
            fresh = _check(new_text, path)
    keys_now = {a.key for a in targets}
    _expect({a.key for a in fresh.paused}, ({a.key for a in wl.paused} | keys_now) - (keys_now if enabled else set()),
            targets)
    by_key = {a.key: a for a in _all(fresh)}
    return Edited(new_text, fresh, tuple(by_key[a.key] for a in targets), tuple(dict.fromkeys(notes)))


# -- reading and writing the file -------------------------------------------------------------------------

def read(path: str | Path) -> str:
    """The watchlist's text, bounded as the reader bounds it (a `file:` error when it cannot be read)."""
    return read_text(path, MAX_BYTES)


def write_atomic(path: str | Path, text: str, expected: str | None = None) -> Path:
    """Replace the file at `path` with `text`: written to a temporary file in the same directory, synced to disk,
    then renamed over it, so a reader sees the old file or the new one, never half of one. The previous version
    is kept as `<file>.bak` (written the same way). `expected`: the text the edit was made from; when the file
    changed since, nothing is written (EditError). Returns the path of the backup."""
    target = Path(os.path.realpath(path))
    old = target.read_bytes()
    if expected is not None and old != expected.encode("utf-8"):
        raise EditError(f"{path}: changed while it was being edited; nothing written, run the command again")
    backup = target.with_name(target.name + ".bak")
    mode = target.stat().st_mode & 0o7777
    _replace(backup, old, mode)
    _replace(target, text.encode("utf-8"), mode)
    return backup


def _replace(target: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
