"""History commands: the timeline, exports, evidence, the HTML report and Datasette."""

from __future__ import annotations

from typing import Any

import click

from monitor.cli import _emit, _format_option, user_errors
from monitor.errors import BanwatchError


@click.command()
@click.argument("account", required=False)
@_format_option
@click.pass_obj
@user_errors
def history(obj: dict[str, Any], account: str | None, fmt: str) -> None:
    """The timeline of one ACCOUNT (or all): each confirmed change with its detection window."""
    from monitor.query import run_sql

    params: dict[str, Any] = {}
    where = ""
    if account:
        _, found = run_sql(obj["db"], "SELECT key FROM accounts WHERE key = :a OR handle = :a", {"a": account})
        if not found:
            raise BanwatchError(f"no account {account!r} in {obj['db']} (give platform:handle as `banwatch status` shows)")
        if len(found) > 1:
            raise BanwatchError(f"{account!r} is ambiguous: {', '.join(r[0] for r in found)}")
        where, params = "WHERE account_key = :key", {"key": found[0][0]}
    columns, rows = run_sql(obj["db"], f"""
        SELECT account_key AS account, coalesce(entity, '') AS entity, from_status, to_status,
               coalesce(last_seen_before_at, '') AS last_seen_before, first_seen_at AS first_seen,
               confirmed_at AS confirmed, coalesce(until, '') AS until, rule, evidence_id AS evidence,
               coalesce(evidence_sha256, '') AS sha256, strength
        FROM timeline {where} ORDER BY confirmed_at, account_key""", params)
    if fmt != "table":
        _emit(columns, rows, fmt)
        return
    if not rows:
        click.echo("(no changes yet)")
    for r in map(lambda row: dict(zip(columns, row)), rows):
        who = r["account"] + (f" ({r['entity']})" if r["entity"] else "")
        lasted = f", {_span(r['first_seen'], r['until'])} until {r['until']}" if r["until"] else " (current)"
        unconfirmed = " [unconfirmed: read by a weak rule, no alert]" if r["strength"] == "unconfirmed" else ""
        click.echo(f"{r['confirmed']}  {who}: {r['from_status']} → {r['to_status']}{lasted}{unconfirmed}")
        click.echo(f"    last seen {r['from_status']} {r['last_seen_before'] or '—'}, first seen {r['to_status']} "
                   f"{r['first_seen']}; rule {r['rule']}"
                   + (f"; evidence #{r['evidence']} sha256 {r['sha256'][:16]}…" if r["evidence"] else ""))


def _span(start: str, end: str) -> str:
    from monitor.timeutil import parse_iso

    seconds = int((parse_iso(end) - parse_iso(start)).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


@click.command()
@click.option("--since", default="1970-01-01", show_default=True, help="Changes confirmed on or after this date.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.pass_obj
@user_errors
def export(obj: dict[str, Any], since: str, fmt: str) -> None:
    """Changes with their account fields, for spreadsheets and newsrooms."""
    from monitor.query import run_sql

    columns, rows = run_sql(obj["db"], """
        SELECT c.id AS change_id, c.confirmed_at, a.platform, a.handle, a.display_name, a.entity, a.tags, a.url,
               a.platform_id, c.from_status, c.to_status, c.last_seen_before_at, c.first_seen_at, c.rule,
               c.reason, c.evidence_id, e.sha256 AS evidence_sha256, e.url AS evidence_url, c.wave_id
        FROM changes c JOIN accounts a ON a.key = c.account_key LEFT JOIN evidence e ON e.id = c.evidence_id
        WHERE c.confirmed_at >= :since ORDER BY c.confirmed_at, c.id""", {"since": since})
    _emit(columns, rows, fmt)


@click.command()
@click.argument("evidence_id", required=False, type=int)
@click.option("--out", type=click.Path(file_okay=False), help="Directory to write the body and manifest to.")
@click.option("--verify", "verify_all", is_flag=True, help="Re-hash every stored body.")
@click.pass_obj
@user_errors
def evidence(obj: dict[str, Any], evidence_id: int | None, out: str | None, verify_all: bool) -> None:
    """Write the proof of a change (EVIDENCE_ID) to --out, or --verify every stored body's sha256."""
    from pathlib import Path

    from monitor import evidence as ev
    from monitor.query import open_readonly

    if verify_all == (evidence_id is not None):
        raise click.UsageError("give an EVIDENCE_ID with --out, or --verify")
    conn = open_readonly(obj["db"])
    try:
        if verify_all:
            checked, problems = ev.verify(conn)
            for p in problems:
                click.echo(f"evidence #{p.evidence_id} (sha256 {p.sha256[:16]}…): {p.what}", err=True)
            if problems:
                raise BanwatchError(f"{len(problems)} of {checked} evidence records failed verification")
            click.echo(f"{checked} evidence records verified: every body matches its sha256")
            return
        if not out:
            raise click.UsageError("--out DIR is needed to write evidence")
        body, meta = ev.export(conn, evidence_id, Path(out))  # type: ignore[arg-type]
        click.echo(f"wrote {body} and {meta}; sha256 verified")
    finally:
        conn.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True)
@click.pass_obj
@user_errors
def serve(obj: dict[str, Any], host: str, port: int) -> None:
    """Browse the database in Datasette, read-only, with the docs/sql.md recipes as canned queries."""
    from pathlib import Path

    try:
        from datasette.cli import cli as datasette
    except ImportError:
        raise BanwatchError("Datasette is not installed: pip install 'banwatch[web]'") from None
    db = Path(obj["db"])
    if not db.exists():
        raise BanwatchError(f"{db}: no database yet (run `banwatch check` first, or give --db)")
    args = ["serve", str(db), "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            "--setting", "allow_download", "off"]
    metadata = Path(__file__).resolve().parent.parent / "datasette" / "metadata.yml"
    if metadata.exists() and db.stem == "banwatch":
        args += ["--metadata", str(metadata)]
    datasette.main(args, prog_name="banwatch serve")


@click.command()
@click.option("--since", default="30d", show_default=True, help="A duration back from now (30d) or a date.")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False))
@click.pass_obj
@user_errors
def report(obj: dict[str, Any], since: str, out: str) -> None:
    """Write a self-contained HTML audit report: who stands where, what changed, with what proof."""
    from datetime import UTC, datetime
    from pathlib import Path

    from monitor import report as rep
    from monitor.query import open_readonly
    from monitor.timeutil import iso
    from spiders.platforms import PLATFORMS

    now = datetime.now(UTC)
    try:
        start = rep.since_from(since, now)
    except ValueError:
        raise click.BadParameter(f"{since!r} is neither a duration (30d) nor a date (2026-01-31)",
                                 param_hint="--since") from None
    conn = open_readonly(obj["db"])
    try:
        data = rep.gather(conn, start)
    finally:
        conn.close()
    titles = {name: p.title for name, p in PLATFORMS.items()}
    Path(out).write_text(rep.render(data, start, iso(now), titles), encoding="utf-8")
    click.echo(f"wrote {out}: {len(data['accounts'])} accounts, {len(data['changes'])} changes since {start[:10]}")
