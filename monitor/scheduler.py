"""`banwatch run`: the long-lived service. Its jobs run on the asyncio reactor's loop, each from its own task
that waits on the loop's monotonic clock (`every`), so a wall-clock step never delays or repeats them.

Jobs (all `async def`, on the loop thread, one run at a time each, a late run never repeated to catch up):
- tick: per platform, the due accounts not already handed out (indexed query), as many as keep at most the
  platform's batch outstanding, handed out as one batch (a `runs` row) to the fetcher: one long-lived crawl in
  this process (monitor.fetching). Answers are recorded as they come, BATCH at a time, when their batch
  completes, and every tick; a completed batch finishes its run row and the platform's health is judged.
  Pending changes are due after `confirm_delay`.
- deliver: drains the outbox in a worker thread (slack-sdk's retries sleep), on its own schedule.
- reload: re-reads the watchlist when its content changes; a broken edit keeps the last good one.
- renew: renews the service lease (one `run` per database, monitor.outbox.Lease) well within its expiry.
With `run --metrics-port`, each completed batch is reported to a monitor.metrics.Metrics, and each completed tick is stamped
(`last_tick`): /healthz answers 503 when the stamp grows stale.
A job that meets a failure of the database itself (another process holds the write lock past the busy timeout,
a full disk, an I/O error) logs ONE line saying what was not done and when it is tried again (`Service.failed`,
used by `every`, by each crawl task and by the stop), and the service goes on: what the job did not write is
redone by its next run, and what earlier transactions stored stays. Any other error is a bug: its traceback.
Each tick compares the wall clock's progress with the monotonic clock's: a step is logged once, and a step
back re-bases the stored next checks (`due.rebase`) so due accounts are not held back by it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from banwatch.monitor import due, health
from banwatch.monitor.errors import BanwatchError, InvalidWatchlist, WatchlistError, store_failure
from banwatch.monitor.outbox import DELIVERY_LEASE, LEASE_RENEW_S, SERVICE_LEASE, Lease, new_owner
from banwatch.monitor.coordinator import RedisDown
from banwatch.monitor.fleet import Fleet
from banwatch.monitor.inflight import Batch, Inflight
from banwatch.monitor.model import Account, Observation
from banwatch.monitor.runner import Checker
from banwatch.monitor.settings import SlackSettings
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import Clock, iso, now_iso, parse_iso
from banwatch.monitor.watchlist import AlertSettings, Watchlist, load
from banwatch.monitor.words import plural
from banwatch.spiders.platforms import PLATFORMS  # the composition: this also installs the registry the core reads

if TYPE_CHECKING:
    from banwatch.monitor.metrics import Metrics

log = logging.getLogger("banwatch.service")
SHUTDOWN_GRACE_S = 8.0  # in-flight crawls get this long; the process is gone within 10 s

# What a job that met a failure of the database did not do, and when it is done instead (see Service.failed).
NOT_DONE = {
    "tick": ("tick skipped", "trying again next tick"),
    "deliver": ("delivery interrupted", "alerts not marked sent stay in the outbox; trying again next delivery"),
    "reload": ("watchlist reload not applied", "the last applied watchlist keeps running; trying again next reload"),
    "prune": ("pruning stopped", "the rest is pruned on the next daily pass"),
    "renew": ("service lease not renewed", f"trying again in {LEASE_RENEW_S:g}s"),
}


def fingerprint(path: str, includes: tuple[str, ...] = ()) -> str | None:
    """The content's hash, read in chunks: a huge file is hashed, then refused by load() at its size cap. With the
    CSV files the watchlist includes, an edit of one is an edit of the watchlist, and so is its removal; None
    while the watchlist file itself cannot be read."""
    digest = hashlib.sha256()
    for name in (path, *includes):
        try:
            with Path(name).open("rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        except OSError:
            if name == path:
                return None
            digest.update(bytes(32))  # a missing CSV is a broken watchlist, reported once it stays missing
    return digest.hexdigest()


class Service:
    """`banwatch run`: one process, one event loop, one task per job (tick, deliver, reload, prune, lease renewal),
    each waiting on the monotonic clock (docs/architecture.md, "The service"). Holds the service lease from start to
    clean stop; raises BanwatchError at construction when another live `run` holds it."""

    def __init__(self, watchlist: Watchlist, db_path: str, base_urls: dict[str, str],
                 slack: Callable[[Watchlist], SlackSettings], clock: Clock | None = None,
                 metrics: Metrics | None = None, redis_url: str | None = None) -> None:
        self.watchlist, self.db_path, self.base_urls, self.slack_for = watchlist, db_path, base_urls, slack
        self.metrics = metrics  # `run --metrics-port`: told about each crawl (monitor.metrics)
        self.store = Store.open(db_path)
        self.lease = Lease(self.store, SERVICE_LEASE, "run")
        try:
            holder = self.lease.take()
        except BaseException:
            self.store.close()
            raise
        if holder is not None:
            self.store.close()
            raise BanwatchError(f"another banwatch run (pid {holder.pid} on {holder.host}) is using {db_path} "
                                f"since {holder.since}; stop it first")
        self.seen = fingerprint(watchlist.path, watchlist.includes)
        self.settling: str | None = None  # a new version of the file, applied once it reads the same twice
        self.broken: str | None = None  # the error of the watchlist on disk, while it is broken
        self.inflight = Inflight()  # checks handed out and not yet answered (monitor.inflight)
        self.unfinished: list[Batch] = []  # completed batches whose run row the database failed to finish
        self.batch_of: dict[str, Batch] = {}  # key -> batch, for the answers held for the next flush
        self._checker: Checker | None = None
        self._checker_for: Watchlist | None = None
        self.fetcher: Any = None  # a monitor.fetching.LocalFetcher, made by serve(), or the fleet's RemoteFetcher
        self.fleet = Fleet(self, redis_url) if redis_url else None  # --redis: checks go to fetch workers
        self.delivering: asyncio.Future[Any] | None = None
        self.stopping = False
        self.stopped: asyncio.Future[None] | None = None
        self.runner: Any = None
        self.notifier: Any = None  # built once in the delivery thread: it caches Slack channel ids
        # One delivery-lease owner for the service's life: a pass whose release met a locked database leaves
        # the lease behind, and the next pass, the same owner, takes it over instead of waiting for its expiry.
        self.delivery_owner = new_owner()
        self.started_at = now_iso()
        self.ticks, self.tick_seconds = 0, 0.0
        self.clock = clock or Clock()
        self.last_reading: tuple[datetime, float] | None = None  # (wall, monotonic) at the previous tick
        self.last_tick: tuple[float, float] | None = None  # (Unix seconds, monotonic) when a tick last completed

    @property
    def channel(self) -> str:
        """The default Slack channel for health alerts ('' when none is configured)."""
        return self.slack_for(self.watchlist).channel or ""

    def health(self, subject: str, detail: str, at: str, platform_state: tuple[str, str, str | None] | None = None) -> None:
        """A health alert to the default channel, unless the watchlist switched health alerts off."""
        settings = self.watchlist.alerts
        channels = [self.channel] if "health" in settings.kinds else []
        if platform_state:
            platform, state, since = platform_state
            self.store.set_health(platform, state, since, detail, channels, at, settings.give_up)
        else:
            self.store.health_alert(subject, detail, channels, at, settings.give_up)

    def failed(self, job: str, exc: BaseException, not_done: str, then: str) -> None:
        """Log a job's failure. One of the database itself (locked past the busy timeout, full, I/O error, see
        monitor.errors.store_failure) is one ERROR line: `<not_done>: <file>: <what happened>; <then>`; the
        job's transaction was rolled back and the job's next run does it. Anything else is a bug: its traceback."""
        error = store_failure(exc, self.db_path, getattr(self.store.db, "busy_timeout", None))
        if error is None:
            log.error("%s failed", job, exc_info=exc)
        else:
            log.error("%s: %s; %s", not_done, error.fault, then)

    # -- jobs ---------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One tick: per platform not already crawling, start a crawl task for its due accounts (at most its batch).
        Compares the wall clock's progress with the monotonic clock's first (a step back re-bases due times)."""
        if self.stopping:
            return
        began = time.perf_counter()
        now = self.check_clock()
        self.flush()  # what was answered since: recorded before the due query reads next checks
        for batch in list(self.unfinished):  # completed while the database failed
            self.complete(batch)
        accounts = self.watchlist.by_key
        for platform in PLATFORMS:
            limit = self.watchlist.politeness(platform).batch  # most checks of a platform outstanding at once
            room = limit - self.inflight.outstanding(platform)
            if room <= 0:
                continue
            keys = [k for k in self.store.due(platform, now, limit) if k in accounts and k not in self.inflight]
            if keys[:room]:
                try:
                    await self.dispatch(platform, [accounts[k] for k in keys[:room]], now)
                except RedisDown:
                    break  # said once (Fleet.on_reachable); the accounts stay due, tried again next tick
        if self.fleet is not None:
            await self.fleet.tick(now)
        self.ticks += 1
        self.tick_seconds += time.perf_counter() - began  # the scheduler's own cost; crawls run as tasks
        self.store.set_service({"last_tick_at": now, "pid": str(os.getpid()), "started_at": self.started_at,
                                "ticks": str(self.ticks),
                                "tick_ms_mean": f"{1000 * self.tick_seconds / self.ticks:.3f}",
                                "health_window": f"{self.watchlist.service.health_window:g}"}, now)  # for the view
        self.last_tick = (self.clock.wall().timestamp(), self.clock.monotonic())  # /healthz: the scheduler ticks

    def check_clock(self) -> str:
        """The wall time of this tick, after noticing a wall-clock step since the previous one. The reading
        is kept once the re-basing is stored: a tick that could not store it measures the step again."""
        reading = (self.clock.wall(), self.clock.monotonic())
        step = due.clock_step(self.last_reading, reading) if self.last_reading else 0.0
        now = iso(reading[0])
        moved = due.rebase(self.store, -step, now) if step < 0 else 0
        self.last_reading = reading
        if step:
            log.warning("the wall clock stepped %s by %.1f s; %s", "back" if step < 0 else "forward", abs(step),
                        f"{moved} scheduled checks moved back by it" if step < 0
                        else "overdue accounts are checked once")
        return now

    # -- checks: handed out in batches, answered one by one -----------------------------------------

    @property
    def checker(self) -> Checker:
        """The Checker recording answers under the watchlist now applied (rebuilt after a reload: channel and
        alert settings are the watchlist's)."""
        if self._checker is None or self._checker_for is not self.watchlist:
            if self._checker is not None:
                self.flush()
            self._checker = Checker(self.store, [], self.base_urls, self.channel, self.watchlist.politeness,
                                    self.watchlist.alerts, command="run")
            self._checker_for = self.watchlist
        return self._checker

    async def dispatch(self, platform: str, accounts: list[Account], now: str) -> None:
        """Hand `accounts` (all of `platform`, none outstanding) out as one batch: a `runs` row, then the fetcher
        (with --redis: the fetch workers, monitor.fleet; RedisDown when Redis is unreachable)."""
        if self.fleet is not None:
            await self.fleet.dispatch(platform, accounts, now)
            return
        run_id = self.store.start_run("run", platform, len(accounts), now)
        self.checker.admit(accounts)
        self.inflight.add(Batch(platform, run_id, {a.key for a in accounts}, len(accounts), time.monotonic()))
        self.fetcher.submit(accounts)

    def on_result(self, obs: Observation, check: tuple[str, str] | None = None) -> None:
        """An answered check, on the loop's thread: held for the next flush (recorded at BATCH, when its batch
        completes, and every tick); a completed batch finishes its run row. `check`: (check id, worker) of a
        fetch worker's answer (recorded once per check id)."""
        batch = self.inflight.answer(obs, check[0] if check else None)
        checker = self.checker  # a reload since the check was handed out makes a new one: it has not admitted it
        if obs.account_key not in checker.accounts:
            account = self.watchlist.by_key.get(obs.account_key)
            if account is not None:  # still watched: recorded under the watchlist now applied
                checker.admit([account])
        if obs.account_key in checker.accounts:  # else removed since, or given up then reloaded away: not recorded
            if batch is not None:
                self.batch_of[obs.account_key] = batch
            if checker.buffer(obs, check) or (batch is not None and batch.done):
                self.flush()
        if batch is not None and batch.done:  # its run row is finished whatever became of its accounts
            self.complete(batch)

    def on_lost(self, keys: list[str], quiet: bool = False) -> None:
        """Checks handed out that will never be answered: their batches may complete; the accounts stay due."""
        if not quiet:
            log.warning("%s handed out and never answered; they stay due", plural(len(keys), "check"))
        for batch in self.inflight.lose(keys):
            if batch.done:
                self.complete(batch)

    def flush(self) -> None:
        """Record what was answered since the last flush, in one transaction (Checker.flush). When the database
        fails, one line says so (`failed`) and those accounts stay due: nothing of them was written."""
        checker = self._checker
        if checker is None:
            return
        held = checker.held()
        ok = True
        try:
            checker.flush()
        except Exception as exc:
            ok = False
            self.failed("record", exc, f"{plural(len(held), 'answered check')} not recorded",
                        "those accounts stay due; checked again next tick")
        if self.fleet is not None:
            self.fleet.flushed(ok)
        for change in checker.summary.changes:
            batch = self.batch_of.get(change.key)
            if batch is not None:
                batch.changes.append(f"{change.key} {change.from_status} → {change.to_status}")
        checker.summary.changes.clear()
        self.batch_of.clear()

    def complete(self, batch: Batch) -> None:
        """Every check of `batch` answered or given up: finish its run row, report it, judge the platform's health."""
        seconds = time.monotonic() - batch.started
        platform = batch.platform
        try:
            self.store.finish_run(batch.run_id, dict(batch.counts), "finished" if not batch.lost else "lost",
                                  now_iso(), unknown_rules=dict(batch.rules))
        except Exception as exc:
            if batch not in self.unfinished:  # said once; finished by a later tick
                self.failed(f"{platform}: run", exc, f"{platform}: run {batch.run_id} not finished",
                            "finished on a later tick")
                self.unfinished.append(batch)
            return
        if batch in self.unfinished:
            self.unfinished.remove(batch)
        if self.metrics is not None:
            self.metrics.crawled(platform, batch.counts, seconds)
        counts = ", ".join(f"{n} {st}" for st, n in sorted(batch.counts.items()))
        why = ", ".join(f"{rule} ×{n}" for rule, n in batch.rules.most_common(3))
        log.info("%s: %s in %.1fs: %s%s%s%s", platform, plural(batch.size, "account"), seconds, counts,
                 f" ({why})" if why else "", f"; {batch.lost} never answered" if batch.lost else "",
                 "".join(f"; change {c}" for c in batch.changes))
        try:
            self.assess(platform)
        except Exception as exc:
            self.failed(f"{platform}: health assessment", exc, f"{platform}: health not assessed",
                        "assessed again after its next crawl")

    def assess(self, platform: str) -> None:
        """Judge `platform`'s health over the health window (monitor.health.window_health) and raise or clear its
        blind health alert on a change; the alert quotes the window's numbers, as `status` shows them."""
        now = datetime.now(UTC)
        window = self.watchlist.service.health_window
        runs = [health.run_stat(r) for r in self.store.health_runs(platform, iso(now - timedelta(seconds=window)))]
        verdict = health.window_health(runs, now, window)  # the numbers `status` and platform_health show
        was_blind = self.store.health_state(platform) == "blind"
        change = health.transition(was_blind, verdict, runs[0].blind if runs else False)
        title = PLATFORMS[platform].title
        if change == "blind":
            detail = (f"banwatch is blind on {title} since {iso(verdict.since) if verdict.since else '?'}: "
                      f"{verdict.numbers()}. No suspension is inferred from this.")
            self.health(f"platform:{platform}", detail, iso(now),
                        (platform, "blind", iso(verdict.since) if verdict.since else None))
            log.warning(detail)
        elif change == "recovered":
            detail = f"banwatch sees {title} again: the last check run was mostly conclusive."
            self.health(f"platform:{platform}", detail, iso(now), (platform, "ok", None))
            log.warning(detail)

    async def reload(self) -> None:
        """Apply an edited watchlist once its content reads the same on two passes in a row (an editor caught
        half-way through a save is never a broken watchlist); a broken edit keeps the last good one running
        and raises one health alert."""
        current = fingerprint(self.watchlist.path, self.watchlist.includes)  # an edit changing `include:` is applied,
        # then read once more: the next look hashes the files the new watchlist includes
        if current is None or current == self.seen:
            self.settling = None
            return
        if current != self.settling:  # changed since the last look: let the editor finish writing it
            self.settling = current
            return
        # Read the same twice: apply it. What this pass knows is kept only once its writes are stored: a pass
        # that meets a failing database raises before, and the next pass applies the same version again.
        try:
            fresh = load(self.watchlist.path)
        except (InvalidWatchlist, MemoryError, RecursionError) as failure:
            # load() bounds memory and nesting itself; should either still escape, it is a broken edit like any
            # other (last good watchlist kept, one health alert), never a reload job that died in the log
            exc = failure if isinstance(failure, InvalidWatchlist) else InvalidWatchlist([WatchlistError(
                self.watchlist.path, None, None, f"cannot be loaded ({type(failure).__name__})")])
            self.health("watchlist", f"the watchlist is broken; the last good one keeps running. {exc}", now_iso())
            self.seen, self.settling, self.broken = current, None, str(exc)
            log.error("watchlist not reloaded, still running the last good one:\n%s", exc)
            return
        self.store.sync_watchlist(fresh, now_iso())
        if self.broken:
            self.health("watchlist", "the watchlist is fixed and reloaded.", now_iso())
        old, new = set(self.watchlist.by_key), set(fresh.by_key)
        self.watchlist, self.seen, self.settling, self.broken = fresh, current, None, None
        if self.fleet is None and self.fetcher is not None:
            self.fetcher.configure(self.slots())  # a change of politeness starts a crawl with the new slots
        log.info("watchlist reloaded: %s (+%d, -%d)", plural(len(new), "account"), len(new - old), len(old - new))

    async def prune(self) -> None:
        """Delete history older than the watchlist's retention, and roll runs older than a day into hourly rows."""
        now = now_iso()
        counts = self.store.prune(self.watchlist.retention.cutoffs(now))
        hours = self.store.compact_runs(iso(parse_iso(now) - timedelta(days=1)))
        checks = self.store.prune_checks(iso(parse_iso(now) - timedelta(days=1)))  # fetch workers' check ids
        log.info("pruned history: %s, %d answered worker checks; runs older than a day rolled up into %d hourly rows",
                 ", ".join(f"{n} {t}" for t, n in counts.items()), checks, hours)

    async def renew(self) -> None:
        """Keep the service lease; should another `run` have taken it (this one stalled past the expiry),
        stop rather than run two services on one database."""
        holder = self.lease.take()
        if holder is not None and not self.stopping:
            log.error("another banwatch run (pid %s on %s) took over %s since %s: stopping", holder.pid,
                      holder.host, self.db_path, holder.since)
            self.stopping = True
            if self.stopped is not None and not self.stopped.done():
                self.stopped.set_result(None)

    async def deliver(self) -> None:
        """One delivery pass in a worker thread (with its own connection), awaited; skipped while stopping."""
        if self.stopping:
            return
        self.delivering = asyncio.ensure_future(
            asyncio.to_thread(self._deliver_in_thread, self.slack_for(self.watchlist), self.watchlist.alerts))
        try:
            await self.delivering
        finally:
            self.delivering = None

    def _deliver_in_thread(self, slack: SlackSettings, settings: AlertSettings) -> None:
        from banwatch.alerts.dispatch import deliver
        from banwatch.alerts.slack import make_notifier

        store = Store.open(self.db_path)  # sqlite connections belong to one thread
        try:
            with Lease(store, DELIVERY_LEASE, "run", owner=self.delivery_owner).held() as other:
                if other is not None:
                    log.info("alerts: %s (pid %s on %s) is delivering; this pass is skipped", other.command,
                             other.pid, other.host)
                    return
                if self.notifier is None:
                    self.notifier = make_notifier(slack)
                report = deliver(store, self.notifier, now_iso(), settings,
                                 titles={name: p.title for name, p in PLATFORMS.items()})
            if report.sent or report.failed or report.dead or report.reconciled:
                log.info("alerts: %d sent via %s (%d waves), %d kept for retry, %d dead, %d reconciled",
                         report.sent, self.notifier.name, report.waves, report.failed, report.dead,
                         report.reconciled)
        finally:
            store.close()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def every(self, period: float, job: Callable[[], Any], delay: float = 0.0) -> None:
        """Run `job` after `delay`, then every `period` seconds of the loop's monotonic clock until stopping.

        A run that overran its period is followed at once by one more, never by one per missed period.
        A run that fails is logged (`failed`: one line when the database failed, NOT_DONE) and the next one
        comes on time.
        """
        loop = asyncio.get_running_loop()
        assert self.stopped is not None
        at = loop.time() + delay
        while not self.stopping:
            await asyncio.wait([self.stopped], timeout=max(0.0, at - loop.time()))
            if self.stopping or self.stopped.done():
                return
            try:
                await job()
            except Exception as exc:
                name = getattr(job, "__name__", "job")
                self.failed(name, exc, *NOT_DONE.get(name, (f"{name} not done", "trying again next time")))
            at = max(at + period, loop.time())

    async def serve(self, runner: Any) -> None:
        """Run the service on `runner` (Scrapy's CrawlerRunner) until SIGINT/SIGTERM or a lost lease: sync the
        watchlist, start every job, then stop gracefully (waiting at most 8 s for crawls)."""
        from banwatch.monitor.fetching import LocalFetcher

        self.runner = runner
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self.store.sync_watchlist(self.watchlist, now_iso())
        if self.fleet is not None:  # --redis: fetch workers fetch; answers come from Redis
            self.fleet.resume()
            self.fleet.remote.start()
            self.fetcher = self.fleet.remote
            log.info("fetch workers: checks go through redis at %s", self.fleet.remote.where)
        elif self.fetcher is None:
            self.fetcher = LocalFetcher(runner, self.base_urls, self.on_result, self.on_lost)
        if isinstance(self.fetcher, LocalFetcher):
            self.fetcher.configure(self.slots())
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        svc = self.watchlist.service
        jobs = [asyncio.ensure_future(self.every(svc.tick, self.tick)),
                asyncio.ensure_future(self.every(svc.deliver_every, self.deliver)),
                asyncio.ensure_future(self.every(svc.reload_every, self.reload, svc.reload_every)),
                asyncio.ensure_future(self.every(86400.0, self.prune, 60.0)),
                asyncio.ensure_future(self.every(LEASE_RENEW_S, self.renew, LEASE_RENEW_S))]
        log.info("banwatch run: %s, tick every %gs", plural(len(self.watchlist.accounts), "account"), svc.tick)  # Slack: run.py
        await self.stopped
        await self._drain()
        for job in jobs:
            job.cancel()  # only a delivery that outlived the grace period is still running
        try:
            with self.store.db.atomic():  # one wait for a locked database, not one per write
                self.store.set_service({"stopped_at": now_iso()}, now_iso())
                self.lease.release()
        except Exception as exc:  # the stop still ends cleanly: the lease of a process that is gone is free
            if store_failure(exc, self.db_path) is None:
                raise
            self.failed("stop", exc, "stop not recorded",
                        "stopped_at is not set; the service lease is free once this process has exited")
        finally:
            self.store.close()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            log.warning("second signal: exiting now")
            os._exit(1)
        self.stopping = True
        log.warning("%s: finishing in-flight work (a second signal exits at once)", signal.Signals(signum).name)
        from twisted.internet import reactor

        reactor.callFromThread(lambda: self.stopped.done() or self.stopped.set_result(None))  # type: ignore[attr-defined,union-attr]

    async def _drain(self) -> None:
        """Stop fetching, abandoning in-flight requests after the grace period, record what was answered; finish a
        delivery in progress. Checks never answered stay due: nothing of them was written."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE_S
        if self.fleet is not None:
            await self.fleet.stop(SHUTDOWN_GRACE_S)
        elif self.fetcher is not None:
            unanswered = await self.fetcher.stop(SHUTDOWN_GRACE_S)
            if unanswered:
                log.warning("abandoned %s in flight after %gs", plural(len(unanswered), "check"), SHUTDOWN_GRACE_S)
        self.flush()
        if self.delivering is not None:
            await asyncio.wait([self.delivering], timeout=max(0.1, deadline - loop.time()))

    def slots(self) -> dict[str, dict[str, Any]]:
        """Scrapy DOWNLOAD_SLOTS for the applied watchlist: each platform's politeness (Mastodon per instance)."""
        from banwatch.spiders.status import download_slots

        return download_slots(list(self.watchlist.accounts), self.watchlist.politeness)
