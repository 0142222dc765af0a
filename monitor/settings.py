"""Settings from the environment. Layers: built-in defaults < watchlist < environment < command line.

Per-platform variables are named after the platforms of the registry (monitor.registry; `registry=`, else the
installed one)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from banwatch.monitor.errors import ConfigError
from banwatch.monitor.registry import Registry, credential_names, current

DEFAULT_DB = "banwatch.db"
DEFAULT_WATCHLIST = "watchlist.yaml"
DEFAULT_SLACK_API = "https://slack.com/api/"
DEFAULT_BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's write lock


def _seconds(env: Mapping[str, str], var: str, example: int) -> tuple[float, str] | None:
    """(seconds, as written) from the environment variable `var`, or None when it is unset or blank. Raises
    ConfigError naming the variable when it is not a number; the caller checks the range."""
    raw = env.get(var, "").strip()
    if not raw:
        return None
    try:
        return float(raw), raw
    except ValueError:
        raise ConfigError(f"{var}={raw!r}: expected seconds, e.g. {example}") from None


def busy_timeout_from_env(env: Mapping[str, str] | None = None) -> float:
    """BANWATCH_BUSY_TIMEOUT: how many seconds a write transaction waits for another connection's write lock
    (SQLite's busy_timeout) before it fails with "database is locked" (default 30). Validated: 0 or more."""
    found = _seconds(os.environ if env is None else env, "BANWATCH_BUSY_TIMEOUT", 30)
    if found is None:
        return DEFAULT_BUSY_TIMEOUT
    seconds, raw = found
    if not 0 <= seconds <= 86400:
        raise ConfigError(f"BANWATCH_BUSY_TIMEOUT={raw!r}: expected seconds from 0 to 86400")
    return seconds


def base_url_var(platform: str) -> str:
    """The environment variable that points `platform` at another server (tests, the simulator)."""
    return f"BANWATCH_{platform.upper()}_BASE_URL"


def base_urls_from_env(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> dict[str, str]:
    """BANWATCH_<PLATFORM>_BASE_URL overrides, validated: scheme and host only."""
    env = os.environ if env is None else env
    out: dict[str, str] = {}
    for name in current(registry).platforms:
        var = base_url_var(name)
        value = env.get(var, "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{var}={value!r}: expected a base URL such as http://127.0.0.1:8080")
        out[name] = value
    return out


def proxy_var(platform: str) -> str:
    """The environment variable holding `platform`'s HTTP(S) proxies (BANWATCH_<PLATFORM>_PROXY)."""
    return f"BANWATCH_{platform.upper()}_PROXY"


def split_proxies(raw: str) -> list[str]:
    """The entries of a BANWATCH_<PLATFORM>_PROXY value: separated by commas and/or whitespace, empty ones
    dropped, in order. Not validated (see proxies_from_env)."""
    return [entry for entry in re.split(r"[\s,]+", raw) if entry]


def proxy_secrets(url: str) -> list[str]:
    """What of a proxy URL is secret on its own, for monitor.redact: the URL, its userinfo (`user:password`),
    its password, its `host:port` and `scheme://host:port` (what Scrapy keeps in the request once it took the
    credentials out). Pieces shorter than 4 characters are dropped (too short to mask)."""
    parts = urlsplit(url if "://" in url else "//" + url) if url else urlsplit("")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    pieces = [url, userinfo, userinfo.partition(":")[2], hostport]
    if parts.scheme and hostport:
        pieces.append(f"{parts.scheme}://{hostport}")
    return [p for p in dict.fromkeys(pieces) if len(p) >= 4]


class ProxyLists(dict[str, tuple[str, ...]]):
    """Platform name -> its proxy URLs (the BANWATCH_PROXIES Scrapy setting), a dict whose repr and str show the
    platform names only, as SecretValues does for credentials: a proxy URL may carry a password, and settings
    get printed."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: '<secret>'" for name in self) + "}"

    __str__ = __repr__


def proxies_from_env(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> ProxyLists:
    """BANWATCH_<PLATFORM>_PROXY: per platform, one proxy URL or several separated by commas and/or whitespace
    (taken round-robin by the spider), as platform name -> tuple of URLs; unset or blank platforms are absent.
    Validated: each entry an http:// or https:// URL with a host (and a numeric port if one is given). A bad
    entry raises ConfigError naming the variable and the entry's position, never the value: it is a secret."""
    env = os.environ if env is None else env
    out = ProxyLists()
    for name in current(registry).platforms:
        var = proxy_var(name)
        entries = split_proxies(env.get(var, ""))
        for i, entry in enumerate(entries, 1):
            try:
                parts = urlsplit(entry)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname)
                parts.port  # noqa: B018 - raises ValueError on a port that is not a number
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"{var}: entry {i} is not an http(s) URL with a host "
                                  "(expected e.g. http://user:password@proxy.example:3128)")
        if entries:
            out[name] = tuple(entries)
    return out


_SIZE = re.compile(r"^(\d+)\s*(|b|k|kb|kib|m|mb|mib)$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def answer_limits_from_env(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> dict[str, int]:
    """BANWATCH_<PLATFORM>_MAX_ANSWER overrides of a platform's largest answer: bytes, or with a KiB/MiB
    suffix (`12MiB`, `512k`; K and M are 1024-based). Validated: at least 1 KiB."""
    env = os.environ if env is None else env
    out: dict[str, int] = {}
    for name in current(registry).platforms:
        var = f"BANWATCH_{name.upper()}_MAX_ANSWER"
        raw = env.get(var, "").strip()
        if not raw:
            continue
        m = _SIZE.match(raw)
        size = int(m.group(1)) * _UNITS[m.group(2).lower()] if m else 0
        if size < 1024:
            raise ConfigError(f"{var}={raw!r}: expected a size of at least 1KiB, e.g. 16MiB")
        out[name] = size
    return out


def scrapy_overrides(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> dict[str, object]:
    """Scrapy settings a user may tune from the environment: BANWATCH_DOWNLOAD_TIMEOUT (seconds, default 20),
    and BANWATCH_<PLATFORM>_MAX_ANSWER (the spider's BANWATCH_ANSWER_MAXSIZE setting, see
    answer_limits_from_env)."""
    env = os.environ if env is None else env
    limits = answer_limits_from_env(env, registry)
    out: dict[str, object] = {"BANWATCH_ANSWER_MAXSIZE": limits} if limits else {}
    found = _seconds(env, "BANWATCH_DOWNLOAD_TIMEOUT", 20)
    if found is None:
        return out
    seconds, raw = found
    if seconds <= 0:
        raise ConfigError(f"BANWATCH_DOWNLOAD_TIMEOUT={raw!r}: must be more than 0")
    return {**out, "DOWNLOAD_TIMEOUT": seconds}


class SecretValues(dict[str, str]):
    """Credential name -> value, a dict whose repr and str show the names only: it is the value of the
    BANWATCH_SECRETS Scrapy setting, and settings get printed (pprint, `scrapy settings`, a traceback's
    locals). The values themselves go into request headers and nowhere else."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: '<secret>'" for name in self) + "}"

    __str__ = __repr__


def secrets_from_env(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> SecretValues:
    """The platform credentials that are set (names from each platform's `credentials`). Values are secrets:
    they go into request headers and nowhere else."""
    env = os.environ if env is None else env
    return SecretValues({name: env[name] for name in credential_names(registry) if env.get(name)})


@dataclass(frozen=True)
class SlackSettings:
    """Where alerts go. The token and webhook are secrets: they are never printed or stored."""

    bot_token: str | None
    channel: str | None
    api_url: str
    webhook_url: str | None = None

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        return f"SlackSettings(bot_token=<secret>, channel={self.channel!r}, webhook_url=<secret>)"

    @property
    def enabled(self) -> bool:
        """True when a bot token or a webhook URL is set (alerts go to Slack, not the console)."""
        return bool(self.bot_token or self.webhook_url)

    def describe(self) -> str:
        """One line saying how alerts will be delivered, every secret shown as <secret>."""
        if not self.bot_token and self.webhook_url:
            return ("Slack: incoming webhook <secret> (at-least-once delivery, no threads or waves; "
                    "set SLACK_BOT_TOKEN for exactly-once)")
        if not self.bot_token:
            return "Slack: disabled, SLACK_BOT_TOKEN not set — alerts go to the console"
        if not self.channel:
            return "Slack: token <secret> set but no channel (watchlist alerts.slack_channel or SLACK_CHANNEL)"
        return f"Slack: enabled, token <secret>, channel {self.channel}"


def slack_from_env(watchlist_channel: str | None, env: Mapping[str, str] | None = None) -> SlackSettings:
    """Slack settings from `env` (os.environ when None): SLACK_BOT_TOKEN, SLACK_WEBHOOK_URL, SLACK_CHANNEL (else
    `watchlist_channel`), BANWATCH_SLACK_API_URL (default Slack's, always ending '/'). Empty values are unset."""
    env = os.environ if env is None else env
    api = env.get("BANWATCH_SLACK_API_URL", "").strip() or DEFAULT_SLACK_API
    if not api.endswith("/"):
        api += "/"
    return SlackSettings(bot_token=env.get("SLACK_BOT_TOKEN") or None,
                         channel=env.get("SLACK_CHANNEL") or watchlist_channel, api_url=api,
                         webhook_url=env.get("SLACK_WEBHOOK_URL") or None)
