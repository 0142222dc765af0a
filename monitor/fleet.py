"""What `banwatch run --redis` adds to the service: checks go to fetch workers through Redis (monitor.coordinator)
instead of this process's crawl, and the service watches the workers.

- dispatch: a batch's checks are published first, then its `runs` row and one `remote_checks` row per check are
  written in one transaction (an answer can only be matched to a check the store knows; should that write fail,
  the published checks' answers are refused and the accounts stay due).
- answers: recorded once per check id (Store.answer_check, in the recording transaction), acknowledged in Redis
  after the commit.
- restart: the checks handed out and neither answered nor given up are taken up again, in their batches.
- expiry: a check unanswered for `expiry` seconds (Redis lost it: restarted without persistence) is given up,
  deleted from its stream, and its account is due again.
- workers: each tick reads the heartbeats; they are kept in the service table (`worker:<name>`) for `status`. A
  platform with checks outstanding or due and no live worker serving it for LIVE_S raises one health alert ("no
  worker for weibo since 10:42"), and one when a worker serves it again.
- Redis unreachable: one log line and one health alert when it goes, one each when it is back; the service
  table's `redis` says which, for `status`. Meanwhile the service records what it already has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from banwatch.monitor import streams
from banwatch.monitor.coordinator import RedisDown, RemoteFetcher
from banwatch.monitor.inflight import Batch
from banwatch.monitor.model import Account, Observation
from banwatch.monitor.timeutil import iso, now_iso, parse_iso

if TYPE_CHECKING:
    from banwatch.monitor.scheduler import Service

log = logging.getLogger("banwatch.service")
EXPIRY_MIN_S = 600.0


class Fleet:
    """The service's fetch workers. `service`: the Service it serves (store, inflight, checker, health)."""

    def __init__(self, service: Service, redis_url: str, claim_timeout: float = streams.CLAIM_TIMEOUT_S) -> None:
        self.service = service
        self.remote = RemoteFetcher(redis_url, self.on_answer, self.on_reachable)
        self.expiry = max(EXPIRY_MIN_S, 5 * claim_timeout)
        self.receipts: list[bytes] = []  # entries of the answers held for the next flush
        self.no_worker: dict[str, float] = {}  # platform -> since when (Unix seconds) nobody serves it
        self.alerted: set[str] = set()  # platforms whose "no worker" alert went out
        self.beats: dict[str, dict[str, Any]] = {}
        self.acking: set[asyncio.Task[None]] = set()  # acknowledgements on their way to Redis

    # -- handing out ---------------------------------------------------------------------------------

    async def dispatch(self, platform: str, accounts: list[Account], now: str) -> None:
        """Publish a batch, then write its run and check rows (one transaction), then track it. RedisDown when
        Redis is unreachable: nothing is written and the accounts stay due."""
        from banwatch.spiders.status import download_slot

        svc = self.service
        p = svc.watchlist.politeness(platform)
        politeness = {"concurrency": p.concurrency, "delay": p.delay}
        checks = [(streams.new_check_id(), a, download_slot(a), politeness) for a in accounts]
        entries = await self.remote.publish(platform, checks)
        with svc.store.db.atomic():
            run_id = svc.store.start_run("run", platform, len(accounts), now)
            svc.store.add_checks(run_id, platform, [(cid, a.key) for cid, a, _, _ in checks], now)
        svc.checker.admit(accounts)
        svc.inflight.add(Batch(platform, run_id, {a.key for a in accounts}, len(accounts), time.monotonic(),
                               check_ids={a.key: cid for cid, a, _, _ in checks},
                               entries={cid: e for (cid, _, _, _), e in zip(checks, entries)}, sent_at=now))

    def resume(self) -> None:
        """At start: the checks a previous coordinator handed out and nobody answered, tracked again in their
        batches (their runs finish when they are answered); those of accounts no longer watched are given up."""
        svc = self.service
        accounts = svc.watchlist.by_key
        by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
        gone = []
        for row in svc.store.open_checks():
            if row["account_key"] in accounts and row["account_key"] not in svc.inflight:
                by_run[row["run_id"]].append(row)
            else:
                gone.append(row["check_id"])
        if gone:
            svc.store.give_up_checks(gone, now_iso())
        for run_id, rows in by_run.items():
            keys = {r["account_key"] for r in rows}
            svc.checker.admit([accounts[k] for k in keys])
            svc.inflight.add(Batch(rows[0]["platform"], run_id, set(keys), len(rows), time.monotonic(),
                                   check_ids={r["account_key"]: r["check_id"] for r in rows},
                                   sent_at=rows[0]["sent_at"]))
        if by_run:
            log.info("taking up %d check(s) handed out before the restart", sum(len(r) for r in by_run.values()))

    def on_answer(self, obs: Observation, check_id: str, worker: str, entry: bytes) -> None:
        """A worker's answer (monitor.coordinator): held for the next flush with its check, acknowledged after.
        The answer of an account no longer watched completes its batch (its run row finishes) and is not recorded;
        it is acknowledged at once."""
        svc = self.service
        if obs.account_key not in svc.watchlist.by_key:  # removed while its check was out
            svc.on_result(obs, check=(check_id, worker))
            self._acknowledge([entry])
            return
        self.receipts.append(entry)
        svc.on_result(obs, check=(check_id, worker))

    def _acknowledge(self, entries: list[bytes]) -> None:
        task = asyncio.ensure_future(self.remote.acknowledge(entries))
        self.acking.add(task)  # awaited by `stop` before the client closes
        task.add_done_callback(self.acking.discard)

    def flushed(self, ok: bool) -> None:
        """After a flush: acknowledge what it recorded; when it failed, read the unacknowledged answers again."""
        receipts, self.receipts = self.receipts, []
        if ok:
            self._acknowledge(receipts)
        else:
            self.remote.reread = True

    # -- each tick -----------------------------------------------------------------------------------

    async def tick(self, now: str) -> None:
        """Give up expired checks; read the workers' heartbeats, keep them for `status`, judge each platform."""
        svc = self.service
        cutoff = iso(parse_iso(now) - timedelta(seconds=self.expiry))
        expired = [(b, k) for b in svc.inflight.batches() if b.sent_at and b.sent_at < cutoff for k in list(b.keys)]
        if expired:
            ids = [b.check_ids[k] for b, k in expired if k in b.check_ids]
            svc.store.give_up_checks(ids, now)
            for b, k in expired:
                cid = b.check_ids.get(k)
                if cid in b.entries:
                    await self.remote.forget(b.platform, [b.entries[cid]])
            log.warning("%d check(s) unanswered for %gs given up; their accounts are due again", len(expired),
                        self.expiry)
            svc.on_lost([k for _, k in expired], quiet=True)
        try:
            self.beats = await self.remote.heartbeats()
        except RedisDown:
            return
        svc.store.set_service({"redis": "ok", **{f"worker:{name}": json.dumps(beat, sort_keys=True)
                                                 for name, beat in self.beats.items()}}, now)
        self.judge(now)

    def judge(self, now: str) -> None:
        """Per platform with checks outstanding: is a live worker serving it? One health alert after LIVE_S
        without one, one when one is back."""
        svc = self.service
        wall = parse_iso(now).timestamp()
        served = {p for beat in self.beats.values() if wall - float(beat["seen"]) <= streams.LIVE_S
                  for p in beat.get("platforms", [])}
        for platform in {b.platform for b in svc.inflight.batches()} | set(self.no_worker):
            if platform in served:
                since = self.no_worker.pop(platform, None)
                if platform in self.alerted:
                    self.alerted.discard(platform)
                    detail = f"a worker takes {platform} checks again (none since {iso_short(since)})."
                    svc.health(f"workers:{platform}", detail, now)
                    svc.store.set_service({f"no_worker:{platform}": ""}, now)
                    log.warning(detail)
                continue
            since = self.no_worker.setdefault(platform, wall)
            if platform not in self.alerted and wall - since >= streams.LIVE_S:
                self.alerted.add(platform)
                detail = (f"no worker for {platform} since {iso_short(since)}: "
                          f"{svc.inflight.outstanding(platform)} check(s) wait; no finding is inferred from this.")
                svc.health(f"workers:{platform}", detail, now)
                svc.store.set_service({f"no_worker:{platform}": iso(datetime.fromtimestamp(since, UTC))}, now)
                log.warning(detail)

    def on_reachable(self, ok: bool, error: str) -> None:
        """Redis went or came back: one log line, the service table's `redis`, one health alert."""
        svc = self.service
        now = now_iso()
        where = self.remote.where
        if ok:
            detail = f"Redis at {where} is reachable again; fetch workers are handed checks again."
            log.warning(detail)
        else:
            detail = (f"Redis at {where} is unreachable ({error}) since {now[11:16]} UTC: the coordinator records "
                      "what it already has and retries; no finding is inferred from this.")
            log.error(detail)
        try:
            svc.store.set_service({"redis": "ok" if ok else f"unreachable since {now}"}, now)
            svc.health("redis", detail, now)
        except Exception as exc:  # noqa: BLE001 - the database's own failure: logged by the service's handler
            svc.failed("redis health", exc, "Redis health not recorded", "recorded at the next change")

    async def stop(self, grace: float) -> None:
        """Stop reading answers, record those already read and acknowledge them (at most `grace` seconds), then
        close the connection. What workers hold, and what was not acknowledged, stays in Redis for the next start."""
        self.remote.stopping = True
        if self.remote.reader is not None:
            self.remote.reader.cancel()
            await asyncio.gather(self.remote.reader, return_exceptions=True)
        self.service.flush()
        if self.acking:
            await asyncio.wait(list(self.acking), timeout=grace)
        await self.remote.stop(0)


def iso_short(unix: float | None) -> str:
    """HH:MM UTC of Unix seconds, '?' for None."""
    if unix is None:
        return "?"
    return time.strftime("%H:%M UTC", time.gmtime(unix))
