"""The `accounts:` list: one account per entry (a platform and handle, or a profile URL), or an entity with
accounts on several platforms; and the canaries of `platforms:`, which are accounts too. Each becomes an
Account with its settings, or a `file:line: field:` problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from banwatch.monitor.model import Account
from banwatch.monitor.registry import Registry, UnresolvedUrl, current
from banwatch.monitor.watchlist.settings import DEFAULTS, Reader
from banwatch.monitor.watchlist.values import opt_str
from banwatch.monitor.watchlist.yaml_safety import LineDict, LineList, empty_mapping

# An entry's own keys, then the per-account settings of `defaults:` (declared in monitor.watchlist.settings).
_SETTING_KEYS = ("tags", *(k for k in DEFAULTS.keys if k != "tags"))
ACCOUNT_KEYS = ("platform", "handle", "id", "url", "name", *_SETTING_KEYS)
ENTITY_KEYS = ("name", *_SETTING_KEYS, "accounts")
_EXCLUSIVE = (("handle", "id"), ("handle", "url"), ("id", "url"))  # an entry gives one of them


@dataclass(frozen=True)
class Entity:
    """A person or outlet grouping accounts: its name, tags, and the watchlist line it is declared on."""

    name: str
    tags: tuple[str, ...]
    line: int


def known_platforms(registry: Registry | None = None) -> str:
    """The names of `registry`'s platforms (the installed one when None), sorted, comma-separated."""
    return ", ".join(sorted(current(registry).platforms))


def looks_like_url(value: Any) -> bool:
    """A handle written as a link: with a scheme (any case), or a host with a dot then a path (`x.com/jack`;
    a Reddit `u/name` is a handle)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return "://" in text or ("/" in text and "." in text.split("/", 1)[0])


class AccountReader(Reader):
    """Reads entries into accounts and entities, a duplicate (however written) naming its first line. The
    platforms, their handle rules and profile URLs are those of `registry` (the installed one when None)."""

    def __init__(self, path: str, registry: Registry | None = None) -> None:
        super().__init__(path, registry)
        self.accounts: list[Account] = []
        self.entities: list[Entity] = []
        self.first_line: dict[str, tuple[str, int]] = {}  # account key -> (file, line) it was first declared on
        self.entity_opts: dict[str, dict[str, Any]] = {}  # entity name -> its settings, for accounts joining it
        self.servers: dict[str, str | None] = {}  # host -> registry.server_problem(host): one answer a server

    def entries(self, doc: LineDict, defaults: dict[str, Any]) -> None:
        """Read `doc`'s `accounts:` list, each entry with `defaults`; a malformed list is a problem, and so is a
        missing one unless the watchlist includes CSV files (`include:`)."""
        entries = doc.get("accounts")
        if entries is None and "include" in doc:
            return
        if entries is None:
            self.problem(doc.line, "accounts", "missing: list the accounts to watch under 'accounts:'")
        elif not isinstance(entries, LineList):
            self.problem(doc.key_lines["accounts"], "accounts", "must be a list of entries")
        else:
            for item, line in zip(entries, entries.item_lines):
                self.entry(item, line, defaults)

    def canary_accounts(self, defaults: dict[str, Any]) -> None:
        """The canaries `platforms:` declared, read last, tagged `canary`."""
        for line, where, platform, handle, status in self.canaries:
            opts = {**defaults, "tags": ("canary",)}
            self.account(line, where, platform, handle, None, opts, name=f"canary ({status})", canary=status)

    def entry(self, item: Any, line: int, defaults: dict[str, Any]) -> None:
        """Read one entry of `accounts:` (at `line`): an entity (a mapping with `accounts`) or a single account by
        platform + handle, id or url. Problems are collected, never raised."""
        if not isinstance(item, LineDict):
            self.problem(line, "accounts", f"each entry must be a mapping, got {item!r}")
            return
        if "accounts" in item:
            self.entity(item, defaults)
            return
        self.check_keys(item, ACCOUNT_KEYS)
        for a, b in _EXCLUSIVE:
            if a in item and b in item:
                self.problem(item.key_lines[b], b, f"give either {a} or {b}, not both")
                return
        opts = DEFAULTS.fill(self, item, defaults)
        handle_key = "id" if "id" in item else "handle"
        platform = item.get("platform")
        if platform is not None and not isinstance(platform, str):
            platform = str(platform)
        line_of = item.key_lines.get(handle_key) or item.key_lines.get("url") or item.line
        self.account(line_of, "url" if "url" in item else handle_key, platform, item.get(handle_key),
                     item.get("url"), opts, name=opt_str(item.get("name")))

    def row(self, cells: dict[str, Any], line: int, defaults: dict[str, Any]) -> None:
        """Read one CSV row (monitor.watchlist.csv_include) at `line`: its non-empty cells by column (`tags` a list),
        read as entry() reads the same entry under `accounts:`, without building the mapping (a CSV has many rows);
        an `entity` cell makes the account one of that entity's (join_entity). Problems are collected."""
        for a, b in _EXCLUSIVE:
            if a in cells and b in cells:
                self.problem(line, b, f"give either {a} or {b}, not both")
                return
        entity = cells.get("entity")
        if entity is not None:
            defaults = self.join_entity(entity, line, defaults)
        opts = defaults
        if "tags" in cells:  # what entry() reads of `tags`, through the same declaration
            given = empty_mapping(line)
            given["tags"], given.key_lines["tags"] = cells["tags"], line
            opts = DEFAULTS.fill(self, given, defaults)
        handle_key = "id" if "id" in cells else "handle"
        self.account(line, "url" if "url" in cells else handle_key, cells.get("platform"), cells.get(handle_key),
                     cells.get("url"), opts, entity=entity, platform_field="platform")

    def join_entity(self, name: str, line: int, defaults: dict[str, Any]) -> dict[str, Any]:
        """The settings of the entity `name` for an account joining it from elsewhere (a CSV row): those of the entity
        declared under `accounts:`, or, the first time a name is met, a new entity (at `line`) with `defaults`."""
        if name not in self.entity_opts:
            self.entity_opts[name] = defaults
            self.entities.append(Entity(name=name, tags=defaults["tags"], line=line))
        return self.entity_opts[name]

    def entity(self, item: LineDict, defaults: dict[str, Any]) -> None:
        """Read an entity entry: its name, tags and `accounts` mapping (platform -> handle, or a list of handles).
        Problems are collected, never raised."""
        self.check_keys(item, ENTITY_KEYS)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(item.line, "name", "an entry with accounts needs a name (the person or outlet)")
            return
        if name in self.entity_opts:
            self.problem(item.key_lines["name"], "name", f"duplicate entity {name!r}")
            return
        opts = DEFAULTS.fill(self, item, defaults)
        self.entity_opts[name] = opts
        self.entities.append(Entity(name=name, tags=opts["tags"], line=item.line))
        accounts = item["accounts"]
        if not isinstance(accounts, LineDict) or not accounts:
            self.problem(item.key_lines["accounts"], "accounts",
                         "must map platforms to handles, e.g. {weibo: \"1234567890\", bluesky: name.bsky.social}")
            return
        for platform, handle in accounts.items():
            line = accounts.key_lines[platform]
            is_url = looks_like_url(handle)
            self.account(line, f"accounts.{platform}", str(platform), None if is_url else handle,
                         handle if is_url else None, opts, entity=name)

    def account(self, line: int, field_: str, platform: str | None, handle: Any, url: Any,
                opts: dict[str, Any], name: str | None = None, entity: str | None = None,
                canary: str | None = None, platform_field: str | None = None) -> None:
        """Add one account (or record a problem): `platform` and `handle` as written, or `url` resolved to both;
        `opts` its settings; `name`, `entity`, `canary` as given. An unknown platform is reported in
        `platform_field` (by default `platform`, or `field_` for an entity's account). A duplicate names its first
        line, and its file when that is another (a CSV file the watchlist includes)."""
        if url is not None:
            platform, handle = self.resolve_url(line, field_, platform, url)
            if handle is None:
                return
        if platform is None:
            self.problem(line, "platform", f"missing: give a platform ({known_platforms(self.registry)}) or a profile url")
            return
        if platform not in self.registry.platforms:
            self.problem(line, platform_field or ("platform" if not entity else field_),
                         f"unknown platform {platform!r} (known: {known_platforms(self.registry)})")
            return
        if handle is None or handle == "":
            self.problem(line, "handle", "missing: give a handle, an id or a url")
            return
        if isinstance(handle, bool) or not isinstance(handle, (str, int)):
            self.problem(line, field_, f"{handle!r} is not a handle: write it as a quoted string")
            return
        spec = self.registry.platforms[platform]
        canonical = spec.normalise(str(handle))
        if canonical is None:
            self.problem(line, field_, f"{str(handle)[:120]!r} is not a valid {spec.title} handle: expected "
                                       f"{spec.handle_help}")
            return
        if spec.instance is not None and (problem := self.server_problem(spec.instance(canonical))) is not None:
            self.problem(line, field_, f"{canonical}: {problem}")
            return
        key = f"{platform}:{canonical}"
        if key in self.first_line:
            path, first = self.first_line[key]
            where = f"on line {first}" if path == self.path else f"at {path}:{first}"
            self.problem(line, field_, f"duplicate account {key} (first declared {where})")
            return
        self.first_line[key] = (self.path, line)
        self.accounts.append(Account(
            platform=platform, handle=canonical, key=key, name=name, entity=entity, tags=opts["tags"],
            interval=opts["interval"], confirmations=opts["confirmations"],
            confirm_delay=opts["confirm_delay"], line=line, canary=canary, paused=not opts["enabled"]))

    def server_problem(self, host: str) -> str | None:
        """The registry's `server_problem(host)`, asked once per host: it depends on the host alone, and a large list
        has many accounts on each server (the check is the costliest step of reading a fediverse account)."""
        if host not in self.servers:
            self.servers[host] = self.registry.server_problem(host)
        return self.servers[host]

    def resolve_url(self, line: int, field_: str, platform: str | None, url: Any) -> tuple[str | None, str | None]:
        """A profile `url` (at `line`, `field_`) -> (platform, canonical handle), or (None, None) with a problem
        recorded when it is not text or no platform reads it."""
        if not isinstance(url, str):
            kind = "a list" if isinstance(url, list) else "a mapping" if isinstance(url, dict) else repr(url)
            self.problem(line, field_, f"must be a profile URL written as text, not {kind}")
            return None, None
        try:
            return self.registry.resolve_url(url, platform)
        except UnresolvedUrl as exc:
            self.problem(line, field_, str(exc))
            return None, None
