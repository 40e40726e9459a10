"""The alert steps as `run_job` and `engage alerts` run them: plan from the store, then send.

Webhook URLs are read from the environment variables the routes name, registered with the
log filter (connector/redact.py) the moment they are read, and never put in a message.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import requests

from connector.redact import redact, register_secret
from connector.retry import RetryPolicy
from jobs.alerts.config import AlertsSection, RouteSection
from jobs.alerts.delivery import WebhookChannel
from jobs.alerts.digest import build_digest, digest_due
from jobs.alerts.email import EmailChannel
from jobs.alerts.events import observe_engagements, observe_job
from jobs.alerts.links import deal_link
from jobs.alerts.outbox import Channel, FaultHook, ReportLink, SendReport, send_outbox
from jobs.alerts.planner import AlertPlan, plan_alerts
from jobs.alerts.slack import SECONDS_BETWEEN_POSTS, slack_payload
from jobs.alerts.teams import retired_connector_problem, teams_payload
from jobs.config import Settings
from jobs.report import links as report_links
from jobs.store import Store
from jobs.store.alerts import AlertStore, NewAlert
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SMTP_PASSWORD_ENV
from jobs.surveys.mail import SmtpMailer
from jobs.surveys.tokens import MissingSecret, survey_secret

log = logging.getLogger(__name__)


@dataclass
class AlertsRun:
    plan: AlertPlan
    digests: list[NewAlert] = field(default_factory=list)
    added: int = 0
    sent: SendReport | None = None


def link_function(settings: Settings) -> Callable[[str], str | None]:
    crm = settings.config.crm
    return deal_link(
        crm.kind,
        settings.config.alerts,
        zoho_accounts_url=crm.zoho.accounts_url if crm.zoho else None,
        odoo_url=crm.odoo.url if crm.odoo else None,
    )


def plan_step(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    outcome: str | None = None,
    message: str | None = None,
    connection: str = "",
    dry_run: bool = False,
) -> AlertsRun:
    """Observe, plan and (unless ``dry_run``) write the new alerts and due digests."""
    config = settings.config.alerts
    alerts = AlertStore(store.engine)
    seen = alerts.seen()
    episodes = alerts.episodes()
    engagements = store.engagements()
    health = store.health()
    observations = observe_engagements(
        config.rules, engagements, health, seen, now.date(), link_function(settings)
    )
    if outcome is not None:
        said = redact(message) if message else None  # it goes to a channel and the store
        observations += observe_job(config.rules, outcome, said, connection)
    # Baseline: no engagement seen yet (the run's own events are never a baseline).
    plan = plan_alerts(config, observations, episodes, now=now, baseline=not seen)
    run = AlertsRun(plan, due_digests(store, alerts, config, now))
    if not dry_run:
        now_seen = {eid: (h.risk_level.value, h.sla_status.value) for eid, h in health.items()}
        latest = {eid: v for eid, v in now_seen.items() if seen.get(eid) != v}  # changes only
        run.added = alerts.save_plan(plan.new_alerts + run.digests, plan.episodes, latest, now)
    return run


def due_digests(
    store: Store, alerts: AlertStore, config: AlertsSection, now: datetime
) -> list[NewAlert]:
    if not config.digest.enabled or not config.people:
        return []
    due: list[tuple[str, str, datetime]] = []
    for person_id, person in config.people.items():
        moment = digest_due(config.routes[person.route], config.digest, now)
        if moment is not None:
            key = f"{person.route}|digest|{person_id}|{moment.date().isoformat()}"
            if not alerts.has(key):
                due.append((person_id, key, moment))
    if not due:
        return []
    engagements, health = store.engagements(), store.health()
    answers = [
        (r.engagement_id, r.nps, r.csat, r.answered_at)
        for r in SurveyStore(store.engine).responses()
    ]
    made = []
    for person_id, key, moment in due:
        person = config.people[person_id]
        content = build_digest(
            person_id,
            config.people,
            engagements,
            health,
            alerts.health_changes(moment),
            answers,
            end=moment,
            riskiest=config.digest.riskiest,
        )
        route = config.routes[person.route]
        made.append(
            NewAlert(
                key=key,
                route=person.route,
                kind="digest",
                rule="digest",
                subject=person_id,
                language=person.language or route.language,
                content=_json(content),
            )
        )
    return made


def _json(content: object) -> str:
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def webhook_url(name: str, route: RouteSection, env: Mapping[str, str]) -> str:
    """The route's webhook URL, or raises `LookupError` with what to set."""
    assert route.url_env is not None
    url = env.get(route.url_env, "").strip()
    if not url:
        raise LookupError(
            f"route {name}: set the environment variable {route.url_env} to its "
            f"{route.channel} webhook URL"
        )
    register_secret(url)
    problem = (
        retired_connector_problem(url, name, route.url_env) if route.channel == "teams" else None
    )
    if problem is not None:
        raise LookupError(problem)
    return url


@contextmanager
def opened_channels(
    settings: Settings,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    only: str | None = None,
) -> Iterator[dict[str, Channel | str]]:
    """Each route's channel, or why it has none (what to set), for one send."""
    env = os.environ if env is None else env
    config = settings.config.alerts
    session = session or requests.Session()
    policy = policy or RetryPolicy()
    smtp = settings.config.surveys.smtp
    sender = config.email_sender or smtp.sender
    channels: dict[str, Channel | str] = {}
    with ExitStack() as stack:
        mailer: SmtpMailer | None = None
        for name, route in config.routes.items():
            if only is not None and name != only:
                continue
            if route.channel == "email":
                if mailer is None:
                    mailer = stack.enter_context(SmtpMailer(smtp, env.get(SMTP_PASSWORD_ENV)))
                assert route.to is not None
                channels[name] = EmailChannel(mailer, sender=sender, to=route.to, now=now)
                continue
            try:
                url = webhook_url(name, route, env)
            except LookupError as exc:
                channels[name] = str(exc)
                continue
            slack = route.channel == "slack"
            channels[name] = WebhookChannel(
                url,
                slack_payload if slack else teams_payload,
                what=f"the {'Slack webhook' if slack else 'Teams workflow'} of route {name}",
                session=session,
                policy=policy,
                seconds_between_posts=SECONDS_BETWEEN_POSTS if slack else 0.0,
                sleep=sleep,
            )
        yield channels


def send_step(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    fault: FaultHook | None = None,
) -> SendReport:
    config = settings.config.alerts
    with opened_channels(
        settings, now=now, env=env, session=session, policy=policy, sleep=sleep
    ) as channels:
        return send_outbox(
            AlertStore(store.engine),
            config.routes,
            channels,
            now=now,
            fault=fault,
            policy=policy,
            report_link=report_link_function(settings, os.environ if env is None else env, now),
            words=settings.words,
        )


def report_link_function(
    settings: Settings, env: Mapping[str, str], now: datetime
) -> ReportLink | None:
    """The digests' link to `/report` (docs/report.md), signed per person with the survey
    links' secret and expiring as `engage report link` does; None unless `engage serve` has
    an address set in the config (`[surveys] base_url`: its loopback default would give
    links no reader can open) and the secret is set."""
    surveys = settings.config.surveys
    if "base_url" not in surveys.model_fields_set:
        return None
    try:
        secret = survey_secret(env)
    except MissingSecret:
        return None
    base_url = surveys.base_url

    def link(person_id: str, language: str) -> str:
        return report_links.mint(
            base_url, f"digest:{person_id}", secret, report_links.expiry(now), language
        )

    return link


def run_outcome(status: str, quarantined: int) -> str | None:
    """A run's status as a job event: "failed", "stopped", "quarantined", "ok", or None for a
    run that says nothing (interrupted by a stop request: the next run resumes)."""
    if status in ("failed", "stopped"):
        return status
    if status in ("ok", "partial"):
        return "quarantined" if quarantined else "ok"
    return None


def after_run(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    status: str,
    message: str | None,
    quarantined: int,
    connection: str,
    policy: RetryPolicy | None = None,
) -> AlertsRun | None:
    """After a run ended (the hook at the end of `run_job`, and the alerts job of workers,
    jobs/workers/alerts.py): plan and send, retrying as the connection's ``policy`` says.
    Alerts never fail the run: a problem here is one warning line (secrets masked) and the next
    run tries again."""
    config = settings.config.alerts
    if not config.enabled or not config.routes:
        return None
    try:
        run = plan_step(
            store,
            settings,
            now=now,
            outcome=run_outcome(status, quarantined),
            message=message,
            connection=connection,
        )
        run.sent = send_step(store, settings, now=now, policy=policy)
    except Exception as exc:  # noqa: BLE001 - the run's own outcome stands; see the docstring
        log.warning("alerts were not planned or sent: %s", redact(f"{type(exc).__name__}: {exc}"))
        return None
    _log_sent(run.sent)
    return run


def _log_sent(report: SendReport) -> None:
    if report.messages:
        log.info("alerts: %d message(s) sent (%d alert(s))", report.messages, report.alerts)
    for route, reason in report.waiting.items():
        log.warning("alerts: route %s is waiting: %s", route, reason)
    if report.uncertain:
        log.warning(
            "alerts: %d alert(s) may or may not have been delivered; see `engage alerts status`",
            len(report.uncertain),
        )
