"""Send what the outbox holds, each alert at most once (the rule of the survey outbox).

Every send is ``planned -> sending`` (committed) -> the channel -> ``sent``. A crash after the
channel took the message and before ``sent`` was recorded leaves the row in ``sending``: it is
never sent again automatically (the message may be in the channel already, and a second alert
is worse than a missing one); `engage alerts status` lists it for a person, and
`engage alerts retry` puts it back when they decide so.

Per route, in order: a disabled route (its webhook revoked) sends nothing; a route whose
channel cannot be built (no URL in its variable, a retired Teams connector) waits with the
reason; a route inside its quiet hours holds everything until the window's end (local time);
more alerts due at once than the route's ``burst_limit`` go out as one summary message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from connector.redact import redact
from connector.retry import RetryPolicy
from jobs.alerts.config import RouteSection
from jobs.alerts.delivery import NotDelivered, Revoked, Uncertain, Unsendable
from jobs.alerts.digest import digest_view
from jobs.alerts.render import View, alert_view, summary_view
from jobs.messages.catalog import Words
from jobs.store.alerts import PLANNED, SENDING, AlertStore, OutboxRow

log = logging.getLogger(__name__)

#: Called at named points of a send; tests use it to kill the process in between.
FaultHook = Callable[[str], None]
#: The point between the channel accepting a message and the outbox recording it.
AFTER_SEND = "after_send"


class Channel(Protocol):
    def deliver(self, view: View) -> None:
        """Raise a `jobs.alerts.delivery.DeliveryError` subclass unless it was delivered."""
        ...


@dataclass
class SendReport:
    #: Messages that left (a summary counts once) and the alerts they carried.
    messages: int = 0
    alerts: int = 0
    summaries: int = 0
    #: route -> (alerts held, until when) in quiet hours.
    held: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    #: route -> why it is waiting (no URL, retired connector) or was disabled now.
    waiting: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)
    failed: list[tuple[int, str]] = field(default_factory=list)
    requeued: list[tuple[int, str]] = field(default_factory=list)
    uncertain: list[OutboxRow] = field(default_factory=list)


#: (person id, language) -> a signed link to the portfolio report for them, or None.
ReportLink = Callable[[str, str], str | None]


def view_of(
    row: OutboxRow, report_link: ReportLink | None = None, words: Words | None = None
) -> View:
    """The message of ``row``, in ``words`` (the catalogs with the company's override file;
    the shipped ones when None). A digest links to the report when ``report_link`` gives a
    link: minted as it is sent, so the outbox never holds a link that opens the report."""
    content = json.loads(row.content)
    if row.kind == "digest":
        link = report_link(row.subject, row.language) if report_link else None
        return digest_view(content, row.language, row.key, report=link, words=words)
    return alert_view(content, row.language, row.key, words=words)


class _RouteStopped(Exception):
    """Nothing more goes to this route in this send."""


def send_outbox(
    store: AlertStore,
    routes: Mapping[str, RouteSection],
    channels: Mapping[str, Channel | str],
    *,
    now: datetime,
    fault: FaultHook | None = None,
    policy: RetryPolicy | None = None,
    report_link: ReportLink | None = None,
    words: Words | None = None,
) -> SendReport:
    """Send every due row, route by route. ``channels``: a route's channel, or why it has none.
    ``report_link``: the digests' link to the portfolio report, when `/report` is served;
    ``words``: the catalogs with the company's override file (`Settings.words`)."""
    report = SendReport()
    policy = policy or RetryPolicy()
    disabled = store.disabled_routes()
    for name, route in routes.items():
        if name in disabled:
            continue
        due = [r for r in store.rows(PLANNED, name) if r.retry_at is None or r.retry_at <= now]
        if not due:
            continue
        channel = channels.get(name, f"route {name} has no channel")
        if isinstance(channel, str):
            store.note([r.id for r in due], channel)
            report.waiting[name] = channel
            continue
        until = route.quiet_until(now)
        if until is not None:
            report.held[name] = (len(due), until)
            continue
        sender = _RouteSender(store, name, channel, now, fault, policy, report, report_link, words)
        alerts = [r for r in due if r.kind == "alert"]
        singles = [r for r in due if r.kind != "alert"]
        try:
            if len(alerts) > route.burst_limit:
                sender.summary(alerts, route.language)
            else:
                singles = alerts + singles
            for row in singles:
                sender.one(row)
        except _RouteStopped:
            continue
    report.uncertain = store.rows(SENDING)
    return report


@dataclass
class _RouteSender:
    store: AlertStore
    route: str
    channel: Channel
    now: datetime
    fault: FaultHook | None
    policy: RetryPolicy
    report: SendReport
    report_link: ReportLink | None = None
    words: Words | None = None

    def one(self, row: OutboxRow) -> None:
        if not self.store.claim([row.id]):
            return  # another sender took it
        if self._send([row], view_of(row, self.report_link, self.words)) and row.kind == "alert":
            self.report.alerts += 1

    def summary(self, rows: list[OutboxRow], language: str) -> None:
        batch = f"summary:{rows[0].id}-{rows[-1].id}"
        if not self.store.claim([r.id for r in rows], batch):
            return
        contents = [json.loads(r.content) for r in rows]
        if self._send(rows, summary_view(self.route, contents, language, batch, words=self.words)):
            self.report.summaries += 1
            self.report.alerts += len(rows)

    def _send(self, rows: list[OutboxRow], view: View) -> bool:
        """Deliver one message for ``rows``; True when it was delivered and recorded."""
        ids = [r.id for r in rows]
        try:
            self.channel.deliver(view)
        except Revoked as exc:
            reason = redact(str(exc))
            for row in rows:  # certainly not posted: they wait for the route to come back
                self.store.release([row.id], reason, row.attempts, None)
            self.store.disable_route(self.route, reason, self.now)
            self.report.disabled[self.route] = reason
            log.warning("alerts: route %s disabled: %s", self.route, reason)
            raise _RouteStopped from None
        except NotDelivered as exc:
            self._requeue(rows, redact(str(exc)))
            raise _RouteStopped from None
        except Unsendable as exc:
            reason = redact(str(exc))
            self.store.fail(ids, reason)
            self.report.failed += [(i, reason) for i in ids]
            return False
        except Uncertain as exc:
            self.store.note(ids, redact(str(exc)))
            log.warning("alerts: route %s: %s", self.route, redact(str(exc)))
            raise _RouteStopped from None
        if self.fault is not None:
            self.fault(AFTER_SEND)
        self.store.mark_sent(ids, self.now)
        self.report.messages += 1
        return True

    def _requeue(self, rows: list[OutboxRow], reason: str) -> None:
        for row in rows:
            attempts = row.attempts + 1
            if self.policy.row_quarantined(attempts):
                message = f"not sent after {attempts} attempts: {reason}"
                self.store.fail([row.id], message)
                self.report.failed.append((row.id, message))
                continue
            delay = self.policy.row_retry_delay_seconds(attempts)
            self.store.release([row.id], reason, attempts, self.now + timedelta(seconds=delay))
            self.report.requeued.append((row.id, reason))
