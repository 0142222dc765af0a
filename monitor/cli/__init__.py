"""The `banwatch` command: the group and its global options, with each command registered from its module.

`monitor.cli.core` holds what the commands share (the App object, output formats, delivery, the error
handler); every other module here is one command or one group of commands and imports only from core.
"""

from __future__ import annotations

import click

import banwatch.spiders.platforms  # noqa: F401 - the composition: installs the platform registry the core reads
from banwatch.monitor.cli import (
    alerts, check, evidence, history, prune, report, run, selftest, serve, sql, status, validate, watchlist_cmds,
    worker,
)
from banwatch.monitor.cli.core import App, BanwatchGroup, configure_logging
from banwatch.monitor.settings import DEFAULT_DB, DEFAULT_WATCHLIST


@click.group(cls=BanwatchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.option("--watchlist", "watchlist_path", default=DEFAULT_WATCHLIST, envvar="BANWATCH_WATCHLIST", show_envvar=True,
              show_default=True, help="Watchlist file.")
@click.option("--db", "db_path", default=DEFAULT_DB, envvar="BANWATCH_DB", show_envvar=True, show_default=True,
              help="SQLite database file.")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Log level, any case; left at the default, `run` still logs one INFO line per crawl.")
@click.version_option(package_name="banwatch")
@click.pass_context
def cli(ctx: click.Context, watchlist_path: str, db_path: str, log_level: str) -> None:
    """Watch social accounts for suspensions; record changes with evidence; alert on Slack."""
    configure_logging(log_level.upper())
    given = ctx.get_parameter_source("watchlist_path") not in (click.core.ParameterSource.DEFAULT, None)
    ctx.obj = App(watchlist_path, db_path, log_level.upper(), watchlist_given=given)


for _command in (validate.validate, check.check, selftest.selftest, run.run, prune.prune, status.status, sql.sql,
                 history.history, history.export, evidence.evidence, report.report, serve.serve, alerts.alerts,
                 worker.worker):
    cli.add_command(_command)
for _command in (watchlist_cmds.add, watchlist_cmds.remove, watchlist_cmds.pause, watchlist_cmds.resume,
                 watchlist_cmds.list_):
    cli.add_command(_command)

__all__ = ["cli"]
