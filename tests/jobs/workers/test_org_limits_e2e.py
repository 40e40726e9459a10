"""Two orgs with small credit budgets and a concurrency cap of 2, four `engage worker`
processes: neither org ever goes past its budget or its cap (the sandboxes count), and both
finish their work over several days' budget windows (the sandboxes' clock moved a day at a
time, the cluster's org windows with it)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from jobs.credits import CRM_REMAINING_KEY
from jobs.store import Store
from tests.conftest import FakeClock
from tests.jobs.workers.cluster import ENGAGE, wait_for
from tests.jobs.workers.conftest import SHORT_TIMINGS, zoho_config, zoho_env

pytestmark = pytest.mark.postgres

#: Credits per org and day: a connection's first run (29 credits on these sandboxes, a later
#: one 6) needs more than one day's worth.
BUDGET = 25
CAP = 2
#: Org A: three connections on one Zoho org (sandbox), more than its cap; org B: one.
CONNECTIONS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B"}
DAYS_AT_MOST = 12


def test_two_orgs_never_pass_their_budget_or_cap_and_finish_over_several_days(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> None:
    began = time.monotonic()
    cluster_url = pg_schema()
    env = dict(os.environ) | SHORT_TIMINGS | {"ENGAGE_CLUSTER_URL": cluster_url}
    extra = (
        f"org_concurrency = {CAP}\norg_credit_budget = {BUDGET}\ncredit_block = 10\n"
        "[push]\nwrite_concurrency = 1\n"
    )
    sandboxes = {
        org: SandboxCRM(accounts=20, deals=60, clock=clock, daily_credits=BUDGET)
        for org in ("A", "B")
    }
    # Each call takes 50 ms: org A's three connections' calls overlap, so its cap is reached.
    sandboxes["A"].latency_seconds = 0.05
    stores = {name: pg_schema() for name in CONNECTIONS}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for crm in sandboxes.values():
            crm.__enter__()
        subprocess.run([ENGAGE, "cluster", "init"], env=env, check=True, capture_output=True)
        for name, org in CONNECTIONS.items():
            crm = sandboxes[org]
            path = zoho_config(
                tmp_path / f"{name}.toml", crm, stores[name], f'org = "{org}"\n' + extra, 2
            )
            subprocess.run(
                [ENGAGE, "connections", "add", name, "--config", str(path)],
                env=env,
                check=True,
                capture_output=True,
            )
            env |= zoho_env(name, crm)
        workers = [
            subprocess.Popen(
                [ENGAGE, "worker", "--concurrency", "2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(4)
        ]
        engine = sa.create_engine(cluster_url)
        days, spent = 0, dict.fromkeys(sandboxes, 0)
        finished: set[str] = set()
        while True:
            days += 1
            assert days <= DAYS_AT_MOST, "the orgs did not finish their work"
            # The day's window: wait until each connection still at work has had a run end
            # today (stopped for credits, or through to its end).
            since = {name: _last_run_id(stores[name]) for name in CONNECTIONS}
            at_work = [name for name in CONNECTIONS if name not in finished]
            wait_for(
                f"day {days}: a run of each connection to end",
                lambda at_work=at_work, since=since: all(  # type: ignore[misc]
                    _ended_since(stores[name], since[name]) for name in at_work
                ),
                120,
            )
            # The day ends: no run straddles it (nor a credit block reserved in it).
            for name in CONNECTIONS:
                _engage(env, "connections", "pause", name)
            wait_for("the runs to end", lambda: not _leases(engine), 60)
            for org, crm in sandboxes.items():
                used = crm.org_credits_used
                assert used <= BUDGET, f"org {org} spent {used} credits in a day of {BUDGET}"
                spent[org] += used
            # A connection that finished stays paused: its later runs' syncs would spend the
            # org's credits that the others still need.
            finished |= {name for name in CONNECTIONS if _finished(stores[name])}
            if finished == set(CONNECTIONS):
                break
            # The next day, for everyone: the sandboxes' clock, the cluster's org windows, and
            # each connection's last count of the CRM's credits (a day old now, so no longer
            # believed). The workers' own clock is the machine's and cannot move.
            for crm in sandboxes.values():
                crm.advance_clock(days=1)
            for url in stores.values():
                _age_crm_count(url, timedelta(days=1))
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE org_limits SET window_start = window_start "
                        "- make_interval(secs => window_seconds)"
                    )
                )
            for name in set(CONNECTIONS) - finished:
                _engage(env, "connections", "resume", name)
        engine.dispose()
        for org, crm in sandboxes.items():
            assert crm.peak_in_flight <= CAP, f"org {org}: {crm.peak_in_flight} calls at once"
            assert crm.count("update", "Deals") > 0, org
        # The cap was reached (three connections wanted more): the slots, not luck, held it.
        assert sandboxes["A"].peak_in_flight == CAP
        assert days >= 2, "the budget was never binding: the test proves nothing"
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=60)
        for crm in sandboxes.values():
            crm.__exit__(None, None, None)
    print(
        f"\ntwo orgs, budget {BUDGET}/day, cap {CAP}, 4 workers: finished in {days} days, "
        f"credits {spent}, peak calls {[c.peak_in_flight for c in sandboxes.values()]}; "
        f"{time.monotonic() - began:.0f} s"
    )


def _age_crm_count(url: str, by: timedelta) -> None:
    store = Store.open(url)
    try:
        text = store.meta(CRM_REMAINING_KEY)
        if text:
            count = json.loads(text)
            count["at"] = (datetime.fromisoformat(count["at"]) - by).isoformat()
            store.set_meta(CRM_REMAINING_KEY, json.dumps(count))
    finally:
        store.close()


def _engage(env: dict[str, str], *args: str) -> None:
    subprocess.run([ENGAGE, *args], env=env, check=True, capture_output=True)


def _leases(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        query = "SELECT name FROM connections WHERE lease_expires_at > now()"
        return list(conn.execute(sa.text(query)).scalars())


def _last_run_id(url: str) -> int:
    store = Store.open(url)
    try:
        runs = store.runs(1)
        return runs[0].id if runs else 0
    finally:
        store.close()


def _ended_since(url: str, run_id: int) -> bool:
    """A run newer than ``run_id`` ended: stopped for credits, or through to its end."""
    store = Store.open(url)
    try:
        return any(
            r.id > run_id and (r.status in ("ok", "partial") or "credit" in (r.message or ""))
            for r in store.runs(20)
        )
    finally:
        store.close()


def _runs(url: str) -> list[tuple[str, str | None]]:
    """The connection's runs, newest first: (status, message)."""
    store = Store.open(url)
    try:
        return [(r.status, r.message) for r in store.runs(1000)]
    finally:
        store.close()


def _finished(url: str) -> bool:
    """A run went through to its end once (later runs spend credits on syncs, and stop)."""
    return any(status in ("ok", "partial") for status, _ in _runs(url))
