"""Load watchlist.yaml into Accounts, keeping line numbers so every error points at its line.

An entry is one account (`{platform: reddit, handle: spez}` or `{url: https://...}`) or an entity — an
influencer or outlet — with accounts on several platforms (`{name: ..., accounts: {weibo: "123", ...}}`).
Loading is all or nothing: any problem raises InvalidWatchlist listing every problem found.

The package, by concern:
- yaml_safety: text -> plain values with line numbers, bounded in bytes, values, nesting and aliases;
- values: the converters (durations, counts, tags) and their error messages;
- settings: every setting of `defaults:`, `alerts:`, `platforms:`, `service:`, `retention:`, declared once
  (key, type, default, converter, doc), and the one reader they all go through;
- accounts: entries, entities, profile URLs and canaries -> Accounts;
- csv_include: `include:`, accounts listed in CSV files, read as the same entries, within their own bounds;
- docs: docs/watchlist.md's settings tables, generated from the declarations
  (`python -m banwatch.monitor.watchlist --write-docs docs/watchlist.md`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from banwatch.monitor.errors import InvalidWatchlist, WatchlistError
from banwatch.monitor.model import Account, Politeness
from banwatch.monitor.registry import PlatformSpec, Registry, current
from banwatch.monitor.watchlist.accounts import ACCOUNT_KEYS, ENTITY_KEYS, AccountReader, Entity
from banwatch.monitor.watchlist.csv_include import MAX_INCLUDE_BYTES, MAX_INCLUDE_ROWS, include
from banwatch.monitor.watchlist.settings import (
    ALERT_KINDS, ALERTS, BUILTIN_DEFAULTS, CANARY_STATES, DEFAULTS, PLATFORMS_SECTION, RETENTION, ROUTE_KEYS, SECTIONS,
    SERVICE, WEAK_FINDINGS, AlertSettings, Retention, Route, ServiceSettings)
from banwatch.monitor.watchlist.values import parse_duration
from banwatch.monitor.watchlist.yaml_safety import MAX_BYTES, MAX_DEPTH, MAX_NODES, LineDict, compose, empty_mapping, read_text

__all__ = [
    "ACCOUNT_KEYS", "ALERT_KEYS", "ALERT_KINDS", "BUILTIN_DEFAULTS", "CANARY_STATES", "DEFAULT_KEYS", "ENTITY_KEYS",
    "MAX_BYTES", "MAX_DEPTH", "MAX_INCLUDE_BYTES", "MAX_INCLUDE_ROWS", "MAX_NODES", "PLATFORM_KEYS", "RETENTION_KEYS",
    "ROUTE_KEYS", "SERVICE_KEYS",
    "TOP_KEYS", "WEAK_FINDINGS", "AlertSettings", "Entity", "Retention", "Route", "ServiceSettings", "Watchlist",
    "load", "parse", "parse_duration"]

# The keys each mapping allows, derived from the declarations (monitor.watchlist.settings).
TOP_KEYS = (*(s.key for s in SECTIONS), "accounts", "include")
DEFAULT_KEYS = DEFAULTS.keys
ALERT_KEYS = ALERTS.keys
PLATFORM_KEYS = PLATFORMS_SECTION.keys
SERVICE_KEYS = SERVICE.keys
RETENTION_KEYS = RETENTION.keys


@dataclass(frozen=True)
class Watchlist:
    """A loaded watchlist: its path, accounts and entities, the default Slack channel, defaults, alert settings,
    per-platform politeness overrides, service settings and retention. Frozen. `accounts` are those to check;
    the paused ones (`enabled: false`) are in `paused`."""

    path: str
    accounts: tuple[Account, ...]
    entities: tuple[Entity, ...] = ()
    slack_channel: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    alerts: AlertSettings = AlertSettings()
    platforms: dict[str, Politeness] = field(default_factory=dict)
    service: ServiceSettings = ServiceSettings()
    retention: Retention = Retention()
    includes: tuple[str, ...] = ()  # the CSV files `include:` names, as opened (a service watches them for edits)
    paused: tuple[Account, ...] = ()  # `enabled: false`: not in `accounts` (never checked), kept in the database
    # The platforms the file was read against (monitor.registry); None: the installed one.
    registry: Registry | None = field(default=None, compare=False, repr=False)

    def platform(self, name: str) -> PlatformSpec:
        """The platform `name` as the registry declares it (title, politeness, profile URLs)."""
        return current(self.registry).platforms[name]

    def politeness(self, platform: str) -> Politeness:
        """The Politeness for `platform`: the watchlist's override, else the platform's own. Raises NoRegistry when no
        platform registry is installed."""
        return self.platforms.get(platform) or self.platform(platform).politeness

    @functools.cached_property
    def by_key(self) -> dict[str, Account]:
        """Accounts by key, built once per loaded watchlist (the service's tick reads it every few seconds)."""
        return {a.key: a for a in self.accounts}


def parse(text: str, path: str, registry: Registry | None = None) -> Watchlist:
    """Parse watchlist text; `path` is only used in messages. The platforms are `registry`'s (monitor.registry;
    the installed one when None)."""
    doc = compose(text, path, MAX_NODES, MAX_DEPTH)  # this module's limits: set (or lowered) here
    if doc is None:
        doc = empty_mapping()
    if not isinstance(doc, LineDict):
        raise InvalidWatchlist([WatchlistError(path, 1, None, "the file must be a mapping with an 'accounts:' list")])
    reader = AccountReader(path, registry)
    reader.check_keys(doc, TOP_KEYS)
    read = {s.key: s.read(reader, doc[s.key], doc.key_lines[s.key]) if s.key in doc else s.default()
            for s in SECTIONS}
    defaults = read["defaults"]
    reader.entries(doc, defaults)
    includes = () if "include" not in doc else include(
        reader, doc["include"], doc.key_lines["include"], Path(path).parent, defaults,
        MAX_INCLUDE_BYTES, MAX_INCLUDE_ROWS)  # this module's limits, like MAX_NODES
    reader.canary_accounts(defaults)
    if reader.problems:
        raise InvalidWatchlist(reader.problems)
    return Watchlist(path=path, accounts=tuple(a for a in reader.accounts if not a.paused),
                     paused=tuple(a for a in reader.accounts if a.paused), entities=tuple(reader.entities),
                     slack_channel=read["alerts"].slack_channel, defaults=defaults, alerts=read["alerts"],
                     platforms=read["platforms"], service=read["service"], retention=read["retention"],
                     includes=includes, registry=reader.registry)


def load(path: str | Path, registry: Registry | None = None) -> Watchlist:
    """Read and parse the file: missing, a directory, unreadable, larger than MAX_BYTES or not UTF-8 is a `file:`
    (or `file:line:`) error. Nothing past the cap is read."""
    return parse(read_text(path, MAX_BYTES), str(path), registry)
