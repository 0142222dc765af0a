"""`banwatch worker`: a fetch worker for a coordinator (`banwatch run --redis`)."""

from __future__ import annotations

import logging

import click

from banwatch.monitor.cli.core import App, bind_address_option, pass_app, redis_option
from banwatch.monitor.errors import ConfigError


@click.command()
@redis_option(required=True)
@click.option("--name", envvar="BANWATCH_WORKER_NAME", show_envvar=True,
              help="This worker's name in `banwatch status` (default: host-pid).")
@click.option("--platform", "platforms", multiple=True, metavar="NAME",
              help="Serve only this platform (repeatable); all platforms when not given.")
@click.option("--claim-timeout", type=click.FloatRange(1, 86400), default=120.0, show_default=True,
              envvar="BANWATCH_CLAIM_TIMEOUT", show_envvar=True,
              help="Seconds a check may stay with one worker before another re-claims it (a worker that died).")
@bind_address_option
@pass_app
def worker(app: App, redis_url: str, name: str | None, platforms: tuple[str, ...], claim_timeout: float) -> None:
    """Fetch and classify due checks for a coordinator, until SIGINT/SIGTERM.

    Needs Redis and the platform credentials (BANWATCH_* from the environment) only: never the Slack token,
    the watchlist or the database (docs/deploy.md, "Fetch workers")."""
    from banwatch.monitor.registry import current
    from banwatch.monitor.runner import run_in_reactor
    from banwatch.monitor.worker import Worker

    known = current().platforms
    unknown = [p for p in platforms if p not in known]
    if unknown:
        raise ConfigError(f"--platform {unknown[0]}: not a platform banwatch knows ({', '.join(sorted(known))})")
    if not app.log_level_given:
        logging.getLogger("banwatch").setLevel(logging.INFO)
    service = Worker(redis_url, name, list(platforms), app.base_urls, claim_timeout, app.bind_address or None)
    run_in_reactor(service.serve, app.scrapy_settings, signal_handlers=False)
