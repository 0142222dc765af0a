"""Console notifier: when no Slack credentials are set, alerts are printed (and still recorded)."""

from __future__ import annotations

from collections.abc import Callable

import click

from alerts.notifier import Delivery, Message


class ConsoleNotifier:
    name = "console"

    def __init__(self, echo: Callable[[str], None] = click.echo) -> None:
        self.echo = echo

    def send(self, channel: str | None, message: Message) -> Delivery:
        self.echo(f"ALERT {message.text}")
        return Delivery.sent()
