"""Every watchlist setting, declared once: its key, type, default, converter and documentation.

A section of the watchlist (`defaults:`, `alerts:`, `platforms:`, `service:`, `retention:`) is a dataclass whose
fields are made with `setting(...)`. From those fields come the keys a section allows (an unknown key is an
error listing them), the defaults, how each value is read and checked, the error each mistake reports
(`file:line: field: message`), and the settings tables of docs/watchlist.md (monitor.watchlist.docs).
What one value cannot check alone is a rule attached to its Section (alerts: retry_max ≥ retry_base).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from banwatch.monitor.errors import WatchlistError
from banwatch.monitor.model import Politeness
from banwatch.monitor.registry import PlatformSpec, Registry, current
from banwatch.monitor.timeutil import iso, parse_iso
from banwatch.monitor.watchlist import values as v
from banwatch.monitor.watchlist.yaml_safety import LineDict, LineList

ALERT_KINDS = ("suspended", "not_found", "deactivated", "restricted", "reinstated", "renamed", "health")
WEAK_FINDINGS = ("record", "alert")
CANARY_STATES = ("active", "suspended", "not_found", "deactivated", "restricted")

_SETTING = "banwatch.setting"


class Reader:
    """Collects problems instead of stopping at the first; monitor.watchlist.accounts adds the accounts.
    `registry`: the platforms the file may name (monitor.registry; the installed one when None)."""

    def __init__(self, path: str, registry: Registry | None = None) -> None:
        self.path = path
        self.registry = current(registry)
        self.problems: list[WatchlistError] = []
        self.canaries: list[tuple[int, str, str, Any, str]] = []  # (line, field, platform, handle, status)

    def problem(self, line: int | None, field_: str | None, message: str) -> None:
        """Record a problem at `line` (None: the file) in `field_`; a message over 500 characters is cut with '…'."""
        if len(message) > 500:  # a value quoted in a message may be a whole list an alias expanded
            message = message[:500] + "…"
        self.problems.append(WatchlistError(self.path, line, field_, message))

    def check_keys(self, mapping: LineDict, allowed: tuple[str, ...], where: str = "") -> None:
        """Record a problem for every key of `mapping` not in `allowed`, named `where` + key."""
        for key in mapping:
            if key not in allowed:
                self.problem(mapping.key_lines[key], f"{where}{key}",
                             f"unknown key (expected one of: {', '.join(allowed)})")

    def convert(self, mapping: LineDict, key: str, fn: Callable[[Any], Any], default: Any) -> Any:
        """`fn(mapping[key])`, or `default` when the key is absent or `fn` raises ValueError (recorded as a problem at
        the key's line)."""
        if key not in mapping:
            return default
        try:
            return fn(mapping[key])
        except ValueError as exc:
            self.problem(mapping.key_lines[key], key, str(exc))
            return default


# A structured value reads itself, reporting its own problems: (reader, value, line, field, owner) -> value.
# `owner` is the name a per-name section's mapping is under (the platform of `platforms.<name>.canaries`).
ReadHook = Callable[[Reader, Any, int, str, "str | None"], Any]
# A rule across a section's values, run once they are all read: (reader, values, keys read, mapping, field).
Rule = Callable[[Reader, dict[str, Any], set[str], LineDict, str], None]


@dataclass(frozen=True)
class Setting:
    """One key of a section. `convert` turns the written value into the setting (raising ValueError with the
    message); `read` instead reads a structured value itself. `merge` combines a value with the inherited one
    (tags add up) instead of replacing it. `shown` is the default as docs/watchlist.md writes it, when it is not
    just the default written as YAML. `qualified`: errors name `section.key`, not `key`."""

    key: str
    default: Any
    doc: str
    convert: Callable[[Any], Any] | None = None
    read: ReadHook | None = None
    merge: Callable[[Any, Any], Any] | None = None
    shown: str | None = None
    qualified: bool = False

    def field_name(self, where: str) -> str:
        """The name errors give this setting inside `where`: 'where.key' when qualified, else 'key'."""
        return f"{where}.{self.key}" if self.qualified else self.key

    def documented_default(self) -> str | None:
        """The default for the docs' table, or None when it cannot be written."""
        if self.shown is not None:
            return self.shown
        d = self.default
        if self.convert in (v.positive_duration, v.parse_duration) and isinstance(d, (int, float)):
            return f"`{v.show_duration(d)}`"
        if d == ():
            return "`[]`"
        if isinstance(d, (int, str)) and not isinstance(d, bool):
            return f"`{d}`"
        return None


def setting(default: Any, doc: str, convert: Callable[[Any], Any] | None = None, *, read: ReadHook | None = None,
            merge: Callable[[Any, Any], Any] | None = None, shown: str | None = None,
            qualified: bool = False) -> Any:
    """A dataclass field that is a watchlist setting: its name is the key, `default` its default."""
    return dataclasses.field(default=default, metadata={_SETTING: dict(
        default=default, doc=doc, convert=convert, read=read, merge=merge, shown=shown, qualified=qualified)})


@dataclass(frozen=True)
class Section:
    """A top-level key of the watchlist whose settings are the fields of `declared_by`.

    `shape`: the error when its value is not a mapping ("{keys}" lists the keys; in `name_shape`, those of plain
    values). `make`: the value the
    Watchlist holds, from the settings' values (`declared_by(**values)` when None). `names`: given the reader, the
    names the section maps (platforms, from the reader's registry; one is a `noun`), each to its own mapping of the
    settings, which must be `name_shape`; `make` then also gets what `names` holds for the name."""

    key: str
    declared_by: type
    shape: str
    make: Callable[..., Any] | None = None
    rules: tuple[Rule, ...] = ()
    names: Callable[[Reader], Mapping[str, Any]] | None = None
    noun: str = ""
    name_shape: str = ""
    settings: tuple[Setting, ...] = ()

    def __post_init__(self) -> None:
        declared = []
        for f in dataclasses.fields(self.declared_by):
            meta = f.metadata.get(_SETTING)
            if meta is None:  # a plain field: no doc, maybe no default (tests/test_watchlist_settings.py)
                default = None if f.default is dataclasses.MISSING else f.default
                declared.append(Setting(f.name, default, "", convert=_undeclared))
            else:
                declared.append(Setting(f.name, **meta))
        object.__setattr__(self, "settings", tuple(declared))

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys the section accepts, in declaration order."""
        return tuple(s.key for s in self.settings)

    @property
    def defaults(self) -> dict[str, Any]:
        """Each key's default value (key -> value)."""
        return {s.key: s.default for s in self.settings}

    def default(self) -> Any:
        """What the Watchlist holds when the section is left out (or is not a mapping)."""
        return {} if self.names is not None else self._make(self.defaults, None)

    def _make(self, values: dict[str, Any], owner: Any = None) -> Any:
        if self.make is None:
            return self.declared_by(**values)
        return self.make(values, owner) if self.names is not None else self.make(values)

    def read(self, reader: Reader, raw: Any, line: int) -> Any:
        """The section's value from what the file holds under its key (on `line`), every problem reported."""
        if self.names is None:
            if not isinstance(raw, LineDict):
                reader.problem(line, self.key, self.shape.replace("{keys}", ", ".join(self.keys)))
                return self.default()
            reader.check_keys(raw, self.keys, f"{self.key}.")
            return self._make(self.fill(reader, raw, self.defaults, self.key), None)
        if not isinstance(raw, LineDict):
            reader.problem(line, self.key, self.shape)
            return {}
        out = {}
        names = self.names(reader)
        for name, conf in raw.items():
            where = f"{self.key}.{name}"
            if name not in names:
                reader.problem(raw.key_lines[name], where,
                               f"unknown {self.noun} {name!r} (known: {', '.join(sorted(names))})")
                continue
            if not isinstance(conf, LineDict):
                simple = ", ".join(s.key for s in self.settings if s.read is None)
                reader.problem(raw.key_lines[name], where, self.name_shape.replace("{keys}", simple))
                continue
            reader.check_keys(conf, self.keys, f"{where}.")
            out[name] = self._make(self.fill(reader, conf, self.defaults, where, name), names[name])
        return out

    def fill(self, reader: Reader, mapping: LineDict, inherited: dict[str, Any], where: str = "",
             owner: str | None = None) -> dict[str, Any]:
        """`inherited` with every setting `mapping` gives read over it; a value that cannot be read is reported
        and leaves the inherited one. Unknown keys are the caller's to check (an entry allows more keys)."""
        values = dict(inherited)
        given = set()
        for s in self.settings:
            if s.key not in mapping:
                continue
            if s.read is not None:
                values[s.key] = s.read(reader, mapping[s.key], mapping.key_lines[s.key], f"{where}.{s.key}", owner)
            else:
                try:
                    value = s.convert(mapping[s.key])  # type: ignore[misc]
                except ValueError as exc:
                    reader.problem(mapping.key_lines[s.key], s.field_name(where), str(exc))
                    continue
                values[s.key] = value if s.merge is None else s.merge(values[s.key], value)
            given.add(s.key)
        for rule in self.rules:
            rule(reader, values, given, mapping, where)
        return values


def _undeclared(value: Any) -> Any:
    raise ValueError("this key is not declared with setting() in monitor/watchlist/settings.py")


# --- defaults: and every entry -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AccountSettings:
    """`defaults:`; an entry or an entity can give any of them too (tags add up, the others replace)."""

    interval: float = setting(600.0, "time between checks of an account (±10 % jitter)", v.positive_duration)
    confirmations: int = setting(2, "agreeing conclusive observations needed to confirm a change", v.confirmations)
    confirm_delay: float = setting(120.0, "wait before rechecking an account whose status just changed",
                                   v.parse_duration)
    tags: tuple[str, ...] = setting((), "tags added to every account", v.tags, merge=v.add_tags)
    enabled: bool = setting(
        True, "`false` pauses the account: it is not checked, and keeps its history and status (`banwatch status` "
        "shows it as paused) until `true` or `banwatch resume`. On an entity it pauses all of its accounts",
        v.boolean, shown="`true`")


# --- alerts: -----------------------------------------------------------------------------------------------

APPRISE_PREFIX = "apprise:"  # an outbox channel `apprise:VAR`: the Apprise URL in environment variable VAR
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class Route:
    """An alert route: accounts whose tags meet `tags` alert in `channel`: a Slack channel name or id, or
    `apprise:VAR` (any service Apprise supports, at least once; its URL is in environment variable VAR).
    `line`: where the route is written (None when not read from a file)."""

    tags: tuple[str, ...]
    channel: str
    line: int | None = dataclasses.field(default=None, compare=False)

    @property
    def apprise_var(self) -> str | None:
        """The environment variable holding this route's Apprise URL, or None for a Slack route."""
        return self.channel[len(APPRISE_PREFIX):] if self.channel.startswith(APPRISE_PREFIX) else None


ROUTE_KEYS = ("tags", "channel", "apprise")
_SECRET_IN_FILE = ("holds what looks like a URL; Apprise URLs carry tokens, so they live only in the environment: "
                   "put the URL in an environment variable and name the variable here, e.g. apprise: DISCORD_CRYPTO")


def _looks_like_url(value: str) -> bool:
    return "://" in value or "@" in value or "/" in value


def _routes(reader: Reader, raw: Any, line: int, where: str, owner: str | None) -> tuple[Route, ...]:
    if not isinstance(raw, LineList):
        reader.problem(line, where, "must be a list such as [{tags: [crypto], channel: \"#crypto-watch\"}]")
        return ()
    routes = []
    for item, item_line in zip(raw, raw.item_lines):
        if not isinstance(item, LineDict):
            reader.problem(item_line, where, "each route is a mapping of tags and a channel (or apprise)")
            continue
        reader.check_keys(item, ROUTE_KEYS, f"{where}.")
        tags = reader.convert(item, "tags", v.tags, ())
        channel, var = item.get("channel"), item.get("apprise")
        # A URL is never quoted back: it may hold a token, and this message is printed and logged.
        if isinstance(channel, str) and "://" in channel:
            reader.problem(item.key_lines.get("channel", item_line), f"{where}.channel",
                           "a channel is a Slack channel name or id; this one " + _SECRET_IN_FILE)
            continue
        if var is not None:
            at = item.key_lines.get("apprise", item_line)
            if channel is not None:
                reader.problem(at, where, "a route has a channel or apprise, not both")
                continue
            if not isinstance(var, str) or _looks_like_url(var):
                reader.problem(at, f"{where}.apprise", "must name an environment variable; this value "
                               + (_SECRET_IN_FILE if isinstance(var, str) else "is not a name"))
                continue
            if not _ENV_NAME.fullmatch(var):
                reader.problem(at, f"{where}.apprise", f"{var!r} is not an environment variable name "
                               "(letters, digits and _, e.g. DISCORD_CRYPTO)")
                continue
            from banwatch.monitor.redact import register_secret_vars

            register_secret_vars([var])  # its value is masked everywhere from now on
            channel = APPRISE_PREFIX + var
        elif isinstance(channel, str) and channel.startswith(APPRISE_PREFIX):
            reader.problem(item.key_lines.get("channel", item_line), f"{where}.channel",
                           f"write an Apprise route as apprise: {channel[len(APPRISE_PREFIX):] or 'VARIABLE'}")
            continue
        if not tags or not isinstance(channel, str) or not channel:
            reader.problem(item_line, where, "a route needs tags and a channel (or apprise)")
            continue
        routes.append(Route(tags=tags, channel=channel, line=item_line))
    return tuple(routes)


@dataclass(frozen=True)
class AlertSettings:
    """What alerts, where it goes, how waves group and how long delivery keeps trying (`alerts:`)."""

    slack_channel: str | None = setting(
        None, "the default channel; the `SLACK_CHANNEL` environment variable overrides it", v.opt_str, shown="—")
    routes: tuple[Route, ...] = setting(
        (), "a list of `{tags, channel}` or `{tags, apprise}`. An alert goes to every channel whose route shares a tag "
        "with the account, once per channel. With no matching route, it goes to the default channel. `apprise: VAR` "
        "sends to any service Apprise supports (Discord, Teams, Telegram, ntfy, e-mail, JSON webhooks...) at least "
        "once, its URL read from environment variable `VAR`: never write the URL here", read=_routes, shown="none")
    kinds: frozenset[str] = setting(
        frozenset(k for k in ALERT_KINDS if k != "restricted"),
        "which alert kinds are sent: " + ", ".join(f"`{k}`" for k in ALERT_KINDS) + ". Changes are recorded either "
        "way", v.some_of(ALERT_KINDS, "kind"), shown="all but `restricted`", qualified=True)
    wave_window: float = setting(600.0, "suspensions on one platform this close together are grouped...",
                                 v.positive_duration)
    wave_size: int = setting(3, "...into one wave message once there are this many. Later ones are posted as replies "
                             "in its thread, and the wave message is updated with the new count", v.count)
    retry_base: float = setting(30.0, "the first retry of a failed delivery waits this long, doubling each time up to "
                                "`retry_max`, and never less than Slack's `Retry-After`", v.positive_duration)
    retry_max: float = setting(
        300.0, "the longest wait between retries, so an alert goes out within this long once Slack is back after an "
        "outage (Alertmanager retries at least every minute). Slack's `Retry-After` always wins, up to a day: a "
        "rate-limited alert (429) is kept pending until then with the rest of its channel, `banwatch check` returns "
        "at once and says when it will go, and only a `Retry-After` of 5 s or less is waited out inside the call. "
        "Must not be shorter than `retry_base`; a longer `retry_base` alone raises it to `retry_base`",
        v.positive_duration)
    give_up: float = setting(86400.0, "an alert that is still undelivered after this long becomes `dead`; "
                             "`banwatch alerts retry` revives it", v.positive_duration)
    # A loss (suspended, not_found, deactivated) read by a weak rule: "record" keeps it as an unconfirmed
    # change with no alert until a proof rule reads the same status; "alert" alerts it like any other.
    weak_findings: str = setting(
        "record", "a loss (`suspended`, `not_found`, `deactivated`) read by a *weak* rule — one whose answer the "
        "platform also gives for an account merely hidden from banwatch (private, age-gated, region-blocked, never "
        "registered; the matrix in [platforms.md](platforms.md) marks them) — is recorded as an **unconfirmed** "
        "change (`status` and `history` say so) and raises no alert; when a proof rule later reads the same status, "
        "or another loss, it is alerted then. Alerts follow what was announced: a return to `active` alerts "
        "`reinstated` only when the last announced status was a loss, and going back to the announced status "
        "through an unconfirmed one raises nothing. `alert`: weak losses alert like any other",
        v.one_of(WEAK_FINDINGS))

    def unset_targets(self, path: str, env: Mapping[str, str] | None = None) -> list[WatchlistError]:
        """A problem (file:line) for each `apprise:` route whose environment variable is unset or blank in `env`
        (os.environ when None): checked where alerts are configured (validate, check, run, alerts send)."""
        env = os.environ if env is None else env
        return [WatchlistError(path, r.line, "alerts.routes.apprise",
                               f"environment variable {r.apprise_var} is not set: it must hold the Apprise URL "
                               "this route sends to")
                for r in self.routes if r.apprise_var and not env.get(r.apprise_var, "").strip()]

    def channels(self, tags: tuple[str, ...], default: str | None) -> list[str]:
        """Every route whose tags meet the account's, once each; the default channel when none does."""
        matched = [r.channel for r in self.routes if set(r.tags) & set(tags)]
        return list(dict.fromkeys(matched)) or ([default] if default else [""])


def _retry_cap(reader: Reader, values: dict[str, Any], given: set[str], mapping: LineDict, where: str) -> None:
    """retry_max ≥ retry_base: both given, it is an error; retry_base alone raises the default cap to it."""
    if "retry_max" not in given:
        values["retry_max"] = max(values["retry_max"], values["retry_base"])
    elif values["retry_max"] < values["retry_base"]:
        reader.problem(mapping.key_lines.get("retry_max"), f"{where}.retry_max",
                       f"retry_max ({values['retry_max']:g}s) is shorter than retry_base ({values['retry_base']:g}s): "
                       "the first retry would already wait longer than the cap")


# --- platforms: --------------------------------------------------------------------------------------------

def _canaries(reader: Reader, raw: Any, line: int, where: str, platform: str | None) -> tuple[str, ...]:
    """Accounts of known status, checked like the others; they test the classifier and never alert. They become
    accounts once the entries are read (monitor.watchlist.accounts)."""
    if not isinstance(raw, LineDict):
        reader.problem(line, where, "must map a known status to a handle, e.g. {active: ..., suspended: ...}")
        return ()
    for status, handle in raw.items():
        if status not in CANARY_STATES:
            reader.problem(raw.key_lines[status], f"{where}.{status}",
                           f"not a status (use: {', '.join(CANARY_STATES)})")
            continue
        reader.canaries.append((raw.key_lines[status], f"{where}.{status}", str(platform), handle, status))
    return tuple(raw)


_OWN = "the platform's own (below)"


@dataclass(frozen=True)
class PlatformSettings:
    """`platforms.<name>:`, how hard banwatch may ask one platform; a setting left out is the platform's own."""

    concurrency: int | None = setting(None, "parallel requests", v.count, shown=_OWN)
    delay: float | None = setting(None, "pause between requests", v.parse_duration, shown=_OWN)
    batch: int | None = setting(None, "most accounts of the platform started per tick", v.count, shown=_OWN)
    canaries: tuple[str, ...] = setting(
        (), "accounts of known status, `{active: HANDLE, suspended: HANDLE, ...}`", read=_canaries, shown="none")


def _platforms(reader: Reader) -> Mapping[str, PlatformSpec]:
    return reader.registry.platforms


def _politeness(values: dict[str, Any], platform: PlatformSpec) -> Politeness:
    base = platform.politeness
    return Politeness(**{key: getattr(base, key) if values[key] is None else values[key]
                         for key in ("concurrency", "delay", "batch")})


# --- service: and retention: -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceSettings:
    """How often the long-lived service's jobs run (`service:` in the watchlist)."""

    tick: float = setting(5.0, "how often due accounts are looked for", v.positive_duration)
    deliver_every: float = setting(5.0, "how often the alert outbox is drained", v.positive_duration)
    reload_every: float = setting(
        5.0, "how often the watchlist file is compared with what is running; an edit is applied once it reads the "
        "same on two looks in a row (so a save caught half-written is never reported as broken)", v.positive_duration)
    health_window: float = setting(
        900.0, "how long a platform must be ≥ 90 % unknown before a \"blind\" health alert", v.positive_duration)


@dataclass(frozen=True)
class Retention:
    """How long history is kept (`retention:`). Changes and their evidence are kept forever."""

    observations: float = setting(
        365 * 86400.0, "observation spans that ended longer ago are deleted (an account's current span stays)",
        v.positive_duration)
    runs: float = setting(90 * 86400.0, "crawl records older than this are deleted", v.positive_duration)

    def cutoffs(self, now: str) -> dict[str, str]:
        """Per prunable table, the timestamp before which rows go."""
        moment = parse_iso(now)
        return {"observations": iso(moment - timedelta(seconds=self.observations)),
                "runs": iso(moment - timedelta(seconds=self.runs))}


# --- the sections, in the order they are read --------------------------------------------------------------

DEFAULTS = Section("defaults", AccountSettings, "must be a mapping, e.g. {interval: 10m}", make=dict)
ALERTS = Section("alerts", AlertSettings, "must be a mapping, e.g. {slack_channel: \"#banwatch\"}",
                 rules=(_retry_cap,))
PLATFORMS_SECTION = Section(
    "platforms", PlatformSettings, "must map platform names to settings, e.g. {weibo: {delay: 3s}}",
    make=_politeness, names=_platforms, noun="platform", name_shape="must be a mapping of {keys}")
SERVICE = Section("service", ServiceSettings, "must be a mapping of {keys} to durations such as 5s or 90d")
RETENTION = Section("retention", Retention, "must be a mapping of {keys} to durations such as 5s or 90d")
SECTIONS = (DEFAULTS, ALERTS, PLATFORMS_SECTION, SERVICE, RETENTION)
BUILTIN_DEFAULTS: dict[str, Any] = DEFAULTS.default()
