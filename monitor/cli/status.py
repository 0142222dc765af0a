"""`banwatch status`: the service, each platform and every account, read-only."""

from __future__ import annotations

import json

import click

from banwatch.monitor.cli.core import App, emit, format_option, pass_app, table


@click.command()
@format_option
@pass_app
def status(app: App, fmt: str) -> None:
    """The service's last tick, each platform's last run, unknown rate and drift, and every account's status."""
    from banwatch.monitor.query import account_status, platform_status, service_state
    from banwatch.monitor.timeutil import now_iso

    svc = service_state(app.db_path)
    p_cols, platforms = platform_status(app.db_path, now_iso())
    columns, rows = account_status(app.db_path)
    if fmt == "json":
        click.echo(json.dumps({"service": svc, "platforms": [dict(zip(p_cols, r)) for r in platforms],
                               "accounts": [dict(zip(columns, r)) for r in rows]}, ensure_ascii=False, indent=2))
        return
    if fmt == "table":
        if svc.get("last_tick_at"):
            state = f"stopped {svc['stopped_at']}" if svc.get("stopped_at", "") > svc["last_tick_at"] else "running"
            click.echo(f"service: last tick {svc['last_tick_at']} (pid {svc.get('pid')}, {state})")
        if platforms:
            click.echo(table(p_cols, platforms) + "\n")
    emit(columns, rows, fmt)
