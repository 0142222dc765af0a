"""Load watchlist.yaml into Accounts, keeping line numbers so every error points at its line.

An entry is one account (`{platform: reddit, handle: spez}` or `{url: https://...}`) or an entity — an
influencer or outlet — with accounts on several platforms (`{name: ..., accounts: {weibo: "123", ...}}`).
Loading is all or nothing: any problem raises InvalidWatchlist listing every problem found.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import InvalidWatchlist, WatchlistError
from monitor.model import Account
from monitor.timeutil import iso, parse_iso
from spiders.platforms import PLATFORMS, UnresolvedUrl, resolve_url, server_problem
from spiders.platforms.base import Politeness

TOP_KEYS = ("defaults", "alerts", "platforms", "service", "retention", "accounts")
RETENTION_KEYS = ("observations", "runs")
PLATFORM_KEYS = ("concurrency", "delay", "batch", "canaries")
CANARY_STATES = ("active", "suspended", "not_found", "deactivated", "restricted")
SERVICE_KEYS = ("tick", "deliver_every", "reload_every", "health_window")
DEFAULT_KEYS = ("interval", "confirmations", "confirm_delay", "tags")
ALERT_KEYS = ("slack_channel", "routes", "kinds", "wave_window", "wave_size", "retry_base", "retry_max",
              "give_up", "weak_findings")
WEAK_FINDINGS = ("record", "alert")
ROUTE_KEYS = ("tags", "channel")
ALERT_KINDS = ("suspended", "not_found", "deactivated", "restricted", "reinstated", "renamed", "health")
ACCOUNT_KEYS = ("platform", "handle", "id", "url", "name", "tags", "interval", "confirmations", "confirm_delay")
ENTITY_KEYS = ("name", "tags", "interval", "confirmations", "confirm_delay", "accounts")
BUILTIN_DEFAULTS: dict[str, Any] = {"interval": 600.0, "confirmations": 2, "confirm_delay": 120.0, "tags": ()}
# Bounds on what a watchlist file may cost to load (docs/watchlist.md, "Size limits and aliases"). A file of
# one-line accounts is ~37 bytes and 5 nodes an account, so 1 MiB is ~28,000 accounts and ~140,000 nodes: only
# aliases (or a file of nothing but tiny values) reach MAX_NODES. A real watchlist nests about 6 levels deep.
MAX_BYTES = 1 << 20
MAX_NODES = 500_000  # nodes after aliases are expanded: every use of an alias counts its whole subtree again
MAX_DEPTH = 50

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: object) -> float:
    """'90s', '10m', '1h', '1h30m', '90d' -> seconds. Raises ValueError with a readable message."""
    raw = str(text).strip()
    m = _DURATION.match(raw)
    if isinstance(text, bool) or not raw or not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration (use a number with a unit: 90s, 10m, 1h)")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


@dataclass(frozen=True)
class Entity:
    name: str
    tags: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class ServiceSettings:
    """How often the long-lived service's jobs run (`service:` in the watchlist)."""

    tick: float = 5.0  # look for due accounts
    deliver_every: float = 5.0  # drain the alert outbox
    reload_every: float = 5.0  # look for watchlist edits
    health_window: float = 900.0  # a platform this long ≥ 90% unknown is "blind"


@dataclass(frozen=True)
class Route:
    tags: tuple[str, ...]
    channel: str


@dataclass(frozen=True)
class AlertSettings:
    """What alerts, where it goes, how waves group and how long delivery keeps trying (`alerts:`)."""

    slack_channel: str | None = None
    routes: tuple[Route, ...] = ()
    kinds: frozenset[str] = frozenset(k for k in ALERT_KINDS if k != "restricted")
    wave_window: float = 600.0  # suspensions on one platform this close together form a wave...
    wave_size: int = 3  # ...once there are this many
    retry_base: float = 30.0  # first retry after this, doubling...
    retry_max: float = 300.0  # ...up to this (never sooner than Slack's Retry-After, however long)
    give_up: float = 86400.0  # an alert not delivered after this long becomes dead
    # A loss (suspended, not_found, deactivated) read by a weak rule: "record" keeps it as an unconfirmed
    # change with no alert until a proof rule reads the same status; "alert" alerts it like any other.
    weak_findings: str = "record"

    def channels(self, tags: tuple[str, ...], default: str | None) -> list[str]:
        """Every route whose tags meet the account's, once each; the default channel when none does."""
        matched = [r.channel for r in self.routes if set(r.tags) & set(tags)]
        return list(dict.fromkeys(matched)) or ([default] if default else [""])


@dataclass(frozen=True)
class Retention:
    """How long history is kept (`retention:`). Changes and their evidence are kept forever."""

    observations: float = 365 * 86400.0  # observation spans that ended longer ago than this are pruned
    runs: float = 90 * 86400.0  # crawl records

    def cutoffs(self, now: str) -> dict[str, str]:
        """Per prunable table, the timestamp before which rows go."""
        moment = parse_iso(now)
        return {"observations": iso(moment - timedelta(seconds=self.observations)),
                "runs": iso(moment - timedelta(seconds=self.runs))}


@dataclass(frozen=True)
class Watchlist:
    path: str
    accounts: tuple[Account, ...]
    entities: tuple[Entity, ...] = ()
    slack_channel: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    alerts: AlertSettings = AlertSettings()
    platforms: dict[str, Politeness] = field(default_factory=dict)
    service: ServiceSettings = ServiceSettings()
    retention: Retention = Retention()

    def politeness(self, platform: str) -> Politeness:
        return self.platforms.get(platform) or PLATFORMS[platform].politeness

    @functools.cached_property
    def by_key(self) -> dict[str, Account]:
        """Accounts by key, built once per loaded watchlist (the service's tick reads it every few seconds)."""
        return {a.key: a for a in self.accounts}


class _LineDict(dict):  # type: ignore[type-arg]
    line: int
    key_lines: dict[Any, int]


class _LineList(list):  # type: ignore[type-arg]
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


def _measure(root: yaml.Node, path: str) -> WatchlistError | None:
    """Before any value is built: a recursive alias, nesting deeper than MAX_DEPTH, or more than MAX_NODES nodes
    once aliases are expanded is an error at the line where it happens.

    Counts every visit, not every distinct node (aliases make the composed graph share nodes), but memoises each
    node's expanded size, so a billion-laughs file is measured in as many steps as it has distinct nodes. No
    recursion: the path from the root is an explicit stack."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes once expanded, levels)
    open_ = {id(root)}
    # the path from the root: each node with its children still to visit, [nodes, levels] so far, line of use
    stack: list[tuple[yaml.Node, Iterator[tuple[yaml.Node, int]], list[int], int]] = [
        (root, iter(_uses(root)), [1, 1], _line(root))]
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
                if parent[0] > MAX_NODES:
                    return _too_many(path, used_on)
            continue
        child, line = use
        if isinstance(child, yaml.ScalarNode):
            acc[0], acc[1] = acc[0] + 1, max(acc[1], 2)
            if acc[0] > MAX_NODES:
                return _too_many(path, line)
            if len(stack) >= MAX_DEPTH:
                return WatchlistError(path, line, "syntax", f"nested more than {MAX_DEPTH} levels deep")
            continue
        if id(child) in open_:
            return WatchlistError(path, line, "aliases", f"an alias refers to the node that contains it (anchored on "
                                  f"line {_line(child)}): a recursive structure cannot be a watchlist")
        if id(child) in done:
            size, levels = done[id(child)]
            acc[0], acc[1] = acc[0] + size, max(acc[1], levels + 1)
            if acc[0] > MAX_NODES:
                return _too_many(path, line)
            if len(stack) + levels > MAX_DEPTH:
                return WatchlistError(path, line, "syntax", f"nested more than {MAX_DEPTH} levels deep")
            continue
        if len(stack) >= MAX_DEPTH:
            return WatchlistError(path, line, "syntax", f"nested more than {MAX_DEPTH} levels deep")
        open_.add(id(child))
        stack.append((child, iter(_uses(child)), [1, 1], line))
    return None


def _too_many(path: str, line: int) -> WatchlistError:
    return WatchlistError(path, line, "aliases", f"the watchlist grows past {MAX_NODES:,} values once its aliases "
                          "(*name) are expanded; write the entries out, or use fewer aliases")


def _value(node: yaml.Node) -> Any:
    """Nodes -> str / _LineList / _LineDict, remembering lines; duplicate keys are errors."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if isinstance(node, yaml.SequenceNode):
        seq = _LineList(_value(child) for child in node.value)
        seq.line, seq.item_lines = node.start_mark.line + 1, [c.start_mark.line + 1 for c in node.value]
        return seq
    mapping = _LineDict()
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


class _Reader:
    """Walks the parsed document, collecting problems instead of stopping at the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[WatchlistError] = []
        self.accounts: list[Account] = []
        self.entities: list[Entity] = []
        self.first_line: dict[str, int] = {}
        self.canaries: list[tuple[int, str, str, Any, str]] = []

    def problem(self, line: int | None, field_: str | None, message: str) -> None:
        if len(message) > 500:  # a value quoted in a message may be a whole list an alias expanded
            message = message[:500] + "…"
        self.problems.append(WatchlistError(self.path, line, field_, message))

    def check_keys(self, mapping: _LineDict, allowed: tuple[str, ...], where: str = "") -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(mapping.key_lines[key], f"{where}{key}",
                             f"unknown key (expected one of: {', '.join(allowed)})")

    def convert(self, mapping: _LineDict, key: str, fn: Callable[[Any], Any], default: Any) -> Any:
        if key not in mapping:
            return default
        try:
            return fn(mapping[key])
        except ValueError as exc:
            self.problem(mapping.key_lines[key], key, str(exc))
            return default

    def settings(self, mapping: _LineDict, base: dict[str, Any]) -> dict[str, Any]:
        """interval / confirmations / confirm_delay / tags of an entry, over `base`."""
        out = dict(base)
        out["interval"] = self.convert(mapping, "interval", _positive_duration, base["interval"])
        out["confirm_delay"] = self.convert(mapping, "confirm_delay", parse_duration, base["confirm_delay"])
        out["confirmations"] = self.convert(mapping, "confirmations", _confirmations, base["confirmations"])
        tags = self.convert(mapping, "tags", _tags, ())
        out["tags"] = tuple(dict.fromkeys([*base["tags"], *tags]))
        return out

    def account(self, line: int, field_: str, platform: str | None, handle: Any, url: Any,
                opts: dict[str, Any], name: str | None = None, entity: str | None = None,
                canary: str | None = None) -> None:
        if url is not None:
            platform, handle = self.resolve_url(line, field_, platform, url)
            if handle is None:
                return
        if platform is None:
            self.problem(line, "platform", f"missing: give a platform ({_known()}) or a profile url")
            return
        if platform not in PLATFORMS:
            self.problem(line, "platform" if not entity else field_,
                         f"unknown platform {platform!r} (known: {_known()})")
            return
        if handle is None or handle == "":
            self.problem(line, "handle", "missing: give a handle, an id or a url")
            return
        if isinstance(handle, bool) or not isinstance(handle, (str, int)):
            self.problem(line, field_, f"{handle!r} is not a handle: write it as a quoted string")
            return
        spec = PLATFORMS[platform]
        canonical = spec.normalise(str(handle))
        if canonical is None:
            self.problem(line, field_, f"{str(handle)[:120]!r} is not a valid {spec.title} handle: expected "
                                       f"{spec.handle_help}")
            return
        if spec.instance is not None and (problem := server_problem(spec.instance(canonical))) is not None:
            self.problem(line, field_, f"{canonical}: {problem}")
            return
        key = f"{platform}:{canonical}"
        if key in self.first_line:
            self.problem(line, field_, f"duplicate account {key} (first declared on line {self.first_line[key]})")
            return
        self.first_line[key] = line
        self.accounts.append(Account(
            platform=platform, handle=canonical, key=key, name=name, entity=entity, tags=opts["tags"],
            interval=opts["interval"], confirmations=opts["confirmations"],
            confirm_delay=opts["confirm_delay"], line=line, canary=canary))

    def resolve_url(self, line: int, field_: str, platform: str | None, url: Any) -> tuple[str | None, str | None]:
        if not isinstance(url, str):
            kind = "a list" if isinstance(url, list) else "a mapping" if isinstance(url, dict) else repr(url)
            self.problem(line, field_, f"must be a profile URL written as text, not {kind}")
            return None, None
        try:
            return resolve_url(url, platform)
        except UnresolvedUrl as exc:
            self.problem(line, field_, str(exc))
            return None, None

    def entry(self, item: Any, line: int, defaults: dict[str, Any]) -> None:
        if not isinstance(item, _LineDict):
            self.problem(line, "accounts", f"each entry must be a mapping, got {item!r}")
            return
        if "accounts" in item:
            self.entity(item, defaults)
            return
        self.check_keys(item, ACCOUNT_KEYS)
        for a, b in (("handle", "id"), ("handle", "url"), ("id", "url")):
            if a in item and b in item:
                self.problem(item.key_lines[b], b, f"give either {a} or {b}, not both")
                return
        opts = self.settings(item, defaults)
        handle_key = "id" if "id" in item else "handle"
        platform = item.get("platform")
        if platform is not None and not isinstance(platform, str):
            platform = str(platform)
        line_of = item.key_lines.get(handle_key) or item.key_lines.get("url") or item.line
        self.account(line_of, "url" if "url" in item else handle_key, platform, item.get(handle_key),
                     item.get("url"), opts, name=_opt_str(item.get("name")))

    def entity(self, item: _LineDict, defaults: dict[str, Any]) -> None:
        self.check_keys(item, ENTITY_KEYS)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(item.line, "name", "an entry with accounts needs a name (the person or outlet)")
            return
        if any(e.name == name for e in self.entities):
            self.problem(item.key_lines["name"], "name", f"duplicate entity {name!r}")
            return
        opts = self.settings(item, defaults)
        self.entities.append(Entity(name=name, tags=opts["tags"], line=item.line))
        accounts = item["accounts"]
        if not isinstance(accounts, _LineDict) or not accounts:
            self.problem(item.key_lines["accounts"], "accounts",
                         "must map platforms to handles, e.g. {weibo: \"1234567890\", bluesky: name.bsky.social}")
            return
        for platform, handle in accounts.items():
            line = accounts.key_lines[platform]
            is_url = _looks_like_url(handle)
            self.account(line, f"accounts.{platform}", str(platform), None if is_url else handle,
                         handle if is_url else None, opts, entity=name)


def _looks_like_url(value: Any) -> bool:
    """A handle written as a link: with a scheme (any case), or a host with a dot then a path (`x.com/jack`;
    a Reddit `u/name` is a handle)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return "://" in text or ("/" in text and "." in text.split("/", 1)[0])


def _read_platforms(reader: _Reader, section: Any, line: int) -> dict[str, Politeness]:
    if not isinstance(section, _LineDict):
        reader.problem(line, "platforms", "must map platform names to settings, e.g. {weibo: {delay: 3s}}")
        return {}
    out: dict[str, Politeness] = {}
    for name, conf in section.items():
        where = section.key_lines[name]
        if name not in PLATFORMS:
            reader.problem(where, f"platforms.{name}", f"unknown platform {name!r} (known: {_known()})")
            continue
        if not isinstance(conf, _LineDict):
            reader.problem(where, f"platforms.{name}", "must be a mapping of concurrency, delay, batch")
            continue
        reader.check_keys(conf, PLATFORM_KEYS, f"platforms.{name}.")
        if "canaries" in conf:
            _read_canaries(reader, name, conf["canaries"], conf.key_lines["canaries"])
        base = PLATFORMS[name].politeness
        out[name] = Politeness(
            concurrency=reader.convert(conf, "concurrency", _count, base.concurrency),
            delay=reader.convert(conf, "delay", parse_duration, base.delay),
            batch=reader.convert(conf, "batch", _count, base.batch))
    return out


def _read_canaries(reader: _Reader, platform: str, section: Any, line: int) -> None:
    """Accounts of known status, checked like the others; they test the classifier and never alert."""
    where = f"platforms.{platform}.canaries"
    if not isinstance(section, _LineDict):
        reader.problem(line, where, "must map a known status to a handle, e.g. {active: ..., suspended: ...}")
        return
    for status, handle in section.items():
        if status not in CANARY_STATES:
            reader.problem(section.key_lines[status], f"{where}.{status}",
                           f"not a status (use: {', '.join(CANARY_STATES)})")
            continue
        reader.canaries.append((section.key_lines[status], f"{where}.{status}", platform, handle, status))


def _read_durations(reader: _Reader, section: Any, line: int, name: str, cls: Any, keys: tuple[str, ...]) -> Any:
    """A section of durations only (`service:`, `retention:`): each key over the dataclass's default."""
    base = cls()
    if not isinstance(section, _LineDict):
        reader.problem(line, name, f"must be a mapping of {', '.join(keys)} to durations such as 5s or 90d")
        return base
    reader.check_keys(section, keys, f"{name}.")
    return cls(**{key: reader.convert(section, key, _positive_duration, getattr(base, key)) for key in keys})


def _read_alerts(reader: _Reader, section: Any, line: int) -> AlertSettings:
    if not isinstance(section, _LineDict):
        reader.problem(line, "alerts", "must be a mapping, e.g. {slack_channel: \"#banwatch\"}")
        return AlertSettings()
    reader.check_keys(section, ALERT_KEYS, "alerts.")
    base = AlertSettings()
    routes = []
    raw_routes = section.get("routes")
    if raw_routes is None:
        raw_routes = []
    elif not isinstance(raw_routes, _LineList):
        reader.problem(section.key_lines.get("routes", line), "alerts.routes",
                       "must be a list such as [{tags: [crypto], channel: \"#crypto-watch\"}]")
        raw_routes = []
    for item, item_line in zip(raw_routes, getattr(raw_routes, "item_lines", [])):
        if not isinstance(item, _LineDict):
            reader.problem(item_line, "alerts.routes", "each route is a mapping of tags and channel")
            continue
        reader.check_keys(item, ROUTE_KEYS, "alerts.routes.")
        tags = reader.convert(item, "tags", _tags, ())
        channel = item.get("channel")
        if not tags or not isinstance(channel, str) or not channel:
            reader.problem(item_line, "alerts.routes", "a route needs tags and a channel")
            continue
        routes.append(Route(tags=tags, channel=channel))
    kinds = base.kinds
    if "kinds" in section:
        raw = section["kinds"]
        bad = [k for k in raw if k not in ALERT_KINDS] if isinstance(raw, list) else [raw]
        if bad:
            reader.problem(section.key_lines["kinds"], "alerts.kinds",
                           f"unknown kind(s) {bad} (known: {', '.join(ALERT_KINDS)})")
        else:
            kinds = frozenset(raw)
    retry_base = reader.convert(section, "retry_base", _positive_duration, base.retry_base)
    retry_max = reader.convert(section, "retry_max", _positive_duration, max(base.retry_max, retry_base))
    if retry_max < retry_base:  # both given: a long retry_base alone raises the default cap to it
        reader.problem(section.key_lines.get("retry_max"), "alerts.retry_max",
                       f"retry_max ({retry_max:g}s) is shorter than retry_base ({retry_base:g}s): the first retry "
                       "would already wait longer than the cap")
    return AlertSettings(
        slack_channel=_opt_str(section.get("slack_channel")), routes=tuple(routes), kinds=kinds,
        wave_window=reader.convert(section, "wave_window", _positive_duration, base.wave_window),
        wave_size=reader.convert(section, "wave_size", _count, base.wave_size),
        retry_base=retry_base, retry_max=retry_max,
        give_up=reader.convert(section, "give_up", _positive_duration, base.give_up),
        weak_findings=reader.convert(section, "weak_findings", _weak_findings, base.weak_findings))


def _weak_findings(value: Any) -> str:
    if value not in WEAK_FINDINGS:
        raise ValueError(f"{value!r} is not one of {', '.join(WEAK_FINDINGS)}")
    return str(value)


def _count(value: Any) -> int:
    number = _whole(value)
    if number is None or number < 1:
        raise ValueError(f"{value!r} is not a whole number (1 or more)")
    return number


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than 0s")
    return seconds


def _whole(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _confirmations(value: Any) -> int:
    number = _whole(value)
    if number is None or number < 1:
        raise ValueError(f"{number if number is not None else value!r} is not a whole number of observations "
                         "(1 or more)")
    return number


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ValueError(f"{value!r} is not a list of tags, e.g. [crypto, media]")
    return tuple(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _known() -> str:
    return ", ".join(sorted(PLATFORMS))


def parse(text: str, path: str) -> Watchlist:
    """Parse watchlist text; `path` is only used in messages."""
    try:
        root = yaml.compose(text, Loader=_Loader)  # noqa: S506 - composing builds nodes only, never objects
        if root is not None and (bomb := _measure(root, path)) is not None:
            raise InvalidWatchlist([bomb])
        doc = None if root is None else _value(root)  # depth ≤ MAX_DEPTH, size ≤ MAX_NODES: measured above
    except RecursionError:  # pure-Python composer only (libyaml refuses deep nesting itself): no traceback
        raise InvalidWatchlist([WatchlistError(path, None, "syntax", "nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InvalidWatchlist([WatchlistError(path, mark.line + 1 if mark else None, "syntax",
                                               str(exc.problem or exc.context))]) from None
    except yaml.YAMLError as exc:
        raise InvalidWatchlist([WatchlistError(path, None, "syntax", str(exc))]) from None
    reader = _Reader(path)
    if doc is None:
        doc = _LineDict()
        doc.line, doc.key_lines = 1, {}
    if not isinstance(doc, _LineDict):
        raise InvalidWatchlist([WatchlistError(path, 1, None, "the file must be a mapping with an 'accounts:' list")])
    reader.check_keys(doc, TOP_KEYS)
    defaults = dict(BUILTIN_DEFAULTS)
    if isinstance(doc.get("defaults"), _LineDict):
        reader.check_keys(doc["defaults"], DEFAULT_KEYS, "defaults.")
        defaults = reader.settings(doc["defaults"], defaults)
    elif "defaults" in doc:
        reader.problem(doc.key_lines["defaults"], "defaults", "must be a mapping, e.g. {interval: 10m}")
    alerts = _read_alerts(reader, doc["alerts"], doc.key_lines["alerts"]) if "alerts" in doc else AlertSettings()
    channel = alerts.slack_channel
    platforms = _read_platforms(reader, doc["platforms"], doc.key_lines["platforms"]) if "platforms" in doc else {}
    service = (_read_durations(reader, doc["service"], doc.key_lines["service"], "service", ServiceSettings,
                               SERVICE_KEYS) if "service" in doc else ServiceSettings())
    retention = (_read_durations(reader, doc["retention"], doc.key_lines["retention"], "retention", Retention,
                                 RETENTION_KEYS) if "retention" in doc else Retention())
    entries = doc.get("accounts")
    if entries is None:
        reader.problem(doc.line, "accounts", "missing: list the accounts to watch under 'accounts:'")
    elif not isinstance(entries, _LineList):
        reader.problem(doc.key_lines["accounts"], "accounts", "must be a list of entries")
    else:
        for item, line in zip(entries, entries.item_lines):
            reader.entry(item, line, defaults)
    for line, where, platform, handle, status in reader.canaries:
        opts = {**defaults, "tags": ("canary",)}
        reader.account(line, where, platform, handle, None, opts, name=f"canary ({status})", canary=status)
    if reader.problems:
        raise InvalidWatchlist(reader.problems)
    return Watchlist(path=path, accounts=tuple(reader.accounts), entities=tuple(reader.entities),
                     slack_channel=channel, defaults=defaults, alerts=alerts, platforms=platforms, service=service,
                     retention=retention)


def load(path: str | Path) -> Watchlist:
    """Read and parse the file: missing, a directory, unreadable, larger than MAX_BYTES or not UTF-8 is a `file:`
    (or `file:line:`) error. Nothing past the cap is read."""
    p, name = Path(path), str(path)

    def fail(message: str, line: int | None = None) -> InvalidWatchlist:
        return InvalidWatchlist([WatchlistError(name, line, None, message)])

    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail("file not found (give --watchlist PATH or set BANWATCH_WATCHLIST)") from None
    except IsADirectoryError:
        raise fail("is a directory, not a watchlist file") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise fail(f"larger than {MAX_BYTES // 1024} KiB, the most a watchlist may be (docs/watchlist.md)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
                   data.count(b"\n", 0, exc.start) + 1) from None
    return parse(text, name)
