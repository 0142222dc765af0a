"""`banwatch prune`: history older than the watchlist's `retention:` deleted."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import App, pass_app, plural


@click.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--include-changes", is_flag=True,
              help="Also delete changes (with their evidence and alerts) older than the observations cutoff.")
@pass_app
def prune(app: App, dry_run: bool, include_changes: bool) -> None:
    """Delete history older than the watchlist's `retention:` (changes and evidence are kept)."""
    from banwatch.monitor.timeutil import later, now_iso

    wl = app.watchlist
    store = app.store
    cutoffs = wl.retention.cutoffs(now_iso())
    if include_changes:
        cutoffs["changes"] = cutoffs["observations"]
    counts = store.prune(cutoffs, dry_run=dry_run)
    hours = 0 if dry_run else store.compact_runs(later(now_iso(), -86400))
    verb = "would delete" if dry_run else "deleted"
    click.echo(", ".join(f"{verb} {n} {table}" for table, n in counts.items())
               + (f"; rolled runs older than a day into {plural(hours, 'hourly row')}" if hours else ""))
