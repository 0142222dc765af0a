"""The Notifier protocol: a send either succeeded (with the channel's message id) or did not.

A failed send is not a sent alert: notifiers return a Delivery, and only the dispatcher changes outbox rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One message as sent: `text` (plain, already escaped; Slack's fallback and what the console prints) and
    `blocks` (Block Kit dicts, possibly empty)."""

    text: str  # plain-text fallback, also what the console prints
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """A notifier's answer to one call: `ok` with the channel's message id `ts` (and `channel_id`, and the
    measured `clock_offset` in seconds), or not ok with an `error` text (already redacted), the `retry_after`
    seconds the channel asked for, and `uncertain` when the message may have been posted anyway."""

    ok: bool
    ts: str | None = None  # Slack's message timestamp (its id) when ok
    channel_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the channel asked us to wait
    # A failed post that may still have reached the channel (its answer was lost): a notifier that can find
    # its messages again (`exact`) is asked before any new attempt; another sends it again (at least once).
    uncertain: bool = False
    clock_offset: float | None = None  # the channel's clock minus ours, seconds, when its answer shows it

    @classmethod
    def sent(cls, ts: str | None = None, channel_id: str | None = None,
             clock_offset: float | None = None) -> Delivery:
        """A successful Delivery: `ts` the message id (None where the channel gives none, e.g. a webhook),
        `channel_id` the channel's id, `clock_offset` the channel's clock minus ours in seconds (None: not measured)."""
        return cls(ok=True, ts=ts, channel_id=channel_id, clock_offset=clock_offset)

    @classmethod
    def failed(cls, error: str, retry_after: float | None = None, uncertain: bool = False) -> Delivery:
        """A failed Delivery: `error` (redacted text), `retry_after` in seconds (None: no wait asked), and
        `uncertain` True when the answer was lost and the post may have reached the channel."""
        return cls(ok=False, error=error, retry_after=retry_after, uncertain=uncertain)


class NotifierError(Exception):
    """The channel could not be asked (down, unauthorised): decide nothing, try again later."""


@dataclass(frozen=True)
class Mark:
    """The identity a message carries, so it can be found again after a crash (Slack message metadata)."""

    event_type: str  # "banwatch_alert" or "banwatch_wave"
    key: str  # "alert_id" or "wave_id"
    value: int

    def metadata(self) -> dict[str, Any]:
        """Slack message metadata carrying this mark:
        {'event_type': event_type, 'event_payload': {key: value}}."""
        return {"event_type": self.event_type, "event_payload": {self.key: self.value}}


class Notifier(Protocol):
    """What the dispatcher needs of a channel: `send`, `update` and `find`, each returning, never raising for
    the channel's own failure (except `find`, which raises NotifierError when the channel cannot be asked).

    `name` names it in logs; `threads` says it can reply in threads and update a posted message; `exact` says it
    can find its own messages again, so a crash never causes a second post."""

    name: str
    threads: bool  # replies in threads and updates of a posted message
    exact: bool  # can find its own messages again, so a crash never causes a second post

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery:
        """Post `message` to `channel` (a name or id; '' for the notifier's default), as a reply in the
        thread `thread_ts` when given, carrying `mark` so `find` can see it later. Returns a Delivery; never raises."""

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery:
        """Replace the posted message `ts` in `channel` (its id `channel_id` when known) with `message`.
        Returns a Delivery; never raises."""

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None:
        """The ts of the message carrying `mark` posted from `attempted_at` (epoch seconds, our clock) on,
        or None when the channel has none. `offset` is the channel's clock minus ours (seconds), `margin` seconds
        of slack on the window; `thread_ts` reads that thread's replies. Raises NotifierError when the channel
        cannot be asked now."""
