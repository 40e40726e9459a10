"""`engage surveys plan|send|followups|status|retry` and `engage serve` (the response page).

Everything printed that came from outside (names, comments, a mail server's or CRM's reply)
goes through ``jobs.outside_text.for_terminal``: no escape sequence reaches the terminal.

Secrets: ENGAGE_SURVEY_SECRET signs the links (send and serve need the same one);
ENGAGE_SMTP_PASSWORD is the mail server's password when ``surveys.smtp.username`` is set.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from jobs.cli import context
from jobs.config import Settings, load_settings
from jobs.outside_text import for_terminal
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SMTP_PASSWORD_ENV
from jobs.surveys.followups import create_followups
from jobs.surveys.mail import opened_email_channel
from jobs.surveys.outbox import Channel, OutboxReport, state_counts
from jobs.surveys.results import results_by_engagement
from jobs.surveys.steps import plan_step, send_step
from jobs.surveys.tokens import MissingSecret, survey_secret
from mappings.tomlfile import ConfigFileError

if TYPE_CHECKING:
    from jobs.cli.context import Invocation


def _settings(invocation: Invocation) -> Settings:

    try:
        return load_settings(invocation.config_path)
    except ConfigFileError as exc:
        context.fail(str(exc))


def _secret() -> str:

    try:
        return survey_secret(os.environ)
    except MissingSecret as exc:
        context.fail(str(exc))


@click.group("surveys")
def surveys_group() -> None:
    """Satisfaction surveys: plan invitations, send them, follow up unhappy answers."""


@surveys_group.command("plan")
@click.option("--dry-run", is_flag=True, help="Show what would be planned; store nothing.")
@click.pass_obj
def plan_command(invocation: Invocation, dry_run: bool) -> None:
    """Plan the invitations due now; list every one the fatigue rules held back, and why."""

    settings = _settings(invocation)
    # A dry run only reads: it never migrates the store (like `engage status`).
    with context.opened_store(invocation, read_only=dry_run) as store:
        plan, added = plan_step(
            store, settings.config.surveys, now=invocation.clock(), dry_run=dry_run
        )
    if plan.suppressions:
        table = Table(title=f"{len(plan.suppressions)} invitation(s) held back")
        for column in ("wave", "contact", "rule", "reason"):
            table.add_column(column, overflow="fold")
        for s in plan.suppressions:
            table.add_row(
                Text(for_terminal(s.wave_key)),
                Text(for_terminal(s.contact_id)),
                s.rule,
                Text(for_terminal(s.reason)),
            )
        context.console.print(table)
    verb = "would plan" if dry_run else "planned"
    count = len(plan.invitations) if dry_run else added
    context.console.print(
        f"{verb} {count} invitation(s), held back {len(plan.suppressions)}",
        markup=False,
        highlight=False,
    )


@surveys_group.command("send")
@click.pass_obj
def send_command(invocation: Invocation) -> None:
    """Send planned invitations and due reminders (each at most once; see docs/surveys.md)."""

    settings = _settings(invocation)
    config = settings.config.surveys
    secret = _secret()
    if config.channel == "crm":
        from jobs.surveys.crm_channel import CrmChannel

        with context.opened(invocation) as conn:
            spec = conn.mapper.spec
            contacts = spec.sources.contacts
            channel: Channel = CrmChannel(
                conn.client,
                {e.crm_id: e for e in conn.store.engagements()},
                contacts_module=contacts.module if contacts else "Contacts",
                deals_module=spec.targets.engagements.module,
                link_field=config.crm_link_field,
            )
            report = send_step(conn.store, config, channel, secret=secret, now=invocation.clock())
    else:
        if config.smtp.username and not os.environ.get(SMTP_PASSWORD_ENV):
            context.fail(
                f"{settings.path}: surveys.smtp.username is set: set the environment variable "
                f"{SMTP_PASSWORD_ENV} to its password"
            )
        password = os.environ.get(SMTP_PASSWORD_ENV)
        with (
            context.opened_store(invocation) as store,
            opened_email_channel(config, password, settings.words) as email,
        ):
            report = send_step(store, config, email, secret=secret, now=invocation.clock())
    _print_outbox(report)
    if report.failed or report.uncertain:
        sys.exit(context.EXIT_FAILED)
    if report.stopped or report.requeued:
        # Work is left for a later run, and the lines above say why.
        sys.exit(context.EXIT_RETRY_LATER)


def _say(line: str) -> None:

    context.console.print(for_terminal(line), markup=False, highlight=False, soft_wrap=True)


def _print_outbox(report: OutboxReport) -> None:
    if report.quiet_day:
        _say("today is a quiet day: nothing sent")
    _say(
        f"sent {report.sent}, reminders {report.reminded}, deferred {report.deferred}, "
        f"failed {len(report.failed)}, uncertain {len(report.uncertain)}"
    )
    if report.stopped:
        _say(
            f"stopped: {report.stopped}. Nothing is lost: the invitations stay in the queue "
            "and the next run tries again (exit 75)"
        )
    shown = [r for r in report.requeued if r[2] is not None][:20]
    for invitation_id, reason, retry_at in shown:
        _say(f"deferred {invitation_id}: {reason}; next try from {retry_at:%Y-%m-%d %H:%M} UTC")
    for invitation_id, reason in report.failed:
        _say(f"failed {invitation_id}: {reason} (`engage surveys retry {invitation_id}` re-queues)")
    for invitation in report.uncertain:
        _say(
            f"uncertain {invitation.id} (contact {invitation.contact_id}, wave "
            f"{invitation.wave_key}): a send was interrupted; it may have been delivered. "
            "Not resent automatically: check the mail log for Message-ID "
            f"<{invitation.id}@…>."
        )


@surveys_group.command("followups")
@click.pass_obj
def followups_command(invocation: Invocation) -> None:
    """Create one follow-up Task for the owner of each detractor or low-CSAT answer."""

    with context.opened(invocation) as conn:
        report = create_followups(
            conn.client,
            SurveyStore(conn.store.engine),
            {e.crm_id: e for e in conn.store.engagements()},
            module=conn.mapper.spec.targets.engagements.module,
            now=invocation.clock(),
        )
    _say(f"created {report.created} follow-up task(s), failed {len(report.failed)}")
    for key, reason in report.failed:
        _say(f"failed {key}: {reason}")
    if report.waiting:
        _say(
            f"{report.waiting} follow-up(s) wait after the CRM refused the connection: "
            "the next run tries again (`engage surveys status` shows when)"
        )
    if report.failed:
        sys.exit(context.EXIT_FAILED)
    if report.waiting:
        sys.exit(context.EXIT_RETRY_LATER)


@surveys_group.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every failed or uncertain one.")
@click.pass_obj
def retry_command(invocation: Invocation, ids: tuple[str, ...], everything: bool) -> None:
    """Re-queue failed or uncertain invitations (by id) or follow-ups (survey-followup:<id>).

    An uncertain one may have reached the person (or the CRM): check first, as
    `engage surveys status` says. The next `surveys send` / `surveys followups` takes them.
    """

    if everything == bool(ids):
        context.fail("give the ids to re-queue (see `engage surveys status`) or --all, not both")
    with context.opened_store(invocation) as store:
        surveys = SurveyStore(store.engine)
        wanted = None if everything else list(ids)
        invitations = surveys.retry(wanted)
        followups = surveys.requeue_followups(wanted)
    unknown = sorted(set(ids) - set(invitations) - set(followups))
    _say(f"re-queued {len(invitations)} invitation(s), {len(followups)} follow-up(s)")
    for name in unknown:
        _say(f"not re-queued {name}: no failed or uncertain invitation or follow-up has this id")
    if unknown:
        sys.exit(context.EXIT_FAILED)


@surveys_group.command("status")
@click.pass_obj
def status_command(invocation: Invocation) -> None:
    """Invitations by state, results per engagement, interrupted sends and follow-ups."""

    settings = _settings(invocation)
    now = invocation.clock()
    with context.opened_store(invocation) as store:
        surveys = SurveyStore(store.engine)
        counts = state_counts(surveys, now)
        responses = surveys.responses()
        results = results_by_engagement(
            responses, surveys.sent_counts(), settings.config.surveys.role_weights
        )
        followups = surveys.followups()
        invitations = surveys.invitations()
        uncertain = [i for i in invitations if i.state == "sending"]
        failed = [i for i in invitations if i.state == "failed"]
    console = context.console
    _say("invitations: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    if results:
        table = Table(title="results")
        for column in ("engagement", "NPS", "CSAT", "CSAT ≥4", "answers", "response rate"):
            table.add_column(column)
        for result in results.values():
            table.add_row(
                Text(for_terminal(result.engagement_id)),
                "—" if result.nps is None else str(result.nps),
                "—" if result.csat_mean is None else f"{result.csat_mean:.2f}",
                "—" if result.csat_share_4_plus is None else f"{result.csat_share_4_plus:.0%}",
                str(result.responses),
                "—" if result.response_rate is None else f"{result.response_rate:.0%}",
            )
        console.print(table)
    comments = [r for r in responses if r.comment]
    for r in comments[-20:]:
        # Text, never markup: a comment is whatever the respondent typed.
        _say(f"comment on {r.engagement_id}: {r.comment}")
    for invitation in uncertain:
        _say(
            f"uncertain send {invitation.id} to contact {invitation.contact_id}: check before "
            f"resending (`engage surveys retry {invitation.id}`)"
        )
    for invitation in failed[-20:]:
        _say(
            f"failed {invitation.id} (contact {invitation.contact_id}): {invitation.message} "
            f"(`engage surveys retry {invitation.id}` re-queues)"
        )
    for f in followups:
        if f["state"] == "retry":
            when = f"{f['retry_at']:%Y-%m-%d %H:%M} UTC" if f["retry_at"] else "the next run"
            _say(
                f"follow-up {f['key']} retry ({f['attempts']} attempt(s)): {f['message']}; "
                f"next try from {when}"
            )
        elif f["state"] != "created":
            _say(
                f"follow-up {f['key']} {f['state']}: {f['message'] or 'interrupted; check the CRM'}"
            )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.pass_obj
def serve_command(invocation: Invocation, host: str, port: int) -> None:
    """Serve the survey response page (links from `engage surveys send` point here) and the
    portfolio report at /report (links from `engage report link`)."""
    from jobs.report.web import report_route
    from jobs.surveys.serving import serve
    from jobs.surveys.web import create_app

    settings = _settings(invocation)
    secret = _secret()
    # The same opening as every store-only command: a store that is down is exit 75, one line.
    with context.opened_store(invocation) as store:
        report = report_route(store, secret=secret, clock=invocation.clock, words=settings.words)
        app = create_app(
            SurveyStore(store.engine),
            settings.config.surveys,
            secret=secret,
            clock=invocation.clock,
            words=settings.words,
            extra_routes=[report],
        )
        serve(app, settings.config.surveys.serve, host=host, port=port)
