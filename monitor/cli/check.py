"""`banwatch check`: every account (or the ones named) once, changes confirmed, alerts delivered, a summary printed;
`--dry-run` records into memory and writes nothing."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from banwatch.monitor.cli.core import App, bind_address_option, deliver, pass_app, plural

if TYPE_CHECKING:
    from banwatch.alerts.dispatch import DeliveryReport
    from banwatch.monitor.model import Account
    from banwatch.monitor.store import Store
    from banwatch.monitor.watchlist import Watchlist


@click.command()
@click.argument("keys", nargs=-1)
@click.option("--platform", "platforms", multiple=True, help="Only this platform's accounts (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only accounts with this tag (repeatable).")
@click.option("--dry-run", is_flag=True,
              help="Crawl and decide as usual, show what would change and which alerts would be sent; write nothing.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@bind_address_option
@pass_app
def check(app: App, keys: tuple[str, ...], platforms: tuple[str, ...], tags: tuple[str, ...], dry_run: bool,
          progress: bool | None) -> None:
    """Check every account once (or the ones named), confirm changes, deliver alerts, print a summary.

    KEY... (platform:handle), --platform and --tag narrow the accounts checked: keys OR'd, then platform AND
    tag. --dry-run records into an in-memory copy of the database: the file is not written, nothing is posted."""
    from banwatch.monitor.runner import Checker, run_in_reactor
    from banwatch.monitor.timeutil import now_iso

    wl = app.watchlist  # before the store: a broken watchlist writes nothing
    accounts = select(wl, keys, platforms, tags)
    base_urls = app.base_urls
    click.echo(app.slack.describe(), err=True)
    if dry_run:
        from banwatch.monitor.store import Store

        store = Store.open_copy(app.db_path)  # the production path, recorded into memory
        click.get_current_context().call_on_close(store.close)
        click.echo("dry run: recording into a copy in memory; the database is not written, nothing is posted",
                   err=True)
    else:
        store = app.store
    store.sync_watchlist(wl, now_iso())
    show = sys.stderr.isatty() if progress is None else progress
    bar = click.progressbar(length=len(accounts), label="checking", file=sys.stderr, show_pos=True) \
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
    checker = Checker(store, accounts, base_urls, app.slack.channel, wl.politeness, wl.alerts,
                      on_observation=arrived if bar else None)

    async def main(runner: Any) -> Any:
        return await checker.check(runner, announce=lambda m: click.echo(m, err=True))

    summary = run_in_reactor(main, app.scrapy_settings)
    if bar:
        bar.render_finish()
    if dry_run:
        print_summary(summary, None)
        print_would_send(store)
        return
    print_summary(summary, deliver(app, "check"))


def select(wl: Watchlist, keys: tuple[str, ...], platforms: tuple[str, ...], tags: tuple[str, ...]) -> list[Account]:
    """The watchlist's accounts `check` crawls: those whose key is one of `keys` (all, when none is given), then
    on one of `platforms`, then with one of `tags` (each filter only when given), in watchlist order. Raises
    ConfigError naming every key the watchlist does not hold (or holds paused), and when nothing matches."""
    from banwatch.monitor.errors import ConfigError

    watched = {a.key for a in wl.accounts}
    paused = {a.key for a in wl.paused}
    unknown = [k for k in keys if k not in watched and k not in paused]
    if unknown:
        raise ConfigError(f"{wl.path}: not in the watchlist: {', '.join(unknown)} (keys are platform:handle, as "
                          "`banwatch status` shows them)")
    if any(k in paused for k in keys):
        raise ConfigError(f"{wl.path}: paused, not checked: {', '.join(k for k in keys if k in paused)} "
                          "(`banwatch resume` them first)")
    chosen = [a for a in wl.accounts if (not keys or a.key in keys)
              and (not platforms or a.platform in platforms) and (not tags or set(tags) & set(a.tags))]
    if not chosen and (keys or platforms or tags):  # an empty watchlist, unfiltered, still delivers the outbox
        asked = [*keys, *(f"--platform {p}" for p in platforms), *(f"--tag {t}" for t in tags)]
        raise ConfigError(f"{wl.path}: no watched account matches {' '.join(asked)}")
    return chosen


def print_would_send(store: Store) -> None:
    """`check --dry-run`'s alerts: every alert waiting in the (in-memory) outbox after the check, which a delivery
    pass would post: those the check raised, and any already waiting from before."""
    from banwatch.monitor.outbox import Outbox

    waiting = [r for r in reversed(Outbox(store).rows(None, 1_000_000)) if r["state"] in ("pending", "sending")]
    click.echo(f"alerts: {plural(len(waiting), 'alert')} would be sent (dry run: nothing posted, nothing written)")
    for r in waiting:
        click.echo(f"would send: {r['kind']} {r['subject']} to {r['channel']}")


def print_summary(summary: Any, delivery: tuple[DeliveryReport | None, str] | None) -> None:
    """Print a check's outcome to stdout: observation counts per status, unknown rules (×count), non-active baselines,
    confirmed changes, pending accounts, then the alerts line from `delivery` (the pass's DeliveryReport, or None when
    another dispatcher has the outbox, and the notifier's description; no line when `delivery` is None, a dry run).
    `summary` is the runner's Summary."""
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
    if delivery is None:
        return
    report, via = delivery
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
