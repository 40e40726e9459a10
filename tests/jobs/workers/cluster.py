"""A cluster for the end-to-end tests: the cluster's schema, three connections (two Zoho
sandboxes, one Odoo sandbox) each with its own store schema, `engage worker` subprocesses,
and the reference: the same sandboxes after one clean in-process run."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from connector.sandbox import SandboxCRM
from connector.sandbox.chat import ChatWebhooks
from connector.sandbox.faults import FaultInjector, FaultPlan
from connector.sandbox.odoo.server import OdooSandbox
from jobs.config import SECRET_ENV, load_settings
from jobs.runner import Connection, Job, connect, run_job
from jobs.store import Store
from jobs.store.alerts import SENDING, SENT, AlertStore
from jobs.store.store import RunRow
from jobs.surveys.mail import EmailChannel, SmtpMailer
from jobs.surveys.steps import plan_step, send_step
from mappings.domain import SlaStatus
from tests.conftest import FakeClock
from tests.jobs.alerts.test_end_to_end import late_milestone
from tests.jobs.workers.conftest import (
    SHORT_TIMINGS,
    odoo_config,
    odoo_env,
    zoho_config,
    zoho_env,
)
from tests.reliability.test_kill_loop import crm_state
from tests.surveys.conftest import Inbox, free_port

ENGAGE = str(Path(sys.executable).with_name("engage"))
#: z1 has three scoring chunks of 500 and (its first push) three push chunks of 400, z2 and o1
#: one each.
SIZES = {"z1": (150, 1100), "z2": (60, 200)}
PUSH_CHUNKS = {"z1": "push_chunk_records = 400\n"}
#: Each connection's alert routes, a local Slack and Teams webhook each: a breached SLA (one
#: is provoked in each Zoho connection once its first run was alerted on) and a run's own
#: failure alert.
ROUTES = ("slack", "teams")
ODOO_SIZE = (20, 60)
EVERY_SECONDS = 3
SURVEY_SECRET = "a-survey-secret-for-the-cluster-tests"
#: Odoo fields our own writes move; the health time is each store's own (real) time.
ODOO_VOLATILE = {"write_date", "write_uid", "x_engagement_health_updated"}


def odoo_state(odoo: OdooSandbox) -> dict[int, dict[str, Any]]:
    return {
        rid: {k: v for k, v in rec.items() if k not in ODOO_VOLATILE}
        for rid, rec in odoo.records("crm.lead").items()
    }


def wait_for(what: str, predicate: Callable[[], bool], seconds: float = 90) -> float:
    """Poll for an event (not a timing assertion); the monotonic time it happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    pytest.fail(f"{what}: did not happen within {seconds:g} s")


@dataclass
class Cluster:
    url: str
    tmp_path: Path
    zoho: dict[str, SandboxCRM]
    odoo: OdooSandbox
    stores: dict[str, str]
    env: dict[str, str]
    observers: dict[str, FaultInjector]
    #: The SMTP server the connections' survey invitations go to.
    inbox: Inbox
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: The alert webhooks (the live cluster only; hooks named ``<connection><route>``).
    chat: ChatWebhooks | None = None
    #: Per Zoho connection, the deal whose SLA is pushed into breach (chosen by the reference).
    breached: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, Path]:
        """Each connection's config file: its sandbox, its store, the SMTP server, alerts."""
        smtp = f'[surveys.smtp]\nhost = "{self.inbox.host}"\nport = {self.inbox.port}\n'
        extra = {name: PUSH_CHUNKS.get(name, "") + smtp + self.alerts(name) for name in self.stores}
        paths = {
            name: zoho_config(self.tmp_path / f"{name}.toml", crm, self.stores[name], extra[name])
            for name, crm in self.zoho.items()
        }
        paths["o1"] = odoo_config(
            self.tmp_path / "o1.toml", self.odoo, self.stores["o1"], extra["o1"]
        )
        return paths

    def alerts(self, name: str) -> str:
        if self.chat is None:
            return ""
        routes = "".join(
            f'[alerts.routes.{route}]\nchannel = "{route}"\nurl_env = "{hook_env(name, route)}"\n'
            for route in ROUTES
        )
        return (
            '[alerts]\nrules = [{ event = "sla_status", routes = ["slack", "teams"] },'
            ' { event = "job", outcomes = ["failed", "stopped"], routes = ["slack", "teams"] }]\n'
            + routes
        )

    def engage(self, *args: str) -> str:
        done = subprocess.run(
            [ENGAGE, *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start_worker(self, label: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{label}.log").open("ab")
        process = subprocess.Popen(
            [ENGAGE, "-v", "worker", "--concurrency", "2"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(process)
        return process

    def log_of(self, label: str) -> str:
        return (self.tmp_path / f"worker-{label}.log").read_text(errors="replace")

    def runs(self, name: str) -> list[RunRow]:
        store = Store.open(self.stores[name])  # it may not be migrated yet
        try:
            return sorted(store.runs(10_000), key=lambda r: r.id)
        finally:
            store.close()

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as conn:
                return list(conn.execute(sa.text(query), params))
        finally:
            engine.dispose()

    def settle(self) -> None:
        """Pause every connection and wait until no run holds one (the last pushes done) and
        the last runs' surveys and alerts are sent."""
        for name in self.stores:
            self.engage("connections", "pause", name)
        wait_for(
            "the runs in progress to finish",
            lambda: not self.sql("SELECT name FROM connections WHERE lease_expires_at > now()"),
        )
        wait_for(
            "the last surveys and alerts to be sent",
            lambda: (
                not self.sql(
                    "SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                    "AND task_name IN ('engage.surveys', 'engage.alerts')"
                )
            ),
        )

    def provoke_breaches(self) -> None:
        """Once each Zoho connection's first run was alerted on (its baseline learnt), push
        the chosen deal's SLA into breach (a late milestone in its store, as a facts file
        import would): the next run alerts."""
        for name, deal in self.breached.items():
            wait_for(f"{name}: a first run's alerts planned", lambda n=name: bool(seen(self, n)))  # type: ignore[misc]
            save_breach(self.stores[name], deal)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def hook_env(name: str, route: str) -> str:
    return f"ENGAGE_TEST_{name.upper()}_{route.upper()}_HOOK"


def seen(live: Cluster, name: str) -> dict[str, tuple[str, str]]:
    store = Store.open(live.stores[name])
    try:
        return AlertStore(store.engine).seen()
    finally:
        store.close()


def save_breach(store_url: str, deal: str) -> None:
    """Gold/Silver/Bronze want 85-95 % of milestones on time: 0 of 1 is a breach."""
    store = Store.open(store_url)
    today = datetime.now(UTC).date()
    store.save_facts(
        "milestones", [late_milestone(deal, "M1", today - timedelta(days=10))], "file", now()
    )
    store.close()


def now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def cluster(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> Iterator[tuple[Cluster, Cluster]]:
    """The cluster, and the reference (the same sandboxes, one clean in-process run each)."""
    with ExitStack() as stack:
        made = []
        for label in ("cluster", "reference"):
            zoho = {
                name: stack.enter_context(SandboxCRM(accounts=accounts, deals=deals, clock=clock))
                for name, (accounts, deals) in SIZES.items()
            }
            odoo = stack.enter_context(
                OdooSandbox(accounts=ODOO_SIZE[0], deals=ODOO_SIZE[1], version=19, clock=clock)
            )
            inbox = Inbox()
            inbox.port = free_port()
            controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
            controller.start()
            stack.callback(controller.stop)
            stores = {name: pg_schema() for name in (*zoho, "o1")}
            observers = {name: crm.install_faults(FaultPlan()) for name, crm in zoho.items()}
            observers["o1"] = odoo.install_faults(FaultPlan())
            env = (
                dict(os.environ)
                | SHORT_TIMINGS
                | {"ENGAGE_CLUSTER_URL": pg_schema(), "ENGAGE_SURVEY_SECRET": SURVEY_SECRET}
            )
            for name, crm in zoho.items():
                env |= zoho_env(name, crm)
            env |= odoo_env("o1", odoo)
            chat = stack.enter_context(ChatWebhooks()) if label == "cluster" else None
            if chat is not None:
                for name in stores:
                    env |= {
                        hook_env(name, route): getattr(chat, f"{route}_url")(name + route)
                        for route in ROUTES
                    }
            folder = tmp_path / label
            folder.mkdir()
            made.append(
                Cluster(
                    env["ENGAGE_CLUSTER_URL"],
                    folder,
                    zoho,
                    odoo,
                    stores,
                    env,
                    observers,
                    inbox,
                    chat=chat,
                )
            )
        live, reference = made
        live.breached = _clean_runs(reference)
        live.engage("cluster", "init")
        for name, path in live.configs().items():
            live.engage("connections", "add", name, "--config", str(path))
        try:
            yield live, reference
        finally:
            live.stop_workers()
            for process in live.workers:
                if process.poll() is None:
                    process.kill()


def _clean_runs(reference: Cluster) -> dict[str, str]:
    """One run of each connection, then its survey invitations planned and sent; then, in each
    Zoho connection, a deal's SLA pushed into breach and one more run (as the live cluster
    gets): the deal chosen, per connection."""
    breached = {}
    for name, path in reference.configs().items():
        conn = connect(load_settings(path, env=_own_env(reference, name)))
        assert run_job(conn, Job.RUN).status == "ok"
        _send_surveys(conn)
        if name in reference.zoho:
            health = conn.store.health()
            breached[name] = min(
                e.crm_id
                for e in conn.store.engagements()
                if e.sla_tier in ("Gold", "Silver", "Bronze")
                and e.crm_id in health
                and health[e.crm_id].sla_status is SlaStatus.NOT_MEASURED
            )
            save_breach(reference.stores[name], breached[name])
            assert run_job(conn, Job.RUN).status == "ok"
            assert conn.store.health()[breached[name]].sla_status is SlaStatus.BREACHED
            _send_surveys(conn)
        conn.close()
    return breached


def _send_surveys(conn: Connection) -> None:
    surveys = conn.settings.config.surveys
    now = datetime.now(UTC)
    plan_step(conn.store, surveys, now=now)
    with SmtpMailer(surveys.smtp, None) as mailer:
        channel = EmailChannel(mailer, surveys.smtp.sender)
        send_step(conn.store, surveys, channel, secret=SURVEY_SECRET, now=now)


def _own_env(reference: Cluster, name: str) -> dict[str, str]:
    """The usual secret variables of one connection (an in-process run reads those)."""
    if name == "o1":
        return {SECRET_ENV["api_key"]: reference.odoo.api_key}
    crm = reference.zoho[name]
    return {
        SECRET_ENV["client_id"]: crm.client_id,
        SECRET_ENV["client_secret"]: crm.client_secret,
        SECRET_ENV["refresh_token"]: crm.refresh_token,
    }


def assert_ends_as_after_clean_runs(live: Cluster, reference: Cluster) -> None:
    """Each CRM holds what one clean run leaves, and no record was written twice."""
    for name, crm in live.zoho.items():
        assert crm_state(crm) == crm_state(reference.zoho[name]), name
    assert odoo_state(live.odoo) == odoo_state(reference.odoo)
    for name, observer in live.observers.items():
        # As often as the clean runs wrote each (the breached deal and its account twice).
        clean = reference.observers[name].counts.rows_received
        more = {
            rid: (n, clean.get(rid, 0))
            for rid, n in observer.counts.rows_received.items()
            if n > clean.get(rid, 0)
        }
        assert more == {}, f"{name}: records written more often than by clean runs: {more}"
        assert set(observer.counts.rows_received) == set(clean), name
    # Every invitation a clean run sends, sent once: the same recipients, as many times each.
    sent = Counter(r for _, tos, _ in live.inbox.envelopes for r in tos)
    expected = Counter(r for _, tos, _ in reference.inbox.envelopes for r in tos)
    assert expected, "the sandboxes' portfolios plan no survey: the check proves nothing"
    assert sent == expected


def overlaps(runs: list[RunRow]) -> list[tuple[int, int]]:
    """Pairs of runs of one connection whose [start, end] intervals overlap."""
    spans = sorted(
        (r.started_at, r.finished_at or datetime.max.replace(tzinfo=r.started_at.tzinfo), r.id)
        for r in runs
    )
    return [(a[2], b[2]) for a, b in itertools.pairwise(spans) if b[0] < a[1]]


def alerts_sent_once(live: Cluster) -> dict[str, tuple[int, int, int]]:
    """Each hook's messages received against its route's outbox: (received, sent, uncertain).

    A message the outbox records as sent was received once; one left "sending" (its job was
    killed between the post and the record) was received once or not at all; nothing else
    reached the hook. So per hook: sent <= received <= sent + uncertain, and no receiver got
    a message twice unless the outbox holds two. A summary (one message for many alerts)
    counts once."""
    assert live.chat is not None
    found = {}
    for name, url in live.stores.items():
        store = Store.open(url)
        try:
            outbox = AlertStore(store.engine)
            for route in ROUTES:
                rows = outbox.rows(route=route)
                messages = {
                    state: len({r.batch or f"row {r.id}" for r in rows if r.state == state})
                    for state in (SENT, SENDING)
                }
                found[name + route] = (
                    live.chat.count(name + route),
                    messages[SENT],
                    messages[SENDING],
                )
        finally:
            store.close()
    assert live.chat.refused == {}, live.chat.refused
    for hook, (received, sent, uncertain) in found.items():
        assert sent <= received <= sent + uncertain, f"{hook}: {found[hook]}"
    return found


def pushed_in_chunks(live: Cluster, name: str) -> int:
    """The most push chunks one run of ``name`` had (z1's first push: three of 400)."""
    return int(
        live.sql(
            "SELECT coalesce(max((args->>'chunk')::int) + 1, 0) FROM procrastinate_jobs "
            "WHERE task_name = 'engage.push' AND args->>'connection' = :name",
            name=name,
        )[0][0]
    )
