"""`banwatch alerts ...`: inspect and drive the outbox."""

from __future__ import annotations

import sys
from typing import Any

import click

from banwatch.monitor.cli.core import EXIT_ELSEWHERE, App, Group, deliver, emit, format_option, pass_app, plural
from banwatch.monitor.errors import BanwatchError
from banwatch.monitor.settings import slack_from_env


@click.group(cls=Group)
def alerts() -> None:
    """Inspect and drive the alert outbox."""


@alerts.command("test")
@click.option("--channel", help="Channel to post to (default: the configured one).")
@pass_app
def alerts_test(app: App, channel: str | None) -> None:
    """Check the bot token's scopes, send a sample message and report what Slack said."""
    import logging

    from banwatch.alerts.notifier import Message
    from banwatch.alerts.slack import make_notifier

    # slack-sdk logs each failed request as an ERROR of its own; this command says what failed in one line.
    # Quiet for this command only: the level is put back when it ends (in process, other commands follow).
    sdk = logging.getLogger("slack_sdk")
    click.get_current_context().call_on_close(lambda level=sdk.level: sdk.setLevel(level))
    sdk.setLevel(logging.CRITICAL)

    try:
        wl_channel = app.watchlist.slack_channel
    except BanwatchError:
        wl_channel = None  # a test message needs no watchlist
    slack = slack_from_env(wl_channel)
    if not slack.enabled:
        raise BanwatchError("no Slack credentials: set SLACK_BOT_TOKEN (or SLACK_WEBHOOK_URL)")
    notifier = make_notifier(slack)
    target = channel or slack.channel or ""
    if hasattr(notifier, "scopes"):
        _report_scopes(notifier)
    result = notifier.send(target, Message(
        "banwatch test message: alerts reach this channel.",
        [{"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: *banwatch* test message: "
                                                              "alerts reach this channel."}}]))
    if not result.ok:
        raise BanwatchError(f"the test message was not accepted: {result.error}")
    click.echo(f"Slack accepted the test message in {target or 'the webhook channel'}"
               + (f" (ts {result.ts})" if result.ts else ""))


def _report_scopes(notifier: Any) -> None:
    """auth.test, then each scope exactly-once delivery needs: present or missing, and what happens without it."""
    from banwatch.alerts.notifier import NotifierError
    from banwatch.alerts.slack import SCOPES

    try:
        info, granted = notifier.scopes()
    except NotifierError as exc:
        raise BanwatchError(f"Slack rejected the bot token (auth.test): {exc}") from None
    who = " ".join(f"{k} {info[k]}" for k in ("team", "user") if info.get(k))
    click.echo(f"auth.test: token accepted ({who or 'no team or user named'})")
    if granted is None:
        click.echo("Slack did not name the token's scopes (no x-oauth-scopes header): they cannot be checked")
        return
    missing = [scope for scope, _, _ in SCOPES if scope not in granted]
    for scope, purpose, without in SCOPES:
        state = "present" if scope in granted else "MISSING"
        click.echo(f"  {scope:<17} {state:<8} {purpose}" + ("" if scope in granted else f"; without it {without}"))
    if not missing:
        click.echo("exactly once: every scope it needs is granted")
    else:
        click.echo(f"missing scope(s): {', '.join(missing)}: add them to the Slack app (OAuth & Permissions) and "
                   "reinstall it")


@alerts.command("send")
@pass_app
def alerts_send(app: App) -> None:
    """Deliver every alert that is due now (what `check` and `run` do on their own).

    While `banwatch run` holds the database, or another delivery does not end within 10 s, it posts
    nothing and exits 75 (EX_TEMPFAIL): the alerts go from there. Without a watchlist (none at the default path,
    none named) it uses the environment's Slack settings and the default alert settings."""
    app.watchlist_optional  # noqa: B018 - before the store: a broken watchlist opens no database
    app.store  # noqa: B018
    report, via = deliver(app, "alerts send")
    if report is None:
        click.echo(f"alerts: {via}", err=True)
        sys.exit(EXIT_ELSEWHERE)
    click.echo(f"alerts: {report.sent} sent via {via} ({plural(report.waves, 'wave')}), {report.reconciled} "
               "reconciled, "
               f"{report.failed} kept for retry, {report.dead} dead")


@alerts.command("list")
@click.option("--state", type=click.Choice(["pending", "sending", "sent", "dead"]), help="Only this state.")
@click.option("--limit", default=100, show_default=True, help="Show at most this many alerts, newest first.")
@format_option
@pass_app
def alerts_list(app: App, state: str | None, limit: int, fmt: str) -> None:
    """The newest alerts in the outbox, with their state and last error."""
    from banwatch.monitor.query import alert_list

    columns, rows = alert_list(app.db_path, state, limit)
    emit(columns, rows, fmt)


@alerts.command("retry")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--dead", "all_dead", is_flag=True, help="Every dead alert.")
@pass_app
def alerts_retry(app: App, ids: tuple[int, ...], all_dead: bool) -> None:
    """Give dead alerts another full give-up window; they are sent on the next delivery."""
    from banwatch.monitor.outbox import Outbox
    from banwatch.monitor.timeutil import later, now_iso
    from banwatch.monitor.watchlist import AlertSettings

    if not ids and not all_dead:
        raise click.UsageError("give alert IDs or --dead")
    try:
        give_up = app.watchlist.alerts.give_up
    except BanwatchError:
        give_up = AlertSettings().give_up
    outbox = Outbox(app.store)
    targets = outbox.dead_ids() if all_dead else list(ids)
    now = now_iso()
    revived = outbox.retry(targets, now, later(now, give_up)) if targets else 0
    click.echo(f"{plural(revived, 'alert')} back in the outbox" + ("" if revived == len(targets) else
               f" ({plural(len(targets) - revived, 'was')} not dead)"))
