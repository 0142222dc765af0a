"""How a probe leaves this machine: the platform's HTTP(S) proxies, taken round-robin, and the local address
requests are sent from.

Both reach Scrapy as request meta: `proxy` (Scrapy's HttpProxyMiddleware takes `user:password` out of it into a
Proxy-Authorization header) and `bindaddress` (the HTTP/1.1 download handler binds the connection's local end
to it). Proxy URLs are secrets: `Egress.scrub` masks every form of them (monitor.redact's), for the error texts
the spider stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from banwatch.monitor.redact import Redactor
from banwatch.monitor.settings import ProxyLists, proxy_secrets


class Egress:
    """`Egress(proxies, bind_address)`: `proxies` maps a platform name to its proxy URLs (an empty or absent list:
    no proxy), `bind_address` is a local IP address text or '' (the system's choice). `meta(platform)` gives the
    request meta of the platform's next request; each platform's proxies are taken in turn, round-robin."""

    def __init__(self, proxies: Mapping[str, Sequence[str]] | None = None, bind_address: str = "") -> None:
        self.proxies = ProxyLists({p: tuple(urls) for p, urls in (proxies or {}).items() if urls})
        self.bind_address = bind_address or ""
        self._turns: dict[str, Iterator[str]] = {p: itertools.cycle(urls) for p, urls in self.proxies.items()}
        self._redactor = Redactor([piece for urls in self.proxies.values() for url in urls
                                   for piece in proxy_secrets(url)])

    def __repr__(self) -> str:
        return f"Egress(proxies={self.proxies!r}, bind_address={self.bind_address!r})"

    def next_proxy(self, platform: str) -> str | None:
        """The proxy URL `platform`'s next request goes through (round-robin over its list), None without one."""
        turn = self._turns.get(platform)
        return next(turn) if turn is not None else None

    def meta(self, platform: str) -> dict[str, Any]:
        """Request meta for `platform`'s next request: `proxy` (its next proxy URL) when it has proxies,
        `bindaddress` ((address, 0): any local port) when a bind address is set; {} otherwise."""
        out: dict[str, Any] = {}
        proxy = self.next_proxy(platform)
        if proxy is not None:
            out["proxy"] = proxy
        if self.bind_address:
            out["bindaddress"] = (self.bind_address, 0)
        return out

    def scrub(self, text: str) -> str:
        """`text` with every form of every proxy URL (URL, userinfo, password, host:port) masked, as
        monitor.redact masks secrets: for an error text that is stored (a failed request's reason)."""
        return self._redactor.text(text)


def settings_egress(settings: Any) -> Egress:
    """The Egress a crawler's Scrapy `settings` describe: BANWATCH_PROXIES (platform -> list of proxy URLs, a
    mapping or JSON text from `-s`) and BANWATCH_BIND_ADDRESS (a local IP address, or '')."""
    proxies = settings.getdict("BANWATCH_PROXIES")
    return Egress({str(p): [str(u) for u in ([urls] if isinstance(urls, str) else urls)] for p, urls in proxies.items()},
                  str(settings.get("BANWATCH_BIND_ADDRESS") or "").strip())
