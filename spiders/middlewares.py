"""What a redirect may carry, and where it may go.

Scrapy's RedirectMiddleware copies the request's headers onto the redirected request and, on a move to
another host, drops only `Authorization` and `Cookie`. Probes carry credentials in other headers too (X's
`x-csrf-token`, Twitch's `Client-Id`), and a redirect can point anywhere, the cloud metadata service at
169.254.169.254 included. RedirectGuardMiddleware sees every redirected request (RedirectMiddleware's and
MetaRefreshMiddleware's: both mark it with `redirect_urls` meta) before it is downloaded, and:

- when the target's origin (scheme, host, port) is not the origin of every URL in the chain so far, removes
  every header named in CREDENTIAL_HEADERS and every header whose value contains a credential value (the
  crawler's BANWATCH_SECRETS setting and the spider's `secrets`), plus `Host`, which names the first server;
- refuses a redirect to a host that is not a public server (`non_public`): an IP address in any spelling a
  resolver accepts that is loopback, private, link-local, unspecified, multicast, reserved or otherwise not
  global, or a local name (`localhost`, `.local`, `.internal`, a name without a dot...). Such a redirect is
  allowed only when the chain's first request went to a host of the same kind, which only happens when the
  platform's base URL was overridden (BANWATCH_<PLATFORM>_BASE_URL) to such a host: the tests' servers on
  127.0.0.1 may redirect to 127.0.0.2, never to 169.254.169.254. A refused redirect fails the request with
  RedirectRefused before any connection is made; the spider records it as `<platform>.redirect_refused`.

Names are judged as written: a public name that resolves to a private address is not caught here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from scrapy.exceptions import IgnoreRequest

from banwatch.spiders.platforms.base import non_public

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)

# Headers that carry a credential in some probe or in common API practice; removed on any cross-origin
# redirect whatever their value. The value scan below catches a secret in any other header.
CREDENTIAL_HEADERS = (
    "Authorization", "Cookie", "X-Csrf-Token", "Client-Id", "X-Ig-App-Id", "X-Api-Key", "X-Auth-Token",
    "X-Access-Token", "Api-Key",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RedirectRefused(IgnoreRequest):
    """A redirect to a host banwatch does not follow (a private, loopback or link-local address, a local name)."""


def origin(url: str) -> tuple[str, str, int | None]:
    """A URL's origin as (scheme lower-cased, host without a trailing dot, port or the scheme's default; None for an
    unknown scheme or an invalid port). Never raises."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip("."), port or _DEFAULT_PORTS.get(scheme)


def secret_forms(secrets: Iterable[str]) -> tuple[bytes, ...]:
    """Each credential value as it can appear in a header: as is, and percent-encoded."""
    forms = set()
    for value in secrets:
        if value:
            forms.add(value.encode("utf-8", "surrogateescape"))
            forms.add(quote(value, safe="").encode("ascii"))
    return tuple(forms)


def strip_credentials(request: Request, secrets: Iterable[str]) -> list[str]:
    """Remove from `request` every credential header and every header whose value contains a secret, and
    `Host`. Returns the names removed."""
    forms = secret_forms(secrets)
    names = {name.lower() for name in CREDENTIAL_HEADERS} | {"host"}
    removed = []
    for key, values in list(request.headers.items()):
        name = key.decode("latin-1")
        if name.lower() in names or any(form in value for value in values for form in forms):
            del request.headers[key]
            removed.append(name)
    return removed


class RedirectGuardMiddleware:
    """Downloader middleware, placed after CookiesMiddleware (700) so that it has the last word on the
    headers of a redirected request (see the module docstring)."""

    def __init__(self, crawler: Crawler | None = None, secrets: Mapping[str, str] | None = None) -> None:
        self.crawler = crawler
        self._secrets = secrets

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        """Scrapy's constructor hook: a middleware reading its secrets from `crawler`'s settings."""
        return cls(crawler)

    def secrets(self) -> Mapping[str, str]:
        """The values to look for: those given, else the BANWATCH_SECRETS setting the spider reads its own from,
        and the spider's (`secrets=` given to it take the setting's place there). Never the environment."""
        if self._secrets is not None:
            return self._secrets
        if self.crawler is None:
            return {}
        from banwatch.spiders.status import settings_secrets

        found = settings_secrets(self.crawler.settings)  # shown by name only, like the setting
        spider = getattr(self.crawler, "spider", None)
        found.update({f"spider:{name}": value for name, value in (getattr(spider, "secrets", None) or {}).items()})
        return found

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Judge a redirected request before it is sent (a request that is no redirect passes untouched).

        Raises RedirectRefused when the target is not a public server and the chain did not begin at a host of the
        same kind; strips credential headers, secret-bearing headers and `Host` when the target's origin differs from
        any URL in the chain. Returns None (Scrapy goes on with the request)."""
        chain = request.meta.get("redirect_urls")
        if not chain:
            return None
        target = origin(request.url)
        first = origin(chain[0])
        kind = non_public(target[1])
        if kind is not None and non_public(first[1]) != kind:
            raise RedirectRefused(f"redirect from {chain[-1][:200]} to {request.url[:200]} refused: "
                                  f"{target[1][:100]} is a {kind} address, not a public server")
        if any(origin(url) != target for url in chain):
            removed = strip_credentials(request, self.secrets().values())
            if removed:
                log.debug("cross-origin redirect to %s: removed headers %s", target[1], ", ".join(removed))
        return None


__all__ = ["CREDENTIAL_HEADERS", "RedirectGuardMiddleware", "RedirectRefused", "non_public", "origin",
           "strip_credentials"]
