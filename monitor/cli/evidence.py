"""`banwatch evidence`: the proof of a change written out, or every stored body re-hashed."""

from __future__ import annotations

import click

from banwatch.monitor.cli.core import App, pass_app, plural
from banwatch.monitor.errors import BanwatchError


@click.command()
@click.argument("evidence_id", required=False, type=int)
@click.option("--out", type=click.Path(file_okay=False), help="Directory to write the body and manifest to.")
@click.option("--verify", "verify_all", is_flag=True, help="Re-hash every stored body.")
@pass_app
def evidence(app: App, evidence_id: int | None, out: str | None, verify_all: bool) -> None:
    """Write the proof of a change (EVIDENCE_ID) to --out, or --verify every stored body's sha256."""
    from pathlib import Path

    from banwatch.monitor import evidence as ev
    from banwatch.monitor.query import open_readonly

    if verify_all == (evidence_id is not None):
        raise click.UsageError("give an EVIDENCE_ID with --out, or --verify")
    conn = open_readonly(app.db_path)
    try:
        if verify_all:
            checked, problems = ev.verify(conn)
            for p in problems:
                click.echo(f"evidence #{p.evidence_id} (sha256 {p.sha256[:16]}…): {p.what}", err=True)
            if problems:
                raise BanwatchError(f"{len(problems)} of {plural(checked, 'evidence record')} failed verification")
            click.echo(f"{plural(checked, 'evidence record')} verified: every body matches its sha256")
            return
        if not out:
            raise click.UsageError("--out DIR is needed to write evidence")
        body, meta = ev.export(conn, evidence_id, Path(out))  # type: ignore[arg-type]
        click.echo(f"wrote {body} and {meta}; sha256 verified")
    finally:
        conn.close()
