"""`banwatch validate`: the watchlist and the environment, checked; nothing written."""

from __future__ import annotations

import json

import click

from banwatch.monitor.cli.core import App, pass_app, plural
from banwatch.monitor.settings import secrets_from_env


@click.command()
@click.option("--explain", is_flag=True, help="Also show, for every entry, what it resolved to and what will be asked.")
@click.option("--json", "as_json", is_flag=True, help="Print the resolution of every entry as JSON.")
@pass_app
def validate(app: App, explain: bool, as_json: bool) -> None:
    """Check the watchlist and the environment; write nothing."""
    wl = app.watchlist
    base_urls = app.base_urls
    if as_json or explain:
        from banwatch.monitor import explain as explaining

        rows = explaining.explain(wl.accounts, secrets_from_env(), base_urls)
        if as_json:
            click.echo(json.dumps({"watchlist": wl.path, "accounts": [r.as_dict() for r in rows]}, indent=2,
                                  ensure_ascii=False))
            return
        click.echo(explaining.render(rows))
        click.echo("")
    slack = app.slack
    platforms = sorted({a.platform for a in wl.accounts})
    click.echo(f"{wl.path}: OK — {plural(len(wl.accounts), 'account')}, {plural(len(wl.entities), 'entity')}, "
               f"platforms: {', '.join(platforms) or 'none'}")
    click.echo(slack.describe())
    for name, url in sorted(base_urls.items()):
        click.echo(f"{name}: base URL overridden to {url}")
    from banwatch.spiders.platforms import PLATFORMS

    secrets = secrets_from_env()
    for name, platform in PLATFORMS.items():
        if platform.credentials:
            state = ", ".join(f"{c} {'present' if c in secrets else 'absent'}" for c in platform.credentials)
            watched = " (watched)" if name in platforms else ""
            click.echo(f"{platform.title} credentials{watched}: {state}")
    canaries = [a for a in wl.accounts if a.canary]
    if canaries:
        click.echo("canaries: " + ", ".join(f"{a.key} (known {a.canary})" for a in canaries))
