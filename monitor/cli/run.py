"""`banwatch run`: the long-lived service."""

from __future__ import annotations

import logging

import click

from banwatch.monitor.cli.core import App, pass_app
from banwatch.monitor.settings import slack_from_env


@click.command()
@pass_app
def run(app: App) -> None:
    """Run the monitor as a long-lived service until SIGINT/SIGTERM.

    Checks each account on its interval, confirms changes, sends alerts, reloads the watchlist when it changes
    and raises health alerts; one INFO line per crawl (docs/cli.md, "banwatch run")."""
    from banwatch.monitor.runner import run_in_reactor
    from banwatch.monitor.scheduler import Service

    wl = app.watchlist
    base_urls = app.base_urls
    if not app.log_level_given:  # the default: the service reports each crawl at INFO; a level given is honoured
        logging.getLogger("banwatch").setLevel(logging.INFO)
    service = Service(wl, app.db_path, base_urls, lambda w: slack_from_env(w.slack_channel))
    click.echo(app.slack.describe(), err=True)
    run_in_reactor(service.serve, app.scrapy_settings, signal_handlers=False)
