"""`banwatch sql`: one read-only statement of the user's."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import App, emit, format_option, pass_app


@click.command()
@click.argument("query")
@format_option
@click.option("--timeout", default=5.0, show_default=True, help="Seconds before the query is interrupted.")
@pass_app
def sql(app: App, query: str, fmt: str, timeout: float) -> None:
    """Run a read-only SQL QUERY against the database (safe while the monitor runs)."""
    from banwatch.monitor.query import run_sql

    columns, rows = run_sql(app.db_path, query, timeout=timeout)
    emit(columns, rows, fmt)
