"""The alert outbox: the SQL behind delivery. States: pending -> sending -> sent, or dead.

A row is `sending` only while its message is in flight. One found `sending` at start-up was interrupted
by a crash; the dispatcher asks the channel whether the message arrived before sending it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.redact import redact
from monitor.store import Store

_ALERT_ROW = """
    SELECT al.*, a.platform, a.handle, a.entity, a.tags AS account_tags
    FROM alerts al LEFT JOIN accounts a ON a.key = al.account_key"""


class Outbox:
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
        """Alerts left `sending` by a crash (not those carried by a wave: the wave reconciles them)."""
        return list(self.db.query(f"{_ALERT_ROW} WHERE al.state = 'sending' AND al.wave_id IS NULL "
                                  "ORDER BY al.id"))

    def interrupted_replies(self) -> list[dict[str, Any]]:
        return list(self.db.query(f"{_ALERT_ROW} WHERE al.state = 'sending' AND al.thread_ts IS NOT NULL "
                                  "ORDER BY al.id"))

    def interrupted_waves(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM waves WHERE state = 'sending' ORDER BY id"))

    def channel_id(self, channel: str) -> str | None:
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

    def wave_members(self, wave_id: int) -> list[int]:
        return [r["id"] for r in self.db.query("SELECT id FROM alerts WHERE wave_id = ? ORDER BY id", [wave_id])]

    def rows(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
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

    def sending(self, ids: Iterable[int], thread_ts: str | None = None) -> None:
        self._set(ids, state="sending", thread_ts=thread_ts)

    def sent(self, ids: Iterable[int], ts: str | None, channel_id: str | None, at: str) -> None:
        ids = list(ids)
        with self.db.atomic():
            self._set(ids, state="sent", slack_ts=ts, channel_id=channel_id, sent_at=at, last_error=None)
            self.db.execute(f"UPDATE alerts SET attempts = attempts + 1 WHERE id IN ({','.join('?' * len(ids))})",
                            ids)

    def failed(self, alert_id: int, error: str, retry_at: str) -> None:
        """Back to pending with the error, redacted: an error text may quote a URL or a header."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'pending', attempts = attempts + 1, last_error = ?, "
                            "next_attempt_at = ?, thread_ts = NULL, wave_id = NULL WHERE id = ?",
                            [redact(error)[:500], retry_at, alert_id])

    def hold_channel(self, channel: str, until: str) -> None:
        """Slack asked to wait (Retry-After): no pending alert of this channel is due before `until`."""
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET next_attempt_at = ? WHERE state = 'pending' AND channel IS ? "
                            "AND next_attempt_at < ?", [until, channel, until])

    def back_to_pending(self, ids: Iterable[int], at: str) -> None:
        """The channel has no trace of these: they are sent again, now."""
        self._set(ids, state="pending", next_attempt_at=at, thread_ts=None, wave_id=None)

    def dead(self, alert_id: int, at: str) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE alerts SET state = 'dead', last_error = coalesce(last_error, '') || "
                            "' (gave up at ' || ? || ')' WHERE id = ?", [at, alert_id])

    def retry(self, ids: Iterable[int], now: str, give_up_at: str) -> int:
        ids = list(ids)
        with self.db.atomic():
            cur = self.db.execute(
                f"UPDATE alerts SET state = 'pending', next_attempt_at = ?, give_up_at = ?, wave_id = NULL, "
                f"thread_ts = NULL WHERE state = 'dead' AND id IN ({','.join('?' * len(ids))})",
                [now, give_up_at, *ids])
        return cur.rowcount

    def dead_ids(self) -> list[int]:
        return [r["id"] for r in self.db.query("SELECT id FROM alerts WHERE state = 'dead' ORDER BY id")]

    # -- waves ---------------------------------------------------------------------------------------

    def start_wave(self, platform: str, channel: str, started_at: str, members: list[int], earlier: list[int],
                   at: str) -> int:
        """A wave of `members` (pending, posted together now) and `earlier` (already posted on their own)."""
        with self.db.atomic():
            wave_id = int(self.db["waves"].insert({
                "platform": platform, "channel": channel, "started_at": started_at, "state": "sending",
                "members": len(members) + len(earlier), "attempts": 0, "created_at": at,
                "updated_at": at}).last_pk)
            self._set(members, state="sending", wave_id=wave_id)
            self._set(earlier, wave_id=wave_id)
            self._link_changes(members + earlier, wave_id)
        return wave_id

    def wave_sent(self, wave_id: int, ts: str | None, channel_id: str | None, at: str) -> None:
        with self.db.atomic():
            self.db["waves"].update(wave_id, {"state": "sent", "slack_ts": ts, "channel_id": channel_id,
                                              "sent_at": at, "updated_at": at})
            self.db.execute("UPDATE waves SET attempts = attempts + 1 WHERE id = ?", [wave_id])
            self.db.execute("UPDATE alerts SET state = 'sent', slack_ts = ?, channel_id = ?, sent_at = ?, "
                            "attempts = attempts + 1 WHERE wave_id = ? AND state = 'sending' AND thread_ts IS NULL",
                            [ts, channel_id, at, wave_id])

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

    def join_wave(self, alert_id: int, wave: dict[str, Any], at: str) -> None:
        """A later member, posted as a reply in the wave's thread."""
        with self.db.atomic():
            self._set([alert_id], state="sending", wave_id=wave["id"], thread_ts=wave["slack_ts"])
            self._link_changes([alert_id], wave["id"])
            self.db.execute("UPDATE waves SET members = (SELECT count(*) FROM alerts WHERE wave_id = ?), "
                            "updated_at = ? WHERE id = ?", [wave["id"], at, wave["id"]])

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
        wave = self.db["waves"].get(wave_id)
        members = [self.store.alert_context(i) for i in self.wave_members(wave_id)]
        return {**wave, "members": members}
