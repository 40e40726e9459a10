"""Put the pieces together for one connection and run a job once: sync, score, push, or all.

This is the only module that knows which client goes with which CRM; the CLI and the daemon
both come through here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import requests

from connector.credits import CreditMeter
from connector.errors import ConnectorError, CreditsExhaustedError, RetryLaterError
from connector.fxiaoke import FxiaokeClient
from connector.http import DEFAULT_TIMEOUT_SECONDS, HttpTransport
from connector.odoo import OdooClient
from connector.retry import RetryPolicy
from connector.zoho import ZohoClient, ZohoCredentials, ZohoTokenManager
from jobs import log_context
from jobs.alerts.steps import after_run as alerts_after_run
from jobs.config import Settings
from jobs.credits import StoreCreditMeter, first_credits_back_at
from jobs.delivery.pull import DeliveryReport
from jobs.delivery.step import pull_configured
from jobs.fxiaoke_connect import fxiaoke_client
from jobs.health.sla.calendar import RegionDataMissing
from jobs.messages.fields import field_words
from jobs.odoo_connect import odoo_client
from jobs.pull.sync import ProgressFn, SyncReport, sync
from jobs.push.pusher import PushReport, push
from jobs.score import ScoreReport, score
from jobs.stopping import RunInterrupted
from jobs.store import Store
from jobs.store.kept_tokens import StoreTokenCache
from jobs.store.runs import RunStatus
from jobs.store.store import RunRow
from mappings.engine import Mapper
from mappings.spec import load_mapping

log = logging.getLogger(__name__)

#: The lease of a job's lock: renewed every `LEASE_RENEW_EVERY` while the job runs, so a holder
#: killed on any machine frees the connection within this time (not only on this host).
LOCK_TTL = timedelta(seconds=90)
LEASE_RENEW_EVERY = timedelta(seconds=30)
#: A dry run holds no lock: shown as died once it has been "running" this long.
DRY_RUN_TTL = timedelta(hours=2)


class Job(StrEnum):
    SYNC = "sync"
    SCORE = "score"  # recompute health from the store; no CRM call
    PUSH = "push"
    RUN = "run"  # sync, delivery sources, score, push
    SOURCES = "sources"  # only the delivery sources (`engage sync --sources`)


#: One lock for every job of a connection: a sync must not run beside a run's sync, nor a
#: push beside another push, whichever command or daemon started them.
LOCK_NAME = "connection"


class JobAlreadyRunning(Exception):
    """Another process holds this job's lock; this run did nothing."""


@dataclass
class CallCounter:
    """Every HTTP request sent to the CRM, by (method, path)."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Write calls run on several threads (jobs/push/pusher.py); a count must not be lost.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, method: str, url: str, status: int | None) -> None:
        path = url.split("/crm/v8", 1)[-1] if "/crm/v8" in url else url.rsplit("/", 3)[-1]
        with self._lock:
            self.calls[(method, path)] += 1

    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Connection:
    """A configured CRM connection with its store: what every job needs."""

    settings: Settings
    client: ZohoClient | OdooClient | FxiaokeClient
    mapper: Mapper
    store: Store
    clock: Callable[[], datetime]
    counter: CallCounter
    #: The one retry policy, with the row-quarantine setting from the config.
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    meter: StoreCreditMeter | None = None

    def close(self) -> None:
        # Every command's calls count, not only a job's: metadata, field creation and the
        # plan's lookups are charged by the CRM like any other call (issue 16 item 6).
        if self.meter is not None:
            self.meter.save()
        self.store.close()


def connect(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    timeout_seconds: float | None = None,
    upgrade: bool = True,
    wrap_meter: Callable[[CreditMeter], CreditMeter] | None = None,
) -> Connection:
    """Build the client, mapping and store for ``settings``. Raises on bad config or secrets.
    ``upgrade=False``: the store is not migrated (see `Store.open`). ``wrap_meter``: the Zoho
    client's credit meter wrapped (a worker reserves credits from its org's budget first)."""
    clock = clock or (lambda: datetime.now(UTC))
    mapper = Mapper(load_mapping(settings.mapping_path), field_words(settings.words))
    counter = CallCounter()
    policy = replace(
        policy or RetryPolicy(), row_max_attempts=settings.config.push.quarantine_after
    )
    transport = HttpTransport(
        session=session,
        policy=policy,
        observer=counter,
        timeout_seconds=timeout_seconds or DEFAULT_TIMEOUT_SECONDS,
    )
    if settings.config.crm.kind == "odoo":
        odoo = odoo_client(settings, transport)
        return Connection(
            settings,
            odoo,
            mapper,
            Store.open(settings.store_url, upgrade=upgrade),
            clock,
            counter,
            policy,
        )
    if settings.config.crm.kind == "fxiaoke":
        store = Store.open(settings.store_url, upgrade=upgrade)
        fxiaoke = fxiaoke_client(settings, transport, store, clock)
        return Connection(settings, fxiaoke, mapper, store, clock, counter, policy)
    zoho = settings.config.crm.zoho
    if zoho is None:  # the config validator requires it for kind = "zoho"
        raise ValueError("no [crm.zoho] section")
    credentials = ZohoCredentials(
        accounts_url=zoho.accounts_url,
        client_id=settings.secret("client_id").get_secret_value(),
        client_secret=settings.secret("client_secret"),
        refresh_token=settings.secret("refresh_token"),
    )
    store = Store.open(settings.store_url, upgrade=upgrade)
    # Kept in the store, so every process of the connection shares one token (issue 16).
    tokens = ZohoTokenManager(credentials, transport, clock=clock, cache=StoreTokenCache(store))
    meter = StoreCreditMeter(store, settings.config.crm.credit_budget(), clock)
    client = ZohoClient(
        tokens,
        transport,
        api_domain=zoho.api_domain,
        meter=wrap_meter(meter) if wrap_meter is not None else meter,
    )
    return Connection(settings, client, mapper, store, clock, counter, policy, meter)


def connection_name(settings: Settings) -> str:
    """How log lines name the connection: the CRM kind and the config file (one per org)."""
    return f"{settings.config.crm.kind}:{settings.path.name}"


def deletions_every(conn: Connection) -> timedelta:
    """How often the sync looks for records deleted in the CRM (Zoho; Odoo scans ids)."""
    zoho = conn.settings.config.crm.zoho
    return timedelta(hours=zoho.deleted_check_every_hours) if zoho is not None else timedelta(0)


def _take_lock(store: Store, holder: str, now: datetime) -> bool:
    """Take the connection's lock; a lock left by a killed process on this host is broken."""
    if store.try_lock(LOCK_NAME, holder, now, now + LOCK_TTL):
        return True
    other = store.lock_holder(LOCK_NAME)
    if other is None or not _dead_here(other):
        return False
    log.warning("breaking the job lock of %s: that process no longer exists", other)
    store.unlock(LOCK_NAME, other)
    return store.try_lock(LOCK_NAME, holder, now, now + LOCK_TTL)


DIED_MESSAGE = "the process ended without finishing (its lease expired); the next run resumes"


def shown_runs(store: Store, now: datetime, limit: int = 10) -> list[RunRow]:
    """The last runs as `engage status` shows them: a run still recorded as "running" whose
    process died (the lease of the connection's lock expired or was left by a process of this
    host that has ended) is shown as "died", not "running" forever. A dry run holds no lock:
    it has died once a lease would have expired."""
    lease = store.lock_lease(LOCK_NAME)
    live = lease is not None and lease[1] > now and not _dead_here(lease[0])
    shown = []
    for run in store.runs(limit):
        if run.status == RunStatus.RUNNING:
            dry = run.job.endswith(" --dry-run")
            if (now > run.started_at + DRY_RUN_TTL) if dry else not live:
                run = replace(run, status=RunStatus.DIED, message=DIED_MESSAGE)
        shown.append(run)
    return shown


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` ("host:pid") is a process of this host that has ended (e.g. kill -9)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


class LeaseHeartbeat:
    """Renews a job's lease every `LEASE_RENEW_EVERY` on a thread while the job runs.

    ``beat`` is one renewal (tests call it with their clock); the thread only calls it."""

    def __init__(
        self,
        store: Store,
        holder: str,
        clock: Callable[[], datetime],
        every: timedelta = LEASE_RENEW_EVERY,
    ) -> None:
        self.store, self.holder, self.clock, self.every = store, holder, clock, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
        #: False once a renewal found the lease gone (taken over after it expired).
        self.held = True

    def beat(self) -> bool:
        now = self.clock()
        self.held = self.store.renew_lock(LOCK_NAME, self.holder, now + LOCK_TTL)
        if not self.held:
            log.warning("the job's lease was lost (it expired and was taken over)")
        return self.held

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            try:
                self.beat()
            except Exception:  # a store down for a moment: the next beat tries again
                log.warning("could not renew the job's lease", exc_info=True)


@dataclass
class RunResult:
    job: Job
    run_id: int
    status: RunStatus
    sync: SyncReport | None = None
    score: ScoreReport | None = None
    push: PushReport | None = None
    delivery: DeliveryReport | None = None
    message: str | None = None
    #: What stopped or failed the job, for the exit code (a setup error is exit 2).
    error: ConnectorError | None = None
    #: When the run started and ended (the connection's clock), for the daemon's log.
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def done_so_far(self) -> str:
        """What a stopped run did before it stopped, in a few words (empty if nothing)."""
        parts = []
        if self.sync:
            read = sum(c.read for c in self.sync.kinds.values())
            stored = sum(c.stored for c in self.sync.kinds.values())
            if read or stored:
                parts.append(f"{read} records read, {stored} stored")
        if self.score and self.score.scored:
            parts.append(f"{self.score.scored} scored")
        if self.push and self.push.written:
            parts.append(f"{self.push.written} written to the CRM")
        return ", ".join(parts)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.sync:
            counts.update({f"sync_{k}": v for k, v in self.sync.totals().items()})
        if self.score:
            counts.update({"scored": self.score.scored, "health_changed": self.score.changed})
        if self.push:
            counts.update({f"push_{k}": v for k, v in self.push.counts().items()})
        if self.delivery:
            counts.update({f"delivery_{k}": v for k, v in self.delivery.totals().items()})
        return counts


def run_job(
    conn: Connection,
    job: Job,
    *,
    dry_run: bool = False,
    full: bool = False,
    recompute: bool = False,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run ``job`` once under the connection's lock. A busy CRM ends it cleanly ("stopped").

    ``full`` re-reads every record instead of only those changed since the last sync.

    Long because every way a run can end (done, partial, stopped by the CRM, failed, a bug) is
    recorded here, in one try statement, so that no run is left "running".
    """
    holder = f"{socket.gethostname()}:{os.getpid()}"
    now = conn.clock()
    if not dry_run and not _take_lock(conn.store, holder, now):
        raise JobAlreadyRunning(
            f"cannot start {job.value!r}: another job of this connection is already running"
        )
    if not dry_run:
        # Whatever run is still "running" lost the lock this run now holds: its process died.
        conn.store.end_abandoned_runs(now, DIED_MESSAGE)
    calls_before = conn.counter.total()
    credits_before = conn.meter.charged if conn.meter is not None else 0
    run_id = conn.store.start_run(job.value + (" --dry-run" if dry_run else ""), now)
    result = RunResult(job=job, run_id=run_id, status=RunStatus.RUNNING, started_at=now)
    log_context.begin(run_id, connection_name(conn.settings), job.value)
    log.info("%s #%d started", job.value, run_id)
    heartbeat = None if dry_run else LeaseHeartbeat(conn.store, holder, conn.clock)
    if heartbeat is not None:
        heartbeat.start()
    try:
        if job in (Job.SYNC, Job.RUN):
            log_context.step("sync")
            result.sync = sync(
                conn.client,
                conn.mapper,
                conn.store,
                clock=conn.clock,
                run_id=run_id,
                progress=progress,
                full=full,
                deletions_every=deletions_every(conn),
            )
        sources = conn.settings.config.sources.delivery
        if job in (Job.RUN, Job.SOURCES) and sources:
            log_context.step("delivery")
            result.delivery = pull_configured(
                sources,
                conn.settings.path,
                conn.settings.env,
                conn.store,
                clock=conn.clock,
                run_id=run_id,
                full=full,
                policy=conn.policy,
            )
        if job in (Job.SCORE, Job.RUN):
            log_context.step("score")
            log.info("scoring engagements")
            if progress:
                progress("scoring engagements")
            config = conn.settings.config
            result.score = ScoreReport()  # filled in as it goes, for a run stopped mid-way
            score(
                conn.store,
                config.health,
                clock=conn.clock,
                risk=config.risk,
                sla=config.sla,
                recompute=recompute,
                survey_weights=config.surveys.role_weights,
                report=result.score,
                words=conn.settings.words,
            )
        if job in (Job.PUSH, Job.RUN):
            log_context.step("push")
            log.info("planning and pushing changed values")
            if progress:
                progress("planning and pushing changed values")
            # Created here so that a push stopped mid-way still reports what it wrote.
            result.push = PushReport(dry_run=dry_run)
            push(
                conn.client,
                conn.mapper,
                conn.store,
                clock=conn.clock,
                run_id=run_id,
                dry_run=dry_run,
                missing_fields=result.sync.missing_target_fields if result.sync else None,
                policy=conn.policy,
                concurrency=conn.settings.config.push.write_concurrency,
                report=result.push,
            )
        result.status = RunStatus.OK
        if result.push and result.push.missing_fields:
            gone = ", ".join(f"{m}.{f}" for m, f in sorted(result.push.missing_fields))
            result.status = RunStatus.PARTIAL
            result.message = (
                f"field(s) {gone} no longer exist in the CRM: their values were not written, "
                "the other fields were; run `engage mappings check`"
            )
        if result.delivery and result.delivery.lines():
            # A source that failed, or a mapping word the tool lacks: the rest was done.
            result.status = RunStatus.PARTIAL
            result.message = "; ".join(filter(None, [result.message, *result.delivery.lines()]))
    except RunInterrupted as exc:
        result.status = RunStatus.INTERRUPTED
        done = result.done_so_far()
        result.message = f"{exc}; finished: {done or 'nothing yet'}; the next run resumes"
    except CreditsExhaustedError as exc:
        result.status, result.error = RunStatus.STOPPED, exc
        back = None
        if conn.meter is not None:
            conn.meter.save()
            back = first_credits_back_at(conn.store, conn.clock())
        result.message = f"{exc}; the job stopped at once: credits come back as the rolling 24 " + (
            f"hours pass, this connection's first at {back.strftime('%Y-%m-%d %H:%M')} UTC"
            if back
            else "hours pass"
        )
    except RetryLaterError as exc:
        result.status, result.message = RunStatus.STOPPED, f"{exc} (the next run resumes)"
        result.error = exc
    except ConnectorError as exc:
        result.status, result.message = RunStatus.FAILED, str(exc)
        result.error = exc
    except RegionDataMissing as exc:
        # A tier's region has no holiday data for a year its SLA window reaches: refused (the
        # message names tier, region and year), never counted on plain weekdays.
        result.status, result.message = RunStatus.FAILED, str(exc)
    except Exception as exc:
        # A bug, not the CRM: record the run as failed, then let the traceback through.
        result.status, result.message = RunStatus.FAILED, f"internal error: {type(exc).__name__}"
        raise
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        counts: dict[str, Any] = result.counts() | {
            "api_calls": conn.counter.total() - calls_before
        }
        if conn.meter is not None:
            counts["api_credits"] = conn.meter.charged - credits_before
        result.finished_at = conn.clock()
        conn.store.finish_run(run_id, result.status, counts, result.message, result.finished_at)
        if conn.meter is not None:
            conn.meter.save()  # the CRM's latest count of the org's credits, for `status`
        if not dry_run and job in (Job.SCORE, Job.RUN):
            # After scoring: the engagements that turned, and the run's own outcome (issue 24).
            alerts_after_run(
                conn.store,
                conn.settings,
                now=result.finished_at,
                status=result.status.value,
                message=result.message,
                quarantined=result.push.quarantined if result.push else 0,
                connection=connection_name(conn.settings),
                policy=conn.policy,
            )
        if not dry_run:
            conn.store.unlock(LOCK_NAME, holder)
        log_context.end()
    return result
