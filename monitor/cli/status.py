"""`banwatch status`: the service, each platform and every account (or the ones named), read-only."""

from __future__ import annotations

import json

import click

from banwatch.monitor.cli.core import App, emit, format_option, pass_app, table


@click.command()
@click.argument("keys", nargs=-1)
@click.option("--platform", "platforms", multiple=True, help="Only this platform's accounts (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only accounts with this tag (repeatable).")
@format_option
@pass_app
def status(app: App, keys: tuple[str, ...], platforms: tuple[str, ...], tags: tuple[str, ...], fmt: str) -> None:
    """The service's last tick, each platform's last run, unknown rate and drift, and every account's status.

    KEY... (platform:handle), --platform and --tag narrow the accounts (and --platform the platforms) shown."""
    from banwatch.monitor.errors import ConfigError
    from banwatch.monitor.query import (
        WORKER_WINDOW_S, account_keys_present, account_status, platform_status, service_state, worker_status,
    )
    from banwatch.monitor.timeutil import now_iso

    svc = service_state(app.db_path)
    unknown = sorted(set(keys) - account_keys_present(app.db_path, keys))
    if unknown:
        raise ConfigError(f"{app.db_path}: no such account: {', '.join(unknown)} (keys are platform:handle, as "
                          "`banwatch status` shows them)")
    p_cols, platform_rows = platform_status(app.db_path, now_iso())
    if platforms:
        platform_rows = [r for r in platform_rows if r[0] in platforms]
    columns, rows = account_status(app.db_path, keys, platforms, tags)
    w_cols, worker_rows = worker_status(app.db_path, now_iso())
    if platforms:
        worker_rows = [r for r in worker_rows if r[1] in platforms or r[1] == "-"]
    if fmt == "json":
        click.echo(json.dumps({"service": svc, "platforms": [dict(zip(p_cols, r)) for r in platform_rows],
                               "workers": [dict(zip(w_cols, r)) for r in worker_rows],
                               "accounts": [dict(zip(columns, r)) for r in rows]}, ensure_ascii=False, indent=2))
        return
    if fmt == "table":
        if svc.get("last_tick_at"):
            state = f"stopped {svc['stopped_at']}" if svc.get("stopped_at", "") > svc["last_tick_at"] else "running"
            click.echo(f"service: last tick {svc['last_tick_at']} (pid {svc.get('pid')}, {state})")
        if svc.get("redis"):  # banwatch run --redis: the coordinator's view of Redis and of its workers
            click.echo(f"redis: {svc['redis']}")
            for key, value in sorted(svc.items()):
                if key.startswith("no_worker:") and value:
                    click.echo(f"no worker for {key.partition(':')[2]} since {value}")
        if platform_rows:
            click.echo(table(p_cols, platform_rows) + "\n")
        if worker_rows:
            click.echo(f"fetch workers, last {WORKER_WINDOW_S / 60:g} minutes:\n" + table(w_cols, worker_rows) + "\n")
    emit(columns, rows, fmt)
