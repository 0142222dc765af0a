"""The `banwatch` command. The only place that turns BanwatchError into a message and an exit code."""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from tabulate import tabulate

from monitor.errors import BanwatchError
from monitor.settings import DEFAULT_DB, DEFAULT_WATCHLIST, base_urls_from_env, slack_from_env

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("banwatch")


def user_errors(fn: F) -> F:
    """BanwatchError -> its message on stderr, exit 1, no traceback."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BanwatchError as exc:
            click.echo(f"Error: {exc}" if "\n" not in str(exc) else f"Error:\n{exc}", err=True)
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
    if log_level.upper() != "DEBUG":
        for noisy in ("scrapy", "twisted", "py.warnings", "apscheduler"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
        # A request that failed after its retries is recorded as an unknown observation and counted in
        # the summary; Scrapy's own ERROR line for it would only repeat that.
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
    ctx.obj = {"watchlist": watchlist_path, "db": db_path, "log_level": log_level.upper()}


@cli.command()
@click.pass_obj
@user_errors
def validate(obj: dict[str, Any]) -> None:
    """Check the watchlist and the environment; write nothing."""
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    base_urls = base_urls_from_env()
    slack = slack_from_env(wl.slack_channel)
    platforms = sorted({a.platform for a in wl.accounts})
    click.echo(f"{wl.path}: OK — {len(wl.accounts)} accounts, {len(wl.entities)} entities, "
               f"platforms: {', '.join(platforms) or 'none'}")
    click.echo(slack.describe())
    for name, url in sorted(base_urls.items()):
        click.echo(f"{name}: base URL overridden to {url}")


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

        summary = run_in_reactor(main, {"LOG_LEVEL": obj["log_level"]})
        if bar:
            bar.render_finish()
        report = _deliver(store, slack, wl.alerts)
    finally:
        store.close()
    _print_summary(summary, report)


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
    run_in_reactor(service.serve, {"LOG_LEVEL": obj["log_level"]}, signal_handlers=False)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
@user_errors
def prune(obj: dict[str, Any], dry_run: bool) -> None:
    """Delete history older than the watchlist's `retention:` (changes and evidence are kept)."""
    from monitor.store import Store
    from monitor.timeutil import now_iso
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    store = Store.open(obj["db"])
    try:
        counts = store.prune(wl.retention.cutoffs(now_iso()), dry_run=dry_run)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(", ".join(f"{verb} {n} {table}" for table, n in counts.items()))


def _deliver(store: Any, slack: Any, settings: Any) -> Any:
    from alerts.dispatch import deliver
    from alerts.slack import make_notifier
    from monitor.timeutil import now_iso

    notifier = make_notifier(slack)
    return deliver(store, notifier, now_iso(), settings), notifier.name


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
    line = f"alerts: {report.sent} sent via {via}"
    if report.failed:
        line += f", {report.failed} not delivered (kept in the outbox, retried next run)"
    click.echo(line)


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, indent=2, default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(tabulate(rows, headers=columns, tablefmt="simple") if rows else "(no rows)")


def _format_option(fn: F) -> F:
    fn = click.option("--json", "fmt", flag_value="json", help="Output JSON.")(fn)
    fn = click.option("--csv", "fmt", flag_value="csv", help="Output CSV.")(fn)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(fn)  # type: ignore[return-value]


@cli.command()
@_format_option
@click.pass_obj
@user_errors
def status(obj: dict[str, Any], fmt: str) -> None:
    """The service's last tick, each platform's last run and unknown rate, and every account's status."""
    from monitor.query import run_sql

    db = obj["db"]
    _, service = run_sql(db, "SELECT key, value FROM service")
    svc = dict(service)
    p_cols, platforms = run_sql(db, """
        SELECT r.platform, max(r.finished_at) AS last_run,
               round(100.0 * sum(r.unknown) / max(1, sum(r.accounts)), 1) AS unknown_pct_1h,
               coalesce(h.state, 'ok') AS health
        FROM runs r LEFT JOIN platform_health h ON h.platform = r.platform
        WHERE r.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') OR r.id IN (
            SELECT max(id) FROM runs GROUP BY platform)
        GROUP BY r.platform ORDER BY r.platform""")
    columns, rows = run_sql(db, """
        SELECT key AS account, coalesce(entity, '') AS entity, coalesce(status, 'unchecked') AS status,
               coalesce(status_since, '') AS since,
               CASE WHEN pending_status IS NULL THEN '' ELSE pending_status || ' (' || pending_count || ')' END
                   AS pending,
               coalesce(last_checked_at, '') AS last_checked, coalesce(last_rule, '') AS rule
        FROM accounts WHERE removed_at IS NULL
        ORDER BY entity IS NULL, entity, platform, handle""")
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
@click.argument("account", required=False)
@_format_option
@click.pass_obj
@user_errors
def history(obj: dict[str, Any], account: str | None, fmt: str) -> None:
    """Confirmed changes, oldest first, with their detection windows (one ACCOUNT, or all)."""
    from monitor.errors import BanwatchError as _Err
    from monitor.query import run_sql

    params: dict[str, Any] = {}
    where = ""
    if account:
        _, found = run_sql(obj["db"], "SELECT key FROM accounts WHERE key = :a OR handle = :a", {"a": account})
        if not found:
            raise _Err(f"no account {account!r} in {obj['db']} (give platform:handle as `banwatch status` shows)")
        if len(found) > 1:
            raise _Err(f"{account!r} is ambiguous: {', '.join(r[0] for r in found)}")
        where, params = "WHERE c.account_key = :key", {"key": found[0][0]}
    columns, rows = run_sql(obj["db"], f"""
        SELECT c.id AS change, c.account_key AS account, coalesce(a.entity, '') AS entity,
               c.from_status || ' → ' || c.to_status AS change_,
               coalesce(c.last_seen_before_at, '') AS last_seen_before, c.first_seen_at AS first_seen,
               c.confirmed_at AS confirmed, c.rule, c.evidence_id AS evidence
        FROM changes c JOIN accounts a ON a.key = c.account_key {where}
        ORDER BY c.confirmed_at, c.id""", params)
    columns = [("from → to" if c == "change_" else c) for c in columns]
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


@cli.group()
def alerts() -> None:
    """Inspect and drive the alert outbox."""


@alerts.command("test")
@click.option("--channel", help="Channel to post to (default: the configured one).")
@click.pass_obj
@user_errors
def alerts_test(obj: dict[str, Any], channel: str | None) -> None:
    """Send a sample message and report what Slack said."""
    from alerts.notifier import Message
    from alerts.slack import make_notifier
    from monitor.watchlist import load

    try:
        wl_channel = load(obj["watchlist"]).slack_channel
    except BanwatchError:
        wl_channel = None  # a test message needs no watchlist
    slack = slack_from_env(wl_channel)
    if not slack.enabled:
        raise BanwatchError("no Slack credentials: set SLACK_BOT_TOKEN (or SLACK_WEBHOOK_URL)")
    notifier = make_notifier(slack)
    target = channel or slack.channel or ""
    result = notifier.send(target, Message(
        "banwatch test message: alerts reach this channel.",
        [{"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: *banwatch* test message: "
                                                              "alerts reach this channel."}}]))
    if not result.ok:
        raise BanwatchError(f"the test message was not accepted: {result.error}")
    click.echo(f"Slack accepted the test message in {target or 'the webhook channel'}"
               + (f" (ts {result.ts})" if result.ts else ""))


@alerts.command("send")
@click.pass_obj
@user_errors
def alerts_send(obj: dict[str, Any]) -> None:
    """Deliver every alert that is due now (what `check` and `run` do on their own)."""
    from monitor.store import Store
    from monitor.watchlist import load

    wl = load(obj["watchlist"])
    store = Store.open(obj["db"])
    try:
        report, via = _deliver(store, slack_from_env(wl.slack_channel), wl.alerts)
    finally:
        store.close()
    click.echo(f"alerts: {report.sent} sent via {via} ({report.waves} waves), {report.reconciled} reconciled, "
               f"{report.failed} kept for retry, {report.dead} dead")


@alerts.command("list")
@click.option("--state", type=click.Choice(["pending", "sending", "sent", "dead"]), help="Only this state.")
@click.option("--limit", default=100, show_default=True)
@_format_option
@click.pass_obj
@user_errors
def alerts_list(obj: dict[str, Any], state: str | None, limit: int, fmt: str) -> None:
    """The newest alerts in the outbox, with their state and last error."""
    from monitor.query import run_sql

    where = "WHERE state = :state" if state else ""
    columns, rows = run_sql(obj["db"], f"""
        SELECT id, kind, coalesce(account_key, subject) AS subject, channel, state, attempts, created_at,
               coalesce(sent_at, '') AS sent_at, coalesce(last_error, '') AS last_error
        FROM alerts {where} ORDER BY id DESC LIMIT :limit""", {"state": state, "limit": limit})
    _emit(columns, rows, fmt)


@alerts.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", "all_dead", is_flag=True, help="Every dead alert.")
@click.pass_obj
@user_errors
def alerts_retry(obj: dict[str, Any], ids: tuple[int, ...], all_dead: bool) -> None:
    """Give dead alerts another full give-up window; they are sent on the next delivery."""
    from monitor.outbox import Outbox
    from monitor.store import Store
    from monitor.timeutil import later, now_iso
    from monitor.watchlist import AlertSettings, load

    if not ids and not all_dead:
        raise click.UsageError("give alert IDs or --dead")
    try:
        give_up = load(obj["watchlist"]).alerts.give_up
    except BanwatchError:
        give_up = AlertSettings().give_up
    store = Store.open(obj["db"])
    try:
        outbox = Outbox(store)
        targets = outbox.dead_ids() if all_dead else list(ids)
        now = now_iso()
        revived = outbox.retry(targets, now, later(now, give_up)) if targets else 0
    finally:
        store.close()
    click.echo(f"{revived} alert(s) back in the outbox" + ("" if revived == len(targets) else
               f" ({len(targets) - revived} were not dead)"))
