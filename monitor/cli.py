"""The `banwatch` command. The only place that turns BanwatchError into a message and an exit code."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from tabulate import tabulate

from monitor.errors import BanwatchError, database_error
from monitor.settings import (
    DEFAULT_DB, DEFAULT_WATCHLIST, base_urls_from_env, scrapy_overrides, secrets_from_env, slack_from_env,
)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("banwatch")


def user_errors(fn: F) -> F:
    """BanwatchError -> its message on stderr, exit 1, no traceback. So is a failure of the database file
    itself (locked past the busy timeout, full, I/O error, no space) met outside a write transaction."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                return fn(*args, **kwargs)
            except (sqlite3.OperationalError, OSError) as exc:
                ctx = click.get_current_context(silent=True)
                db_path = (ctx.find_root().obj or {}).get("db", DEFAULT_DB) if ctx else DEFAULT_DB
                mapped = database_error(exc, db_path)
                if mapped is None:
                    raise
                raise mapped from None
        except BanwatchError as exc:
            from monitor.redact import redact

            text = redact(exc)
            click.echo(f"Error: {text}" if "\n" not in text else f"Error:\n{text}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--watchlist", "watchlist_path", default=DEFAULT_WATCHLIST, envvar="BANWATCH_WATCHLIST",
              show_default=True, help="Watchlist file (env BANWATCH_WATCHLIST).")
@click.option("--db", "db_path", default=DEFAULT_DB, envvar="BANWATCH_DB", show_default=True,
              help="SQLite database file (env BANWATCH_DB).")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.version_option(package_name="banwatch")
@click.pass_context
def cli(ctx: click.Context, watchlist_path: str, db_path: str, log_level: str) -> None:
    """Watch social accounts for suspensions; record changes with evidence; alert on Slack."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from monitor import redact

    redact.install()  # every record from every logger (slack-sdk's too) is redacted before it is written
    if log_level.upper() != "DEBUG":
        for noisy in ("scrapy", "twisted", "py.warnings", "apscheduler"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
        # A request that failed after its retries is recorded as an unknown observation and counted in
        # the summary; Scrapy's own ERROR line for it would only repeat that.
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
        # Scrapy's cookie middleware asks tldextract for the public suffix list on the first Set-Cookie; where
        # the list cannot be downloaded it logs a traceback and uses the copy it ships, which is all we need.
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    ctx.obj = {"watchlist": watchlist_path, "db": db_path, "log_level": log_level.upper()}


@cli.command()
@click.option("--explain", is_flag=True, help="Also show, for every entry, what it resolved to and what will be asked.")
@click.option("--json", "as_json", is_flag=True, help="Print the resolution of every entry as JSON.")
@click.pass_obj
@user_errors
def validate(obj: dict[str, Any], explain: bool, as_json: bool) -> None:
    """Check the watchlist and the environment; write nothing."""
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    base_urls = base_urls_from_env()
    if as_json or explain:
        from monitor import explain as explaining

        rows = explaining.explain(wl.accounts, secrets_from_env(), base_urls)
        if as_json:
            click.echo(json.dumps({"watchlist": wl.path, "accounts": [r.as_dict() for r in rows]}, indent=2,
                                  ensure_ascii=False))
            return
        click.echo(explaining.render(rows))
        click.echo("")
    slack = slack_from_env(wl.slack_channel)
    platforms = sorted({a.platform for a in wl.accounts})
    click.echo(f"{wl.path}: OK — {len(wl.accounts)} accounts, {len(wl.entities)} entities, "
               f"platforms: {', '.join(platforms) or 'none'}")
    click.echo(slack.describe())
    for name, url in sorted(base_urls.items()):
        click.echo(f"{name}: base URL overridden to {url}")
    from spiders.platforms import PLATFORMS

    secrets = secrets_from_env()
    for name, platform in PLATFORMS.items():
        if platform.credentials:
            state = ", ".join(f"{c} {'present' if c in secrets else 'absent'}" for c in platform.credentials)
            watched = " (watched)" if name in platforms else ""
            click.echo(f"{platform.title} credentials{watched}: {state}")
    canaries = [a for a in wl.accounts if a.canary]
    if canaries:
        click.echo("canaries: " + ", ".join(f"{a.key} (known {a.canary})" for a in canaries))


@cli.command()
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_obj
@user_errors
def check(obj: dict[str, Any], progress: bool | None) -> None:
    """Check every account once, confirm changes, deliver alerts, print a summary."""
    from monitor.runner import Checker, run_in_reactor
    from monitor.store import Store
    from monitor.timeutil import now_iso
    from monitor.watchlist import load

    wl = load(obj["watchlist"])  # before the store: a broken watchlist writes nothing
    base_urls = base_urls_from_env()
    slack = slack_from_env(wl.slack_channel)
    click.echo(slack.describe(), err=True)
    store = Store.open(obj["db"])
    try:
        store.sync_watchlist(wl, now_iso())
        show = sys.stderr.isatty() if progress is None else progress
        bar = click.progressbar(length=len(wl.accounts), label="checking", file=sys.stderr) if show else None
        checker = Checker(store, list(wl.accounts), base_urls, slack.channel, wl.politeness, wl.alerts,
                          on_observation=(lambda _o: bar.update(1) if bar.pos < bar.length else None)
                          if bar else None)  # the bar follows the first pass; rechecks are announced

        async def main(runner: Any) -> Any:
            return await checker.check(runner, announce=lambda m: click.echo(m, err=True))

        summary = run_in_reactor(main, {"LOG_LEVEL": obj["log_level"], **scrapy_overrides()})
        if bar:
            bar.render_finish()
        report = _deliver(store, slack, wl.alerts)
    finally:
        store.close()
    _print_summary(summary, report)


@cli.command()
@click.argument("platforms", nargs=-1, metavar="[PLATFORM]...")
@click.option("--save", "save_to", metavar="DIR",
              help="Write every response as a test fixture under DIR/<platform>/, with secrets removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-canary results as JSON.")
@click.option("--strict", is_flag=True, help="Exit 3 when a canary could not be read (rate limit, wall, timeout).")
@click.pass_context
def selftest(ctx: click.Context, platforms: tuple[str, ...], save_to: str | None, as_json: bool,
             strict: bool) -> None:
    """Ask each platform about its canaries; exit 1 if a classifier drifted. Writes no database."""
    from monitor import selftest as st

    given = ctx.parent is not None and ctx.parent.get_parameter_source("watchlist_path") not in (
        click.core.ParameterSource.DEFAULT, None)
    try:
        code = st.main(platforms, ctx.obj["watchlist"], given, save_to, as_json, strict, ctx.obj["log_level"],
                       click.echo)
    except BanwatchError as exc:  # exit 1 means drift here, so a user error is 2
        click.echo(f"Error: {exc}" if "\n" not in str(exc) else f"Error:\n{exc}", err=True)
        sys.exit(st.EXIT_USAGE)
    sys.exit(code)


@cli.command()
@click.pass_obj
@user_errors
def run(obj: dict[str, Any]) -> None:
    """Run the monitor as a long-lived service until SIGINT/SIGTERM."""
    from monitor.runner import run_in_reactor
    from monitor.scheduler import Service
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    base_urls = base_urls_from_env()
    if obj["log_level"] == "WARNING":
        logging.getLogger("banwatch").setLevel(logging.INFO)  # the service reports each crawl at INFO
    service = Service(wl, obj["db"], base_urls, lambda w: slack_from_env(w.slack_channel))
    click.echo(slack_from_env(wl.slack_channel).describe(), err=True)
    run_in_reactor(service.serve, {"LOG_LEVEL": obj["log_level"], **scrapy_overrides()}, signal_handlers=False)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--include-changes", is_flag=True,
              help="Also delete changes (with their evidence and alerts) older than the observations cutoff.")
@click.pass_obj
@user_errors
def prune(obj: dict[str, Any], dry_run: bool, include_changes: bool) -> None:
    """Delete history older than the watchlist's `retention:` (changes and evidence are kept)."""
    from monitor.store import Store
    from monitor.timeutil import later, now_iso
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    store = Store.open(obj["db"])
    try:
        cutoffs = wl.retention.cutoffs(now_iso())
        if include_changes:
            cutoffs["changes"] = cutoffs["observations"]
        counts = store.prune(cutoffs, dry_run=dry_run)
        hours = 0 if dry_run else store.compact_runs(later(now_iso(), -86400))
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(", ".join(f"{verb} {n} {table}" for table, n in counts.items())
               + (f"; rolled runs older than a day into {hours} hourly rows" if hours else ""))


def _deliver(store: Any, slack: Any, settings: Any, command: str = "check") -> Any:
    """(report, notifier name) of one delivery pass under the delivery lease; (None, why) when another
    dispatcher has the outbox: a running service (at once), or one pass that did not end within
    DELIVERY_WAIT_S. Then nothing is posted here and those alerts go from there."""
    from alerts.dispatch import deliver
    from alerts.slack import make_notifier
    from monitor.outbox import DELIVERY_LEASE, DELIVERY_WAIT_S, SERVICE_LEASE, Lease
    from monitor.timeutil import now_iso

    if Lease(store, SERVICE_LEASE, command).holder() is not None:
        return None, SERVICE_DELIVERING
    with Lease(store, DELIVERY_LEASE, command).held(wait=DELIVERY_WAIT_S) as other:
        if other is not None:
            return None, (SERVICE_DELIVERING if other.command == "run" else
                          f"another banwatch {other.command} (pid {other.pid} on {other.host}) is delivering; "
                          "alerts will go from there")
        notifier = make_notifier(slack)
        return deliver(store, notifier, now_iso(), settings), notifier.name


SERVICE_DELIVERING = "the service is delivering; alerts will go from there"


def _print_summary(summary: Any, delivery: tuple[Any, str]) -> None:
    report, via = delivery
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    click.echo(f"{summary.observations} observations in {summary.rounds} round(s): {counts or 'none'}")
    if summary.unknown_rules:
        rules = ", ".join(f"{rule} ×{n}" for rule, n in summary.unknown_rules.most_common())
        click.echo(f"unknown (proves nothing, checked again next run): {rules}")
    for key, status in sorted(summary.baselines.items()):
        if status != "active":
            click.echo(f"baseline: {key} is {status}")
    for c in summary.changes:
        click.echo(f"change: {c.key} {c.from_status} → {c.to_status} ({c.rule})")
    for key in sorted(summary.pending):
        click.echo(f"pending: {key} (not yet confirmed; checked again on its next run)")
    if report is None:  # another dispatcher has the outbox (exit 0: the alerts are not lost)
        click.echo(f"alerts: {via}")
        return
    line = f"alerts: {report.sent} sent via {via}"
    if report.failed:
        line += f", {report.failed} not delivered (kept in the outbox)"
    click.echo(line)
    if report.kept and report.next_attempt_at:  # due on the first check or run from then on
        wait = f" (Slack asked to wait {report.retry_after:g}s)" if report.retry_after is not None else ""
        click.echo(f"{report.kept} alert{'s' if report.kept != 1 else ''} kept for retry; next attempt at "
                   f"{report.next_attempt_at}{wait}")


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
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
        click.echo(tabulate(rows, headers=columns, tablefmt="simple") if rows else "(no rows)")


def _format_option(fn: F) -> F:
    fn = click.option("--nl", "fmt", flag_value="nl", help="Output newline-delimited JSON.")(fn)
    fn = click.option("--json", "fmt", flag_value="json", help="Output JSON.")(fn)
    fn = click.option("--csv", "fmt", flag_value="csv", help="Output CSV.")(fn)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(fn)  # type: ignore[return-value]


@cli.command()
@_format_option
@click.pass_obj
@user_errors
def status(obj: dict[str, Any], fmt: str) -> None:
    """The service's last tick, each platform's last run, unknown rate and drift, and every account's status."""
    from monitor.query import account_status, platform_status, run_sql

    db = obj["db"]
    _, service = run_sql(db, "SELECT key, value FROM service")
    svc = dict(service)
    p_cols, platforms = platform_status(db)
    columns, rows = account_status(db)
    if fmt == "json":
        click.echo(json.dumps({"service": svc, "platforms": [dict(zip(p_cols, r)) for r in platforms],
                               "accounts": [dict(zip(columns, r)) for r in rows]}, ensure_ascii=False, indent=2))
        return
    if fmt == "table":
        if svc.get("last_tick_at"):
            state = f"stopped {svc['stopped_at']}" if svc.get("stopped_at", "") > svc["last_tick_at"] else "running"
            click.echo(f"service: last tick {svc['last_tick_at']} (pid {svc.get('pid')}, {state})")
        if platforms:
            click.echo(tabulate(platforms, headers=p_cols, tablefmt="simple") + "\n")
    _emit(columns, rows, fmt)


@cli.command()
@click.argument("query")
@_format_option
@click.option("--timeout", default=5.0, show_default=True, help="Seconds before the query is interrupted.")
@click.pass_obj
@user_errors
def sql(obj: dict[str, Any], query: str, fmt: str, timeout: float) -> None:
    """Run a read-only SQL QUERY against the database (safe while the monitor runs)."""
    from monitor.query import run_sql

    columns, rows = run_sql(obj["db"], query, timeout=timeout)
    _emit(columns, rows, fmt)


# Command groups that live in their own modules (they import this one's helpers, so they come last).
from monitor import cli_alerts, cli_history  # noqa: E402

cli.add_command(cli_alerts.alerts)
for _command in (cli_history.history, cli_history.export, cli_history.evidence, cli_history.serve,
                 cli_history.report):
    cli.add_command(_command)
