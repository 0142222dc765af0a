"""The alert outbox: the SQL behind delivery. States: pending -> sending -> sent, or dead.

A row is `sending` while its message is in flight, or in doubt: its post's answer was lost (a reset, a
timeout, a 5xx, an answer that is not Slack's), so it may have reached the channel. One found `sending`
at start-up was interrupted by a crash. Either way the dispatcher asks the channel whether the message
arrived before sending it again; an in-doubt row is asked about from its `next_attempt_at` on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from banwatch.monitor.errors import store_failure
from banwatch.monitor.redact import redact
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import from_epoch

_ALERT_ROW = """
    SELECT al.*, a.platform, a.handle, a.entity, a.tags AS account_tags
    FROM alerts al LEFT JOIN accounts a ON a.key = al.account_key"""


class _Claimed(Exception):
    """Another dispatcher claimed a row first: the transaction is rolled back."""


class Outbox:
    """The outbox's SQL over a Store's database: alert and wave rows, their states (pending, sending, sent, dead), the
    delivery waves and reconciliation queries. Every write is one `db.atomic()` transaction; times are stored ISO
    text. A write on a locked, full or failing database raises StoreError (monitor.errors.database_error)."""

    def __init__(self, store: Store) -> None:
        self.store, self.db = store, store.db

    # -- reading -----------------------------------------------------------------------------------

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        """Pending rows per channel, oldest first (a channel's alerts go out in order of creation)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.db.query(f"{_ALERT_ROW} WHERE al.state = 'pending' ORDER BY al.id"):
            out.setdefault(row["channel"] or "", []).append(row)
        return out

    def interrupted(self) -> list[dict[str, Any]]:
        """Alerts left `sending` (by a crash, or in doubt) that are neither a reply in a thread
        (`interrupted_replies`) nor carried by a wave still `sending` (the wave reconciles those): every
        `sending` row is in exactly one of the three."""
        return list(self.db.query(
            f"{_ALERT_ROW} WHERE al.state = 'sending' AND al.thread_ts IS NULL AND (al.wave_id IS NULL OR "
            "al.wave_id NOT IN (SELECT id FROM waves WHERE state = 'sending')) ORDER BY al.id"))

    def sending_channels(self) -> set[str]:
        """Channels with an alert `sending` (in flight, interrupted or in doubt)."""
        return {r["channel"] for r in self.db.query("SELECT DISTINCT channel FROM alerts WHERE state = 'sending'")}

    def look_again(self, alert_id: int, at: str) -> None:
        """The channel could not be asked about this `sending` row now: ask again at `at`."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET next_attempt_at = ? WHERE id = ? AND state = 'sending'", [at, alert_id])

    def wave_look_again(self, wave_id: int, at: str) -> None:
        """Set when wave `wave_id`, still `sending` (its post in doubt), is looked for again: `at`, ISO text."""
        with self.db.atomic():
            self.db.execute("UPDATE waves SET next_attempt_at = ? WHERE id = ? AND state = 'sending'", [at, wave_id])

    def expired(self, alert_ids: list[int], now: str) -> bool:
        """Every one of these alerts is past its give_up_at."""
        row = self.db.execute(f"SELECT count(*) FROM alerts WHERE id IN ({','.join('?' * len(alert_ids))}) "
                              "AND (give_up_at IS NULL OR give_up_at > ?)", [*alert_ids, now]).fetchone()
        return row[0] == 0

    def interrupted_replies(self) -> list[dict[str, Any]]:
        """Alert rows found `sending` as thread replies (`thread_ts` set), oldest first: posts a crash or a lost
        answer left in doubt."""
        return list(self.db.query(f"{_ALERT_ROW} WHERE al.state = 'sending' AND al.thread_ts IS NOT NULL "
                                  "ORDER BY al.id"))

    def in_doubt_rows(self) -> list[dict[str, Any]]:
        """Alerts left `sending` after a pass: their post's answer was lost (or a crash interrupted it), and
        they are looked for in the channel from next_attempt_at on."""
        return list(self.db.query("SELECT id, channel, next_attempt_at FROM alerts WHERE state = 'sending' "
                                  "ORDER BY id"))

    def interrupted_waves(self) -> list[dict[str, Any]]:
        """Wave rows found `sending`, oldest first: wave messages whose post is in doubt."""
        return list(self.db.query("SELECT * FROM waves WHERE state = 'sending' ORDER BY id"))

    def channel_id(self, channel: str) -> str | None:
        """The Slack channel id last recorded for channel name `channel` (from alerts or waves), or None."""
        row = next(self.db.query("SELECT channel_id FROM alerts WHERE channel = ? AND channel_id IS NOT NULL "
                                 "UNION ALL SELECT channel_id FROM waves WHERE channel = ? AND channel_id IS NOT NULL "
                                 "LIMIT 1", [channel, channel]), None)
        return row["channel_id"] if row else None

    def open_wave(self, platform: str, channel: str, since: str) -> dict[str, Any] | None:
        """A sent wave on this platform and channel that a member joined since `since`."""
        return next(self.db.query(
            "SELECT * FROM waves WHERE platform = ? AND channel = ? AND state = 'sent' AND updated_at >= ? "
            "ORDER BY id DESC LIMIT 1", [platform, channel, since]), None)

    def recent_singles(self, platform: str, channel: str, since: str) -> list[dict[str, Any]]:
        """Suspensions on this platform already posted on their own in this window (not in a wave)."""
        return list(self.db.query(
            f"{_ALERT_ROW} WHERE al.kind = 'suspended' AND a.platform = ? AND al.channel = ? "
            "AND al.state = 'sent' AND al.wave_id IS NULL AND al.created_at >= ? ORDER BY al.id",
            [platform, channel, since]))

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same committed state (SQLite's snapshot)."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.db.conn.execute("COMMIT")

    def wave_snapshot(self, since: str) -> dict[str, Any]:
        """What a delivery pass decides its waves from, read in ONE transaction: the pending rows per channel
        (as `pending`), and per (platform, channel) of a pending suspension the open wave (`open_wave`) and
        the suspensions already posted on their own since `since` (`recent_singles`)."""
        with self._reading():
            pending = self.pending()
            keys = {(r["platform"], channel) for channel, rows in pending.items() for r in rows
                    if r["kind"] == "suspended"}
            open_waves = {k: self.open_wave(k[0], k[1], since) for k in keys}
            singles = {k: self.recent_singles(k[0], k[1], since) for k in keys}
        return {"pending": pending, "open": open_waves, "singles": singles}

    def already_posted(self, wave: dict[str, Any]) -> list[int]:
        """Suspensions a wave message counts that were posted on their own before it (not its members: each
        keeps its own message and slack_ts): this platform and channel, created since the wave's start,
        sent alone no later than the wave was started."""
        return [r["id"] for r in self.db.query(
            "SELECT al.id FROM alerts al JOIN accounts a ON a.key = al.account_key WHERE al.kind = 'suspended' "
            "AND a.platform = ? AND al.channel = ? AND al.state = 'sent' AND al.wave_id IS NULL "
            "AND al.created_at >= ? AND al.sent_at <= ? ORDER BY al.id",
            [wave["platform"], wave["channel"], wave["started_at"], wave["created_at"]])]

    def wave_members(self, wave_id: int) -> list[int]:
        """The ids of the alerts wave `wave_id` carries, ascending."""
        return [r["id"] for r in self.db.query("SELECT id FROM alerts WHERE wave_id = ? ORDER BY id", [wave_id])]

    def alert(self, alert_id: int) -> dict[str, Any]:
        """One alert row, every column (raises sqlite-utils' NotFoundError when there is none)."""
        return self.db["alerts"].get(alert_id)

    def rows(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """For `alerts list`: up to `limit` alert rows (newest first), in `state` when given, as dicts of id, kind,
        subject, channel, state, attempts, created_at, sent_at, last_error."""
        where, params = ("WHERE state = ?", [state]) if state else ("", [])
        return list(self.db.query(
            "SELECT id, kind, coalesce(account_key, subject) AS subject, channel, state, attempts, created_at, "
            f"sent_at, last_error FROM alerts {where} ORDER BY id DESC LIMIT ?", [*params, limit]))

    # -- writing: every state change is its own short transaction -----------------------------------

    def _set(self, ids: Iterable[int], **values: Any) -> None:
        ids = list(ids)
        if not ids:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db.atomic():
            self.db.execute(f"UPDATE alerts SET {sets} WHERE id IN ({','.join('?' * len(ids))})",
                            [*values.values(), *ids])

    def claim(self, alert_id: int, at: str, thread_ts: str | None = None) -> bool:
        """Mark a row `sending` before its post at `at` (its attempted_at: where reconciliation looks for it),
        only if it is still `pending` (compare-and-set): False when another dispatcher claimed (or finished)
        it first, and then this one must not post it."""
        with self.db.atomic():
            cur = self.db.execute("UPDATE alerts SET state = 'sending', thread_ts = ?, attempted_at = ? "
                                  "WHERE id = ? AND state = 'pending'", [thread_ts, at, alert_id])
        return cur.rowcount == 1

    def in_doubt(self, alert_id: int, error: str, look_at: str) -> None:
        """The post may have reached the channel (its answer was lost): the row stays `sending`, with the
        error, and is reconciled (looked for in the channel) from `look_at` on, before any new attempt."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "WHERE id = ? AND state = 'sending'", [redact(error)[:500], look_at, alert_id])

    def sent(self, ids: Iterable[int], ts: str | None, channel_id: str | None, at: str) -> None:
        """Only rows in flight (`sending`) become sent: a row already sent keeps its slack_ts and sent_at."""
        ids = list(ids)
        if not ids:
            return
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'sent', slack_ts = ?, channel_id = ?, sent_at = ?, "
                            "last_error = NULL, attempts = attempts + 1 "
                            f"WHERE state = 'sending' AND id IN ({','.join('?' * len(ids))})",
                            [ts, channel_id, at, *ids])

    def failed(self, alert_id: int, error: str, retry_at: str) -> None:
        """Back to pending with the error, redacted: an error text may quote a URL or a header."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'pending', attempts = attempts + 1, last_error = ?, "
                            "next_attempt_at = ?, thread_ts = NULL, wave_id = NULL WHERE id = ?",
                            [redact(error)[:500], retry_at, alert_id])

    def hold_channel(self, channel: str, until: str, why: str) -> None:
        """Slack asked to wait (Retry-After): no pending alert of this channel is due before `until`. Being
        held counts as tried (attempts at least 1, `why` as the error if none): an alert held past its
        give_up_at is dead, like one that failed, rather than tried once more however old."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET next_attempt_at = ?, attempts = max(attempts, 1), "
                            "last_error = coalesce(last_error, ?) WHERE state = 'pending' AND channel IS ? "
                            "AND next_attempt_at < ?", [until, redact(why)[:500], channel, until])

    def back_to_pending(self, ids: Iterable[int], at: str) -> None:
        """The channel has no trace of these: they are sent again, now."""
        self._set(ids, state="pending", next_attempt_at=at, thread_ts=None, wave_id=None)

    def dead(self, alert_id: int, at: str) -> None:
        """Give up on alert `alert_id`: state `dead`, its last error suffixed '(gave up at `at`)' (ISO text)."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'dead', last_error = coalesce(last_error, '') || "
                            "' (gave up at ' || ? || ')' WHERE id = ?", [at, alert_id])

    def retry(self, ids: Iterable[int], now: str, give_up_at: str) -> int:
        """`alerts retry`: put the dead alerts among `ids` back to pending, due at `now`, given up at `give_up_at`
        (ISO text), out of any wave or thread. Returns how many rows moved."""
        ids = list(ids)
        with self.db.atomic():
            cur = self.db.execute(
                f"UPDATE alerts SET state = 'pending', next_attempt_at = ?, give_up_at = ?, wave_id = NULL, "
                f"thread_ts = NULL WHERE state = 'dead' AND id IN ({','.join('?' * len(ids))})",
                [now, give_up_at, *ids])
        return cur.rowcount

    def dead_ids(self) -> list[int]:
        """The ids of every dead alert, ascending."""
        return [r["id"] for r in self.db.query("SELECT id FROM alerts WHERE state = 'dead' ORDER BY id")]

    # -- waves ---------------------------------------------------------------------------------------

    def start_wave(self, platform: str, channel: str, started_at: str, members: list[int], earlier: list[int],
                   at: str) -> int:
        """A wave of `members` (pending, posted together now). `earlier` were already posted on their own:
        the wave message counts them, but they are not its members (their alerts keep their own message,
        slack_ts and no wave_id); only their changes are linked, so the timeline shows the whole wave.

        None when another dispatcher claimed a member first (compare-and-set): nothing is written."""
        try:
            with self.db.atomic():
                wave_id = int(self.db["waves"].insert({
                    "platform": platform, "channel": channel, "started_at": started_at, "state": "sending",
                    "members": len(members), "attempts": 0, "created_at": at,
                    "updated_at": at}).last_pk)
                claimed = self.db.execute(
                    f"UPDATE alerts SET state = 'sending', wave_id = ?, attempted_at = ? WHERE state = 'pending' "
                    f"AND id IN ({','.join('?' * len(members))})", [wave_id, at, *members]).rowcount
                if claimed != len(members):
                    raise _Claimed
                self._link_changes(members + earlier, wave_id)
        except _Claimed:
            return None
        return wave_id

    def wave_sent(self, wave_id: int, ts: str | None, channel_id: str | None, at: str) -> None:
        """Record wave `wave_id` posted as message `ts` in channel `channel_id` at `at` (ISO text), and its members
        still `sending` outside a thread as sent with it."""
        with self.db.atomic():
            self.db["waves"].update(wave_id, {"state": "sent", "slack_ts": ts, "channel_id": channel_id,
                                              "sent_at": at, "updated_at": at})
            self.db.execute("UPDATE waves SET attempts = attempts + 1 WHERE id = ?", [wave_id])
            self.db.execute("UPDATE alerts SET state = 'sent', slack_ts = ?, channel_id = ?, sent_at = ?, "
                            "attempts = attempts + 1 WHERE wave_id = ? AND state = 'sending' AND thread_ts IS NULL",
                            [ts, channel_id, at, wave_id])

    def wave_in_doubt(self, wave_id: int, error: str, look_at: str) -> None:
        """The wave message may have been posted (its answer was lost): the wave and its members stay
        `sending` and the wave is reconciled from `look_at` on, before any new attempt."""
        error = redact(error)[:500]
        with self.db.atomic():
            self.db.execute("UPDATE waves SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "WHERE id = ? AND state = 'sending'", [error, look_at, wave_id])
            self.db.execute("UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "WHERE wave_id = ? AND state = 'sending'", [error, look_at, wave_id])

    def wave_failed(self, wave_id: int, error: str, retry_at: str) -> None:
        """Nothing was posted: the members go back to pending and form the wave again next time."""
        error = redact(error)  # an error text may quote a URL or header: no secret is stored
        with self.db.atomic():
            self.db["waves"].update(wave_id, {"state": "failed", "last_error": error[:500]})
            self.db.execute("UPDATE changes SET wave_id = NULL WHERE wave_id = ?", [wave_id])
            self.db.execute("UPDATE alerts SET state = 'pending', attempts = attempts + 1, last_error = ?, "
                            "next_attempt_at = ?, wave_id = NULL WHERE wave_id = ? AND state = 'sending'",
                            [error[:500], retry_at, wave_id])
            self.db.execute("UPDATE alerts SET wave_id = NULL WHERE wave_id = ?", [wave_id])

    def join_wave(self, alert_id: int, wave: dict[str, Any], at: str) -> bool:
        """A later member, posted as a reply in the wave's thread; claimed only if still `pending` (False:
        another dispatcher has it, nothing is written)."""
        with self.db.atomic():
            if self.db.execute("UPDATE alerts SET state = 'sending', wave_id = ?, thread_ts = ?, attempted_at = ? "
                               "WHERE id = ? AND state = 'pending'",
                               [wave["id"], wave["slack_ts"], at, alert_id]).rowcount != 1:
                return False
            self._link_changes([alert_id], wave["id"])
            self.db.execute("UPDATE waves SET members = (SELECT count(*) FROM alerts WHERE wave_id = ?), "
                            "updated_at = ? WHERE id = ?", [wave["id"], at, wave["id"]])
        return True

    def leave_wave(self, alert_id: int, wave_id: int) -> None:
        """The reply could not be posted: the alert is no longer counted in the wave."""
        with self.db.atomic():
            self.db.execute("UPDATE changes SET wave_id = NULL WHERE id = (SELECT change_id FROM alerts WHERE id = ?)",
                            [alert_id])
            self.db.execute("UPDATE waves SET members = (SELECT count(*) FROM alerts WHERE wave_id = ?) "
                            "WHERE id = ?", [wave_id, wave_id])

    def _link_changes(self, alert_ids: list[int], wave_id: int) -> None:
        self.db.execute(f"UPDATE changes SET wave_id = ? WHERE id IN (SELECT change_id FROM alerts WHERE id IN "
                        f"({','.join('?' * len(alert_ids))}))", [wave_id, *alert_ids])

    def wave_context(self, wave_id: int) -> dict[str, Any]:
        """The wave and every account its message lists, oldest alert first: its members and the ones already
        posted on their own (`already_posted`: how many of `members` those are)."""
        wave = self.db["waves"].get(wave_id)
        with self._reading():
            earlier = self.already_posted(wave)
            ids = sorted({*earlier, *self.wave_members(wave_id)})
            members = [self.store.alert_context(i) for i in ids]
        return {**wave, "members": members, "already_posted": len(earlier)}


# -- leases: one `run` per database, one dispatcher at a time ------------------------------------------

SERVICE_LEASE = "lease:service"  # held by `banwatch run` from start to clean stop
DELIVERY_LEASE = "lease:delivery"  # held for one delivery pass (run's deliver job, `alerts send`, `check`)
LEASE_TTL_S = 60.0  # a holder that stops renewing (crashed on another host, hung) loses its lease after this
LEASE_RENEW_S = 15.0  # holders renew this often, well within the expiry
DELIVERY_WAIT_S = 10.0  # `alerts send` / `check` wait this long for another dispatcher's delivery lease
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: owner `host:pid:random`, what command, since when, until when (epoch seconds)."""

    owner: str
    command: str
    since: str
    expires_at: float

    @property
    def host(self) -> str:
        """The host part of `owner` ('host:pid:random')."""
        return self.owner.rsplit(":", 2)[0]

    @property
    def pid(self) -> int:
        """The process id part of `owner`; -1 when the owner is not in the 'host:pid:random' form."""
        try:
            return int(self.owner.rsplit(":", 2)[1])
        except (IndexError, ValueError):
            return -1

    def alive(self, now: float) -> bool:
        """Live: not expired, and, when the owner is on this host, its process still exists (a holder that
        was SIGKILLed releases its lease at once instead of after the expiry)."""
        if self.expires_at <= now:
            return False
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return True
        return _process_exists(self.pid)


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:  # a zombie (killed, not yet reaped) holds nothing
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def new_owner() -> str:
    """A fresh lease owner for this process: 'hostname:pid:8 random hex digits'."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """A lease row in the `service` table (key `lease:<name>`, value JSON owner/command/since/expires_at).

    Taken and renewed in ONE IMMEDIATE transaction (`db.atomic()`): read the row, write ours only if it is
    absent, expired, already ours, or its holder's process on this host is gone. Two takers at once are
    serialised by SQLite's write lock, so exactly one of them wins."""

    def __init__(self, store: Store, key: str, command: str, owner: str | None = None,
                 ttl: float = LEASE_TTL_S) -> None:
        self.store, self.key, self.command, self.ttl = store, key, command, ttl
        self.owner = owner or new_owner()
        self.since: str | None = None

    def _read(self) -> Holder | None:
        row = next(self.store.db.query("SELECT value FROM service WHERE key = ?", [self.key]), None)
        if row is None or not row["value"]:
            return None
        try:
            v = json.loads(row["value"])
            return Holder(str(v["owner"]), str(v.get("command", "?")), str(v.get("since", "?")),
                          float(v["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable lease holds nothing

    def holder(self) -> Holder | None:
        """The live holder, if it is not us."""
        held = self._read()
        return held if held and held.owner != self.owner and held.alive(time.time()) else None

    def take(self) -> Holder | None:
        """Take or renew the lease: None when it is ours now, else the live holder (nothing written)."""
        now = time.time()
        stamp = from_epoch(now)
        with self.store.db.atomic():
            held = self._read()
            if held and held.owner != self.owner and held.alive(now):
                return held
            if held and held.owner == self.owner:
                self.since = held.since
            self.since = self.since or stamp
            value = json.dumps({"owner": self.owner, "command": self.command, "since": self.since,
                                "expires_at": now + self.ttl})
            self.store.db.execute("INSERT INTO service (key, value, updated_at) VALUES (?, ?, ?) "
                                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                                  "updated_at = excluded.updated_at", [self.key, value, stamp])
        return None

    def release(self) -> None:
        """Give the lease up, if it is still ours."""
        with self.store.db.atomic():
            held = self._read()
            if held and held.owner == self.owner:
                self.store.db.execute("DELETE FROM service WHERE key = ?", [self.key])

    def wait(self, seconds: float, poll: float = 0.25) -> Holder | None:
        """Take the lease, waiting up to `seconds` for a live holder to give it up: None when ours."""
        deadline = time.monotonic() + seconds
        while (held := self.take()) is not None and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        return held

    @contextlib.contextmanager
    def held(self, wait: float = 0.0, renew: float = LEASE_RENEW_S) -> Iterator[Holder | None]:
        """Hold the lease for a block, renewed every `renew` seconds from a thread with its own connection;
        yields None when held, else the live holder (the block must then do nothing); released after."""
        held = self.wait(wait)
        if held is not None:
            yield held
            return
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(stop, renew), daemon=True,
                                   name=f"banwatch-{self.key}")
        renewer.start()
        try:
            yield None
        finally:
            stop.set()
            renewer.join()
            self.release()

    def _renew(self, stop: threading.Event, every: float) -> None:
        store: Store | None = None
        try:
            while not stop.wait(every):
                try:
                    store = store or Store.open(self.store.path)  # sqlite connections belong to one thread
                    mine = Lease(store, self.key, self.command, self.owner, self.ttl)
                    mine.since = self.since
                    other = mine.take()
                except Exception as exc:  # noqa: BLE001 - a failed renewal must not kill the holder
                    if (fault := store_failure(exc, self.store.path)) is None:
                        raise
                    _log.error("%s lease not renewed: %s; trying again in %gs", self.key, fault.fault, every)
                    continue
                if other is not None:
                    _log.warning("%s lease lost to %s (pid %s on %s)", self.key, other.command, other.pid,
                                 other.host)
        except Exception:  # noqa: BLE001 - a bug: logged whole; the lease just expires
            _log.exception("%s lease not renewed", self.key)
        finally:
            if store is not None:
                store.close()
