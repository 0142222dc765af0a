"""StatusSpider: one request per account, each reply classified by its platform module.

The spider never writes the database: it yields Observations. In process, banwatch passes Account
objects (`accounts=`); from the command line, `scrapy crawl status -a watchlist=examples/watchlist.yaml
-o -:jsonlines` is a dry run that prints what every account looks like now.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from monitor.model import Account, Observation, Reply, Status, Verdict
from monitor.timeutil import iso
from spiders.platforms import PLATFORMS
from spiders.platforms.base import Politeness, rebase

log = logging.getLogger(__name__)

_FAILURE_RULES = (
    ("DownloadTimeoutError", "timeout"), ("TimeoutError", "timeout"), ("TCPTimedOutError", "timeout"),
    ("CannotResolveHostError", "dns"), ("DNSLookupError", "dns"),
    ("ConnectionRefusedError", "connection_refused"), ("ConnectionLost", "connection_lost"),
    ("ResponseNeverReceived", "connection_lost"), ("ConnectionDone", "connection_lost"),
)


def failure_rule(failure: Failure) -> str:
    names = {cls.__name__ for cls in failure.type.__mro__}
    return next((rule for name, rule in _FAILURE_RULES if name in names), "network_error")


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


class StatusSpider(scrapy.Spider):
    name = "status"

    def __init__(self, accounts: list[Account] | None = None, base_urls: dict[str, str] | None = None,
                 watchlist: str | None = None, keep_evidence: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if accounts is None and watchlist:
            from monitor.watchlist import load
            accounts = list(load(watchlist).accounts)
            keep_evidence = False  # the dry run prints observations as JSON lines
        if base_urls is None:
            from monitor.settings import base_urls_from_env
            base_urls = base_urls_from_env()
        self.accounts = {a.key: a for a in accounts or []}
        self.base_urls = base_urls
        self.keep_evidence = keep_evidence is True

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for account in self.accounts.values():
            probe = PLATFORMS[account.platform].probe(account)
            url, extra = rebase(probe.url, self.base_urls.get(account.platform))
            yield scrapy.Request(url, headers={**probe.headers, **extra}, callback=self.parse,
                                 errback=self.failed, dont_filter=True, cb_kwargs={"key": account.key},
                                 meta={"download_slot": download_slot(account)})

    def parse(self, response: Response, key: str) -> Observation:
        account = self.accounts[key]
        reply = Reply(url=response.url, status=response.status, body=response.body,
                      headers={k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                               for k, v in response.headers.items()})
        try:
            verdict = PLATFORMS[account.platform].classify(reply, account)
        except Exception:  # a classifier bug must never become a finding
            log.exception("classifier for %s failed on %s", account.platform, response.url)
            verdict = Verdict(Status.UNKNOWN, f"{account.platform}.classifier_error", "classifier raised")
        return Observation(
            account_key=key, status=verdict.status, rule=verdict.rule, reason=verdict.reason,
            checked_at=iso(datetime.now(UTC)), http_status=response.status, platform_id=verdict.platform_id,
            display_name=verdict.display_name, evidence=reply if self.keep_evidence else None,
            probes=(response.url,))

    def failed(self, failure: Failure) -> Observation:
        request = failure.request  # type: ignore[attr-defined]
        key = request.cb_kwargs["key"]
        platform = self.accounts[key].platform
        rule = failure_rule(failure)
        return Observation(
            account_key=key, status=Status.UNKNOWN, rule=f"{platform}.{rule}",
            reason=f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300],
            checked_at=iso(datetime.now(UTC)), probes=(request.url,))
