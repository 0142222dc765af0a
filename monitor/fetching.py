"""Fetching due checks in this process: one long-lived Scrapy crawl fed from a queue (`LocalFetcher`).

`banwatch run` used to start a crawl per platform per tick, so a due account waited for its platform's next
crawl, and each crawl paid Scrapy's start-up. Here the crawl starts once: `StatusSpider.start()` awaits the
next account from a queue (`spiders.status.Feed`), and Scrapy pulls it only while the downloader has room
(its engine's `needs_backout`, the "lazy start requests" pattern of Scrapy's docs). Politeness stays per
platform: each request names its platform's download slot (`spiders.status.download_slot`), whose
concurrency and delay are the crawler's DOWNLOAD_SLOTS. A change of politeness (a watchlist reload) is applied
to the running crawl's downloader in place (`LocalFetcher._retune`): two crawls side by side would, for a
moment, ask one platform at the old slot's rate and the new one's together.

The same interface serves the fetch workers (`monitor.worker`): they feed it from Redis instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from banwatch.monitor.model import Account, Observation

log = logging.getLogger(__name__)

# CLOSESPIDER_TIMEOUT (spiders/settings.py: 15 minutes for a one-shot check) would end a crawl meant to run for
# months.
LIVE_SETTINGS: dict[str, Any] = {"CLOSESPIDER_TIMEOUT": 0}
# The fetcher's own settings (LIVE_SETTINGS, DOWNLOAD_SLOTS, ...) outrank the command line's ("cmdline", 40):
# CrawlerRunner.crawl(crawler) merges the runner's settings over the crawler's at their own priorities, so a
# runner setting at "cmdline" (run_in_reactor's overrides) would otherwise replace them.
PRIORITY = 50


class _Queue:
    """A spiders.status.Feed over an asyncio.Queue; `close()` ends the crawl after what is already queued."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Account | None] = asyncio.Queue()

    async def get(self) -> Account | None:
        """The next queued account, waiting for one; None once closed and drained."""
        return await self.queue.get()

    def close(self) -> None:
        """No account after those already queued."""
        self.queue.put_nowait(None)

    def drain(self) -> list[Account]:
        """Take every account still queued (a crawl that ended early never will)."""
        out = []
        while not self.queue.empty():
            account = self.queue.get_nowait()
            if account is not None:
                out.append(account)
        return out


class LocalFetcher:
    """One long-lived crawl in this process. `submit(accounts)` queues checks; each check's Observation reaches
    `on_result(obs)` as Scrapy yields it (its item_scraped signal), on the event loop's thread.

    `settings`: Scrapy settings for the crawler (the CrawlerRunner's, copied); `slots`: DOWNLOAD_SLOTS (slot ->
    {"concurrency", "delay"}). `on_lost(keys)` hears of checks that were taken and never answered because their
    crawl ended early (a bug, or the process stopping); the caller makes them due again."""

    def __init__(self, runner: Any, base_urls: dict[str, str], on_result: Callable[[Observation], None],
                 on_lost: Callable[[list[str]], None] = lambda keys: None, settings: dict[str, Any] | None = None,
                 keep_evidence: bool = True) -> None:
        self.runner, self.base_urls, self.on_result, self.on_lost = runner, base_urls, on_result, on_lost
        self.settings = {**LIVE_SETTINGS, **(settings or {})}
        self.keep_evidence = keep_evidence
        self.slots: dict[str, dict[str, Any]] | None = None
        self.feed: _Queue | None = None
        self.crawls: dict[_Queue, tuple[Any, asyncio.Future[Any]]] = {}  # running crawls (a retired one finishing)
        self.outstanding: dict[str, tuple[_Queue, Account]] = {}  # key -> (the crawl it was given to, the account)
        self.retried: set[str] = set()  # keys handed to a new crawl after theirs ended: not a second time
        self.stopping = False

    def configure(self, slots: dict[str, dict[str, Any]]) -> None:
        """Use these DOWNLOAD_SLOTS from now on. The first call starts the crawl; a change is applied to the
        running crawl in place (`_retune`), so a platform never sees two crawls' requests at once. Only when the
        crawl has no downloader yet is it retired (it finishes the requests it took) for another, which takes the
        checks still queued."""
        if slots == self.slots and self.feed is not None:
            return
        if self.feed is not None and self._retune(slots):
            self.slots = dict(slots)
            return
        queued: list[Account] = []
        if self.feed is not None:
            queued = self.feed.drain()
            self.feed.close()
        self.slots = dict(slots)
        self.feed = self._start(self.slots)
        self.submit(queued)

    def _retune(self, slots: dict[str, dict[str, Any]]) -> bool:
        """Apply `slots` to the running crawl's downloader: its DOWNLOAD_SLOTS entries (`per_slot_settings`, read
        when a slot is first used) and the concurrency and delay of each slot already in use (Scrapy's
        downloader `Slot`, whose queue reads them for every request). False when there is no downloader yet."""
        assert self.feed is not None
        crawler, _ = self.crawls[self.feed]
        downloader = getattr(getattr(crawler, "engine", None), "downloader", None)
        per_slot = getattr(downloader, "per_slot_settings", None)
        live = getattr(downloader, "slots", None)
        if not isinstance(per_slot, dict) or not isinstance(live, dict):
            return False
        per_slot.clear()
        per_slot.update(slots)
        for key, slot in live.items():
            if key in slots:
                slot.concurrency = int(slots[key]["concurrency"])
                slot.delay = float(slots[key]["delay"])
        return True

    def ensure_slots(self, slots: dict[str, dict[str, Any]]) -> None:
        """Make sure these download slots have these settings (a fetch worker learns them with each check); the
        others keep theirs (`configure`)."""
        current = dict(self.slots or {})
        if self.feed is not None and all(current.get(k) == v for k, v in slots.items()):
            return
        self.configure({**current, **slots})

    def submit(self, accounts: Iterable[Account]) -> None:
        """Queue a check of each account (configure() first). Never blocks: Scrapy takes them as it has room."""
        assert self.feed is not None, "configure() first"
        for account in accounts:
            self.outstanding[account.key] = (self.feed, account)
            self.feed.queue.put_nowait(account)

    @property
    def busy(self) -> int:
        """Checks queued or in flight."""
        return len(self.outstanding)

    def _start(self, slots: dict[str, dict[str, Any]]) -> _Queue:
        from scrapy import signals
        from scrapy.crawler import Crawler
        from scrapy.utils.defer import deferred_to_future

        from banwatch.spiders.status import StatusSpider

        feed = _Queue()
        settings = self.runner.settings.copy()
        for name, value in self.settings.items():
            settings.set(name, value, priority=PRIORITY)
        settings.set("DOWNLOAD_SLOTS", slots, priority=PRIORITY)
        settings.set("BANWATCH_BASE_URLS", dict(self.base_urls), priority=PRIORITY)
        crawler = Crawler(StatusSpider, settings)
        crawler.signals.connect(self._on_item, signal=signals.item_scraped)  # held weakly: a bound method
        done = asyncio.ensure_future(deferred_to_future(
            self.runner.crawl(crawler, feed=feed, keep_evidence=self.keep_evidence)))
        self.crawls[feed] = (crawler, done)
        done.add_done_callback(lambda future: self._ended(feed, future))
        return feed

    def _on_item(self, item: Observation, **_: Any) -> None:
        self.outstanding.pop(item.account_key, None)
        self.retried.discard(item.account_key)
        self.on_result(item)

    def _ended(self, feed: _Queue, future: asyncio.Future[Any]) -> None:
        crawler, _ = self.crawls.pop(feed)
        if not future.cancelled() and future.exception() is not None:
            log.error("the crawl failed", exc_info=future.exception())
        taken = {key: account for key, (f, account) in self.outstanding.items() if f is feed}
        for key in taken:
            del self.outstanding[key]
        lost = list(taken)
        if self.stopping:
            return
        if feed is self.feed:  # ended on its own: a new crawl takes what it had queued, and once what it had
            # taken and never answered (nothing of it is in flight any more: its crawl is over)
            reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
            log.error("the crawl ended (%s); starting another", reason or "no reason given")
            queued = {a.key: a for a in feed.drain()}
            again = [a for key, a in taken.items() if key not in queued and key not in self.retried]
            self.retried.update(a.key for a in again)
            assert self.slots is not None
            self.feed = self._start(self.slots)
            self.submit([*queued.values(), *again])
            lost = [key for key in lost if key not in queued and key not in {a.key for a in again}]
        self.retried.difference_update(lost)
        if lost:
            self.on_lost(lost)

    async def stop(self, grace: float) -> list[str]:
        """Stop every crawl, giving in-flight requests `grace` seconds; the keys never answered (the caller
        leaves them due, as they are in the store)."""
        from scrapy.utils.defer import deferred_to_future

        self.stopping = True
        for feed in list(self.crawls):
            feed.drain()
            feed.close()
        crawls = [done for _, done in self.crawls.values()]
        if crawls:
            stopping = self.runner.stop()
            stopping.addErrback(lambda _failure: None)  # a stop cut short by the process exiting is not an error
            stop = asyncio.ensure_future(deferred_to_future(stopping))
            await asyncio.wait([stop, *crawls], timeout=grace)
        unanswered = list(self.outstanding)
        self.outstanding.clear()
        return unanswered
