"""`banwatch serve`: the database in Datasette, read-only, with the docs/sql.md recipes."""

from __future__ import annotations

from pathlib import Path

import click

from banwatch.monitor.cli.core import App, pass_app
from banwatch.monitor.errors import BanwatchError

METADATA = Path(__file__).resolve().parents[2] / "datasette" / "metadata.yml"  # the canned queries


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address Datasette listens on.")
@click.option("--port", default=8001, show_default=True, help="Port Datasette listens on.")
@pass_app
def serve(app: App, host: str, port: int) -> None:
    """Browse the database in Datasette, read-only, with the docs/sql.md recipes as canned queries."""
    try:
        from datasette.cli import cli as datasette
    except ImportError:
        raise BanwatchError("Datasette is not installed: pip install 'banwatch[web]'") from None
    db = Path(app.db_path)
    if not db.exists():
        raise BanwatchError(f"{db}: no database yet (run `banwatch check` first, or give --db)")
    args = ["serve", str(db), "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            "--setting", "allow_download", "off"]
    if METADATA.exists() and db.stem == "banwatch":
        args += ["--metadata", str(METADATA)]
    datasette.main(args, prog_name="banwatch serve")
