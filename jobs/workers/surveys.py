"""The survey step of a connection on workers: plan invitations after a run, then send them.

Its own job with its own lock (``surveys:<connection>``, tasks.py): a push is never held up by
the mail server, and two sends of one connection never run at once. Each invitation is sent at
most once whatever happens to the job: the outbox commits ``sending`` before SMTP and never
sends a row left ``sending`` again (jobs/surveys/outbox.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from jobs.surveys.config import SMTP_PASSWORD_ENV
from jobs.surveys.mail import opened_email_channel
from jobs.surveys.steps import plan_step, send_step
from jobs.surveys.tokens import MissingSecret, survey_secret
from jobs.workers.runtime import Runtime

log = logging.getLogger(__name__)


def send_surveys(rt: Runtime, name: str, env: Mapping[str, str]) -> None:
    """Plan and send the connection's due invitations by e-mail (the CRM channel is run by
    `engage surveys send`); skipped, with a log line saying why, when not set up."""
    row = rt.connections.get(name)
    with rt.opened(row) as (conn, _meter):
        config = conn.settings.config.surveys
        if not config.enabled or config.channel != "smtp":
            return
        try:
            secret = survey_secret(env)
        except MissingSecret as exc:
            log.warning("%s: surveys not sent: %s", name, exc)
            return
        now = rt.clock()
        plan_step(conn.store, config, now=now)
        password = env.get(SMTP_PASSWORD_ENV)
        with opened_email_channel(config, password, conn.settings.words) as email:
            report = send_step(conn.store, config, email, secret=secret, now=now)
        log.info("%s: surveys %s", name, report)
