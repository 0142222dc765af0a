"""`banwatch run`: the long-lived service."""

from __future__ import annotations

import logging

import click

from banwatch.monitor.cli.core import App, bind_address_option, pass_app, redis_option
from banwatch.monitor.settings import slack_from_env


@click.command()
@click.option("--metrics-port", type=click.IntRange(0, 65535), envvar="BANWATCH_METRICS_PORT", show_envvar=True,
              help="Serve Prometheus metrics on /metrics and a liveness check on /healthz at this port "
                   "(0: any free port, printed); off when not given.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, envvar="BANWATCH_METRICS_HOST", show_envvar=True,
              help="Address the metrics server listens on.")
@bind_address_option
@redis_option()
@pass_app
def run(app: App, metrics_port: int | None, metrics_host: str, redis_url: str | None) -> None:
    """Run the monitor as a long-lived service until SIGINT/SIGTERM.

    Checks each account on its interval, confirms changes, sends alerts, reloads the watchlist when it changes
    and raises health alerts; one INFO line per crawl (docs/cli.md, "banwatch run")."""
    from banwatch.monitor.runner import run_in_reactor
    from banwatch.monitor.scheduler import Service

    wl = app.watchlist
    base_urls = app.base_urls
    if not app.log_level_given:  # the default: the service reports each crawl at INFO; a level given is honoured
        logging.getLogger("banwatch").setLevel(logging.INFO)
    metrics = server = None
    if metrics_port is not None:  # bound before the service starts: a port in use fails with nothing written
        from banwatch.monitor.metrics import Metrics, MetricsServer

        server = MetricsServer(metrics_host, metrics_port)
        metrics = Metrics(app.db_path)
    try:
        service = Service(wl, app.db_path, base_urls, lambda w: slack_from_env(w.slack_channel), metrics=metrics,
                          redis_url=redis_url)
        click.echo(app.slack.describe(), err=True)
        if server is not None and metrics is not None:
            metrics.attach(service)
            server.start(metrics.wsgi_app())
            click.echo(f"metrics on {server.url}/metrics, liveness on {server.url}/healthz", err=True)
        run_in_reactor(service.serve, app.scrapy_settings, signal_handlers=False)
    finally:
        if server is not None:
            server.close()
