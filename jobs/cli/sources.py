"""`engage sources check`: the delivery sources (Jira, PingCode...) against the live tools."""

from __future__ import annotations

import sys

import click

from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.config import load_settings
from jobs.delivery.check import check_sources
from jobs.delivery.connect import open_sources
from jobs.store.delivery import DeliveryTables
from jobs.store.revisions import StoreSchemaError
from jobs.store.store import Store, StoreUnavailableError


@click.group("sources")
def sources_group() -> None:
    """Delivery sources: the tools delivery facts are pulled from (docs/delivery.md)."""


@sources_group.command("check")
@click.pass_obj
def check_command(invocation: Invocation) -> None:
    """List every problem of every delivery source at once (credentials, projects, statuses,
    priorities, types); exit 1 if there is any. Writes nothing, neither to the tools nor the
    store."""
    with context.refusing_setup_errors():
        settings = load_settings(invocation.config_path)
        sections = settings.config.sources.delivery
        if not sections:
            context.fail("no [sources.delivery.NAME] section in the config", context.EXIT_CONFIG)
        opened = open_sources(sections, settings.path, env=settings.env, clock=invocation.clock)
        deal_projects = deal_projects_read_only(settings.store_url)
    problems = check_sources([o.configured for o in opened], deal_projects)
    for line in problems:
        context.err_line(line)
    if problems:
        context.err_line(f"{len(problems)} problem(s)")
        sys.exit(context.EXIT_FAILED)
    names = ", ".join(o.configured.name for o in opened)
    context.console.print(f"delivery sources fine: {names}")


def deal_projects_read_only(store_url: str) -> dict[str, str]:
    """The deals' project fields, from a store opened without migrating it (a check writes
    nothing); a store not set up yet has none, which is said once."""
    try:
        store = Store.open(store_url, upgrade=False)
    except (StoreSchemaError, StoreUnavailableError) as exc:
        context.err_line(f"note: deal fields not checked ({exc})")
        return {}
    try:
        return DeliveryTables(store.engine).deal_projects()
    finally:
        store.close()
