"""The Notifier protocol: a send either succeeded (with the channel's message id) or did not.

A failed send is not a sent alert: notifiers return a Delivery, and only the dispatcher changes outbox rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    text: str  # plain-text fallback, also what the console prints
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
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
        return cls(ok=True, ts=ts, channel_id=channel_id, clock_offset=clock_offset)

    @classmethod
    def failed(cls, error: str, retry_after: float | None = None, uncertain: bool = False) -> Delivery:
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
        return {"event_type": self.event_type, "event_payload": {self.key: self.value}}


class Notifier(Protocol):
    name: str
    threads: bool  # replies in threads and updates of a posted message
    exact: bool  # can find its own messages again, so a crash never causes a second post

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery: ...

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery: ...

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None: ...
