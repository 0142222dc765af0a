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
    error: str | None = None
    retry_after: float | None = None  # seconds the channel asked us to wait

    @classmethod
    def sent(cls, ts: str | None = None) -> Delivery:
        return cls(ok=True, ts=ts)

    @classmethod
    def failed(cls, error: str, retry_after: float | None = None) -> Delivery:
        return cls(ok=False, error=error, retry_after=retry_after)


class Notifier(Protocol):
    name: str

    def send(self, channel: str | None, message: Message) -> Delivery: ...
