"""What every `banwatch` command shares: the application object, output formats, delivery, and the one place
where a BanwatchError becomes a message and an exit code.

Command modules import from here (and from library modules), never from each other.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
from tabulate import tabulate

from banwatch.monitor.errors import BanwatchError, database_error
from banwatch.monitor.settings import (
    DEFAULT_DB, base_urls_from_env, proxies_from_env, scrapy_overrides, slack_from_env,
)
from banwatch.monitor.words import plural  # noqa: F401 - the commands import it from here

if TYPE_CHECKING:
    from banwatch.alerts.dispatch import DeliveryReport
    from banwatch.monitor.settings import SlackSettings
    from banwatch.monitor.store import Store
    from banwatch.monitor.watchlist import Watchlist

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER = 1  # a problem the user can fix (docs/cli.md)
EXIT_USAGE = 2  # click's own exit code for a usage error; `selftest` gives it to user errors too
EXIT_ELSEWHERE = 75  # `alerts send`: another dispatcher (the service) has the outbox; nothing posted here


# -- the application object ---------------------------------------------------------------------------

@dataclass
class App:
    """The global options, and what commands load from them: each is loaded on first use, so a command
    that needs no database opens none, and the order in which a command asks is the order things fail in
    (the watchlist before the store: a broken watchlist writes nothing). The store is closed when the
    command that opened it ends, whatever way it ends."""

    watchlist_path: str
    db_path: str
    log_level: str
    watchlist_given: bool = False  # named by --watchlist or BANWATCH_WATCHLIST, not the default
    bind_address: str = ""  # --bind-address (bind_address_option): the local address requests are sent from
    _watchlist: Watchlist | None = field(default=None, init=False, repr=False)
    _base_urls: dict[str, str] | None = field(default=None, init=False, repr=False)
    _slack: SlackSettings | None = field(default=None, init=False, repr=False)
    _store: Store | None = field(default=None, init=False, repr=False)

    @property
    def watchlist(self) -> Watchlist:
        """The watchlist at `watchlist_path`, loaded on first use and kept. Raises WatchlistError (every problem,
        file:line: field) or ConfigError."""
        if self._watchlist is None:
            from banwatch.monitor.watchlist import load

            self._watchlist = load(self.watchlist_path)
        return self._watchlist

    @property
    def log_level_given(self) -> bool:
        """Whether --log-level was given (in any case), rather than left at its default: `run` then shows only
        what that level lets through, and otherwise its one INFO line per crawl."""
        root = click.get_current_context().find_root()
        return root.get_parameter_source("log_level") not in (click.core.ParameterSource.DEFAULT, None)

    @property
    def watchlist_optional(self) -> Watchlist | None:
        """The watchlist, or None when there is no file at the default path and none was named: for commands that
        can do without one (`alerts send`). A watchlist that exists, or was named, must load."""
        from pathlib import Path

        if self._watchlist is None and not self.watchlist_given and not Path(self.watchlist_path).exists():
            return None
        return self.watchlist

    @property
    def base_urls(self) -> dict[str, str]:
        """BANWATCH_<PLATFORM>_BASE_URL overrides. The BANWATCH_<PLATFORM>_PROXY variables are validated here too, so
        a bad one fails the command before anything is written (ConfigError naming the variable, not its value)."""
        if self._base_urls is None:
            proxies_from_env()
            self._base_urls = base_urls_from_env()
        return self._base_urls

    @property
    def slack(self) -> SlackSettings:
        """Where alerts go: the environment, else the watchlist's channel (so this loads the watchlist). Raises
        InvalidWatchlist when an `apprise:` route's environment variable is unset (file:line, the variable)."""
        if self._slack is None:
            unset = self.watchlist.alerts.unset_targets(self.watchlist.path)  # an apprise route without its URL
            if unset:
                from banwatch.monitor.errors import InvalidWatchlist

                raise InvalidWatchlist(unset)
            self._slack = slack_from_env(self.watchlist.slack_channel)
        return self._slack

    @property
    def scrapy_settings(self) -> dict[str, object]:
        """Scrapy settings overrides for this command: LOG_LEVEL, the environment's overrides, and
        BANWATCH_BIND_ADDRESS when --bind-address was given."""
        bind = {"BANWATCH_BIND_ADDRESS": self.bind_address} if self.bind_address else {}
        return {"LOG_LEVEL": self.log_level, **scrapy_overrides(), **bind}

    @property
    def store(self) -> Store:
        """The database, opened for writing (created and migrated if needed) on first use."""
        if self._store is None:
            from banwatch.monitor.store import Store

            self._store = Store.open(self.db_path)
            click.get_current_context().call_on_close(self._close_store)
        return self._store

    def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()


pass_app = click.make_pass_decorator(App)


def configure_logging(level: str) -> None:
    """Configure the root logger at `level` (a logging level name, 'INFO'), install the redacting filter on its
    handlers, and quiet Scrapy, Twisted and tldextract below DEBUG. Call once, at start-up."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from banwatch.monitor import redact

    redact.install()  # every record from every logger (slack-sdk's too) is redacted before it is written
    if level != "DEBUG":
        for noisy in ("scrapy", "twisted", "py.warnings"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
        # A request that failed after its retries is recorded as an unknown observation and counted in
        # the summary; Scrapy's own ERROR line for it would only repeat that.
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
        # Scrapy's cookie middleware asks tldextract for the public suffix list on the first Set-Cookie; where
        # the list cannot be downloaded it logs a traceback and uses the copy it ships, which is all we need.
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)


# -- errors -------------------------------------------------------------------------------------------

class Command(click.Command):
    """A command whose user errors exit with `user_error_exit` instead of 1 (`selftest`, where 1 is drift)."""

    def __init__(self, *args: Any, user_error_exit: int = EXIT_USER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_error_exit = user_error_exit


class Group(click.Group):
    """A group whose `--help` lists each command with its whole first sentence, wrapped, never cut off with '...'."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The 'Commands:' section: every visible command and its short help in full."""
        rows = [(name, command.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class BanwatchGroup(Group):
    """The `banwatch` group: the only place a BanwatchError becomes a message and an exit code.

    Whatever command ran (and whatever group it sits in), a BanwatchError is printed as one `Error: ...` line
    (or `Error:` and its lines, for a list of watchlist problems), redacted, without a traceback, and exits 1
    (or the command's `user_error_exit`). So is a failure of the database file itself (locked past the busy
    timeout, full, an I/O error, no space) met outside a write transaction. Any other exception is a bug and
    keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; the only place errors become exit codes. A BanwatchError (and a database error mapped to a
        StoreError) prints one redacted 'Error: …' line on stderr and exits with the command's `user_error_exit`
        (EXIT_USER, 1, by default); anything else propagates."""
        try:
            try:
                return super().invoke(ctx)
            except (sqlite3.OperationalError, OSError) as exc:
                app = ctx.find_object(App)
                mapped = database_error(exc, app.db_path if app else DEFAULT_DB)
                if mapped is None:
                    raise
                raise mapped from None
        except BanwatchError as exc:
            from banwatch.monitor.redact import redact

            text = redact(exc)
            click.echo(f"Error: {text}" if "\n" not in text else f"Error:\n{text}", err=True)
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            sys.exit(getattr(command, "user_error_exit", EXIT_USER))


# -- output -------------------------------------------------------------------------------------------

def emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    """Rows as an aligned table (the default), JSON, CSV or newline-delimited JSON."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, indent=2, default=str))
    elif fmt == "nl":
        for r in rows:
            click.echo(json.dumps(dict(zip(columns, r)), ensure_ascii=False, default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(table(columns, rows) if rows else "(no rows)")


# Status words coloured in a table on a terminal: a loss stands out, an answer that proves nothing is muted.
STATUS_COLOURS = {"active": {"fg": "green"}, "suspended": {"fg": "red", "bold": True}, "not_found": {"fg": "red"},
                  "deactivated": {"fg": "magenta"}, "restricted": {"fg": "yellow"}, "unknown": {"fg": "yellow"},
                  "blind": {"fg": "red", "bold": True}, "dead": {"fg": "red"}, "pending": {"fg": "yellow"}}


def colour_wanted(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    stream = sys.stdout if stream is None else stream
    return not os.environ.get("NO_COLOR") and bool(getattr(stream, "isatty", lambda: False)())


def table(columns: list[str], rows: list[tuple[Any, ...]], colour: bool | None = None) -> str:
    """Rows under `columns` as a plain-text table (tabulate's 'simple' format), without a trailing newline. Wide
    (CJK) characters count double (wcwidth). With `colour` (default: on a terminal, see `colour_wanted`) a cell
    that is a status word is coloured; piped output stays plain."""
    if colour is None:
        colour = colour_wanted()
    if colour:
        rows = [tuple(click.style(c, **STATUS_COLOURS[c]) if isinstance(c, str) and c in STATUS_COLOURS else c
                      for c in row) for row in rows]
    return tabulate(rows, headers=columns, tablefmt="simple")


def format_option(fn: F) -> F:
    """`--json`, `--csv`, `--nl` (and the default, a table) as the command's `fmt` argument."""
    fn = click.option("--nl", "fmt", flag_value="nl", help="Output newline-delimited JSON.")(fn)
    fn = click.option("--json", "fmt", flag_value="json", help="Output JSON.")(fn)
    fn = click.option("--csv", "fmt", flag_value="csv", help="Output CSV.")(fn)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(fn)  # type: ignore[return-value]


class Since(click.ParamType):
    """A `--since` value, read by `timeutil.parse_since` (the one reading every command shares): converted to stored
    text when the command line is parsed, so anything else is a usage error (exit 2) naming the option and the
    accepted forms."""

    name = "since"

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        """How the option's value is shown in `--help`."""
        return "30d|DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """'30d', '12h', '90m', '2026-01-31', '2026-01-31T08:00Z' -> stored text; anything else fails the option."""
        from datetime import UTC, datetime

        from banwatch.monitor.timeutil import parse_since

        try:
            return parse_since(str(value), datetime.now(UTC))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SINCE = Since()


def _bind_address(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--bind-address's callback: an IP address (v4 or v6) is kept on the App; anything else is a usage error."""
    import ipaddress

    if not value or not value.strip():
        return
    try:
        address = str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IP address (e.g. 192.0.2.10 or 2001:db8::10); it must "
                                 "be one of this machine's own addresses") from None
    app = ctx.find_object(App)  # the group's callback made it before the command's options are read
    if app is not None:
        app.bind_address = address


def bind_address_option(fn: F) -> F:
    """`--bind-address ADDRESS` (envvar BANWATCH_BIND_ADDRESS): the local IP address the command's requests are sent
    from (Scrapy's `bindaddress`), validated with ipaddress.ip_address (a usage error, exit 2, otherwise) and kept
    as `App.bind_address`, which `App.scrapy_settings` passes on as BANWATCH_BIND_ADDRESS."""
    return click.option("--bind-address", metavar="ADDRESS", envvar="BANWATCH_BIND_ADDRESS", show_envvar=True,
                        expose_value=False, callback=_bind_address,
                        help="Send every request from this local IP address (one of this machine's own); "
                             "default: the system's choice.")(fn)  # type: ignore[return-value]


def _redis_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--redis's callback: redis://, rediss:// or unix:// with a host or path; the value is never echoed (it may
    carry a password)."""
    from urllib.parse import urlsplit

    if not value or not value.strip():
        return None
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("redis", "rediss") and bool(parts.hostname) or parts.scheme == "unix" and bool(parts.path)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        ok = False
    if not ok:
        raise click.BadParameter("expected redis://[:password@]host[:port][/db], rediss://… or unix:///path "
                                 "(the value is not shown: it may carry a password)")
    # Given on the command line, it is a secret the redaction (monitor.redact, which reads the environment) must
    # know too: every log line, traceback and stored error is then redacted of its password.
    os.environ["BANWATCH_REDIS_URL"] = value.strip()
    return value.strip()


def redis_option(required: bool = False) -> Callable[[F], F]:
    """`--redis URL` (envvar BANWATCH_REDIS_URL, a secret: it may carry a password), validated by scheme and host;
    the command receives it as `redis_url` (None when not given and not required)."""
    def decorate(fn: F) -> F:
        return click.option("--redis", "redis_url", metavar="URL", envvar="BANWATCH_REDIS_URL", show_envvar=True,
                            required=required, callback=_redis_url,
                            help="Redis (or Valkey) shared by the coordinator and its fetch workers.")(fn)  # type: ignore[return-value]
    return decorate


# -- delivery -----------------------------------------------------------------------------------------

SERVICE_DELIVERING = "the service is delivering; alerts will go from there"


def deliver(app: App, command: str) -> tuple[DeliveryReport | None, str]:
    """(report, notifier name) of one delivery pass over the app's store under the delivery lease; (None, why)
    when another dispatcher has the outbox: a running service (at once), or one pass that did not end within
    DELIVERY_WAIT_S. Then nothing is posted here and those alerts go from there."""
    from banwatch.alerts.dispatch import deliver as deliver_outbox
    from banwatch.alerts.slack import make_notifier
    from banwatch.monitor.outbox import DELIVERY_LEASE, DELIVERY_WAIT_S, SERVICE_LEASE, Lease
    from banwatch.monitor.timeutil import now_iso

    store = app.store
    if app.watchlist_optional is None:  # no watchlist (and none named): the environment's Slack, default settings
        from banwatch.monitor.settings import slack_from_env
        from banwatch.monitor.watchlist import AlertSettings

        slack, settings = slack_from_env(None), AlertSettings()
    else:
        slack, settings = app.slack, app.watchlist.alerts
    if Lease(store, SERVICE_LEASE, command).holder() is not None:
        return None, SERVICE_DELIVERING
    with Lease(store, DELIVERY_LEASE, command).held(wait=DELIVERY_WAIT_S) as other:
        if other is not None:
            return None, (SERVICE_DELIVERING if other.command == "run" else
                          f"another banwatch {other.command} (pid {other.pid} on {other.host}) is delivering; "
                          "alerts will go from there")
        notifier = make_notifier(slack)
        return deliver_outbox(store, notifier, now_iso(), settings), notifier.name
