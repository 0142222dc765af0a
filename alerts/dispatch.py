"""Drain the outbox: send each due alert, mark it sent only when the channel accepted it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alerts.notifier import Notifier
from alerts.render import render
from monitor.store import Store
from monitor.timeutil import later

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff after the n-th failed attempt, never sooner than the channel asked."""
    delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts))
    return max(delay, retry_after or 0.0)


def deliver(store: Store, notifier: Notifier, now: str) -> DeliveryReport:
    report = DeliveryReport()
    for row in store.due_alerts(now):
        message = render(store.alert_context(row["id"]))
        result = notifier.send(row["channel"], message)
        if result.ok:
            store.alert_sent(row["id"], result.ts, now)
            report.sent += 1
        else:
            store.alert_failed(row["id"], result.error or "failed", later(now, backoff(row["attempts"],
                                                                                      result.retry_after)))
            log.warning("alert %s not delivered via %s: %s (will retry)", row["id"], notifier.name, result.error)
            report.failed += 1
    return report
