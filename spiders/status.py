"""StatusSpider: one request per account, each reply classified by its platform module.

The spider never writes the database: it yields Observations. In process, banwatch passes Account
objects (`accounts=`); from the command line, `scrapy crawl status -a watchlist=examples/watchlist.yaml
-o -:jsonlines` is a dry run that prints what every account looks like now.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from banwatch.monitor.model import Account, Observation, Reply, Status, Verdict
from banwatch.monitor.settings import SecretValues
from banwatch.monitor.timeutil import iso
from banwatch.spiders.egress import Egress, settings_egress
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import MissingCredentials, Politeness, Probe, answer_limits, rebase

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)

_FAILURE_RULES = (
    ("DownloadTimeoutError", "timeout"), ("TimeoutError", "timeout"), ("TCPTimedOutError", "timeout"),
    ("CannotResolveHostError", "dns"), ("DNSLookupError", "dns"),
    ("ConnectionRefusedError", "connection_refused"), ("DownloadConnectionRefusedError", "connection_refused"),
    ("ResponseDataLossError", "truncated"), ("PotentialDataLoss", "truncated"),
    ("ConnectionLost", "connection_lost"), ("ResponseNeverReceived", "connection_lost"),
    ("ConnectionDone", "connection_lost"), ("DownloadFailedError", "connection_lost"),
    ("DownloadCancelledError", "cancelled"),
)


def too_large(failure: Failure) -> bool:
    """The answer was larger than the request's download_maxsize, how Scrapy 2.19 reports it: a declared
    Content-Length over it (DownloadCancelledError naming "max size"), a body that grew past it while read
    (the HTTP/1.1 handler cancels its own download: DownloadCancelledError, empty message; nothing else
    cancels a download there), or a body that decompressed past it (HttpCompressionMiddleware: IgnoreRequest
    naming DOWNLOAD_MAXSIZE)."""
    names = {cls.__name__ for cls in failure.type.__mro__}
    message = failure.getErrorMessage()
    if "DownloadCancelledError" in names:
        return "max size" in message or not str(failure.value)
    return "IgnoreRequest" in names and "DOWNLOAD_MAXSIZE" in message


def failure_rule(failure: Failure) -> str:
    """The unknown rule's suffix for a request that failed: too_large, redirect_refused, timeout, dns, ...,
    network_error when nothing more specific matches."""
    if too_large(failure):
        return "too_large"
    names = {cls.__name__ for cls in failure.type.__mro__}
    if "RedirectRefused" in names:  # spiders.middlewares: a redirect to a non-public host, never followed
        return "redirect_refused"
    return next((rule for name, rule in _FAILURE_RULES if name in names), "network_error")


def settings_secrets(settings: BaseSettings) -> SecretValues:
    """The BANWATCH_SECRETS setting (a mapping, or JSON text from `-s`), as a SecretValues: shown by name only."""
    return SecretValues({str(k): str(v) for k, v in settings.getdict("BANWATCH_SECRETS").items() if v})


def download_slot(account: Account) -> str:
    """Politeness is per platform, and per instance on Mastodon (each instance limits on its own)."""
    if account.platform == "mastodon":
        return f"mastodon@{account.handle.partition('@')[2]}"
    return account.platform


def download_slots(accounts: list[Account], politeness: Callable[[str], Politeness]) -> dict[str, dict[str, Any]]:
    """Scrapy DOWNLOAD_SLOTS for these accounts: the slot a request uses decides its concurrency and delay."""
    slots = {}
    for account in accounts:
        p = politeness(account.platform)
        slots[download_slot(account)] = {"concurrency": p.concurrency, "delay": p.delay}
    return slots


class Feed(Protocol):
    """Where a long-lived crawl takes its accounts from (monitor.fetching.LocalFetcher)."""

    async def get(self) -> Account | None:
        """The next account to check, waiting for one; None ends the crawl."""


class StatusSpider(scrapy.Spider):
    """Configured by its crawler's settings (spiders/settings.py documents them): BANWATCH_BASE_URLS,
    BANWATCH_SECRETS, BANWATCH_ANSWER_MAXSIZE, BANWATCH_PROXIES and BANWATCH_BIND_ADDRESS. It never reads the
    environment. `base_urls=`, `secrets=` and `egress=` (spiders.egress.Egress) given to the constructor take the
    place of the settings."""

    name = "status"
    egress = Egress()  # the crawler's settings give each spider its own (from_crawler); none: no proxy, no binding

    def __init__(self, accounts: list[Account] | None = None, base_urls: dict[str, str] | None = None,
                 watchlist: str | None = None, keep_evidence: bool | str = True,
                 secrets: Mapping[str, str] | None = None, feed: Feed | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed = feed
        if accounts is None and watchlist:
            from banwatch.monitor.watchlist import load
            accounts = list(load(watchlist).accounts)
            keep_evidence = False  # the dry run prints observations as JSON lines
        self.accounts = {a.key: a for a in accounts or []}
        self.base_urls: dict[str, str] = dict(base_urls or {})
        self.secrets: SecretValues = SecretValues(secrets or {})
        self.keep_evidence = keep_evidence is True

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StatusSpider:
        """Scrapy's constructor: base URLs and secrets from the crawler's settings unless given."""
        if kwargs.get("base_urls") is None:
            kwargs["base_urls"] = crawler.settings.getdict("BANWATCH_BASE_URLS")
        if kwargs.get("secrets") is None:
            kwargs["secrets"] = settings_secrets(crawler.settings)
        if kwargs.get("egress") is None:  # BANWATCH_PROXIES, BANWATCH_BIND_ADDRESS
            kwargs["egress"] = settings_egress(crawler.settings)
        spider: StatusSpider = super().from_crawler(crawler, *args, **kwargs)
        return spider

    def max_answer(self, platform: str) -> int:
        """The largest answer read from `platform`: the BANWATCH_ANSWER_MAXSIZE setting (from
        BANWATCH_<PLATFORM>_MAX_ANSWER, monitor.settings.scrapy_overrides), else Platform.max_answer."""
        limits = self.settings.getdict("BANWATCH_ANSWER_MAXSIZE") if hasattr(self, "crawler") else {}
        return int(limits.get(platform) or PLATFORMS[platform].max_answer)

    async def start(self) -> AsyncIterator[scrapy.Request | Observation]:
        """One probe request per account; an account whose platform lacks a credential is yielded as an unknown
        Observation (`<platform>.no_credentials`) instead.

        Given a `feed`, the crawl is long-lived: the accounts come from `await feed.get()` until it returns None.
        Scrapy pulls the next one only while its downloader has room (the engine's `needs_backout`), and keeps a
        spider whose start() is still awaiting open, so due checks start as they come, never a crawl per batch."""
        if self.feed is None:
            for account in self.accounts.values():
                yield self._first(account)
            return
        while (account := await self.feed.get()) is not None:
            self.accounts[account.key] = account
            yield self._first(account)

    def _first(self, account: Account) -> scrapy.Request | Observation:
        try:
            probe = PLATFORMS[account.platform].probe(account, self.secrets)
        except MissingCredentials as exc:
            return self._unknown(account.key, f"{account.platform}.no_credentials", str(exc), ())
        return self._request(account, probe, self.parse)

    def _request(self, account: Account, probe: Probe, callback: Callable[..., Any], **kwargs: Any) -> scrapy.Request:
        url, extra = rebase(probe.url, self.base_urls.get(account.platform))
        return scrapy.Request(url, headers={**probe.headers, **extra}, callback=callback, errback=self.failed,
                              dont_filter=True, cb_kwargs={"key": account.key, **kwargs},
                              meta={"download_slot": download_slot(account),
                                    **answer_limits(self.max_answer(account.platform)),
                                    **self.egress.meta(account.platform)})

    def parse(self, response: Response, key: str) -> Any:
        """The first probe's reply for account `key`: its Observation, or the second probe's Request when the
        platform needs one to tell (Platform.second_probe). Classifier errors become unknown verdicts."""
        account = self.accounts[key]
        platform = PLATFORMS[account.platform]
        reply = _reply(response)
        verdict = platform.read_safely(reply, account)
        if platform.second_probe is not None:
            second = platform.second_probe(verdict, account, self.secrets)
            if second is not None:  # one endpoint could not tell: ask the second, same check
                return self._request(account, second, self.parse_second, first=verdict, first_url=response.url)
        return self._observation(key, verdict, reply, (response.url,))

    def parse_second(self, response: Response, key: str, first: Verdict, first_url: str) -> Observation:
        """The second probe's reply, read knowing the `first` verdict: the Observation (both URLs as probes)."""
        account = self.accounts[key]
        platform = PLATFORMS[account.platform]
        reply = _reply(response)
        verdict = platform.read_safely(reply, account, first)
        return self._observation(key, verdict, reply, (first_url, response.url))

    def _observation(self, key: str, verdict: Verdict, reply: Reply, probes: tuple[str, ...]) -> Observation:
        return Observation(
            account_key=key, status=verdict.status, rule=verdict.rule, reason=verdict.reason,
            checked_at=iso(datetime.now(UTC)), http_status=reply.status, platform_id=verdict.platform_id,
            display_name=verdict.display_name, evidence=reply if self.keep_evidence else None,
            probes=probes, handle=verdict.handle, weak=verdict.weak, classifier_version=self._version(key))

    def _unknown(self, key: str, rule: str, reason: str, probes: tuple[str, ...]) -> Observation:
        return Observation(account_key=key, status=Status.UNKNOWN, rule=rule, reason=reason,
                           checked_at=iso(datetime.now(UTC)), probes=probes, classifier_version=self._version(key))

    def _version(self, key: str) -> int:
        """The classifier version of the account's platform (Platform.version), recorded with the observation."""
        return PLATFORMS[self.accounts[key].platform].version

    def failed(self, failure: Failure) -> Observation:
        """A request that got no reply (errback): an unknown Observation `<platform>.<failure_rule>`, its reason
        the error's class and message, at most 300 characters."""
        request = failure.request  # type: ignore[attr-defined]
        key = request.cb_kwargs["key"]
        platform = self.accounts[key].platform
        rule = failure_rule(failure)
        reason = self.egress.scrub(f"{failure.type.__name__}: {failure.getErrorMessage()}")  # no proxy URL
        if rule == "too_large":
            limit = request.meta.get("download_maxsize") or self.max_answer(platform)
            reason = (f"answer larger than {platform}'s {limit} byte limit, on the wire or decompressed "
                      f"(BANWATCH_{platform.upper()}_MAX_ANSWER raises it); {reason.rstrip(': ')}")
        return self._unknown(key, f"{platform}.{rule}", reason[:300], (request.url,))


def _reply(response: Response) -> Reply:
    return Reply(url=response.url, status=response.status, body=response.body,
                 redirects=tuple(response.meta.get("redirect_urls", ())),
                 headers={k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                          for k, v in response.headers.items()})
