"""`banwatch report`: a self-contained HTML audit report."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import SINCE, App, pass_app, plural


@click.command()
@click.option("--since", "start", type=SINCE, default="30d", show_default=True,
              help="Changes since: a duration back from now (30d, 12h, 90m) or an ISO date or time (2026-01-31).")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@pass_app
def report(app: App, start: str, out: str) -> None:
    """Write a self-contained HTML audit report: who stands where, what changed, with what proof."""
    from datetime import UTC, datetime
    from pathlib import Path

    from banwatch.monitor import report as rep
    from banwatch.monitor.query import open_readonly
    from banwatch.monitor.timeutil import day, iso
    from banwatch.spiders.platforms import PLATFORMS

    now = datetime.now(UTC)
    conn = open_readonly(app.db_path)
    try:
        data = rep.gather(conn, start)
    finally:
        conn.close()
    titles = {name: p.title for name, p in PLATFORMS.items()}
    Path(out).write_text(rep.render(data, start, iso(now), titles), encoding="utf-8")
    click.echo(f"wrote {out}: {plural(len(data['accounts']), 'account')}, {plural(len(data['changes']), 'change')} "
               f"since {day(start)}")
