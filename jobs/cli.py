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

from connector.errors import ConnectionSetupError, ConnectorError, RetryLaterError
from connector.redact import RedactingFilter
from jobs.admin import (
    check_finding_labels,
    ensure_fields,
    fetch_metadata,
    mapped_modules,
    plan_with_cost,
    rename_in_mapping,
    starter_mapping,
)
from jobs.config import SECRET_ENV, load_settings
from jobs.credits import credits_used, crm_credits_left
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
from jobs.source_probe import forget_probe
from jobs.store import Store
from mappings.spec import default_mapping_path, load_mapping
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
    except ConnectionSetupError as exc:
        fail(str(exc), EXIT_CONFIG)
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
    if result.status == "failed" and isinstance(result.error, ConnectionSetupError):
        sys.exit(EXIT_CONFIG)
    if result.status in ("failed", "partial"):
        sys.exit(EXIT_FAILED)


def print_result(result: RunResult, *, timed: bool = False) -> None:
    """The run's figures, or, for a run that stopped or failed, one line on stderr and nothing
    before it: what went wrong and what to do, with what was done before it in the same line.
    ``timed`` (the daemon) puts the run's start time and duration first."""
    when = ""
    if timed and result.started_at is not None:
        took = f", took {result.seconds:.1f} s" if result.seconds is not None else ""
        when = f"started {result.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC{took}"
    if result.status in ("stopped", "failed"):
        done = _done_so_far(result)
        err_console.print(
            f"{result.job.value} #{result.run_id} {result.status}"
            + (f" ({when})" if when else "")
            + f": {result.message}"
            + (f"; done before it: {done}" if done else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    if when:
        console.print(
            f"{result.job.value} #{result.run_id} {when}: {result.status}",
            markup=False,
            soft_wrap=True,
        )
    table = Table(title=f"{result.job.value} #{result.run_id}: {result.status}", show_lines=False)
    table.add_column("step")
    table.add_column("figures")
    if result.sync:
        for kind, c in result.sync.kinds.items():
            if c.not_read:
                table.add_row(f"sync {kind}", f"not read: {c.not_read} (optional)")
                continue
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
    for line in result.sync.warnings if result.sync else []:
        err_console.print(f"warning: {line}", markup=False)
    if result.message:
        err_console.print(f"{result.status}: {result.message}", markup=False)


def _done_so_far(result: RunResult) -> str:
    """What a stopped run did before it stopped, in a few words (empty if nothing)."""
    parts = []
    if result.sync:
        read = sum(c.read for c in result.sync.kinds.values())
        stored = sum(c.stored for c in result.sync.kinds.values())
        if read or stored:
            parts.append(f"{read} records read, {stored} stored")
    if result.score and result.score.scored:
        parts.append(f"{result.score.scored} scored")
    if result.push and result.push.written:
        parts.append(f"{result.push.written} written to the CRM")
    return ", ".join(parts)


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
@click.option(
    "--all", "show_all", is_flag=True, help="List every skipped record, not the latest 50."
)
@click.pass_obj
def status(invocation: Invocation, failed: bool, as_json: bool, show_all: bool) -> None:
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
        print_status(
            store, failed=failed, budget=budget, now=invocation.clock(), all_skips=show_all
        )


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


#: Skipped records `engage status` lists without `--all` (the latest first).
SKIPS_SHOWN = 50


def print_status(
    store: Store,
    *,
    failed: bool = False,
    budget: int | None = None,
    now: datetime | None = None,
    all_skips: bool = False,
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
            console.print(
                f"API credits used in the last 24 hours: {credits_used(store, now)}{of} "
                "(every call counted: reads, metadata, field creation, writes)"
            )
            crm = crm_credits_left(store, now)
            if crm is not None:
                age = max(0, int((now - crm.reported.at).total_seconds() // 60))
                console.print(
                    f"the CRM reported {crm.reported.remaining} API credits left for the whole "
                    f"org at {crm.reported.at.strftime('%Y-%m-%d %H:%M')} UTC ({age} min ago); "
                    f"this connection spent {crm.spent_since} since: {crm.left} left (other "
                    "integrations of the org spend them too)"
                )
    skipped = store.skip_count()
    shown = store.skips(limit=None if all_skips else SKIPS_SHOWN)
    skips = Table(title=f"skipped records ({skipped})")
    for column in ("kind", "record", "reason"):
        skips.add_column(column, overflow="fold")
    for s in shown:
        skips.add_row(s.kind, s.record_id, s.reason)
    console.print(skips)
    if len(shown) < skipped:
        console.print(
            f"{skipped} skipped records; the latest {len(shown)} are listed above: "
            "`engage status --all` lists all of them"
        )
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
    """List every problem of the mapping against the CRM's fields; exit 1 if any.

    Writes nothing, except where target fields are found by their label under other API names
    (Fxiaoke's field_xxxxx__c): then a copy of the mapping with those names."""
    with opened(invocation) as conn:
        found, by_label = check_finding_labels(conn.client, conn.mapper.spec)
        mapping_path = conn.settings.mapping_path
    if by_label:
        written = rename_in_mapping(mapping_path, by_label)
        for old, new in by_label.items():
            console.print(f"found by its label: {old} is {new} in the CRM", markup=False)
        console.print(f"{written} names them; point `mapping` under [crm] at it", markup=False)
    problems = [p for p in found if not p.warning]
    warnings = [p for p in found if p.warning]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "mapping": str(mapping_path),
                    "problems": [p.as_dict() for p in problems],
                    "warnings": [p.as_dict() for p in warnings],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for title, rows in (
            (f"{len(problems)} problem(s) in {mapping_path}", problems),
            (
                f"{len(warnings)} warning(s): optional sources the CRM lacks, fields to create",
                warnings,
            ),
        ):
            if not rows:
                continue
            table = Table(title=title)
            for column in ("problem", "mapping key", "CRM field", "detail"):
                table.add_column(column, overflow="fold")
            for p in rows:
                table.add_row(
                    p.kind.value,
                    p.where,
                    f"{p.module}.{p.field}" if p.field else p.module,
                    p.detail,
                )
            console.print(table)
        if not problems and warnings:
            console.print(f"{mapping_path}: no problems; {len(warnings)} warning(s) above")
        elif not problems:
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
        # Every module of the shipped mapping: the ones the CRM refuses are left out of the
        # starter (commented, with what they would add).
        modules = mapped_modules(load_mapping(default_mapping_path(crm)))
        metadata = fetch_metadata(conn.client, modules)
        settings = conn.settings
    output.write_text(starter_mapping(metadata), encoding="utf-8")
    if settings.config.crm.mapping is None and point_config_at(settings.path, output):
        console.print(
            f"wrote {output} and set `mapping` under [crm] in {settings.path} to it; "
            "review the lines marked `# guessed`"
        )
    else:
        console.print(
            f"wrote {output}; review the lines marked `# guessed`, then set `mapping` in the config"
        )


def point_config_at(config_path: Path, mapping: Path) -> bool:
    """Add `mapping = "…"` under [crm] of a config that names no mapping (it used the shipped
    default, which the starter replaces). False when the file has no plain [crm] line."""
    lines = config_path.read_text(encoding="utf-8").splitlines()
    if "[crm]" not in (line.strip() for line in lines):
        return False
    header = next(i for i, line in enumerate(lines) if line.strip() == "[crm]")
    target = mapping.resolve()
    try:
        shown = str(target.relative_to(config_path.resolve().parent))
    except ValueError:
        shown = str(target)
    lines.insert(header + 1, f"mapping = {json.dumps(shown)}")
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


@main.group()
def fields() -> None:
    """Manage the CRM custom fields the plugin writes."""


@fields.command("ensure")
@click.option("--dry-run", is_flag=True, help="Only list the fields that would be created.")
@click.option(
    "--sources",
    is_flag=True,
    help="Also create the recommended deal source fields the CRM lacks "
    "(contract end, engagement start, billing model, SLA tier).",
)
@click.pass_obj
def fields_ensure(invocation: Invocation, dry_run: bool, sources: bool) -> None:
    """Create the missing target custom fields (idempotent); record the CRM's API names."""
    with opened(invocation) as conn:
        result = ensure_fields(
            conn.client,
            conn.mapper.spec,
            conn.settings.mapping_path,
            dry_run=dry_run,
            sources=sources,
        )
        if any(a.created for a in result.actions if a.source):
            forget_probe(conn.store)  # the next sync reads the new source fields
    for a in result.missing_sources:
        console.print(
            f"source field {a.module}.{a.wanted_name} ({a.output}) does not exist and was not "
            "created: it is read as empty; `engage fields ensure --sources` creates it",
            markup=False,
        )
    if not result.actions:
        what = "every target field exists" if not sources else "every field exists"
        console.print(f"{what}; nothing to create")
        return
    kinds = "target and source fields " if sources else "target fields "
    table = Table(title=kinds + ("to create" if dry_run else "created"))
    for column in ("module", "field", "type", "result"):
        table.add_column(column, overflow="fold")
    for a in result.actions:
        outcome = (
            "would create"
            if dry_run
            else (f"created as {a.api_name}" if a.created else a.error or "")
        )
        table.add_row(
            a.module, a.wanted_name + (" (source)" if a.source else ""), a.data_type, outcome
        )
    console.print(table)
    if result.mapping_written is not None and not result.renamed:
        console.print(f"{result.mapping_written} now maps the new source fields")
    for old, new in result.renamed.items():
        console.print(f"the CRM named {old} {new}; {result.mapping_written} now says {new}")
    if result.mapping_written is not None and result.mapping_written != conn.settings.mapping_path:
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
        run_daemon(conn, on_result=lambda result: print_result(result, timed=True))
        console.print("daemon stopped")


#: Where `engage sandbox` listens unless told: not `engage serve`'s 8765 (the survey page), so
#: both run side by side in a demo.
SANDBOX_PORT = 8766


@main.command()
@click.option("--crm", "crm_kind", type=click.Choice(["zoho", "odoo", "fxiaoke"]), default="zoho")
@click.option(
    "--odoo-version",
    type=click.Choice(["16", "17", "18", "19"]),
    default="19",
    show_default=True,
    help="With --crm odoo: the Odoo release the sandbox plays.",
)
@click.option("--port", default=SANDBOX_PORT, show_default=True, help="0: any free port.")
@click.option("--deals", default=300, show_default=True, help="Deals to seed.")
@click.option(
    "--org",
    type=click.Choice(["default", "standard"]),
    default="default",
    show_default=True,
    help="Zoho: standard = only Zoho's standard modules and fields (no Calls/Events, no custom fields).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON line (URL, database, login, credentials) once listening.",
)
def sandbox(
    crm_kind: str, odoo_version: str, port: int, deals: int, org: str, as_json: bool
) -> None:
    """Start a sandbox CRM (a local imitation of Zoho CRM v8, Odoo or Fxiaoke) until Ctrl-C."""
    import signal

    from connector.sandbox import SANDBOX_BANNER
    from connector.sandbox.serving import ServedOnThread

    crm: ServedOnThread
    try:
        crm, details = _start_sandbox(crm_kind, int(odoo_version), port, deals, org)
    except OSError as exc:
        fail(f"cannot listen on port {port}: {exc.strerror or exc}; choose another with --port")
    # The sandboxes' credentials are public test values, not secrets: printing them is safe.
    banner = details.pop("banner", SANDBOX_BANNER)
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False))
        sys.stdout.flush()
    else:
        console.print(f"[bold yellow]{banner}[/]")
        console.print(f"listening on {details['url']}")
        if crm_kind == "zoho":
            console.print("Point a config at it (accounts_url = that URL) and set:")
        elif crm_kind == "fxiaoke":
            console.print(
                f'[crm.fxiaoke] base_url = that URL, app_id = "{details["app_id"]}", '
                f'admin_mobile = "{details["admin_mobile"]}"; set:',
                markup=False,
            )
        else:
            console.print(f"Database {details['database']}, login {details['login']}; set:")
        for name, value in details["env"].items():
            console.print(f"  export {name}={value}")

    def stop_on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        crm.stop()


def _start_sandbox(
    crm_kind: str, odoo_version: int, port: int, deals: int, org: str = "default"
) -> tuple[Any, dict[str, Any]]:
    """Start the chosen sandbox on ``port``; returns it and what a script needs to use it."""
    if crm_kind == "zoho":
        from connector.sandbox import SandboxCRM

        zoho = SandboxCRM(deals=deals, org="standard" if org == "standard" else "default")
        url = zoho.start(port=port)
        return zoho, {
            "crm": "zoho",
            "sandbox": True,
            "url": url,
            "accounts_url": url,
            "api_domain": url,
            "database": None,
            "login": zoho.api_user["email"],
            "credentials": {
                "client_id": zoho.client_id,
                "client_secret": zoho.client_secret,
                "refresh_token": zoho.refresh_token,
            },
            # Sandbox only: POST {"days": 1} there moves the sandbox's clock (credits, tokens).
            "clock_url": f"{url}/__sandbox__/clock",
            "env": {
                SECRET_ENV["client_id"]: zoho.client_id,
                SECRET_ENV["client_secret"]: zoho.client_secret,
                SECRET_ENV["refresh_token"]: zoho.refresh_token,
            },
        }
    if crm_kind == "fxiaoke":
        from jobs.demo_fxiaoke import fxiaoke_sandbox_details

        return fxiaoke_sandbox_details(deals, port)
    from connector.sandbox.odoo_server import OdooSandbox

    odoo = OdooSandbox(deals=deals, version=odoo_version)
    url = odoo.start(port=port)
    return odoo, {
        "crm": "odoo",
        "sandbox": True,
        "version": odoo_version,
        "url": url,
        "database": odoo.database,
        "login": odoo.login,
        "credentials": {"api_key": odoo.api_key, "password": odoo.api_key},
        "env": {SECRET_ENV["api_key"]: odoo.api_key},
        "banner": f"SANDBOX ODOO {odoo_version} — a local imitation of Odoo for demos and "
        "tests. Not a real CRM.",
    }


@main.command()
@click.option("--db", default="engage-demo.db", show_default=True, help="SQLite file (recreated).")
@click.option("--deals", default=300, show_default=True)
@click.option("--crm", "crm_kind", type=click.Choice(["zoho", "odoo", "fxiaoke"]), default="zoho")
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
