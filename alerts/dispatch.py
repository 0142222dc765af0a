"""Drain the outbox: exactly once per alert with the bot token, in order per channel, waves grouped.

- A row is claimed (marked `sending`) before its post only if it is still `pending` (compare-and-set: a
  row another dispatcher claimed is not posted, and that channel is left to it), and marked `sent` (with
  Slack's ts) after; a row found `sending` is reconciled first: the channel is asked for the message
  carrying its metadata. Reconciling assumes no other dispatcher is live: callers hold the delivery lease
  (monitor.outbox.Lease). A channel is asked at most once per pass: when it cannot be asked now (a network
  error, a 5xx, a rate limit) nothing in it is sent in this pass.
- A post whose answer was lost (Delivery.uncertain: a reset or timeout after sending, a 5xx, an answer that
  is not Slack's) may have reached the channel: with a notifier that can find its messages (`exact`) the
  row (or wave) stays `sending`, in doubt, and is reconciled like an interrupted one once its backoff is
  over; until then its channel sends nothing, so order holds. It is never posted again blind, and slack-sdk
  never retries a post in the call (alerts/slack.py). A webhook cannot look: it sends again (at least once).
- Reconciliation looks for a message from its attempt's own record (`attempted_at`, a wave's `created_at`:
  our clock when the post began) back by CLOCK_SKEW_MARGIN_S plus Slack's clock offset as last measured
  (a posted message's ts is Slack's clock; the service table's `slack:clock_offset`), so a host clock
  minutes ahead of Slack's does not hide a message that was posted.
- A channel whose history the bot cannot read (UNREADABLE: the token lacks channels:history /
  groups:history, is not a bot or user token, or cannot see the channel) falls back to at least once: its
  interrupted rows are sent again (one message may then appear twice) and the channel goes on. One WARNING
  and one health alert (in that channel) when it starts, one when its history reads again; the state is
  the service table's `history:<channel>`, so it holds across passes and restarts.
- A failure records the error and backs off exponentially from `retry_base` up to `retry_max` (5 minutes
  by default), never sooner than Retry-After; the rest of that channel waits so its alerts keep their
  order, other channels go on. A Retry-After (a 429) is measured from when Slack said it and holds every
  pending alert of the channel until then, up to a day (alerts.slack.RETRY_AFTER_MAX_S; being held counts
  as tried): slack-sdk never sleeps it out inside the call (alerts/slack.py). After `give_up` the row is
  dead (`banwatch alerts retry`).
- A message Slack rejects as malformed (MALFORMED: blocks or text it will never accept) is sent once more
  simplified (plain text only, truncated); if that is rejected too the row is dead with both reasons. It
  does not hold the channel: the channel's later alerts go on in the same pass.
- Suspensions on one platform within `wave_window`: from `wave_size` on, one wave message; later ones
  are replies in its thread and the wave message is updated with the new count. Waves are decided once
  per pass, before anything is sent, from one snapshot of the outbox (Outbox.wave_snapshot): each pending
  alert is planned as a single, a member of a new wave, or a reply in an open wave, and never changes
  plan within the pass. An alert already posted on its own is never a wave member: the wave message
  counts and lists it ("including N already posted on their own") but its row, slack_ts and the pass's
  `sent` are untouched, so `sent` counts each alert delivered exactly once.
- A channel `apprise:VAR` (an `alerts.routes` entry with `apprise:`) goes through an AppriseNotifier
  (alerts/apprise_notifier.py), every other through the pass's notifier: the same claim, order, backoff and
  give-up, but at least once (it cannot look for its messages, so a lost answer means sending again) and
  no waves (no threads: every alert is its own message).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from banwatch.alerts.apprise_notifier import AppriseNotifier, is_apprise
from banwatch.alerts.notifier import Delivery, Mark, Message, Notifier, NotifierError
from banwatch.alerts.render import render, render_wave, simplify
from banwatch.monitor.outbox import Outbox
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import epoch, iso, later, parse_iso
from banwatch.monitor.watchlist import AlertSettings

log = logging.getLogger(__name__)
CLOCK_SKEW_MARGIN_S = 600.0  # how far before an attempt (our clock, corrected by the measured offset) to look
CLOCK_OFFSET_KEY = "slack:clock_offset"  # service table: the channel's clock minus ours, seconds
BACKOFF_MAX_S = 300.0  # the default cap (alerts.retry_max): once Slack is back, an alert waits at most this
# chat.postMessage / chat.update / incoming-webhook errors that say the message itself is malformed: the
# same message will be rejected every time, so retrying it with backoff only holds the channel.
MALFORMED = ("invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long",
             "invalid_attachments", "too_many_attachments", "no_text", "invalid_payload")
_CODE = re.compile(r"[a-z_]+")
# conversations.history / .replies / .list errors that say this token will never read this channel's history:
# asking again each pass cannot succeed, so an interrupted row there is sent again (at least once). Any other
# failure (network, 5xx, ratelimited, invalid_auth) is transient: the channel waits for the next pass.
UNREADABLE = ("missing_scope", "not_allowed_token_type", "channel_not_found", "not_in_channel")


def malformed(error: str | None) -> str | None:
    """The malformed-message error code in a delivery error ('Slack said invalid_blocks'), if any."""
    return next((w for w in _CODE.findall(error or "") if w in MALFORMED), None)


def unreadable(error: str | None) -> str | None:
    """The cannot-read-history error code in a reconcile error ('Slack said missing_scope'), if any."""
    return next((w for w in _CODE.findall(error or "") if w in UNREADABLE), None)


@dataclass
class DeliveryReport:
    """What one delivery pass did: alert counts (`sent` counts each delivered alert once; `waves` wave
    messages posted; `reconciled` rows found already posted), `kept` pending after it, `next_attempt_at` (stored
    ISO text, or None) and the longest `retry_after` Slack asked for (seconds, or None)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    reconciled: int = 0
    waves: int = 0
    kept: int = 0  # alerts left pending after the pass
    next_attempt_at: str | None = None  # when the earliest of them is due (its channel's first alert)
    retry_after: float | None = None  # the longest Retry-After Slack asked for in this pass


def backoff(attempts: int, retry_after: float | None = None, base: float = 30.0,
            cap: float = BACKOFF_MAX_S) -> float:
    """Exponential backoff after the n-th failed attempt, at most `cap`, never sooner than the channel asked."""
    delay = min(cap, base * 2 ** min(max(0, attempts), 64))
    return max(delay, retry_after or 0.0)


class Dispatcher:
    """Drains the outbox into `notifier` (and `apprise:` channels into an AppriseNotifier: `via`): reconcile
    interrupted posts, decide waves, send in order per channel, back off, give up (module docstring). One
    instance per pass; only it changes outbox rows.

    `titles`: platform name -> title, from the composition (None: the installed registry's)."""

    def __init__(self, store: Store, notifier: Notifier, settings: AlertSettings,
                 titles: Mapping[str, str] | None = None) -> None:
        self.store, self.outbox, self.notifier, self.settings = store, Outbox(store), notifier, settings
        self.titles = titles  # platform name -> title, from the composition (None: the installed registry's)
        self._malformed: set[int] = set()  # rows made dead in this pass because Slack rejected them as malformed
        self._malformed_waves: set[int] = set()  # waves whose message Slack rejected: members went one by one
        self._taken: set[int] = set()  # rows another dispatcher claimed first (compare-and-set): not posted here
        self._plan: dict[int, tuple[str, Any]] = {}  # this pass's wave decisions (_plan_waves)
        self._doubt: set[int] = set()  # rows whose post's answer was lost in this pass: reconciled later
        self._offset: float | None = None  # the channel's clock minus ours, as stored (CLOCK_OFFSET_KEY)
        self._apprise: Notifier | None = None  # for `apprise:` channels (via), made on first use

    def deliver(self, now: str) -> DeliveryReport:
        """One delivery pass at `now` (stored ISO text, when the pass began) -> DeliveryReport.

        Never raises for a channel's failure (those go on the rows); a database failure raises StoreError."""
        self._t0 = time.monotonic()  # `now` is when the pass began: a Retry-After counts from when it came
        self._waits: list[float] = []  # every Retry-After Slack answered in this pass
        report = DeliveryReport()
        try:
            self._deliver(now, report)
        finally:
            self._kept(now, report)
        return report

    def _kept(self, now: str, report: DeliveryReport) -> None:
        """What is left for later: each channel's first pending alert says when that channel goes next."""
        pending = self.outbox.pending()
        doubtful = self.outbox.in_doubt_rows()  # in doubt: looked for in the channel at next_attempt_at
        # A channel goes next when its first pending alert is due, and not before its posts in doubt are
        # looked for (they hold the channel); a channel with only posts in doubt, when they are looked for.
        nexts: dict[str, str] = {channel: rows[0]["next_attempt_at"] for channel, rows in pending.items()}
        for r in doubtful:
            channel, at = r["channel"] or "", r["next_attempt_at"] or now
            nexts[channel] = max(nexts.get(channel, at), at)
        firsts = list(nexts.values())
        report.kept = sum(len(rows) for rows in pending.values()) + len(doubtful)
        report.next_attempt_at = max(now, min(firsts)) if firsts else None
        report.retry_after = max(self._waits, default=None)

    def _deliver(self, now: str, report: DeliveryReport) -> None:
        blocked = self.reconcile(now, report)
        since = iso(parse_iso(now) - timedelta(seconds=self.settings.wave_window))
        snapshot = self.outbox.wave_snapshot(since)
        self._plan = self._plan_waves(snapshot, now)
        for channel, rows in snapshot["pending"].items():
            if channel in blocked:
                continue  # could not ask this channel what it already has: sending now could duplicate
            done: set[int] = set()
            for row in rows:
                if row["id"] in done:
                    continue
                if row["attempts"] and row["give_up_at"] and row["give_up_at"] <= now:  # tried, for long enough
                    self.outbox.dead(row["id"], now)
                    log.error("alert %s is dead after trying until %s: %s", row["id"], row["give_up_at"],
                              row["last_error"])
                    report.dead += 1
                    continue
                if row["next_attempt_at"] > now:
                    break  # keep this channel's order: nothing after a waiting alert goes first
                sent = self._deliver_row(row, rows, done, now, report)
                if not sent and row["id"] in self._taken:
                    break  # another dispatcher is delivering this channel: it keeps the order, we post nothing
                if not sent and row["id"] in self._malformed:
                    report.dead += 1  # dead, not waiting: it holds nothing behind it
                    continue
                if not sent:
                    report.failed += 1
                    break
                report.sent += sent

    # -- crash recovery ------------------------------------------------------------------------------

    def reconcile(self, now: str, report: DeliveryReport) -> set[str]:
        """Decide every row left `sending` by a crash; return channels that could not be asked. Each channel is
        asked at most once per pass after a failure: a channel that cannot be asked now is blocked for the pass,
        one whose history cannot be read at all has its rows sent again (at least once)."""
        blocked: set[str] = set()
        self._unreachable: set[str] = set()  # channels whose history could not be read now (_find)
        unread: dict[str, str] = {}  # channel -> why its history cannot be read (this pass)
        for wave in self.outbox.interrupted_waves():
            channel = wave["channel"]
            if channel in blocked or self._later(wave, channel, blocked, now):
                continue
            asked, ts = self._find(f"wave {wave['id']}", channel, wave["channel_id"],
                                   Mark("banwatch_wave", "wave_id", wave["id"]), wave["created_at"], None,
                                   unread, blocked, now)
            if not asked:
                self.outbox.wave_look_again(wave["id"], self._look_again_at(wave["attempts"], now))
                continue
            if channel in unread:
                self.outbox.wave_failed(wave["id"], f"interrupted; channel history unreadable ({unread[channel]}): "
                                        "sent again, at least once", now)
            elif ts:
                self.outbox.wave_sent(wave["id"], ts, wave["channel_id"] or self._known_id(channel), now)
                report.reconciled += 1
            else:
                self.outbox.wave_failed(wave["id"], "interrupted before it reached the channel", now)
        for row in [*self.outbox.interrupted(), *self.outbox.interrupted_replies()]:
            channel = row["channel"]
            if channel in blocked or self._later(row, channel, blocked, now):
                continue
            asked, ts = self._find(f"alert {row['id']}", channel, row["channel_id"] or self._known_id(channel),
                                   Mark("banwatch_alert", "alert_id", row["id"]),
                                   row["attempted_at"] or row["created_at"], row["thread_ts"], unread, blocked, now)
            if not asked:
                self.outbox.look_again(row["id"], self._look_again_at(row["attempts"], now))
                continue
            if ts:
                self.outbox.sent([row["id"]], ts, row["channel_id"] or self._known_id(channel), now)
                report.reconciled += 1
            else:
                if channel in unread:
                    log.info("alert %s: sending it again (at least once): %s history unreadable (%s)", row["id"],
                             channel, unread[channel])
                self.outbox.back_to_pending([row["id"]], now)
        if self._unreachable:
            self._abandon(self._unreachable, now, report)
            blocked -= self._unreachable - self.outbox.sending_channels()  # nothing in doubt holds them now
        return blocked

    def _look_again_at(self, attempts: int, now: str) -> str:
        """When to ask a channel again whose history could not be read now: the row's backoff."""
        return later(now, backoff(attempts, None, self.settings.retry_base, self.settings.retry_max))

    @staticmethod
    def _later(row: dict[str, Any], channel: str, blocked: set[str], now: str) -> bool:
        """An in-doubt post (or wave) is looked for only once its backoff is over; until then its channel sends
        nothing (it is added to `blocked`), so nothing overtakes it."""
        if row["next_attempt_at"] and row["next_attempt_at"] > now:
            blocked.add(channel)
            return True
        return False

    def _abandon(self, unreachable: set[str], now: str, report: DeliveryReport) -> None:
        """Posts in doubt whose channel could not be asked in this pass, once they are past give_up, are dead:
        nobody can say whether they reached the channel, and they must not hold it for ever. Their reason
        says so; `banwatch alerts retry` sends them again."""
        why = ("in doubt: the post's answer was lost (or a crash interrupted it) and the channel's history "
               "could not be read before give_up, so it may have been posted once")
        for wave in self.outbox.interrupted_waves():
            members = self.outbox.wave_members(wave["id"])
            if wave["channel"] in unreachable and members and self.outbox.expired(members, now):
                self.outbox.wave_failed(wave["id"], why, now)
                for alert_id in members:
                    self.outbox.dead(alert_id, now)
                report.dead += len(members)
                log.error("wave %s (%d alerts) is dead: %s", wave["id"], len(members), why)
        for row in [*self.outbox.interrupted(), *self.outbox.interrupted_replies()]:
            if row["channel"] in unreachable and self.outbox.expired([row["id"]], now):
                self.outbox.failed(row["id"], why, now)
                self.outbox.dead(row["id"], now)
                report.dead += 1
                log.error("alert %s is dead: %s", row["id"], why)

    def offset(self) -> float:
        """The channel's clock minus ours, seconds, as last measured (CLOCK_OFFSET_KEY; 0 before any)."""
        if self._offset is None:
            try:
                self._offset = float(self.store.get_service(CLOCK_OFFSET_KEY) or 0.0)
            except ValueError:
                self._offset = 0.0
            if not math.isfinite(self._offset):
                self._offset = 0.0
        return self._offset

    def _measured(self, result: Delivery, now: str) -> None:
        """Keep the channel's clock offset shown by a post's answer (stored when it moved by over a second)."""
        if result.clock_offset is None:
            return
        if abs(result.clock_offset - self.offset()) > 1.0:
            self._offset = result.clock_offset
            self.store.set_service({CLOCK_OFFSET_KEY: f"{result.clock_offset:.3f}"}, now)

    def _find(self, what: str, channel: str, channel_id: str | None, mark: Mark, attempted_at: str,
              thread_ts: str | None, unread: dict[str, str], blocked: set[str], now: str) -> tuple[bool, str | None]:
        """Ask `channel`'s history for the message carrying `mark`, posted from `attempted_at` (our clock) on,
        read back to that moment in Slack's clock less CLOCK_SKEW_MARGIN_S (see SlackNotifier.find): (True,
        its ts or None). (True, None) without asking when the channel's history is unreadable this pass;
        (False, None) when the channel cannot be asked now: it is added to `blocked` for the pass."""
        if channel in unread:
            return True, None
        try:
            ts = self.via(channel).find(channel, channel_id, mark, epoch(attempted_at), thread_ts=thread_ts,
                                    offset=self.offset(), margin=CLOCK_SKEW_MARGIN_S)
        except NotifierError as exc:
            if not self._unreadable(channel, str(exc), unread, now):
                log.warning("cannot reconcile %s yet: %s", what, exc)
                blocked.add(channel)
                self._unreachable.add(channel)
                return False, None
            return True, None
        self._readable(channel, now)
        return True, ts

    def _unreadable(self, channel: str, error: str, unread: dict[str, str], now: str) -> bool:
        """True when `error` says this channel's history cannot be read at all: the channel falls back to at
        least once. The first time (service table `history:<channel>`): one WARNING and one health alert."""
        code = unreadable(error)
        if not code:
            return False
        unread[channel] = code
        key = f"history:{channel}"
        if self.store.get_service(key):
            return True  # already said
        self.store.set_service({key: code}, now)
        detail = (f"banwatch cannot read the history of {channel or 'the default channel'} ({error}), so an alert "
                  "interrupted mid-post there cannot be found again: it is sent again, and may appear twice. "
                  "The bot needs channels:history (groups:history for a private channel) and to be a member of "
                  "the channel; `banwatch alerts test` lists the missing scopes.")
        log.warning("%s", detail)
        if "health" in self.settings.kinds:
            self.store.health_alert(f"slack:{channel}", detail, [channel], now, self.settings.give_up)
        return True

    def _readable(self, channel: str, now: str) -> None:
        """The channel's history was read: if it could not be before, one health alert says exactly once is back."""
        key = f"history:{channel}"
        if not self.store.get_service(key):
            return
        self.store.set_service({key: ""}, now)
        log.warning("the history of %s reads again: interrupted alerts there are reconciled, exactly once", channel)
        if "health" in self.settings.kinds:
            where = channel or "the default channel"
            self.store.health_alert(f"slack:{channel}", f"banwatch reads the history of {where} again: an "
                                    "interrupted alert there is found, not sent twice.", [channel], now,
                                    self.settings.give_up)

    def via(self, channel: str | None) -> Notifier:
        """The notifier for `channel`: an AppriseNotifier for `apprise:VAR` channels (alerts.routes with
        `apprise:`), the pass's notifier (Slack, its webhook, the console) for every other."""
        if is_apprise(channel):
            if self._apprise is None:
                self._apprise = AppriseNotifier()
            return self._apprise
        return self.notifier

    def _known_id(self, channel: str) -> str | None:
        return self.outbox.channel_id(channel)

    # -- sending ---------------------------------------------------------------------------------------

    def _plan_waves(self, snapshot: dict[str, Any], now: str) -> dict[int, tuple[str, Any]]:
        """Each pending suspension's part in a wave, decided once for the pass from one snapshot: ("reply",
        open wave) or ("wave", (members, earlier)); an alert not in the plan goes on its own. A new wave's
        members are the platform's due suspensions in the channel; `earlier` (already posted on their own in
        the window) count towards `wave_size` but are never members."""
        plan: dict[int, tuple[str, Any]] = {}
        for channel, rows in snapshot["pending"].items():
            if not self.via(channel).threads:
                continue  # no threads (a webhook, Apprise): every alert is its own message
            due: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                if r["kind"] == "suspended" and r["next_attempt_at"] <= now and not (
                        r["attempts"] and r["give_up_at"] and r["give_up_at"] <= now):
                    due.setdefault(r["platform"], []).append(r)
            for platform, group in due.items():
                wave = snapshot["open"].get((platform, channel))
                earlier = snapshot["singles"].get((platform, channel), [])
                if wave:
                    plan.update((r["id"], ("reply", wave)) for r in group)
                elif len(group) + len(earlier) >= self.settings.wave_size:
                    plan.update((r["id"], ("wave", (group, earlier))) for r in group)
        return plan

    def _deliver_row(self, row: dict[str, Any], rows: list[dict[str, Any]], done: set[int], now: str,
                     report: DeliveryReport) -> int:
        """Send one row (or the wave it starts), as the pass's plan says; the number of alerts delivered (each
        counted once), 0 on failure."""
        kind, what = self._plan.get(row["id"], ("single", None))
        if kind == "reply":
            return self._reply(row, what, now)
        if kind == "wave":
            group, earlier = what
            sent, wave_id = self._start_wave(row["platform"], row["channel"], group, earlier, now)
            if sent:
                done.update(r["id"] for r in group)
                report.waves += int(wave_id not in self._malformed_waves)
            return sent
        return self._single(row, now)

    def _wave_message(self, wave_id: int) -> Message:
        """The wave message: every account it counts; those already posted on their own are said to be."""
        context = self.outbox.wave_context(wave_id)
        message = render_wave(context, titles=self.titles)
        if not context["already_posted"]:
            return message
        note = f"Including {context['already_posted']} already posted on their own above."
        return Message(text=f"{message.text} ({note})",
                       blocks=[*message.blocks, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}])

    def _in_doubt(self, result: Delivery, channel: str) -> bool:
        """The post failed but may have reached the channel, and the channel can be asked later."""
        return not result.ok and result.uncertain and self.via(channel).exact

    def _single(self, row: dict[str, Any], now: str, thread_ts: str | None = None, claimed: bool = False) -> int:
        if not claimed and not self.outbox.claim(row["id"], now, thread_ts=thread_ts):
            self._taken.add(row["id"])
            return 0
        message = render(self.store.alert_context(row["id"]), self.titles)
        mark = Mark("banwatch_alert", "alert_id", row["id"])
        result = self.via(row["channel"]).send(row["channel"], message, mark=mark, thread_ts=thread_ts)
        if self._in_doubt(result, row["channel"]):
            self._doubted(row, result, now)
            return 0
        if not result.ok and not result.uncertain and malformed(result.error):
            first = result
            result = self.via(row["channel"]).send(row["channel"], simplify(message), mark=mark, thread_ts=thread_ts)
            if self._in_doubt(result, row["channel"]):
                self._doubted(row, result, now)
                return 0
            if not result.ok and not result.uncertain and malformed(result.error):
                self._dead_malformed(row, f"{first.error}; simplified message: {result.error}", now)
                return 0
            if result.ok:
                log.warning("alert %s sent simplified (plain text): Slack rejected the full message: %s",
                            row["id"], first.error)
        if result.ok:
            self.outbox.sent([row["id"]], result.ts, result.channel_id, now)
            self._measured(result, now)
            return 1
        self._failed(row, result, now)
        return 0

    def _doubted(self, row: dict[str, Any], result: Delivery, now: str) -> None:
        """The post's answer was lost: the row stays `sending`, looked for in the channel after its backoff."""
        look_at, delay = self._retry_at(row["channel"], row["attempts"], result, now)
        self.outbox.in_doubt(row["id"], result.error or "answer lost", look_at)
        self._doubt.add(row["id"])
        log.warning("alert %s: Slack's answer was lost (%s): it may have been posted, so it is looked for in %s "
                    "in %gs before any new attempt", row["id"], result.error, row["channel"] or "the channel", delay)

    def _dead_malformed(self, row: dict[str, Any], error: str, now: str) -> None:
        """Slack will never accept this message, full or simplified: dead with the reason, now."""
        self.outbox.failed(row["id"], f"malformed message: {error}", now)  # records it, leaves any wave
        self.outbox.dead(row["id"], now)
        self._malformed.add(row["id"])
        log.error("alert %s is dead: Slack rejected it as malformed, simplified too: %s", row["id"], error)

    def _retry_at(self, channel: str, attempts: int, result: Delivery, now: str) -> tuple[str, float]:
        """When to try again after `result`, and the delay from the pass's `now`. A Retry-After counts from
        when Slack said it (the pass may have run a while) and holds the whole channel until then."""
        delay = backoff(attempts, result.retry_after, self.settings.retry_base, self.settings.retry_max)
        if result.retry_after is not None:
            delay = max(delay, time.monotonic() - self._t0 + result.retry_after)
        retry_at = later(now, delay)
        if result.retry_after is not None:
            self._waits.append(result.retry_after)
            self.outbox.hold_channel(channel, retry_at, f"held: Slack asked to wait {result.retry_after:g}s "
                                     f"({result.error})")
        return retry_at, delay

    def _failed(self, row: dict[str, Any], result: Delivery, now: str) -> None:
        retry_at, delay = self._retry_at(row["channel"], row["attempts"], result, now)
        self.outbox.failed(row["id"], result.error or "failed", retry_at)
        log.warning("alert %s not delivered via %s: %s (retry in %gs%s)", row["id"], self.via(row["channel"]).name,
                    result.error, delay, f", Slack asked to wait {result.retry_after:g}s"
                    if result.retry_after is not None else "")

    def _reply(self, row: dict[str, Any], wave: dict[str, Any], now: str) -> int:
        if not self.outbox.join_wave(row["id"], wave, now):
            self._taken.add(row["id"])
            return 0
        sent = self._single(row, now, thread_ts=wave["slack_ts"], claimed=True)
        if not sent:
            if row["id"] not in self._doubt:  # a reply in doubt stays in the wave until it is looked for
                self.outbox.leave_wave(row["id"], wave["id"])
            return 0
        update = self.via(wave["channel"]).update(wave["channel"], wave["channel_id"], wave["slack_ts"],
                                      self._wave_message(wave["id"]))
        if not update.ok:
            log.warning("wave %s message not updated: %s", wave["id"], update.error)
        return 1

    def _start_wave(self, platform: str, channel: str, group: list[dict[str, Any]],
                    earlier: list[dict[str, Any]], now: str) -> tuple[int, int]:
        members = [r["id"] for r in group]
        started = min(r["created_at"] for r in [*group, *earlier])
        wave_id = self.outbox.start_wave(platform, channel, started, members, [r["id"] for r in earlier], now)
        if wave_id is None:  # another dispatcher claimed a member first
            self._taken.update(members)
            return 0, -1
        message, mark = self._wave_message(wave_id), Mark("banwatch_wave", "wave_id", wave_id)
        result = self.via(channel).send(channel, message, mark=mark)
        if not result.ok and not result.uncertain and malformed(result.error):
            result = self.via(channel).send(channel, simplify(message), mark=mark)
        if result.ok:
            self.outbox.wave_sent(wave_id, result.ts, result.channel_id, now)
            self._measured(result, now)
            return len(members), wave_id
        if self._in_doubt(result, channel):
            look_at, delay = self._retry_at(channel, min(r["attempts"] for r in group), result, now)
            self.outbox.wave_in_doubt(wave_id, result.error or "answer lost", look_at)
            self._doubt.update(members)
            log.warning("wave %s: Slack's answer was lost (%s): it may have been posted, so it is looked for in "
                        "%gs before any new attempt", wave_id, result.error, delay)
            return 0, wave_id
        if not result.uncertain and malformed(result.error):  # no wave message can be posted: one by one
            self.outbox.wave_failed(wave_id, result.error or "failed", now)
            log.warning("wave of %d %s suspensions rejected as malformed (%s): sent one by one", len(members),
                        platform, result.error)
            self._malformed_waves.add(wave_id)
            return sum(self._single(self.outbox.alert(r["id"]), now) for r in group), wave_id
        retry_at, delay = self._retry_at(channel, min(r["attempts"] for r in group), result, now)
        self.outbox.wave_failed(wave_id, result.error or "failed", retry_at)
        log.warning("wave of %d %s suspensions not delivered: %s (retry in %gs)", len(members), platform,
                    result.error, delay)
        return 0, wave_id


def deliver(store: Store, notifier: Notifier, now: str, settings: AlertSettings | None = None,
            titles: Mapping[str, str] | None = None) -> DeliveryReport:
    """One delivery pass over `store`'s outbox through `notifier` at `now` (stored ISO text) -> DeliveryReport.
    `settings` default to AlertSettings(); `titles`: platform name -> title (None: the installed registry's)."""
    return Dispatcher(store, notifier, settings or AlertSettings(), titles).deliver(now)
