"""`banwatch worker`: a fetch worker. It claims due checks from Redis, fetches and classifies them with the same
long-lived crawl `banwatch run` uses (monitor.fetching.LocalFetcher), and sends each verdict back with its
evidence. It needs the platform credentials (BANWATCH_SECRETS from the environment) and nothing else: never the
Slack token, the watchlist or the database.

Protocol: monitor.streams. In short, per platform this worker serves, it reads its checks stream as consumer
`name` of group `workers` (XREADGROUP), at most `room(platform)` checks held at once (a few times the slot's
concurrency: a check never waits long here, so the claim timeout can stay short); every quarter of the claim
timeout it re-claims checks another consumer has held longer than that (XAUTOCLAIM: that worker died); each
answer goes back in one MULTI with the check's XACK and XDEL, so a check is acknowledged exactly when its
answer is in Redis. While Redis is unreachable the answers wait in memory (bounded by what is held) and every
loop retries with backoff, one log line when it goes and one when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from banwatch.monitor import streams
from banwatch.monitor.fetching import LocalFetcher
from banwatch.monitor.model import Observation
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.status import download_slot

log = logging.getLogger("banwatch.worker")
BACKOFF_MAX_S = 10.0
SHUTDOWN_GRACE_S = 8.0
READ_BLOCK_MS = 1000  # an XREADGROUP waits this long for new checks...
FULL_BLOCK_MS = 20  # ...and only this long while a platform is left out for lack of room
PUBLISH_BATCH = 100  # answers per MULTI at most
PUBLISH_GATHER_S = 0.005  # an answer waits this long for others to share its round trip (profiled: 1.3 per MULTI)


@dataclass
class Held:
    """A check this worker took and has not answered in Redis yet."""

    check_id: str
    stream: str
    entry: bytes
    key: str
    platform: str


class Worker:
    """One fetch worker. `platforms`: the ones it serves (all registered when empty); `claim_timeout`: seconds
    a check may stay with one consumer before another worker re-claims it."""

    def __init__(self, redis_url: str, name: str | None, platforms: list[str], base_urls: dict[str, str],
                 claim_timeout: float = streams.CLAIM_TIMEOUT_S, bind_address: str | None = None) -> None:
        self.redis_url, self.base_urls = redis_url, base_urls
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.platforms = platforms or list(PLATFORMS)
        self.claim_timeout, self.bind_address = claim_timeout, bind_address
        self.held: dict[str, Held] = {}  # check id -> what this worker holds
        self.by_key: dict[str, deque[str]] = defaultdict(deque)  # account key -> check ids being fetched
        self.per_platform: dict[str, int] = defaultdict(int)
        self.concurrency: dict[str, int] = {}
        self.answers: deque[tuple[Held, Observation]] = deque()  # fetched, not yet in Redis
        self.answered = asyncio.Event()
        self.fetched = 0
        self.stopping = False
        self.stopped: asyncio.Future[None] | None = None
        self.client: Any = None
        self.fetcher: LocalFetcher | None = None
        self.down_since: float | None = None  # when Redis became unreachable (one log line each way)
        self.back = asyncio.Event()  # set when Redis is reachable again: the loops in backoff retry at once
        self._give_up_at = float("inf")  # stopping: when unsent answers are given up (monotonic seconds)

    def room(self, platform: str) -> int:
        """How many more checks of `platform` this worker takes now: 4 × its slot's concurrency, at least 8."""
        return max(8, 4 * self.concurrency.get(platform, 2)) - self.per_platform[platform]

    # -- taking checks ---------------------------------------------------------------------------------

    def take(self, stream: str, entry: bytes, fields: Any) -> None:
        """Start fetching one checks-stream entry (once: an entry claimed again while held is ignored)."""
        try:
            check_id, account, slot, politeness = streams.decode_check(fields)
        except Exception as exc:  # noqa: BLE001 - a malformed entry is dropped, named, never fetched
            log.error("%s %s: not a check (%s); dropped", stream, entry.decode(errors="replace"), type(exc).__name__)
            asyncio.ensure_future(self._drop(stream, entry))
            return
        if check_id in self.held or account.platform not in self.platforms:
            return
        held = Held(check_id, stream, entry, account.key, account.platform)
        self.held[check_id] = held
        self.by_key[account.key].append(check_id)
        self.per_platform[account.platform] += 1
        self.concurrency[account.platform] = int(politeness.get("concurrency") or 2)
        assert self.fetcher is not None
        slot_settings = {"concurrency": int(politeness.get("concurrency") or 2),
                         "delay": float(politeness.get("delay") or 0.0)}
        slot = download_slot(account)  # this worker's own naming of the slot; the entry's is informative
        if self.fetcher.feed is None:
            self.fetcher.configure({slot: slot_settings})
        else:
            self.fetcher.ensure_slots({slot: slot_settings})
        self.fetcher.submit([account])

    async def _drop(self, stream: str, entry: bytes) -> None:
        try:
            await self.client.xack(stream, streams.WORKER_GROUP, entry)
            await self.client.xdel(stream, entry)
        except Exception:  # noqa: BLE001 - dropped next time it is claimed
            pass

    def on_result(self, obs: Observation) -> None:
        """The crawl's answer for an account: queued for Redis with the check it answers."""
        ids = self.by_key.get(obs.account_key)
        if not ids:
            return
        check_id = ids.popleft()
        if not ids:
            del self.by_key[obs.account_key]
        held = self.held.get(check_id)
        if held is None:
            return
        self.fetched += 1
        self.answers.append((held, obs))
        self.answered.set()

    def on_lost(self, keys: list[str]) -> None:
        """Checks the crawl will never answer: released here; the claim timeout gives them to a worker again."""
        for key in keys:
            for check_id in self.by_key.pop(key, ()):
                held = self.held.pop(check_id, None)
                if held is not None:
                    self.per_platform[held.platform] -= 1

    # -- loops -------------------------------------------------------------------------------------------

    def _unreachable(self, loop: str, exc: BaseException) -> float:
        """Note that Redis is unreachable (one log line per outage, whichever loop meets it first); the backoff
        to wait (half the outage so far, 0.5 s to BACKOFF_MAX_S), cut short once any loop reaches Redis again."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.back.clear()
            log.error("redis at %s unreachable (%s: %s); retrying with backoff", streams.redact_url(self.redis_url),
                      type(exc).__name__, exc)
        return min(BACKOFF_MAX_S, max(0.5, (time.monotonic() - self.down_since) / 2))

    def _reachable(self, loop: str) -> None:
        """Redis answered `loop`: after an outage, one log line, and the other loops retry at once."""
        if self.down_since is not None:
            log.warning("redis reachable again after %.0fs (%s)", time.monotonic() - self.down_since, loop)
            self.down_since = None
            self.back.set()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` of backoff, or until a loop finds Redis reachable again."""
        try:
            await asyncio.wait_for(self.back.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def read(self) -> None:
        """Claim new checks with XREADGROUP while there is room, blocking at most a second per call."""
        import redis

        groups_ready = False
        while not self.stopping:
            try:
                if not groups_ready:
                    for platform in self.platforms:
                        await streams.ensure_group(self.client, streams.checks_stream(platform), streams.WORKER_GROUP)
                    groups_ready = True
                rooms = {p: self.room(p) for p in self.platforms}
                wanted = {streams.checks_stream(p): ">" for p, n in rooms.items() if n > 0}
                if not wanted:
                    await asyncio.sleep(0.05)
                    continue
                count = min(n for n in rooms.values() if n > 0)
                # A full platform is left out of this read; a long block on the others would leave it idle once its
                # checks are done (a worker serving every platform fetched at 60 % of its politeness): block
                # briefly then, and read it again as soon as it has room.
                block = READ_BLOCK_MS if len(wanted) == len(rooms) else FULL_BLOCK_MS
                reply = await self.client.xreadgroup(streams.WORKER_GROUP, self.name, wanted, count=count, block=block)
                self._reachable("read")
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost its data (restarted without persistence): groups again
                    groups_ready = False
                    continue
                raise
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                await self._pause(self._unreachable("read", exc))
                continue
            for stream, entries in reply or []:
                for entry, fields in entries:
                    self.take(stream.decode(), entry, fields)

    async def claim(self) -> None:
        """Every quarter of the claim timeout, take over checks another consumer held longer than it."""
        import redis

        while not self.stopping:
            await asyncio.sleep(max(0.2, self.claim_timeout / 4))
            for platform in self.platforms:
                room = self.room(platform)
                if room <= 0:
                    continue
                try:
                    reply = await self.client.xautoclaim(streams.checks_stream(platform), streams.WORKER_GROUP,
                                                         self.name, int(self.claim_timeout * 1000), "0-0", count=room)
                    self._reachable("claim")
                except redis.ResponseError:
                    continue  # no group yet: `read` creates it
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    self._unreachable("claim", exc)
                    break
                claimed = reply[1] if reply and len(reply) > 1 else []
                if claimed:
                    log.warning("%s: re-claimed %d check(s) held past the %gs claim timeout", platform,
                                len(claimed), self.claim_timeout)
                for entry, fields in claimed:
                    if fields:  # None for an entry deleted meanwhile
                        self.take(streams.checks_stream(platform), entry, fields)

    async def publish(self) -> None:
        """Send answers back: one MULTI per batch of answers (up to PUBLISH_BATCH, gathered for at most
        PUBLISH_GATHER_S), each answer's XADD with its check's XACK and XDEL."""
        import redis

        while not (self.stopping and not self.answers):
            if not self.answers:
                self.answered.clear()
                try:
                    await asyncio.wait_for(self.answered.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                continue
            if len(self.answers) < PUBLISH_BATCH and not self.stopping:
                await asyncio.sleep(PUBLISH_GATHER_S)  # let a few more answers join this MULTI: one round trip
            batch = list(self.answers)[:PUBLISH_BATCH]
            try:
                async with self.client.pipeline(transaction=True) as pipe:
                    for held, obs in batch:
                        pipe.xadd(streams.RESULTS, streams.encode_result(held.check_id, self.name, obs))
                        pipe.xack(held.stream, streams.WORKER_GROUP, held.entry)
                        pipe.xdel(held.stream, held.entry)
                    await pipe.execute()
                self._reachable("publish")
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if self.stopping and time.monotonic() > self._give_up_at:
                    log.error("stopping with %d answer(s) not sent: their checks are re-claimed by another worker",
                              len(self.answers))
                    return
                await self._pause(self._unreachable("publish", exc))
                continue
            for held, _obs in batch:
                self.answers.popleft()
                self.held.pop(held.check_id, None)
                self.per_platform[held.platform] -= 1

    async def beat(self) -> None:
        """Write this worker's heartbeat every HEARTBEAT_S (the coordinator's `status` and health read it)."""
        import redis

        started = time.time()
        while not self.stopping:
            try:
                await self.client.hset(streams.WORKERS, self.name, streams.heartbeat(
                    self.name, socket.gethostname(), os.getpid(), self.platforms, self.bind_address, started,
                    time.time()))
                self._reachable("heartbeat")
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._unreachable("heartbeat", exc)
            await asyncio.sleep(streams.HEARTBEAT_S)

    async def serve(self, runner: Any) -> None:
        """Run until SIGINT/SIGTERM: read, claim, fetch, publish, beat; then stop taking checks, give the ones
        in flight SHUTDOWN_GRACE_S, send their answers and leave."""
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self.client = streams.connect(self.redis_url, connect_timeout=5)
        self.fetcher = LocalFetcher(runner, self.base_urls, self.on_result, self.on_lost)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        log.info("banwatch worker %s: %s, redis at %s, claim timeout %gs%s", self.name,
                 ", ".join(self.platforms), streams.redact_url(self.redis_url), self.claim_timeout,
                 f", bound to {self.bind_address}" if self.bind_address else "")
        publisher = asyncio.ensure_future(self.publish())
        jobs = [asyncio.ensure_future(job()) for job in (self.read, self.claim, self.beat)]
        done, _ = await asyncio.wait([self.stopped, *jobs], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not self.stopped and task.exception() is not None:
                log.error("worker loop failed", exc_info=task.exception())
        self.stopping = True
        for job in jobs:
            job.cancel()
        self._give_up_at = time.monotonic() + SHUTDOWN_GRACE_S
        await self.fetcher.stop(SHUTDOWN_GRACE_S)
        try:
            await asyncio.wait_for(publisher, timeout=max(0.5, self._give_up_at - time.monotonic() + 2))
        except TimeoutError:
            log.error("stopping with %d answer(s) not sent", len(self.answers))
        try:
            await self.client.hdel(streams.WORKERS, self.name)
        except Exception:  # noqa: BLE001 - its heartbeat simply goes stale
            pass
        await self.client.aclose()
        log.info("banwatch worker %s stopped: %d checks fetched", self.name, self.fetched)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            os._exit(1)
        log.warning("%s: finishing the checks in flight (a second signal exits at once)", signal.Signals(signum).name)
        from twisted.internet import reactor

        reactor.callFromThread(lambda: self.stopped.done() or self.stopped.set_result(None))  # type: ignore[attr-defined,union-attr]
