"""`engage connections …`, `engage worker`, `engage cluster init|status`: many connections
on many machines, on procrastinate over the cluster's PostgreSQL (docs/scaling.md).

The cluster's store is ``--cluster URL`` (or ENGAGE_CLUSTER_URL), else the [store] url of the
`engage --config` file. It must be PostgreSQL: an SQLite store is refused in one line, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click

from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.config import load_settings
from jobs.store import Store
from jobs.store.connections import (
    ConnectionRow,
    ConnectionTables,
    UnknownConnection,
    job_counts,
    jobs_installed,
    stalled_jobs,
)
from jobs.store.org_limits import OrgLimitTables
from jobs.workers.app import QUEUES, BadTimingError, NeedsPostgresError, Timings, libpq_url
from jobs.workers.connections import ConnectionDefinitionError, read_definition, save_definition

_cluster_option = click.option(
    "--cluster",
    "cluster_url",
    envvar="ENGAGE_CLUSTER_URL",
    default=None,
    help="The cluster's PostgreSQL store (SQLAlchemy URL); default: the config's [store] url.",
)


def _cluster_url(invocation: Invocation, explicit: str | None) -> str:
    with context.refusing_setup_errors():
        url = explicit or load_settings(invocation.config_path, env={}).store_url
    try:
        libpq_url(url)
    except NeedsPostgresError as exc:
        context.fail(str(exc))
    return url


@contextmanager
def _cluster(invocation: Invocation, explicit: str | None) -> Iterator[Store]:
    url = _cluster_url(invocation, explicit)
    with context.refusing_setup_errors():
        store = Store.open(url)
    try:
        yield store
    finally:
        store.close()


# --- engage connections ------------------------------------------------------------------------
@click.group("connections")
def connections_group() -> None:
    """The CRM connections workers run (kept in the cluster's store)."""


@connections_group.command("add")
@click.argument("name")
@click.option(
    "--config",
    "connection_config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The connection's config file (default: `engage --config`).",
)
@click.option(
    "--secret-env",
    multiple=True,
    metavar="SECRET=VARIABLE",
    help="The environment variable of a secret (default ENGAGE_<NAME>_<usual variable>).",
)
@_cluster_option
@click.pass_obj
def add_command(
    invocation: Invocation,
    name: str,
    connection_config: Path | None,
    secret_env: tuple[str, ...],
    cluster_url: str | None,
) -> None:
    """Add the connection NAME from its config file, or replace its definition."""
    variables = {}
    for item in secret_env:
        secret, sep, variable = item.partition("=")
        if not sep or not variable:
            context.fail(f"--secret-env {item!r}: write SECRET=VARIABLE, e.g. api_key=ACME_KEY")
        variables[secret] = variable
    path = connection_config or Path(invocation.config_path)
    with context.refusing_setup_errors():
        try:
            definition = read_definition(name, path, variables)
        except ConnectionDefinitionError as exc:
            context.fail(str(exc))
    with context.refusing_setup_errors():
        # The connection's own store, migrated now: workers find it ready (and a worker killed
        # during a first migration is not how the store begins).
        Store.open(definition.settings.store_url).close()
    with _cluster(invocation, cluster_url) as store:
        new = save_definition(
            ConnectionTables(store.engine),
            OrgLimitTables(store.engine),
            definition,
            invocation.clock(),
        )
    verb = "added" if new else "updated"
    names = ", ".join(f"{k}: ${v}" for k, v in sorted(definition.secret_env.items()))
    context.console.print(
        f"connection {name} {verb} (org {definition.org}); workers read its secrets from {names}",
        markup=False,
        highlight=False,
    )


@connections_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@_cluster_option
@click.pass_obj
def list_command(invocation: Invocation, as_json: bool, cluster_url: str | None) -> None:
    """Every connection, its org, schedule and state."""
    with _cluster(invocation, cluster_url) as store:
        rows = ConnectionTables(store.engine).all()
    if as_json:
        click.echo(json.dumps([_shown(r) for r in rows], indent=2, default=str))
        return
    for r in rows:
        state = "paused" if r.paused else ("running" if r.lease_expires_at else "idle")
        click.echo(f"{r.name}\t{r.kind}\torg {r.org}\tevery {r.every_seconds:g} s\t{state}")


def _shown(row: ConnectionRow) -> dict[str, object]:
    data = asdict(row)
    data.pop("config_toml")
    data.pop("mapping_toml")
    return dict(data)


@connections_group.command("show")
@click.argument("name")
@_cluster_option
@click.pass_obj
def show_command(invocation: Invocation, name: str, cluster_url: str | None) -> None:
    """One connection: its definition (its secrets' variable names, never their values)."""
    with _cluster(invocation, cluster_url) as store:
        row = _get(ConnectionTables(store.engine), name)
    click.echo(json.dumps(_shown(row), indent=2, default=str))
    click.echo(row.config_toml)


def _get(tables: ConnectionTables, name: str) -> ConnectionRow:
    try:
        return tables.get(name)
    except UnknownConnection:
        context.fail(f"no connection {name!r} (see `engage connections list`)")


def _set_paused(invocation: Invocation, name: str, paused: bool, url: str | None) -> None:
    with _cluster(invocation, url) as store:
        try:
            ConnectionTables(store.engine).set_paused(name, paused)
        except UnknownConnection:
            context.fail(f"no connection {name!r} (see `engage connections list`)")
    word = "paused: no new run starts (a run in progress finishes)" if paused else "resumed"
    click.echo(f"connection {name} {word}")


@connections_group.command("pause")
@click.argument("name")
@_cluster_option
@click.pass_obj
def pause_command(invocation: Invocation, name: str, cluster_url: str | None) -> None:
    """Start no new run of NAME until `resume`."""
    _set_paused(invocation, name, True, cluster_url)


@connections_group.command("resume")
@click.argument("name")
@_cluster_option
@click.pass_obj
def resume_command(invocation: Invocation, name: str, cluster_url: str | None) -> None:
    """Run NAME on its schedule again."""
    _set_paused(invocation, name, False, cluster_url)


@connections_group.command("remove")
@click.argument("name")
@_cluster_option
@click.pass_obj
def remove_command(invocation: Invocation, name: str, cluster_url: str | None) -> None:
    """Forget NAME (its own store is kept)."""
    with _cluster(invocation, cluster_url) as store:
        try:
            ConnectionTables(store.engine).remove(name)
        except UnknownConnection:
            context.fail(f"no connection {name!r} (see `engage connections list`)")
    click.echo(f"connection {name} removed (its store is kept)")


# --- engage worker -----------------------------------------------------------------------------
@click.command("worker")
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues this worker serves.",
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@_cluster_option
@click.pass_obj
def worker_command(
    invocation: Invocation, queues: str, concurrency: int, cluster_url: str | None
) -> None:
    """Run the connections' jobs until stopped (SIGTERM/SIGINT); any number of machines."""
    from jobs.workers.app import make_app
    from jobs.workers.runtime import Runtime, install

    try:
        timings = Timings.from_env()
    except BadTimingError as exc:
        context.fail(str(exc))
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown:
        context.fail(f"--queues: no queue {unknown[0]!r} (queues: {', '.join(QUEUES)})")
    with _cluster(invocation, cluster_url) as store:
        if not jobs_installed(store.engine):
            context.fail("the cluster's job tables are missing: run `engage cluster init` first")
        install(Runtime.for_store(store, timings))
        app = make_app(store.engine.url.render_as_string(hide_password=False), timings, concurrency)
        context.err_line(f"worker started: queues {', '.join(wanted)}, concurrency {concurrency}")
        app.run_worker(
            queues=wanted,
            concurrency=concurrency,
            fetch_job_polling_interval=timings.polling_seconds,
            update_heartbeat_interval=timings.heartbeat_seconds,
            stalled_worker_timeout=timings.stale_seconds,
        )
    context.err_line("worker stopped")


# --- engage cluster ----------------------------------------------------------------------------
@click.group("cluster")
def cluster_group() -> None:
    """The cluster's job tables and what is happening in them."""


@cluster_group.command("init")
@_cluster_option
@click.pass_obj
def init_command(invocation: Invocation, cluster_url: str | None) -> None:
    """Create the job tables (procrastinate's) in the cluster's store; idempotent."""
    from jobs.workers.app import make_app

    with _cluster(invocation, cluster_url) as store:
        if jobs_installed(store.engine):
            click.echo("the cluster's job tables are already there")
            return
        app = make_app(store.engine.url.render_as_string(hide_password=False), Timings())
        with app.open():
            app.schema_manager.apply_schema()
    click.echo("cluster ready: job tables created; add connections, then start workers")


@cluster_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@_cluster_option
@click.pass_obj
def status_command(invocation: Invocation, as_json: bool, cluster_url: str | None) -> None:
    """Jobs by state, stalled jobs, per org: credits used and reserved, slots in use."""
    timings = Timings.from_env()
    with _cluster(invocation, cluster_url) as store:
        if not jobs_installed(store.engine):
            context.fail("the cluster's job tables are missing: run `engage cluster init` first")
        limits = OrgLimitTables(store.engine)
        jobs = job_counts(store.engine)
        stalled = stalled_jobs(store.engine, timings.stale_seconds)
        orgs = [
            asdict(o) | {"slots_in_use": limits.slots_in_use(o.org)} for o in limits.all_limits()
        ]
        connections = [_shown(r) for r in ConnectionTables(store.engine).all()]
    if as_json:
        status = {"jobs": jobs, "stalled": stalled, "orgs": orgs, "connections": connections}
        click.echo(json.dumps(status, indent=2, default=str))
        return
    for task, states in sorted(jobs.items()):
        click.echo(f"{task}: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    click.echo(f"stalled jobs: {len(stalled)}")
    for org in orgs:
        click.echo(
            f"org {org['org']}: {org['used']} of {org['budget']} credits reserved this window, "
            f"{org['slots_in_use']} of {org['concurrency']} slots in use"
        )
