"""One check cycle: crawl accounts -> classify -> state machine -> store (+ outbox). Owns no policy.

Scrapy runs in this process on the asyncio reactor, started once: `banwatch check` crawls every account,
then rechecks the ones with a pending change after their `confirm_delay`, in the same reactor.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import banwatch.spiders.platforms  # noqa: F401 - the composition: installs the platform registry the core reads
from banwatch.monitor.errors import StoreError
from banwatch.monitor.model import Account, Observation, Politeness, RecordContext, RecordPlan, Rename, Status
from banwatch.monitor import state
from banwatch.monitor.state import HELD, Step  # noqa: F401 - HELD: also part of this module's interface
from banwatch.monitor.store import Recorded, Store
from banwatch.monitor.timeutil import now_iso
from banwatch.monitor.watchdog import Watchdog
from banwatch.monitor.watchlist import AlertSettings
from banwatch.monitor.words import plural

BATCH = 50  # observations recorded per transaction, at most...
BATCH_BYTES = 16 * 1024 * 1024  # ...and at most this much evidence held for it (answers may be MiBs each)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ChangeNote:
    """A change confirmed during a check, for its summary: account key, statuses (values), the rule."""

    key: str
    from_status: str
    to_status: str
    rule: str


@dataclass
class CheckSummary:
    """What a check did: crawl rounds, observations by status and unknown rule, baselines, changes, alerts
    queued, and the accounts still pending when it ended."""

    rounds: int = 0
    observations: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    unknown_rules: Counter[str] = field(default_factory=Counter)
    baselines: dict[str, str] = field(default_factory=dict)  # key -> first conclusive status
    changes: list[ChangeNote] = field(default_factory=list)
    alerts: int = 0
    pending: set[str] = field(default_factory=set)  # still unconfirmed when the check ended


class Checker:
    """Feeds observations from crawls into the state machine and the store."""

    def __init__(self, store: Store, accounts: list[Account], base_urls: dict[str, str], channel: str | None,
                 politeness: Callable[[str], Politeness], alerts: AlertSettings | None = None, command: str = "check",
                 on_observation: Callable[[Observation], None] | None = None) -> None:
        ids = store.platform_ids(a.key for a in accounts)
        self.accounts = {a.key: replace(a, platform_id=ids.get(a.key)) for a in accounts}
        self.store, self.base_urls, self.channel, self.command = store, base_urls, channel, command
        self.politeness, self.alerts = politeness, alerts or AlertSettings()
        self.watchdog = Watchdog(channel, self.alerts.kinds)
        self._batch: list[Observation] = []
        self._checks: list[tuple[str, str] | None] = []  # (check id, worker) per held observation, or None
        self.duplicates = 0  # answers not recorded because their check was answered already
        self._batch_bytes = 0  # evidence bytes held in _batch
        self.on_observation = on_observation
        self.summary = CheckSummary()
        self._round_counts: Counter[tuple[str, str, str]] = Counter()  # (platform, status, rule) this crawl
        self._failure: Exception | None = None  # the database failed during this crawl (see _on_item)
        self._crawler: Any = None
        self._closing: Any = None  # the task closing a crawl the database failed

    def admit(self, accounts: list[Account]) -> None:
        """Take these accounts (as the watchlist now declares them) into a long-lived checker, with the platform
        ids the store knows (one query): `banwatch run` admits each batch it hands out."""
        ids = self.store.platform_ids(a.key for a in accounts)
        for a in accounts:
            self.accounts[a.key] = replace(a, platform_id=ids.get(a.key))

    def buffer(self, obs: Observation, check: tuple[str, str] | None = None) -> bool:
        """Hold `obs` for the next `flush`; True when the batch is full (BATCH observations or BATCH_BYTES).
        `check`: (check id, worker) of a fetch worker's answer: recorded only if that check was not answered
        before (Store.answer_check, in the same transaction), so an answer delivered twice is recorded once."""
        self._checks.append(check)
        self._batch.append(obs)
        self._batch_bytes += len(obs.evidence.body) if obs.evidence is not None else 0
        return len(self._batch) >= BATCH or self._batch_bytes >= BATCH_BYTES

    def held(self) -> list[str]:
        """The keys of the observations held for the next flush."""
        return [o.account_key for o in self._batch]

    def record(self, obs: Observation) -> None:
        """Decide one observation and write what it changes: read once (`Store.context`), decide (`decide`, no
        store), write once (`Store.apply`), inside the caller's transaction (`flush` records a batch in one, each
        observation in its own savepoint). KeyError for an account this checker was not given; raises what
        `Store.apply` raises."""
        account = self.accounts[obs.account_key]
        wants = self.watchdog.wants(account.platform)
        context = self.store.context(account.key, wants.keys, wants.prefix)
        todo = self.decide(account, obs, context)
        result = self.store.apply(todo)
        self._summarise(account, obs, todo, result)

    def decide(self, account: Account, obs: Observation, context: RecordContext) -> RecordPlan:
        """Everything recording `obs` writes, from what the store held (`context`), touching no store: the
        watchdog's conclusions (`Watchdog.observe`), then `state.decide` (state machine, alert policy and
        routing, rename). The watchdog's memory moves on (see `record_isolated`)."""
        self.watchdog.learn(context.service, context.service_sets)
        watch = self.watchdog.observe(account, obs)
        return state.decide(account, obs, context, watch, self.alerts, self.channel)

    def _summarise(self, account: Account, obs: Observation, todo: RecordPlan, result: Recorded) -> None:
        s = self.summary
        s.observations += 1
        s.counts[obs.status.value] += 1
        if not obs.status.conclusive:
            s.unknown_rules[obs.rule] += 1
        self._round_counts[account.platform, obs.status.value, obs.rule] += 1
        if result.baseline and todo.state.status:
            s.baselines[account.key] = todo.state.status.value
        if todo.change:
            s.changes.append(ChangeNote(account.key, todo.change.from_status.value, todo.change.to_status.value,
                                        obs.rule))
            s.alerts += len(result.alert_ids)
        (s.pending.add if result.pending else s.pending.discard)(account.key)
        if obs.platform_id and not account.platform_id:
            self.accounts[account.key] = replace(account, platform_id=obs.platform_id)
        log.debug("%s: %s (%s) %s", account.key, obs.status.value, obs.rule, obs.reason)

    def outbox_rows(self, account: Account, step: Step, told: Status | None = None) -> list[tuple[str, str]]:
        """(kind, channel) for each alert a confirmed change raises: kinds switched on, routed by tags.
        `told`: the status last announced for the account (RecordContext.announced), None before any change."""
        return state.route(account, self.alert_for(step, told), self.alerts, self.channel)

    def alert_for(self, step: Step, told: Status | None = None) -> str | None:
        """The alert kind a step raises, under this check's `alerts.weak_findings` (see `state.alert_for`)."""
        return state.alert_for(step, told, self.alerts.weak_findings)

    def rename(self, account: Account, obs: Observation, old: str | None) -> Rename | None:
        """Same stable id, another handle than `old`: the rename and its outbox rows (see `state.rename`)."""
        return state.rename(account, obs, old, self.alerts, self.channel)

    def _on_item(self, item: Observation, **_: Any) -> None:
        """Scrapy's item_scraped handler. Scrapy catches what a signal handler raises and logs its traceback,
        then goes on crawling: so a failure of the database itself (locked past the busy timeout, full, I/O) is
        kept here, the crawl is closed (nothing more it reads could be recorded) and `crawl` raises it at the
        end. The failed batch was rolled back: those accounts stay due and are observed again."""
        if self._failure is not None:
            return
        if self.on_observation:  # as it arrives: recording waits for the batch, a progress bar must not
            self.on_observation(item)
        if self.buffer(item):
            try:
                self.flush()
            except Exception as exc:
                if not _whole_store(exc):
                    raise
                self._failure, self._batch, self._checks, self._batch_bytes = exc, [], [], 0
                self._close_crawl()

    def _close_crawl(self) -> None:
        engine = getattr(self._crawler, "engine", None)
        if engine is None:
            return
        if hasattr(engine, "close_spider_async"):  # Scrapy 2.14+
            self._closing = asyncio.ensure_future(engine.close_spider_async(reason="database_error"))
            self._closing.add_done_callback(lambda t: t.cancelled() or t.exception())  # closing is best effort
        else:
            engine.close_spider(self._crawler.spider, "database_error").addErrback(lambda _: None)

    def flush(self) -> None:
        """Record buffered observations in one transaction, each in its own savepoint (all or nothing).

        An observation whose recording fails is rolled back alone and recorded as unknown
        (`<platform>.record_error`, see `record_isolated`); the rest of the batch commits. A crash loses at
        most the batch in flight; those accounts are simply observed again.
        """
        batch, checks = self._batch, self._checks
        self._batch, self._checks, self._batch_bytes = [], [], 0
        if batch:
            with self.store.db.atomic():
                for obs, check in zip(batch, checks + [None] * (len(batch) - len(checks))):
                    if check is not None and not self.store.answer_check(check[0], check[1], obs.status.value,
                                                                         obs.checked_at):
                        self.duplicates += 1  # answered before (a redelivery), given up, or unknown: not again
                        continue
                    self.record_isolated(obs)

    def record_isolated(self, obs: Observation) -> None:
        """`record` inside a savepoint (`db.atomic()` nested in the batch's transaction; Store.record's own
        `atomic()` nests one more). When it raises, only this observation is rolled back and it is recorded
        again as unknown `<platform>.record_error`, naming the error's class (never the value that caused it),
        logged once. Errors of the database itself (locked, full, corrupt) are no observation's fault: they
        propagate, as does anything that ends the batch's transaction."""
        try:
            with self.store.db.atomic():
                self.record(obs)
            return
        except Exception as exc:
            if _whole_store(exc) or not self.store.db.conn.in_transaction:
                raise
            error = type(exc).__name__
            log.debug("recording %s failed", obs.account_key, exc_info=True)
        # The savepoint undid what the watchdog decided; its memory of the service table may not match: re-read.
        self.watchdog = Watchdog(self.channel, self.alerts.kinds)
        platform = obs.account_key.partition(":")[0]
        log.error("%s: recording its %s observation (%r) failed with %s; recorded as unknown (%s.record_error)",
                  obs.account_key, obs.status.value, obs.rule, error, platform)
        fallback = Observation(obs.account_key, Status.UNKNOWN, f"{platform}.record_error",
                               f"recording the observation failed: {error}", obs.checked_at,
                               http_status=obs.http_status, probes=obs.probes,
                               classifier_version=obs.classifier_version)
        try:
            with self.store.db.atomic():
                self.record(fallback)
        except Exception as exc:
            if _whole_store(exc) or not self.store.db.conn.in_transaction:
                raise
            log.error("%s: recording it as unknown failed too (%s); it is observed again next check",
                      obs.account_key, type(exc).__name__)

    async def crawl(self, runner: Any, keys: list[str]) -> None:
        """Crawl these accounts once; a `runs` row per platform records what the crawl saw."""
        from scrapy import signals
        from scrapy.crawler import Crawler
        from scrapy.utils.defer import deferred_to_future

        from banwatch.spiders.status import StatusSpider, download_slots

        accounts = [self.accounts[k] for k in keys]
        started = now_iso()
        per_platform = Counter(a.platform for a in accounts)
        run_ids = {p: self.store.start_run(self.command, p, n, started) for p, n in per_platform.items()}
        self._round_counts = Counter()
        settings = runner.settings.copy()
        settings.set("DOWNLOAD_SLOTS", download_slots(accounts, self.politeness), priority="cmdline")
        settings.set("BANWATCH_BASE_URLS", dict(self.base_urls), priority="cmdline")  # the spider reads it
        crawler = Crawler(StatusSpider, settings)
        crawler.signals.connect(self._on_item, signal=signals.item_scraped)  # held weakly: a bound method
        self._crawler, self._failure = crawler, None
        try:
            await deferred_to_future(runner.crawl(crawler, accounts=accounts))
        finally:
            self._crawler = None
            if self._failure is None:
                self.flush()
        if self._failure is not None:  # the run row stays unfinished, as after a crash: the database failed
            raise self._failure
        reason = (crawler.stats.get_value("finish_reason") if crawler.stats else None) or "finished"
        finished = now_iso()
        for platform, run_id in run_ids.items():
            counts: Counter[str] = Counter()
            rules: Counter[str] = Counter()  # unknown observations per rule: drift shows in platform_health
            for (p, status, rule), n in self._round_counts.items():
                if p == platform:
                    counts[status] += n
                    if status == "unknown":
                        rules[rule] += n
            self.store.finish_run(run_id, dict(counts), reason, finished, unknown_rules=dict(rules))
        self.summary.rounds += 1

    async def check(self, runner: Any, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                    announce: Callable[[str], None] = lambda _: None) -> CheckSummary:
        """Every account once, then pending ones again after their confirm_delay until confirmed."""
        await self.crawl(runner, list(self.accounts))
        rechecks: Counter[str] = Counter()
        while True:
            due = [k for k in sorted(self.summary.pending)
                   if rechecks[k] < self.accounts[k].confirmations + 2]
            if not due:
                return self.summary
            delay = min(self.accounts[k].confirm_delay for k in due)
            if delay > 0:
                announce(f"rechecking {plural(len(due), 'account')} with a pending change in {delay:g}s")
                await sleep(delay)
            rechecks.update(due)
            await self.crawl(runner, due)


def _whole_store(exc: BaseException) -> bool:
    """An error of the database itself (locked, full, corrupt, I/O), not of one observation's values: a bad
    value raises UnicodeEncodeError, TypeError, ValueError, sqlite3.ProgrammingError, IntegrityError or DataError.
    The outermost `db.atomic()` raises the first kinds as StoreError."""
    return isinstance(exc, StoreError) or isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.DataError))


def run_in_reactor(main: Callable[[Any], Awaitable[T]], settings: dict[str, Any] | None = None,
                   signal_handlers: bool = True) -> T:
    """Install the asyncio reactor, run `main(runner)` to completion, stop the reactor, return the result."""
    from scrapy.crawler import CrawlerRunner
    from scrapy.utils.defer import deferred_from_coro
    from scrapy.settings import Settings
    from scrapy.utils.reactor import install_reactor

    from banwatch.monitor.settings import base_urls_from_env, proxies_from_env, secrets_from_env

    project = Settings()
    project.setmodule("banwatch.spiders.settings", priority="project")  # wherever banwatch is run from
    # The spider's configuration as the environment holds it now (spiders.settings read it when first imported).
    project.setdict({"BANWATCH_BASE_URLS": base_urls_from_env(), "BANWATCH_SECRETS": secrets_from_env(),
                     "BANWATCH_PROXIES": proxies_from_env()}, priority="project")
    install_reactor(project["TWISTED_REACTOR"])
    from twisted.internet import reactor

    project.setdict(settings or {}, priority="cmdline")
    runner = CrawlerRunner(project)
    outcome: dict[str, Any] = {}

    def start() -> None:
        d = deferred_from_coro(main(runner))
        d.addCallbacks(lambda value: outcome.setdefault("value", value),
                       lambda failure: outcome.setdefault("failure", failure))
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=signal_handlers)  # type: ignore[attr-defined]
    if "failure" in outcome:
        outcome["failure"].raiseException()
    if "value" not in outcome:
        raise KeyboardInterrupt
    return outcome["value"]
