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

    @classmethod
    def sent(cls, ts: str | None = None, channel_id: str | None = None) -> Delivery:
        return cls(ok=True, ts=ts, channel_id=channel_id)

    @classmethod
    def failed(cls, error: str, retry_after: float | None = None) -> Delivery:
        return cls(ok=False, error=error, retry_after=retry_after)


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

    def find(self, channel: str, channel_id: str | None, mark: Mark, oldest: float,
             thread_ts: str | None = None) -> str | None: ...
