"""`banwatch check`: every account once, changes confirmed, alerts delivered, a summary printed."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from banwatch.monitor.cli.core import App, deliver, pass_app, plural

if TYPE_CHECKING:
    from banwatch.alerts.dispatch import DeliveryReport


@click.command()
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@pass_app
def check(app: App, progress: bool | None) -> None:
    """Check every account once, confirm changes, deliver alerts, print a summary."""
    from banwatch.monitor.runner import Checker, run_in_reactor
    from banwatch.monitor.timeutil import now_iso

    wl = app.watchlist  # before the store: a broken watchlist writes nothing
    base_urls = app.base_urls
    click.echo(app.slack.describe(), err=True)
    store = app.store
    store.sync_watchlist(wl, now_iso())
    show = sys.stderr.isatty() if progress is None else progress
    bar = click.progressbar(length=len(wl.accounts), label="checking", file=sys.stderr, show_pos=True) \
        if show else None
    seen: Counter[str] = Counter()

    def arrived(obs: Any) -> None:
        """Each observation as the crawl yields it: the bar advances, its label counts them per status."""
        if bar is None or bar.pos >= bar.length:  # the bar follows the first pass; rechecks are announced
            return
        seen[obs.status.value] += 1
        bar.label = "checking (" + ", ".join(f"{n} {s}" for s, n in sorted(seen.items())) + ")"
        bar.update(1)

    if bar is not None:
        bar.render_progress()  # shown from the start, at 0, not only once the first answer arrives
    checker = Checker(store, list(wl.accounts), base_urls, app.slack.channel, wl.politeness, wl.alerts,
                      on_observation=arrived if bar else None)

    async def main(runner: Any) -> Any:
        return await checker.check(runner, announce=lambda m: click.echo(m, err=True))

    summary = run_in_reactor(main, app.scrapy_settings)
    if bar:
        bar.render_finish()
    print_summary(summary, deliver(app, "check"))


def print_summary(summary: Any, delivery: tuple[DeliveryReport | None, str]) -> None:
    """Print a check's outcome to stdout: observation counts per status, unknown rules (×count), non-active baselines,
    confirmed changes, pending accounts, then the alerts line from `delivery` (the pass's DeliveryReport, or None when
    another dispatcher has the outbox, and the notifier's description). `summary` is the runner's Summary."""
    report, via = delivery
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    click.echo(f"{plural(summary.observations, 'observation')} in {plural(summary.rounds, 'round')}: "
               f"{counts or 'none'}")
    if summary.unknown_rules:
        rules = ", ".join(f"{rule} ×{n}" for rule, n in summary.unknown_rules.most_common())
        click.echo(f"unknown (proves nothing, checked again next run): {rules}")
    for key, status in sorted(summary.baselines.items()):
        if status != "active":
            click.echo(f"baseline: {key} is {status}")
    for c in summary.changes:
        click.echo(f"change: {c.key} {c.from_status} → {c.to_status} ({c.rule})")
    for key in sorted(summary.pending):
        click.echo(f"pending: {key} (not yet confirmed; checked again on its next run)")
    if report is None:  # another dispatcher has the outbox (exit 0: the alerts are not lost)
        click.echo(f"alerts: {via}")
        return
    line = f"alerts: {report.sent} sent via {via}"
    if report.failed:
        line += f", {report.failed} not delivered (kept in the outbox)"  # counts of the alerts just named
    click.echo(line)
    if report.kept and report.next_attempt_at:  # due on the first check or run from then on
        wait = f" (Slack asked to wait {report.retry_after:g}s)" if report.retry_after is not None else ""
        click.echo(f"{plural(report.kept, 'alert')} kept for retry; next attempt at "
                   f"{report.next_attempt_at}{wait}")
