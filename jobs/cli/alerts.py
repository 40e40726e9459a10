"""`engage alerts test|plan|send|status|retry|enable`: alerts to Slack, Teams and e-mail.

Webhook URLs come from the environment variables the routes name (``url_env``); nothing
printed here contains one. Everything printed that came from outside (names, a service's
reply) goes through ``jobs.outside_text.for_terminal``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import click

from connector.redact import redact
from jobs.alerts.delivery import DeliveryError
from jobs.alerts.outbox import SendReport
from jobs.alerts.render import sample_view
from jobs.alerts.steps import opened_channels, plan_step, send_step
from jobs.cli import context
from jobs.config import Settings, load_settings
from jobs.outside_text import for_terminal
from jobs.store.alerts import FAILED, PLANNED, SENDING, AlertStore

if TYPE_CHECKING:
    from jobs.cli.context import Invocation


def _settings(invocation: Invocation) -> Settings:
    with context.refusing_setup_errors():  # a bad file: one line naming file and key, exit 2
        settings = load_settings(invocation.config_path)
    return settings


def _say(line: str) -> None:
    context.console.print(for_terminal(redact(line)), markup=False, highlight=False, soft_wrap=True)


@click.group("alerts")
def alerts_group() -> None:
    """Alerts when an engagement turns, and the weekly digest (docs/alerts.md)."""


@alerts_group.command("test")
@click.argument("route")
@click.pass_obj
def test_command(invocation: Invocation, route: str) -> None:
    """Send a sample message to ROUTE (nothing is recorded)."""
    settings = _settings(invocation)
    config = settings.config.alerts
    if route not in config.routes:
        known = ", ".join(sorted(config.routes)) or "none configured"
        context.fail(f"no route {route!r} in [alerts.routes] (routes: {known})")
    now = invocation.clock()
    with opened_channels(settings, now=now, only=route) as channels:
        channel = channels[route]
        if isinstance(channel, str):
            context.fail(channel)
        try:
            channel.deliver(sample_view(route, config.routes[route].language, settings.words))
        except DeliveryError as exc:
            context.fail(redact(str(exc)), context.EXIT_FAILED)
    _say(f"sent a sample to route {route} ({config.routes[route].channel})")


@alerts_group.command("plan")
@click.pass_obj
def plan_command(invocation: Invocation) -> None:
    """What the next run would send, with the rule behind each; and what waits in the outbox."""
    settings = _settings(invocation)
    now = invocation.clock()
    with context.opened_store(invocation) as store:
        run = plan_step(store, settings, now=now, dry_run=True)
        waiting = AlertStore(store.engine).rows(PLANNED)
    if run.plan.baseline:
        _say("first planning: what holds now is recorded as the baseline, without alerts")
    for p in run.plan.alerts:
        a = p.alert
        _say(f"new: {a.route} <- rule {p.rule} on {a.subject} ({p.why})")
    for d in run.digests:
        _say(f"new: {d.route} <- weekly digest of {d.subject}")
    routes = settings.config.alerts.routes
    for row in waiting:
        route = routes.get(row.route)
        until = route.quiet_until(now) if route else None
        why = f"held by quiet hours until {until:%Y-%m-%d %H:%M} UTC" if until else "due"
        if row.retry_at is not None and row.retry_at > now:
            why = f"retrying from {row.retry_at:%Y-%m-%d %H:%M} UTC ({row.message})"
        _say(f"waiting #{row.id}: {row.route} <- rule {row.rule} on {row.subject}: {why}")
    if not run.plan.alerts and not run.digests and not waiting:
        _say("nothing to send")


@alerts_group.command("send")
@click.pass_obj
def send_command(invocation: Invocation) -> None:
    """Plan and send now (what a run does after scoring)."""
    settings = _settings(invocation)
    now = invocation.clock()
    with context.opened_store(invocation) as store:
        plan_step(store, settings, now=now)
        report = send_step(store, settings, now=now)
    _print_report(report)
    if report.uncertain or report.failed or report.disabled:
        raise SystemExit(context.EXIT_FAILED)


def _print_report(report: SendReport) -> None:
    _say(
        f"sent {report.messages} message(s) with {report.alerts} alert(s), "
        f"{report.summaries} summary(ies); uncertain {len(report.uncertain)}"
    )
    for route, (count, until) in report.held.items():
        _say(f"held {count} for route {route} until {until:%Y-%m-%d %H:%M} UTC (quiet hours)")
    for route, reason in {**report.waiting, **report.disabled}.items():
        _say(f"route {route}: {reason}")
    if report.uncertain:
        _say(
            "Not resent automatically: they may have been delivered. Check the channel, then "
            "`engage alerts retry ID` to send again."
        )


@alerts_group.command("status")
@click.pass_obj
def status_command(invocation: Invocation) -> None:
    """Sent, held, failed and uncertain alerts by route, with reasons; disabled routes."""
    settings = _settings(invocation)
    now = invocation.clock()
    with context.opened_store(invocation, read_only=True) as store:
        alerts = AlertStore(store.engine)
        rows = alerts.rows()
        disabled = alerts.disabled_routes()
    routes = settings.config.alerts.routes
    counts = Counter((r.route, r.state) for r in rows)
    for name, route in routes.items():
        held = route.quiet_until(now)
        parts = [f"{state} {counts[(name, state)]}" for state in (PLANNED, SENDING, "sent", FAILED)]
        _say(f"route {name} ({route.channel}): " + ", ".join(parts))
        if name in disabled:
            at, reason = disabled[name]
            _say(
                f"  DISABLED since {at:%Y-%m-%d %H:%M} UTC: {reason}; fix the webhook, then "
                f"`engage alerts enable {name}`"
            )
        elif held is not None and counts[(name, PLANNED)]:
            _say(f"  held by quiet hours until {held:%Y-%m-%d %H:%M} UTC")
    for r in rows:
        if r.state == SENDING:
            _say(
                f"uncertain #{r.id} {r.route} <- rule {r.rule} on {r.subject}: may or may not "
                f"have been delivered ({r.message or 'interrupted'}); check the channel, then "
                f"`engage alerts retry {r.id}`"
            )
        elif r.state == FAILED:
            _say(f"failed #{r.id} {r.route} <- rule {r.rule} on {r.subject}: {r.message}")
        elif r.state == PLANNED and r.message:
            _say(f"waiting #{r.id} {r.route} <- rule {r.rule} on {r.subject}: {r.message}")
    if not rows:
        _say("no alerts yet")


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every failed and uncertain alert.")
@click.pass_obj
def retry_command(invocation: Invocation, ids: tuple[int, ...], everything: bool) -> None:
    """Put failed or uncertain alerts back in the queue (a person checked they did not arrive)."""
    if not ids and not everything:
        context.fail("name the alerts to retry (their #id in `engage alerts status`) or --all")
    with context.opened_store(invocation) as store:
        done = AlertStore(store.engine).retry(None if everything else ids)
    _say(f"re-queued {len(done)}: {json.dumps(done)}")


@alerts_group.command("enable")
@click.argument("route")
@click.pass_obj
def enable_command(invocation: Invocation, route: str) -> None:
    """Turn a disabled route back on (after its webhook was replaced)."""
    with context.opened_store(invocation) as store:
        enabled = AlertStore(store.engine).enable_route(route)
    _say(f"route {route} enabled" if enabled else f"route {route} was not disabled")
