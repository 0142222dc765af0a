"""`banwatch selftest`: each platform's canaries asked through the production path; exit 1 on drift."""

from __future__ import annotations

import sys

import click

from banwatch.monitor.cli.core import EXIT_USAGE, App, Command, pass_app


@click.command(cls=Command, user_error_exit=EXIT_USAGE)  # exit 1 means drift here, so a user error is 2
@click.argument("platforms", nargs=-1, metavar="[PLATFORM]...")
@click.option("--save", "save_to", metavar="DIR",
              help="Write every response as a test fixture under DIR/<platform>/, with secrets removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-canary results as JSON.")
@click.option("--strict", is_flag=True, help="Exit 3 when a canary could not be read (rate limit, wall, timeout).")
@pass_app
def selftest(app: App, platforms: tuple[str, ...], save_to: str | None, as_json: bool, strict: bool) -> None:
    """Ask each platform about its canaries; exit 1 if a classifier drifted. Writes no database."""
    from banwatch.monitor import selftest as st

    sys.exit(st.main(platforms, app.watchlist_path, app.watchlist_given, save_to, as_json, strict, app.log_level,
                     click.echo))
