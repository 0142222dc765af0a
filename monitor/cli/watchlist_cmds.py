"""`banwatch add`, `remove`, `pause`, `resume` (edit the watchlist file in place, keeping its comments and layout;
monitor.watchlist.edit) and `banwatch list` (the watchlist's accounts with their status, read-only)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import click

from banwatch.monitor.cli.core import App, emit, format_option, pass_app


def _apply(app: App, edit: Callable[[str], Any]) -> Any:
    """Run `edit` on the watchlist's text; write its result atomically (the old file kept as .bak)."""
    from banwatch.monitor.watchlist.edit import read, write_atomic

    text = read(app.watchlist_path)
    edited = edit(text)
    backup = write_atomic(app.watchlist_path, edited.text, expected=text)
    for note in edited.notes:
        click.echo(f"note: {note}")
    click.echo(f"{app.watchlist_path}: written ({len(edited.watchlist.accounts)} accounts watched, "
               f"{len(edited.watchlist.paused)} paused; previous version in {backup.name}). "
               "A running `banwatch run` picks it up within two reloads.")
    return edited


@click.command()
@click.argument("accounts", nargs=-1, required=True, metavar="URL-OR-PLATFORM:HANDLE...")
@click.option("--entity", default=None, help="Add under this entity's accounts (created when there is none).")
@click.option("--tag", "tags", multiple=True, help="Tag the new entries (repeatable).")
@pass_app
def add(app: App, accounts: tuple[str, ...], entity: str | None, tags: tuple[str, ...]) -> None:
    """Add accounts (profile URLs or platform:handle) to the watchlist, keeping its comments and layout."""
    from banwatch.monitor.explain import resolve
    from banwatch.monitor.watchlist.edit import add as add_entries

    edited = _apply(app, lambda text: add_entries(text, app.watchlist_path, accounts, entity, tags))
    for account in edited.accounts:
        r = resolve(account, {}, app.base_urls)
        click.echo(f"added line {r.line}: {r.key}  (platform {r.platform}, handle {r.handle})"
                   + (f"  [{r.entity}]" if r.entity else "") + f"\n  profile:  {r.profile_url}")


@click.command()
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@pass_app
def remove(app: App, keys: tuple[str, ...]) -> None:
    """Remove accounts (platform:handle) from the watchlist; their history stays in the database."""
    from banwatch.monitor.watchlist.edit import remove as remove_entries

    edited = _apply(app, lambda text: remove_entries(text, app.watchlist_path, keys))
    for account in edited.accounts:
        click.echo(f"removed {account.key} (was line {account.line}); its history stays in the database")


def _toggle(app: App, keys: tuple[str, ...], enabled: bool) -> None:
    from banwatch.monitor.watchlist.edit import set_enabled

    edited = _apply(app, lambda text: set_enabled(text, app.watchlist_path, keys, enabled))
    for account in edited.accounts:
        click.echo(f"{'resumed' if enabled else 'paused'} {account.key} (line {account.line})")


@click.command()
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@pass_app
def pause(app: App, keys: tuple[str, ...]) -> None:
    """Stop checking accounts (writes `enabled: false`); they keep their history and status."""
    _toggle(app, keys, False)


@click.command()
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@pass_app
def resume(app: App, keys: tuple[str, ...]) -> None:
    """Check paused accounts again (removes `enabled: false`)."""
    _toggle(app, keys, True)


LIST_COLUMNS = ["account", "platform", "handle", "entity", "tags", "line", "status", "since", "last_checked"]


@click.command("list")
@click.option("--platform", default=None, help="Only this platform's accounts.")
@click.option("--tag", default=None, help="Only accounts with this tag.")
@click.option("--status", "status_", default=None,
              help="Only accounts with this status (active, suspended, ..., unchecked, paused).")
@format_option
@pass_app
def list_(app: App, platform: str | None, tag: str | None, status_: str | None, fmt: str) -> None:
    """The watchlist's accounts, with their status from the database when there is one. Read-only."""
    from banwatch.monitor.query import account_states

    wl = app.watchlist
    known = account_states(app.db_path) if os.path.exists(app.db_path) else {}
    out = []
    for a in sorted((*wl.accounts, *wl.paused), key=lambda a: a.line):
        status, since, checked = known.get(a.key, (None, None, None))
        shown = "paused" if a.paused else (status or "unchecked")
        if (platform and a.platform != platform) or (tag and tag not in a.tags):
            continue
        if status_ and status_ not in (shown, status or "unchecked"):
            continue
        out.append((a.key, a.platform, a.handle, a.entity or "",
                    json.dumps(list(a.tags)) if fmt in ("json", "nl") else ",".join(a.tags), a.line,
                    shown, since or "", checked or ""))
    if fmt in ("json", "nl"):
        out = [(*r[:4], json.loads(r[4]), *r[5:]) for r in out]
    emit(LIST_COLUMNS, out, fmt)
