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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultInjector, FaultPlan
from connector.sandbox.odoo.server import OdooSandbox
from jobs.config import SECRET_ENV, load_settings
from jobs.runner import Job, connect, run_job
from jobs.store import Store
from jobs.store.store import RunRow
from jobs.surveys.mail import EmailChannel, SmtpMailer
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock
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
#: z1 has three scoring chunks of 500, z2 and o1 one each.
SIZES = {"z1": (150, 1100), "z2": (60, 200)}
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

    def configs(self) -> dict[str, Path]:
        """Each connection's config file: its sandbox, its store, the SMTP server."""
        smtp = f'[surveys.smtp]\nhost = "{self.inbox.host}"\nport = {self.inbox.port}\n'
        paths = {
            name: zoho_config(self.tmp_path / f"{name}.toml", crm, self.stores[name], smtp)
            for name, crm in self.zoho.items()
        }
        paths["o1"] = odoo_config(self.tmp_path / "o1.toml", self.odoo, self.stores["o1"], smtp)
        return paths

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
        """Pause every connection and wait until no run holds one (the last pushes done)."""
        for name in self.stores:
            self.engage("connections", "pause", name)
        wait_for(
            "the runs in progress to finish",
            lambda: not self.sql("SELECT name FROM connections WHERE lease_expires_at > now()"),
        )

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
            folder = tmp_path / label
            folder.mkdir()
            made.append(
                Cluster(
                    env["ENGAGE_CLUSTER_URL"], folder, zoho, odoo, stores, env, observers, inbox
                )
            )
        live, reference = made
        _clean_runs(reference)
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


def _clean_runs(reference: Cluster) -> None:
    """One run of each connection, then its survey invitations planned and sent."""
    for name, path in reference.configs().items():
        conn = connect(load_settings(path, env=_own_env(reference, name)))
        assert run_job(conn, Job.RUN).status == "ok"
        surveys = conn.settings.config.surveys
        now = datetime.now(UTC)
        plan_step(conn.store, surveys, now=now)
        with SmtpMailer(surveys.smtp, None) as mailer:
            channel = EmailChannel(mailer, surveys.smtp.sender)
            send_step(conn.store, surveys, channel, secret=SURVEY_SECRET, now=now)
        conn.close()


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
        twice = {rid: n for rid, n in observer.counts.rows_received.items() if n > 1}
        assert twice == {}, f"{name}: records written more than once: {twice}"
        clean = reference.observers[name].counts.rows_received
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
