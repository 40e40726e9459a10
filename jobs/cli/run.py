"""`engage sync|score|push|plan|run|status|retry|trend|daemon`: run a step once, or show where it stands."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from connector.errors import ConnectionSetupError
from jobs.admin.fields import (
    plan_with_cost,
)
from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.config import load_settings
from jobs.credits import credits_used, crm_credits_left
from jobs.push.ledger import FAILED_STATUSES, Ledger, missing_fields
from jobs.runner import (
    Connection,
    Job,
    JobAlreadyRunning,
    RunResult,
    connection_name,
    run_job,
    shown_runs,
)
from jobs.store import Store
from jobs.store.delivery import DeliveryTables
from jobs.store.runs import RunStatus


@contextmanager
def progress_reporter() -> Iterator[Callable[[str], None] | None]:
    """A live 'records read' line on a terminal; silent when output is piped."""
    if not context.console.is_terminal:
        yield None
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=context.console
    ) as bar:
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
        context.fail(str(exc), context.EXIT_FAILED)
    print_result(result)
    return result


def exit_for(result: RunResult) -> None:
    if result.status is RunStatus.STOPPED:
        sys.exit(context.EXIT_RETRY_LATER)
    if result.status is RunStatus.FAILED and isinstance(result.error, ConnectionSetupError):
        sys.exit(context.EXIT_CONFIG)
    if result.status in (RunStatus.FAILED, RunStatus.PARTIAL):
        sys.exit(context.EXIT_FAILED)


def print_result(result: RunResult) -> None:
    """The run's figures, or, for a run that stopped or failed, one line on stderr and nothing
    before it: what went wrong and what to do, with what was done before it in the same line.
    (The daemon logs one line per run instead: `summary_line`.)"""
    if result.status in (RunStatus.STOPPED, RunStatus.FAILED, RunStatus.INTERRUPTED):
        done = "" if result.status is RunStatus.INTERRUPTED else result.done_so_far()
        context.err_line(
            f"{result.job.value} #{result.run_id} {result.status}: {result.message}"
            + (f"; done before it: {done}" if done else ""),
            logging.ERROR if result.status is RunStatus.FAILED else logging.WARNING,
        )
        return
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
    for name, d in (result.delivery.sources if result.delivery else {}).items():
        table.add_row(
            f"delivery {name}",
            f"{d.projects} projects, {d.items_read} items and {d.releases_read} releases read, "
            f"{sum(d.changed.values())} facts changed, {d.skipped} skipped, {d.deleted} deleted"
            + (", failed" if d.error else ""),
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
    context.console.print(table)
    for line in result.sync.warnings if result.sync else []:
        context.err_line(f"warning: {line}")
    if result.message:
        context.err_line(f"{result.status}: {result.message}")


@click.command()
@click.option("--full", is_flag=True, help="Re-read every record, not only the changed ones.")
@click.option(
    "--sources", "delivery", is_flag=True, help="Pull the delivery sources (Jira...) instead."
)
@click.pass_obj
def sync(invocation: Invocation, full: bool, delivery: bool) -> None:
    """Pull accounts, contacts and deals changed since the last sync.

    After the mapping changes, the next sync re-reads everything by itself. With --sources:
    pull the delivery facts of the [sources.delivery.*] tools instead (`engage run` does both).
    """
    with context.opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.SOURCES if delivery else Job.SYNC, full=full))


@click.command()
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
    with context.opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.SCORE, recompute=recompute))


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would change and its cost; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@click.pass_obj
def push(invocation: Invocation, dry_run: bool, as_json: bool) -> None:
    """Write changed health values into the CRM's custom fields."""
    with context.opened(invocation, read_only=dry_run) as conn:
        if dry_run:
            show_plan(conn, as_json=as_json)
            return
        exit_for(run_and_report(conn, Job.PUSH))


@click.command("plan")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@click.pass_obj
def plan_command(invocation: Invocation, as_json: bool) -> None:
    """What a push would write (old -> new per field), and its cost in API calls and credits."""
    with context.opened(invocation, read_only=True) as conn:
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
        context.console.print(table)
        if len(planned.writes) > limit:
            context.console.print(
                f"… and {len(planned.writes) - limit} more records (--json for all)"
            )
    else:
        context.console.print("nothing to write: the CRM already holds every current value")
    for bad in planned.invalid[:limit]:
        context.console.print(
            f"invalid: {bad.module} {bad.record_id} {bad.field} = {_short(bad.value)}: "
            f"{bad.reason}",
            markup=False,
        )
    counts = planned.counts()
    context.console.print(
        f"update {counts['update']}, unchanged {counts['unchanged']}, "
        f"conflict {counts['conflict']}, invalid {counts['invalid']}"
    )
    by_module = ", ".join(f"{m}: {c} calls, {k} credits" for m, (c, k) in priced.cost.items())
    context.console.print(
        f"cost of the push: {priced.total_calls} API calls, {priced.total_credits} credits"
        + (f" ({by_module})" if by_module else "")
        + f"; this plan used {priced.planning_calls} metadata calls"
    )


@click.command()
@click.pass_obj
def run(invocation: Invocation) -> None:
    """Sync, score and push once."""
    with context.opened(invocation) as conn:
        exit_for(run_and_report(conn, Job.RUN))


@click.command()
@click.option("--failed", is_flag=True, help="Only skipped records and rows not written.")
@click.option("--json", "as_json", is_flag=True, help="With --failed: every such row as JSON.")
@click.option(
    "--all", "show_all", is_flag=True, help="List every skipped record, not the latest 50."
)
@click.pass_obj
def status(invocation: Invocation, failed: bool, as_json: bool, show_all: bool) -> None:
    """Last runs, credits used, skipped records and rows not written, with reasons."""
    if as_json and not failed:
        context.fail("--json goes with --failed")
    with context.opened_store(invocation, read_only=True) as store:
        if as_json:
            rows = Ledger(store).failed(limit=None)
            click.echo(
                json.dumps({"rows": [r.as_dict() for r in rows]}, ensure_ascii=False, indent=2)
            )
            return
        config = load_settings(invocation.config_path).config
        now = invocation.clock()
        print_status(
            store, failed=failed, budget=config.crm.credit_budget(), now=now, all_skips=show_all
        )
        if not failed:
            # SLA windows reach into next year: say now when a tier's holiday data runs out.
            for name, policy in config.sla.tiers.items():
                for year in (now.year, now.year + 1):
                    for note in policy.working_calendar().data_notes(year):
                        context.console.print(f"calendar of SLA tier {name!r}: {note}")


@click.command()
@click.option("--all", "everything", is_flag=True, help="Re-queue every quarantined row.")
@click.argument("records", nargs=-1)
@click.pass_obj
def retry(invocation: Invocation, everything: bool, records: tuple[str, ...]) -> None:
    """Re-queue quarantined rows (after fixing their cause) for the next push."""
    if everything == bool(records):
        context.fail("name the records to re-queue, or pass --all")
    with context.opened_store(invocation) as store:
        count = Ledger(store).requeue(None if everything else list(records), invocation.clock())
    if records and count < len(set(records)):
        context.console.print(
            f"re-queued {count} of {len(set(records))}; the others are not quarantined"
        )
    else:
        context.console.print(f"re-queued {count} quarantined row(s); the next push sends them")


#: Skipped records `engage status` lists without `--all` (the latest first).
SKIPS_SHOWN = 50


def print_delivery_projects(store: Store) -> None:
    """The delivery sources' projects that are not linked, and why (nothing when all are)."""
    unlinked = [p for p in DeliveryTables(store.engine).projects() if p.engagement_id is None]
    if not unlinked:
        return
    table = Table(title=f"delivery projects not linked to an engagement ({len(unlinked)})")
    for column in ("source", "project", "why"):
        table.add_column(column, overflow="fold")
    for p in unlinked:
        table.add_row(p.source, p.project_key, p.problem or "")
    context.console.print(table)


def print_status(
    store: Store,
    *,
    failed: bool = False,
    budget: int | None = None,
    now: datetime | None = None,
    all_skips: bool = False,
) -> None:
    """What `engage status` prints: runs, what was read and written, skips, refused rows,
    conflicts, credits. Long because it is one screen laid out top to bottom; each block is a
    few lines of table."""
    if not failed:
        runs = Table(title="last runs")
        for column in ("#", "job", "started (UTC)", "status", "counts", "message"):
            runs.add_column(column, overflow="fold")
        for r in shown_runs(store, now or context.system_clock()):
            counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
            runs.add_row(
                str(r.id),
                r.job,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.status,
                counts,
                r.message or "",
            )
        context.console.print(runs)
        context.console.print(
            f"engagements {store.count('engagements')}, accounts {store.count('accounts')}, "
            f"contacts {store.count('contacts')}"
        )
        if now is not None:
            of = f" of the daily budget {budget}" if budget is not None else ""
            context.console.print(
                f"API credits used in the last 24 hours: {credits_used(store, now)}{of} "
                "(every call counted: reads, metadata, field creation, writes)"
            )
            crm = crm_credits_left(store, now)
            if crm is not None:
                age = max(0, int((now - crm.reported.at).total_seconds() // 60))
                context.console.print(
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
    context.console.print(skips)
    print_delivery_projects(store)
    if len(shown) < skipped:
        context.console.print(
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
    context.console.print(conflicts)
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
    context.console.print(refused)
    for module, name, message in missing_fields(store):
        context.console.print(f"FIELD_MISSING {module}.{name}: {message}", markup=False)


@click.command()
@click.argument("engagement_id")
@click.pass_obj
def trend(invocation: Invocation, engagement_id: str) -> None:
    """Every risk score computed for one engagement (deal id), oldest first, with the change."""
    with context.opened_store(invocation, read_only=True) as store:
        history = store.health_history(engagement_id)
    if not history:
        context.fail(f"no risk score recorded for {engagement_id}", context.EXIT_FAILED)
    table = Table(title=f"risk score history of {engagement_id}")
    for column in ("recorded (UTC)", "score", "change"):
        table.add_column(column)
    previous: int | None = None
    for recorded, value in history:
        change = "" if previous is None else f"{value - previous:+d}"
        table.add_row(recorded.strftime("%Y-%m-%d %H:%M"), str(value), change)
        previous = value
    context.console.print(table)
    first, last = history[0][1], history[-1][1]
    direction = "rising" if last > first else "falling" if last < first else "flat"
    context.console.print(f"trend: {direction} ({first} → {last} over {len(history)} computations)")


@click.command()
@click.pass_obj
def daemon(invocation: Invocation) -> None:
    """Run sync, score and push on the configured schedule until stopped (SIGTERM, Ctrl-C).

    The first signal lets the run in progress stop at a safe point (records it "interrupted");
    a second one, or the end of [daemon] stop_grace_seconds, stops at once."""
    from jobs.cli.db import upgrade_and_say
    from jobs.daemon import run_daemon

    upgrade_and_say(invocation, "the daemon upgrades the store when it starts")
    with context.opened(invocation) as conn:
        minutes = conn.settings.config.schedule.run_every_minutes
        context.console.print(
            f"daemon started: a run every {minutes} min; Ctrl-C or SIGTERM stops it"
        )
        run_daemon(conn, on_result=lambda r: summary_line(r, connection_name(conn.settings)))
        context.console.print("daemon stopped")


def summary_line(result: RunResult, connection: str) -> None:
    """The daemon's account of one run: one line (a log line, with the run's id and
    timestamp), not the table of the interactive commands."""
    took = (
        f" (started {result.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, took "
        f"{result.seconds:.1f} s)"
        if result.started_at is not None and result.seconds is not None
        else ""
    )
    counts = ", ".join(f"{k} {v}" for k, v in result.counts().items())
    level = logging.ERROR if result.status is RunStatus.FAILED else logging.WARNING
    if result.status in (RunStatus.OK, RunStatus.INTERRUPTED):
        level = logging.INFO
    # Logged at INFO for a run that went well: the daemon shows its INFO lines (jobs/daemon.py).
    logging.getLogger("jobs.daemon").log(
        level,
        "%s #%d %s%s: %s%s",
        result.job.value,
        result.run_id,
        result.status,
        took,
        counts or "nothing done",
        f"; {result.message}" if result.message else "",
        extra={"run_id": result.run_id, "connection": connection, "step": "summary"},
    )


#: Where `engage sandbox` listens unless told: not `engage serve`'s 8765 (the survey page), so


def _short(value: Any, limit: int = 60) -> str:
    text = "—" if value is None else str(value).replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
