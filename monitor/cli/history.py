"""`banwatch history` and `banwatch export`: the confirmed changes, for people and for spreadsheets."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import SINCE, App, emit, format_option, pass_app
from banwatch.monitor.errors import BanwatchError


@click.command()
@click.argument("account", required=False)
@format_option
@pass_app
def history(app: App, account: str | None, fmt: str) -> None:
    """The timeline of one ACCOUNT (or all): each confirmed change with its detection window."""
    from banwatch.monitor.query import account_keys, timeline
    from banwatch.monitor.timeutil import span

    key = None
    if account:
        found = account_keys(app.db_path, account)
        if not found:
            raise BanwatchError(f"no account {account!r} in {app.db_path} (give platform:handle as `banwatch status` shows)")
        if len(found) > 1:
            raise BanwatchError(f"{account!r} is ambiguous: {', '.join(found)}")
        key = found[0]
    columns, rows = timeline(app.db_path, key)
    if fmt != "table":
        emit(columns, rows, fmt)
        return
    if not rows:
        click.echo("(no changes yet)")
    for r in map(lambda row: dict(zip(columns, row)), rows):
        who = r["account"] + (f" ({r['entity']})" if r["entity"] else "")
        lasted = f", {span(r['first_seen'], r['until'])} until {r['until']}" if r["until"] else " (current)"
        unconfirmed = " [unconfirmed: read by a weak rule, no alert]" if r["strength"] == "unconfirmed" else ""
        click.echo(f"{r['confirmed']}  {who}: {r['from_status']} → {r['to_status']}{lasted}{unconfirmed}")
        click.echo(f"    last seen {r['from_status']} {r['last_seen_before'] or '—'}, first seen {r['to_status']} "
                   f"{r['first_seen']}; rule {r['rule']}"
                   + (f"; evidence #{r['evidence']} sha256 {r['sha256'][:16]}…" if r["evidence"] else ""))


@click.command()
@click.option("--since", type=SINCE, default="1970-01-01", show_default=True,
              help="Changes confirmed since: a duration back from now (30d, 12h, 90m) or an ISO date or time.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="Output format.")
@pass_app
def export(app: App, since: str, fmt: str) -> None:
    """Changes with their account fields, for spreadsheets and newsrooms."""
    from banwatch.monitor.query import changes_export

    columns, rows = changes_export(app.db_path, since)
    emit(columns, rows, fmt)
