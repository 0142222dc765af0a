"""The platforms as the core sees them: what the core needs of a platform registry, and the one installed.

The core of `monitor` (model, watchlist, settings, state, due, health, watchdog, the store, redact...) never
imports `spiders`: the platform registry is passed in. `spiders.platforms` installs its registry here when it is
imported, and the composition (monitor.cli, runner, scheduler, selftest, explain, the `__main__` modules)
imports it before it calls the core. A core function that needs the platforms takes `registry=` and defaults
to `current()`, which raises NoRegistry when nothing was installed.

What the core asks of a registry, and nothing more (`Registry`): the platforms by name, each with its title,
default politeness, handle rules, profile URL, open-network server and credential variables (`PlatformSpec`);
and profile URL resolution (`resolve_url`, raising UnresolvedUrl, and `server_problem`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from banwatch.monitor.model import Politeness

__all__ = ["NoRegistry", "PlatformSpec", "Registry", "UnresolvedUrl", "credential_names", "current", "install",
           "titles"]


class UnresolvedUrl(ValueError):
    """A profile URL banwatch cannot give to a platform; the message says why and which forms work."""


class NoRegistry(RuntimeError):
    """The core was asked about platforms before any registry was installed."""


class PlatformSpec(Protocol):
    """One platform, as far as the core reads it (spiders.platforms.base.Platform is one)."""

    @property
    def name(self) -> str:
        """Registry key, used in the watchlist ('weibo', 'x')."""

    @property
    def title(self) -> str:
        """How people write it, in messages and alerts ('X', 'Bluesky')."""

    @property
    def handle_help(self) -> str:
        """What a valid handle looks like, for error messages."""

    @property
    def politeness(self) -> Politeness:
        """Its own Politeness (concurrency, delay in seconds, batch); the watchlist's `platforms:` section overrides
        it."""

    @property
    def credentials(self) -> tuple[str, ...]:
        """Names of the environment variables holding its secrets (empty: it needs none)."""

    @property
    def normalise(self) -> Callable[[str], str | None]:
        """handle as written -> canonical handle, or None when it is not a valid one."""

    @property
    def profile_url(self) -> Callable[[str], str]:
        """canonical handle -> the profile link people can open."""

    @property
    def instance(self) -> Callable[[str], str] | None:
        """On open networks (Mastodon): canonical handle -> the server it is asked at; None elsewhere."""


class Registry(Protocol):
    """Every platform banwatch supports, and profile URL -> (platform, handle)."""

    @property
    def platforms(self) -> Mapping[str, PlatformSpec]:
        """Every supported platform by name (registry key -> PlatformSpec), in the registry's order."""

    def resolve_url(self, url: str, platform: str | None = None) -> tuple[str, str]:
        """(platform name, canonical handle); raises UnresolvedUrl naming the URL forms that work."""
        ...

    def server_problem(self, host: str) -> str | None:
        """Why `host` may not be asked as an open-network (fediverse) server, or None when it may."""
        ...


_installed: Registry | None = None


def install(registry: Registry) -> None:
    """Make `registry` the one core functions use when they are given none (spiders.platforms calls this)."""
    global _installed
    _installed = registry


def current(registry: Registry | None = None) -> Registry:
    """`registry` when given, else the installed one. Raises NoRegistry when there is none."""
    if registry is not None:
        return registry
    if _installed is None:
        raise NoRegistry("no platform registry: the composition imports spiders.platforms first "
                         "(it installs one into monitor.registry)")
    return _installed


def titles(registry: Registry | None = None) -> dict[str, str]:
    """Platform name -> title, for messages and alerts."""
    return {name: p.title for name, p in current(registry).platforms.items()}


def credential_names(registry: Registry | None = None) -> list[str]:
    """Every environment variable a platform reads a credential from, sorted (each a secret)."""
    return sorted({name for p in current(registry).platforms.values() for name in p.credentials})
