"""`engage`: run any step once, show status, run the daemon, try the sandbox and the demo.

Exit codes: 0 done; 1 the run failed (see the message); 2 bad configuration or usage;
75 the CRM asked us to come back later (rate limit, outage): the next run resumes.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from connector.errors import ConnectorError, RetryLaterError
from connector.redact import RedactingFilter
from jobs.admin import check, ensure_fields, fetch_metadata, plan_with_cost, starter_mapping
from jobs.config import load_settings
from jobs.credits import WINDOW as CREDIT_WINDOW
from jobs.credits import credits_used, crm_remaining
from jobs.ledger import FAILED_STATUSES, Ledger, missing_fields
from jobs.runner import (
    Connection,
    Job,
    JobAlreadyRunning,
    RunResult,
    connect,
    run_job,
    shown_runs,
)
from jobs.store import Store
from mappings.tomlfile import ConfigFileError

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_RETRY_LATER = 75  # EX_TEMPFAIL

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # APScheduler's per-run INFO lines add nothing to ours.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Invocation:
    """What every command gets: the config file and the clock (tests put in their own clock)."""

    config_path: str
    clock: Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@contextmanager
def opened(invocation: Invocation) -> Iterator[Connection]:
    """Load the config and connect; any configuration problem exits 2 with one line."""
    try:
        settings = load_settings(invocation.config_path)
        conn = connect(settings, clock=invocation.clock)
    except ConfigFileError as exc:
        fail(str(exc))
    except RetryLaterError as exc:  # the store's database is down or refuses connections
        fail(f"{exc} (try again later)", EXIT_RETRY_LATER)
    try:
        yield conn
    except RetryLaterError as exc:
        fail(f"{exc} (try again later)", EXIT_RETRY_LATER)
    except ConnectorError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        conn.close()


@contextmanager
def opened_store(invocation: Invocation) -> Iterator[Store]:
    """Only the store: for commands that need no CRM access (and so no CRM secrets)."""
    try:
        store = Store.open(load_settings(invocation.config_path).store_url)
    except ConfigFileError as exc:
        fail(str(exc))
    except RetryLaterError as exc:  # the store's database is down or refuses connections
        fail(f"{exc} (try again later)", EXIT_RETRY_LATER)
    try:
        yield store
    finally:
        store.close()


@click.group()
@click.option(
    "--config",
    "config_path",
    envvar="ENGAGE_CONFIG",
    default="engage.toml",
    show_default=True,
    help="Configuration file (TOML). Secrets come from ENGAGE_ZOHO_* environment variables.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each step (secrets are masked).")
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Engagement health for outsourcing providers, kept current in your CRM."""
    global console, err_console
    # Made per invocation so that COLUMNS and the terminal in force now decide the width.
    console, err_console = Console(), Console(stderr=True)
    setup_logging(verbose)
    ctx.obj = Invocation(config_path, system_clock)


@contextmanager
def progress_reporter() -> Iterator[Callable[[str], None] | None]:
    """A live 'records read' line on a terminal; silent when output is piped."""
    if not console.is_terminal:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as bar:
        task = bar.add_task("starting…")

        def update(description: str) -> None:
            bar.update(task, description=description)

        yield update


def run_and_report(
    conn: Connection,
    job: Job,
    *,
    dry_run: bool = False,
    full: bool = False,
    recompute: bool = False,
) -> RunResult:
    try:
        with progress_reporter() as progress:
            result = run_job(
                conn, job, dry_run=dry_run, full=full, recompute=recompute, progress=progress
            )
    except JobAlreadyRunning as exc:
        fail(str(exc), EXIT_FAILED)
    print_result(result)
    return result


def exit_for(result: RunResult) -> None:
    if result.status == "stopped":
        sys.exit(EXIT_RETRY_LATER)
    if result.status in ("failed", "partial"):
        sys.exit(EXIT_FAILED)


def print_result(result: RunResult) -> None:
    table = Table(title=f"{result.job.value} #{result.run_id}: {result.status}", show_lines=False)
    table.add_column("step")
    table.add_column("figures")
    if result.sync:
        for kind, c in result.sync.kinds.items():
            why = (
                "not on a synced deal or account"
                if kind.startswith("activities.")
                else "by the mapping's filter"
            )
            table.add_row(
                f"sync {kind}",
                f"{c.read} read, {c.stored} stored, {c.skipped} skipped, {c.deleted} deleted"
                + (f", {c.filtered} left out {why}" if c.filtered else ""),
            )
    if result.score:
        table.add_row("score", f"{result.score.scored} scored, {result.score.changed} changed")
    if result.push:
        p = result.push
        verb = "would update" if p.dry_run else "updated"
        table.add_row(
            "push",
            f"{verb} {p.to_update if p.dry_run else p.written}, unchanged "
            f"{p.unchanged}, conflicts {p.conflicts}, refused {p.refused}"
            + (f", waiting to retry {p.deferred}" if p.deferred else "")
            + (f", quarantined {p.quarantined} (`engage retry`)" if p.quarantined else "")
            + (f", found written by an interrupted run {p.landed}" if p.landed else ""),
        )
    console.print(table)
    if result.message:
        err_console.print(f"{result.status}: {result.message}", markup=False)


@main.command()
@click.option("--full", is_flag=True, help="Re-read every record, not only the changed ones.")
@click.pass_obj
def sync(invocation: Invocation, full: bool) -> None:
    """Pull accounts, contacts and deals changed since the last sync.

    After the mapping changes, the next sync re-reads everything by itself.
    """
    with opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.SYNC, full=full))


@main.command()
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute every engagement and re-measure finished SLA items under today's policies.",
)
@click.pass_obj
def score(invocation: Invocation, recompute: bool) -> None:
    """Compute engagement health from the store (no CRM call); preview the push with `plan`.

    Only engagements whose deal, facts or settings changed are recomputed, unless --recompute.
    """
    with opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.SCORE, recompute=recompute))


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would change and its cost; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@click.pass_obj
def push(invocation: Invocation, dry_run: bool, as_json: bool) -> None:
    """Write changed health values into the CRM's custom fields."""
    with opened(invocation) as conn:
        if dry_run:
            show_plan(conn, as_json=as_json)
            return
        exit_for(run_and_report(conn, Job.PUSH))


@main.command("plan")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@click.pass_obj
def plan_command(invocation: Invocation, as_json: bool) -> None:
    """What a push would write (old -> new per field), and its cost in API calls and credits."""
    with opened(invocation) as conn:
        show_plan(conn, as_json=as_json)


def show_plan(conn: Connection, *, as_json: bool, limit: int = 40) -> None:
    priced = plan_with_cost(conn.client, conn.mapper, conn.store)
    planned = priced.plan
    if as_json:
        out = {
            "counts": planned.counts(),
            "cost": {
                "calls": priced.total_calls,
                "credits": priced.total_credits,
                "by_module": {m: {"calls": c, "credits": k} for m, (c, k) in priced.cost.items()},
                "planning_calls": priced.planning_calls,
            },
            "updates": [
                {
                    "module": p.module,
                    "id": p.record_id,
                    "changes": {k: {"old": o, "new": n} for k, (o, n) in p.changes.items()},
                }
                for p in planned.writes
            ],
            "conflicts": [c.__dict__ for c in planned.conflicts],
            "invalid": [i.__dict__ for i in planned.invalid],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    if planned.writes:
        table = Table(title=f"planned changes ({len(planned.writes)} records)")
        for column in ("module", "record", "field", "old", "new"):
            table.add_column(column, overflow="fold")
        for item in planned.writes[:limit]:
            for name, (old, new) in item.changes.items():
                table.add_row(item.module, item.record_id, name, _short(old), _short(new))
        console.print(table)
        if len(planned.writes) > limit:
            console.print(f"… and {len(planned.writes) - limit} more records (--json for all)")
    else:
        console.print("nothing to write: the CRM already holds every current value")
    for bad in planned.invalid[:limit]:
        console.print(
            f"invalid: {bad.module} {bad.record_id} {bad.field} = {_short(bad.value)}: "
            f"{bad.reason}",
            markup=False,
        )
    counts = planned.counts()
    console.print(
        f"update {counts['update']}, unchanged {counts['unchanged']}, "
        f"conflict {counts['conflict']}, invalid {counts['invalid']}"
    )
    by_module = ", ".join(f"{m}: {c} calls, {k} credits" for m, (c, k) in priced.cost.items())
    console.print(
        f"cost of the push: {priced.total_calls} API calls, {priced.total_credits} credits"
        + (f" ({by_module})" if by_module else "")
        + f"; this plan used {priced.planning_calls} metadata calls"
    )


@main.command()
@click.pass_obj
def run(invocation: Invocation) -> None:
    """Sync, score and push once."""
    with opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.RUN))


@main.command()
@click.option("--failed", is_flag=True, help="Only skipped records and rows not written.")
@click.option("--json", "as_json", is_flag=True, help="With --failed: every such row as JSON.")
@click.pass_obj
def status(invocation: Invocation, failed: bool, as_json: bool) -> None:
    """Last runs, credits used, skipped records and rows not written, with reasons."""
    if as_json and not failed:
        fail("--json goes with --failed")
    with opened_store(invocation) as store:
        if as_json:
            rows = Ledger(store).failed(limit=None)
            click.echo(
                json.dumps({"rows": [r.as_dict() for r in rows]}, ensure_ascii=False, indent=2)
            )
            return
        budget = load_settings(invocation.config_path).config.crm.credit_budget()
        print_status(store, failed=failed, budget=budget, now=invocation.clock())


@main.command()
@click.option("--all", "everything", is_flag=True, help="Re-queue every quarantined row.")
@click.argument("records", nargs=-1)
@click.pass_obj
def retry(invocation: Invocation, everything: bool, records: tuple[str, ...]) -> None:
    """Re-queue quarantined rows (after fixing their cause) for the next push."""
    if everything == bool(records):
        fail("name the records to re-queue, or pass --all")
    with opened_store(invocation) as store:
        count = Ledger(store).requeue(None if everything else list(records), invocation.clock())
    if records and count < len(set(records)):
        console.print(f"re-queued {count} of {len(set(records))}; the others are not quarantined")
    else:
        console.print(f"re-queued {count} quarantined row(s); the next push sends them")


def print_status(
    store: Store, *, failed: bool = False, budget: int | None = None, now: datetime | None = None
) -> None:
    if not failed:
        runs = Table(title="last runs")
        for column in ("#", "job", "started (UTC)", "status", "counts", "message"):
            runs.add_column(column, overflow="fold")
        for r in shown_runs(store, now or system_clock()):
            counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
            runs.add_row(
                str(r.id),
                r.job,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.status,
                counts,
                r.message or "",
            )
        console.print(runs)
        console.print(
            f"engagements {store.count('engagements')}, accounts {store.count('accounts')}, "
            f"contacts {store.count('contacts')}"
        )
        if now is not None:
            of = f" of the daily budget {budget}" if budget is not None else ""
            console.print(f"API credits used in the last 24 hours: {credits_used(store, now)}{of}")
            reported = crm_remaining(store)
            if reported is not None and now - reported.at <= CREDIT_WINDOW:
                console.print(
                    f"the CRM reported {reported.remaining} API credits left for the whole org "
                    f"at {reported.at.strftime('%Y-%m-%d %H:%M')} UTC (other integrations "
                    "spend them too)"
                )
    skips = Table(title=f"skipped records ({store.skip_count()})")
    for column in ("kind", "record", "reason"):
        skips.add_column(column, overflow="fold")
    for s in store.skips():
        skips.add_row(s.kind, s.record_id, s.reason)
    console.print(skips)
    conflicts = Table(
        title=f"conflicts: values people changed, left alone ({store.conflict_count()})"
    )
    for column in ("module", "record", "field", "in the CRM", "plugin wrote", "plugin wants"):
        conflicts.add_column(column, overflow="fold")
    for c in store.conflicts():
        conflicts.add_row(
            c.module,
            c.record_id,
            c.field,
            _short(c.crm_value),
            _short(c.written_value),
            _short(c.wanted_value),
        )
    console.print(conflicts)
    ledger = Ledger(store)
    by_status = ledger.counts()
    waiting = sum(by_status.get(s.value, 0) for s in FAILED_STATUSES)
    refused = Table(title=f"rows not written ({waiting}; `engage retry` re-queues quarantined)")
    for column in ("module", "record", "status", "code", "field", "tries", "next try", "message"):
        refused.add_column(column, overflow="fold")
    for row in ledger.failed():
        refused.add_row(
            row.module,
            row.record_id,
            row.status.value,
            row.crm_code or "",
            row.field or "",
            str(row.attempts),
            row.next_retry_at.strftime("%Y-%m-%d %H:%M") if row.next_retry_at else "",
            row.message or "",
        )
    console.print(refused)
    for module, name, message in missing_fields(store):
        console.print(f"FIELD_MISSING {module}.{name}: {message}", markup=False)


@main.command()
@click.argument("engagement_id")
@click.pass_obj
def trend(invocation: Invocation, engagement_id: str) -> None:
    """Every risk score computed for one engagement (deal id), oldest first, with the change."""
    with opened_store(invocation) as store:
        history = store.health_history(engagement_id)
    if not history:
        fail(f"no risk score recorded for {engagement_id}", EXIT_FAILED)
    table = Table(title=f"risk score history of {engagement_id}")
    for column in ("recorded (UTC)", "score", "change"):
        table.add_column(column)
    previous: int | None = None
    for recorded, value in history:
        change = "" if previous is None else f"{value - previous:+d}"
        table.add_row(recorded.strftime("%Y-%m-%d %H:%M"), str(value), change)
        previous = value
    console.print(table)
    first, last = history[0][1], history[-1][1]
    direction = "rising" if last > first else "falling" if last < first else "flat"
    console.print(f"trend: {direction} ({first} → {last} over {len(history)} computations)")


@main.group()
def mappings() -> None:
    """Check the mapping against the live CRM, or write a starter mapping."""


@mappings.command("check")
@click.option("--json", "as_json", is_flag=True, help="Problems as JSON.")
@click.pass_obj
def mappings_check(invocation: Invocation, as_json: bool) -> None:
    """List every problem of the mapping against the CRM's fields; exit 1 if any. Writes nothing."""
    with opened(invocation) as conn:
        problems = check(conn.client, conn.mapper.spec)
        mapping_path = conn.settings.mapping_path
    if as_json:
        click.echo(
            json.dumps(
                {"mapping": str(mapping_path), "problems": [p.as_dict() for p in problems]},
                ensure_ascii=False,
                indent=2,
            )
        )
    elif problems:
        table = Table(title=f"{len(problems)} problem(s) in {mapping_path}")
        for column in ("problem", "mapping key", "CRM field", "detail"):
            table.add_column(column, overflow="fold")
        for p in problems:
            table.add_row(
                p.kind.value, p.where, f"{p.module}.{p.field}" if p.field else p.module, p.detail
            )
        console.print(table)
    else:
        console.print(f"{mapping_path}: no problems; every field exists and fits")
    if problems:
        sys.exit(EXIT_FAILED)


@mappings.command("init")
@click.option("--crm", type=click.Choice(["zoho"]), default="zoho", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("mapping.toml"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def mappings_init(invocation: Invocation, crm: str, output: Path, force: bool) -> None:
    """Write a starter mapping from the CRM's field metadata, guessing the standard fields."""
    if output.exists() and not force:
        fail(f"{output} exists; pass --force to overwrite it")
    with opened(invocation) as conn:
        metadata = fetch_metadata(conn.client, ["Accounts", "Deals"])
    output.write_text(starter_mapping(metadata), encoding="utf-8")
    console.print(
        f"wrote {output}; review the lines marked `# guessed`, then set `mapping` in the config"
    )


@main.group()
def fields() -> None:
    """Manage the CRM custom fields the plugin writes."""


@fields.command("ensure")
@click.option("--dry-run", is_flag=True, help="Only list the fields that would be created.")
@click.pass_obj
def fields_ensure(invocation: Invocation, dry_run: bool) -> None:
    """Create the missing target custom fields (idempotent); record the CRM's API names."""
    with opened(invocation) as conn:
        result = ensure_fields(
            conn.client, conn.mapper.spec, conn.settings.mapping_path, dry_run=dry_run
        )
    if not result.actions:
        console.print("every target field exists; nothing to create")
        return
    table = Table(title="target fields " + ("to create" if dry_run else "created"))
    for column in ("module", "field", "type", "result"):
        table.add_column(column, overflow="fold")
    for a in result.actions:
        outcome = (
            "would create"
            if dry_run
            else (f"created as {a.api_name}" if a.created else a.error or "")
        )
        table.add_row(a.module, a.wanted_name, a.data_type, outcome)
    console.print(table)
    for old, new in result.renamed.items():
        console.print(f"the CRM named {old} {new}; {result.mapping_written} now says {new}")
    if result.renamed and result.mapping_written != conn.settings.mapping_path:
        console.print(
            f'the shipped mapping is not edited: set `mapping = "{result.mapping_written}"` '
            "under [crm] in your config"
        )
    if any(a.error for a in result.actions):
        sys.exit(EXIT_FAILED)


@main.command()
@click.pass_obj
def daemon(invocation: Invocation) -> None:
    """Run sync, score and push on the configured schedule until stopped (SIGTERM, Ctrl-C)."""
    from jobs.daemon import run_daemon

    with opened(invocation) as conn:
        minutes = conn.settings.config.schedule.run_every_minutes
        console.print(f"daemon started: a run every {minutes} min; Ctrl-C or SIGTERM stops it")
        run_daemon(conn, on_result=print_result)
        console.print("daemon stopped")


@main.command()
@click.option("--port", default=8765, show_default=True)
@click.option("--deals", default=300, show_default=True, help="Deals to seed.")
def sandbox(port: int, deals: int) -> None:
    """Start the sandbox CRM (a local imitation of Zoho CRM v8) until Ctrl-C."""
    from connector.sandbox import SANDBOX_BANNER, SandboxCRM

    crm = SandboxCRM(deals=deals)
    url = crm.start(port=port)
    console.print(f"[bold yellow]{SANDBOX_BANNER}[/]")
    console.print(f"listening on {url}")
    # The sandbox's credentials are public test values, not secrets: printing them is safe.
    console.print("Point a config at it (accounts_url = that URL) and set:")
    console.print(f"  export ENGAGE_ZOHO_CLIENT_ID={crm.client_id}")
    console.print(f"  export ENGAGE_ZOHO_CLIENT_SECRET={crm.client_secret}")
    console.print(f"  export ENGAGE_ZOHO_REFRESH_TOKEN={crm.refresh_token}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        crm.stop()


@main.command()
@click.option("--db", default="engage-demo.db", show_default=True, help="SQLite file (recreated).")
@click.option("--deals", default=300, show_default=True)
@click.option("--crm", "crm_kind", type=click.Choice(["zoho", "odoo"]), default="zoho")
@click.option(
    "--odoo-api",
    type=click.Choice(["json2", "jsonrpc", "xmlrpc"]),
    default="json2",
    show_default=True,
    help="With --crm odoo: the sandbox plays Odoo 19 (JSON-2) or Odoo 17 (JSON-RPC, XML-RPC).",
)
def demo(db: str, deals: int, crm_kind: str, odoo_api: str) -> None:
    """Start the sandbox CRM, run sync-score-push once, and read the values back from the CRM."""
    from jobs.demo import run_demo

    run_demo(
        Path(db),
        deals=deals,
        console=console,
        crm_kind=crm_kind,
        odoo_api=odoo_api,
    )


def _short(value: Any, limit: int = 60) -> str:
    text = "—" if value is None else str(value).replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


from jobs.cli_facts import import_command

main.add_command(import_command)

from jobs.cli_surveys import serve_command, surveys_group

main.add_command(surveys_group)
main.add_command(serve_command)
