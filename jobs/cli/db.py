"""`engage db current|check|upgrade`: the store's schema revision, explicitly upgraded.

Commands that only read (`engage status`, `engage trend`) never migrate; they refuse a store
that is behind with "run `engage db upgrade`" (exit 2). `make demo` and the daemon's first
start upgrade on their own and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.config import load_settings
from jobs.store.revisions import Revisions, SchemaState, StoreSchemaError, ahead_message
from jobs.store.store import revisions_at, upgrade_at

#: `engage db check`: an upgrade is due (0: the store is current; 2: newer than the code).
EXIT_UPGRADE_DUE = 1


@contextmanager
def store_url_of(invocation: Invocation) -> Iterator[str]:
    """The store's URL from the config; the store's answers turned into one line each."""
    with context.refusing_setup_errors():
        url = load_settings(invocation.config_path).store_url
    with context.refusing_setup_errors():
        yield url


def _revisions(url: str) -> Revisions:
    found = revisions_at(url)
    if found.state is SchemaState.AHEAD:
        raise StoreSchemaError(ahead_message(found))
    return found


def upgrade_and_say(invocation: Invocation, who: str) -> None:
    """For the daemon's first start: upgrade on its own, and say so when it did."""
    with store_url_of(invocation) as url:
        before, after = upgrade_at(url)
    if before != after:
        context.console.print(
            f"store upgraded from {before or 'none (a new store)'} to {after} ({who})"
        )


@click.group("db")
def db_group() -> None:
    """The store's schema: which revision it is at, whether an upgrade is due, upgrade it."""


@db_group.command("current")
@click.pass_obj
def current_command(invocation: Invocation) -> None:
    """The store's schema revision and the code's newest (exit 2: the store is newer)."""
    with store_url_of(invocation) as url:
        found = _revisions(url)
    if found.state is SchemaState.NEW:
        click.echo(f"store: no schema yet (a new store); code: {found.code}")
    elif found.state is SchemaState.BEHIND:
        click.echo(f"store: {found.store}; code: {found.code} (run `engage db upgrade`)")
    else:
        click.echo(f"store: {found.store}; code: {found.code} (up to date)")


@db_group.command("check")
@click.pass_obj
def check_command(invocation: Invocation) -> None:
    """Exit 0 when the store is up to date, 1 when an upgrade is due, 2 when it is newer."""
    with store_url_of(invocation) as url:
        found = _revisions(url)
    if found.state is SchemaState.CURRENT:
        click.echo(f"up to date ({found.code})")
        return
    click.echo(f"upgrade due: {found.store or 'none'} → {found.code} (run `engage db upgrade`)")
    raise SystemExit(EXIT_UPGRADE_DUE)


@db_group.command("upgrade")
@click.pass_obj
def upgrade_command(invocation: Invocation) -> None:
    """Bring the store's schema to the code's newest revision (under a lock; data carries over)."""
    with store_url_of(invocation) as url:
        before, after = upgrade_at(url)
    if before == after:
        click.echo(f"already up to date ({after})")
    else:
        click.echo(f"store upgraded from {before or 'none (a new store)'} to {after}")
