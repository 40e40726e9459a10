"""Odoo: a fault AFTER the write was applied (the answer lost: connection reset, or a 502 from
the proxy in front) leaves Odoo holding exactly the expected values, each row once in the
ledger, and no follow-up activity twice (issue 17 item 4, Odoo side)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connector.base import NewTask, WriteStatus
from connector.http import HttpTransport
from connector.odoo import OdooClient, OdooSite
from connector.retry import RetryPolicy
from connector.sandbox.faults import FaultKind, FaultPlan
from connector.sandbox.odoo.seed import PLUGIN_FIELDS
from connector.sandbox.odoo.server import OdooSandbox
from jobs.demo.odoo import odoo_sandbox_settings
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import Job, connect, run_job
from tests.conftest import FakeClock

OPPORTUNITIES = 'crm.lead [["type", "=", "opportunity"]]'
LOST_KINDS = [FaultKind.RESET, FaultKind.SERVER_ERROR]


@pytest.fixture(params=[19, 17], ids=["json2", "jsonrpc"])
def odoo(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[OdooSandbox]:
    with OdooSandbox(clock=clock, version=request.param, accounts=20, deals=60) as sandbox:
        yield sandbox


def _client(odoo: OdooSandbox) -> OdooClient:
    site = OdooSite(odoo.url, odoo.database, odoo.login, SecretStr(odoo.api_key))
    policy = RetryPolicy(sleep=lambda _: None, random=random.Random(3).random)
    return OdooClient(site, HttpTransport(policy=policy))


@pytest.mark.parametrize("kind", LOST_KINDS, ids=lambda k: k.value)
def test_a_lost_answer_after_load_ends_with_exactly_the_values_sent(
    odoo: OdooSandbox, kind: FaultKind
) -> None:
    leads = odoo.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")[:25]
    rows = [
        {"id": str(i), "x_engagement_risk_drivers": f"driver {i}", "x_engagement_risk_score": n}
        for n, i in enumerate(ids)
    ]
    client = _client(odoo)
    client.get_fields(OPPORTUNITIES)
    odoo.lose_answer_after("load", "crm.lead", kind=kind)
    odoo.reset_calls()
    outcomes = client.update_records(OPPORTUNITIES, rows)
    assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 25
    assert [
        (leads[i]["x_engagement_risk_drivers"], leads[i]["x_engagement_risk_score"]) for i in ids
    ] == [(f"driver {i}", n) for n, i in enumerate(ids)]
    assert odoo.count("load", "crm.lead") == 2  # applied, answer lost, resent: same values


@pytest.mark.parametrize("kind", LOST_KINDS, ids=lambda k: k.value)
def test_a_lost_answer_after_the_activities_were_created_makes_no_second_task(
    odoo: OdooSandbox, kind: FaultKind
) -> None:
    leads = sorted(i for i, r in odoo.records("crm.lead").items() if r["type"] == "opportunity")
    tasks = [
        NewTask(
            module=OPPORTUNITIES,
            record_id=str(lead),
            subject=f"Survey follow-up {n}",
            description="NPS 3: please call",
            due=date(2026, 11, 30),
            key=f"followup:{n}",
        )
        for n, lead in enumerate(leads[:3])
    ]
    activities = odoo.records("mail.activity")
    before = set(activities)
    odoo.lose_answer_after("load", "mail.activity", kind=kind)
    client = _client(odoo)
    outcomes = client.create_tasks(tasks)
    assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 3
    created = set(activities) - before
    assert len(created) == 3  # the resent load found the external ids: no second task
    assert {o.record_id for o in outcomes} == {str(i) for i in created}
    assert sorted(activities[i]["summary"] for i in created) == [t.subject for t in tasks]
    # A later run asking for the same follow-ups gets the same tasks back, creates none.
    again = _client(odoo).create_tasks(tasks)
    assert [o.record_id for o in again] == [o.record_id for o in outcomes]
    assert set(activities) - before == created
    keys = [
        row
        for row in odoo.records("ir.model.data").values()
        if row["module"] == "engagement_connector" and row["model"] == "mail.activity"
    ]
    assert sorted(row["res_id"] for row in keys) == sorted(created)


def _state(odoo: OdooSandbox) -> dict[str, dict[int, dict[str, Any]]]:
    """Every record the push can touch, without the stamps Odoo puts on each write."""
    return {
        model: {
            rid: {k: v for k, v in row.items() if k not in ("write_date", "create_date")}
            for rid, row in odoo.records(model).items()
        }
        for model in ("crm.lead", "res.partner", "mail.activity")
    }


@pytest.mark.parametrize("version", [19, 17], ids=["json2", "jsonrpc"])
def test_a_run_whose_write_answers_are_lost_ends_as_a_clean_run(
    tmp_path: Path, version: int
) -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clean_clock, faulty_clock = FakeClock(start), FakeClock(start)
    with (
        OdooSandbox(clock=clean_clock, version=version, accounts=30, deals=150) as clean,
        OdooSandbox(clock=faulty_clock, version=version, accounts=30, deals=150) as faulty,
    ):
        assert _state(clean) == _state(faulty)
        policy = RetryPolicy(sleep=lambda _: None, random=random.Random(5).random)
        clean_conn = connect(
            odoo_sandbox_settings(clean, f"sqlite:///{tmp_path / 'clean.db'}", tmp_path / "a.toml"),
            clock=clean_clock,
            policy=policy,
        )
        assert run_job(clean_conn, Job.RUN).status == "ok"
        clean_conn.close()

        # Every kind of write the push makes loses its first answer after Odoo applied it.
        for method in ("load", "write"):
            faulty.lose_answer_after(method, "crm.lead", kind=FaultKind.RESET)
            faulty.lose_answer_after(method, "res.partner", kind=FaultKind.SERVER_ERROR)
        conn = connect(
            odoo_sandbox_settings(
                faulty, f"sqlite:///{tmp_path / 'faulty.db'}", tmp_path / "b.toml"
            ),
            clock=faulty_clock,
            policy=policy,
        )
        result = run_job(conn, Job.RUN)
        assert result.status == "ok", result.message
        assert faulty.count("load", "crm.lead") >= 2  # the lost one was sent again
        assert _state(faulty) == _state(clean)

        ledger = Ledger(conn.store)
        for module, model in (
            ('crm.lead [["type", "=", "opportunity"]]', "crm.lead"),
            ('res.partner [["is_company", "=", true]]', "res.partner"),
        ):
            written = {
                str(rid)
                for rid, row in clean.records(model).items()
                if any(row.get(name) not in (None, False) for name in PLUGIN_FIELDS[model])
            }
            rows = ledger.rows(module)  # one row per record by construction: once each
            assert written and written <= set(rows), module
            assert {rows[rid].status for rid in written} == {RowStatus.WRITTEN}
        assert not ledger.failed()
        conn.close()


def test_the_shared_fault_plan_strikes_odoo_calls_after_they_ran(odoo: OdooSandbox) -> None:
    """faults.py's FaultPlan on the Odoo sandbox: resets and 5xx after the call ran."""
    leads = odoo.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")[:30]
    client = _client(odoo)
    client.get_fields(OPPORTUNITIES)
    injector = odoo.install_faults(
        FaultPlan(seed=4, rate_reset=0.15, rate_5xx=0.15, after_share=1.0)
    )
    for chunk in range(0, 30, 3):  # ten calls, so that some are struck
        rows = [
            {
                "id": str(i),
                "x_engagement_risk_drivers": f"plan {i}",
                "x_engagement_risk_score": i % 90,
            }
            for i in ids[chunk : chunk + 3]
        ]
        assert {o.status for o in client.update_records(OPPORTUNITIES, rows)} == {
            WriteStatus.WRITTEN
        }
    assert injector.counts.total() >= 2  # the plan really struck
    assert [leads[i]["x_engagement_risk_drivers"] for i in ids] == [f"plan {i}" for i in ids]
    assert [leads[i]["x_engagement_risk_score"] for i in ids] == [i % 90 for i in ids]
