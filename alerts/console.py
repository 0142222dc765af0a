"""Console notifier: when no Slack credentials are set, alerts are printed (and still recorded)."""

from __future__ import annotations

from collections.abc import Callable

import click

from banwatch.alerts.notifier import Delivery, Mark, Message


class ConsoleNotifier:
    """Prints alerts to stdout (or `echo`) instead of posting them: for `check` without Slack, and tests.

    Every send succeeds; it cannot find its own lines again (`exact` False), so a crash mid-print can print an
    alert twice. A wave's later members print indented under it (`threads`)."""

    name = "console"
    threads = True  # a wave prints once; its later members print indented under it
    exact = False  # a crash mid-print can print an alert twice

    def __init__(self, echo: Callable[[str], None] = click.echo) -> None:
        self.echo = echo

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery:
        """Print `message.text`, prefixed 'ALERT ' (or '  ↳ ' as a thread reply); `channel` and `mark` are
        ignored. Returns Delivery.sent(ts='console'); never fails."""
        self.echo(("  ↳ " if thread_ts else "ALERT ") + message.text)
        return Delivery.sent(ts="console")

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery:
        """Print '  (wave updated) ' and the message's header text (its plain text when it has none).
        Returns Delivery.sent(ts=ts); never fails."""
        header = next((b["text"]["text"] for b in message.blocks if b.get("type") == "header"), message.text)
        self.echo(f"  (wave updated) {header}")
        return Delivery.sent(ts=ts)

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None:
        """Always None: printed lines cannot be read back (the notifier is not `exact`)."""
        return None
