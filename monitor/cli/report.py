"""`banwatch report`: a self-contained HTML audit report."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import App, pass_app


@click.command()
@click.option("--since", default="30d", show_default=True, help="A duration back from now (30d) or a date.")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False))
@pass_app
def report(app: App, since: str, out: str) -> None:
    """Write a self-contained HTML audit report: who stands where, what changed, with what proof."""
    from datetime import UTC, datetime
    from pathlib import Path

    from banwatch.monitor import report as rep
    from banwatch.monitor.query import open_readonly
    from banwatch.monitor.timeutil import day, iso
    from banwatch.spiders.platforms import PLATFORMS

    now = datetime.now(UTC)
    try:
        start = rep.since_from(since, now)
    except ValueError:
        raise click.BadParameter(f"{since!r} is neither a duration (30d) nor a date (2026-01-31)",
                                 param_hint="--since") from None
    conn = open_readonly(app.db_path)
    try:
        data = rep.gather(conn, start)
    finally:
        conn.close()
    titles = {name: p.title for name, p in PLATFORMS.items()}
    Path(out).write_text(rep.render(data, start, iso(now), titles), encoding="utf-8")
    click.echo(f"wrote {out}: {len(data['accounts'])} accounts, {len(data['changes'])} changes since {day(start)}")
