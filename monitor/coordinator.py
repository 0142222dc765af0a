"""The coordinator's side of the Redis wire (`banwatch run --redis`; the protocol is monitor.streams).

`RemoteFetcher` publishes due checks to each platform's checks stream and reads answers from the results
stream as consumer `run` of group `coordinator`. An answer is handed to the service (`on_answer`) and
acknowledged (XACK + XDEL) only once the transaction recording it committed (`acknowledge`); after a failed
transaction or a restart, the answers given to this consumer and never acknowledged are read again from its
pending list, and the store records each check once (Store.answer_check).

While Redis is unreachable, `publish` raises RedisDown at once and the reader retries with backoff; the
service records what it already has, says so in `status` and raises one health alert each way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from banwatch.monitor import streams
from banwatch.monitor.model import Account, Observation

log = logging.getLogger("banwatch.service")
CONSUMER = "run"
BACKOFF_MAX_S = 10.0
READ_COUNT = 200  # answers read per XREADGROUP


class RedisDown(Exception):
    """Redis could not be reached (the message names the host, never the password)."""


Answer = Callable[[Observation, str, str, bytes], None]  # (observation, check id, worker, entry id)


class RemoteFetcher:
    """Hands checks to fetch workers through Redis; answers reach `on_answer(obs, check_id, worker, entry)`.
    `on_reachable(ok, error)` hears each change of Redis' reachability (ok True/False), once per change."""

    def __init__(self, redis_url: str, on_answer: Answer, on_reachable: Callable[[bool, str], None]) -> None:
        self.redis_url, self.on_answer, self.on_reachable = redis_url, on_answer, on_reachable
        self.client = streams.connect(redis_url, connect_timeout=3)
        self.reachable = True
        self.back = asyncio.Event()  # set when Redis is reachable again
        self.since_down: float | None = None
        self.groups: set[str] = set()
        self.reread = True  # read this consumer's pending answers first (after a start or a failed record)
        self.reader: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def where(self) -> str:
        """The Redis URL without its password."""
        return streams.redact_url(self.redis_url)

    def _down(self, exc: BaseException) -> RedisDown:
        if self.reachable:
            self.reachable, self.since_down = False, time.monotonic()
            self.back.clear()
            self.on_reachable(False, f"{type(exc).__name__}")
        return RedisDown(f"redis at {self.where} unreachable ({type(exc).__name__})")

    def _up(self) -> None:
        if not self.reachable:
            self.reachable, self.since_down = True, None
            self.back.set()  # the reader in backoff reads again at once
            self.on_reachable(True, "")

    async def publish(self, platform: str, checks: list[tuple[str, Account, str, dict[str, Any]]]) -> list[bytes]:
        """XADD each (check id, account, download slot, its politeness) to the platform's checks stream, in one
        pipeline; the entry ids. RedisDown when Redis cannot be reached (nothing may have been added)."""
        import redis

        stream = streams.checks_stream(platform)
        try:
            if stream not in self.groups:
                await streams.ensure_group(self.client, stream, streams.WORKER_GROUP)
                self.groups.add(stream)
            async with self.client.pipeline(transaction=False) as pipe:
                for check_id, account, slot, politeness in checks:
                    pipe.xadd(stream, streams.encode_check(check_id, account, slot, politeness))
                entries = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.groups.discard(stream)  # a Redis that restarted empty needs its group again
            raise self._down(exc) from None
        self._up()
        return list(entries)

    async def forget(self, platform: str, entries: list[bytes]) -> None:
        """Delete checks given up on from their stream (best effort: a worker holding one may still answer, and
        the store then refuses the answer)."""
        if entries:
            try:
                await self.client.xdel(streams.checks_stream(platform), *entries)
            except Exception:  # noqa: BLE001 - a check left behind is answered and refused
                pass

    async def heartbeats(self) -> dict[str, dict[str, Any]]:
        """Worker name -> its latest heartbeat (monitor.streams.heartbeat). RedisDown when unreachable."""
        import redis

        try:
            raw = await self.client.hgetall(streams.WORKERS)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise self._down(exc) from None
        self._up()
        return streams.read_heartbeats(raw)

    async def read(self) -> None:
        """Read answers until stopped: this consumer's pending ones first when asked (`reread`), then new ones,
        blocking a second per call; Redis unreachable -> backoff, doubling up to BACKOFF_MAX_S, cut short when another
        call finds Redis reachable again."""
        import redis

        backoff = 0.5
        while not self.stopping:
            try:
                if streams.RESULTS not in self.groups:
                    await streams.ensure_group(self.client, streams.RESULTS, streams.COORDINATOR_GROUP)
                    self.groups.add(streams.RESULTS)
                start = "0" if self.reread else ">"
                reply = await self.client.xreadgroup(streams.COORDINATOR_GROUP, CONSUMER, {streams.RESULTS: start},
                                                     count=READ_COUNT, block=None if self.reread else 1000)
                self._up()
                backoff = 0.5
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self.groups.discard(streams.RESULTS)
                    continue
                raise
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._down(exc)
                self.groups.clear()
                try:  # a publish or heartbeat read that reaches Redis again cuts the backoff short
                    await asyncio.wait_for(self.back.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            entries = [e for _, batch in (reply or []) for e in batch]
            if self.reread and not entries:
                self.reread = False  # the pending list is read through
                continue
            for entry, fields in entries:
                if not fields:  # a pending entry deleted meanwhile
                    await self.acknowledge([entry])
                    continue
                try:
                    check_id, worker, obs = streams.decode_result(fields)
                except Exception as exc:  # noqa: BLE001 - a malformed answer is dropped, named
                    log.error("results %s: not an answer (%s); dropped", entry.decode(errors="replace"),
                              type(exc).__name__)
                    await self.acknowledge([entry])
                    continue
                self.on_answer(obs, check_id, worker, entry)
            if self.reread and len(entries) < READ_COUNT:
                self.reread = False
            await asyncio.sleep(0)

    async def acknowledge(self, entries: list[bytes]) -> None:
        """XACK and XDEL answers whose recording committed. Unreachable: they stay pending and are read again
        (`reread`), and the store refuses what it recorded already."""
        import redis

        if not entries:
            return
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xack(streams.RESULTS, streams.COORDINATOR_GROUP, *entries)
                pipe.xdel(streams.RESULTS, *entries)
                await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._down(exc)
            self.reread = True

    def start(self) -> None:
        """Start reading answers."""
        self.reader = asyncio.ensure_future(self.read())

    async def stop(self, grace: float) -> list[str]:
        """Stop reading; what workers still hold stays in Redis for the next start. Returns no keys: nothing here
        is abandoned (Service._drain's interface)."""
        self.stopping = True
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.client.aclose()
        return []
