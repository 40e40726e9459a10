"""Zoho Tasks (POST /crm/v8/Tasks) through the real client against the sandbox over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from connector.base import NewTask, WriteStatus
from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import connect
from tests.conftest import FakeClock


def task(record_id: str, key: str, owner_id: str | None = None) -> NewTask:
    return NewTask(
        module="Deals",
        record_id=record_id,
        subject="Survey follow-up",
        description="NPS 3",
        due=date(2026, 11, 25),
        key=key,
        owner_id=owner_id,
    )


def test_one_call_creates_the_good_tasks_and_reports_the_bad_one(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    deal_id, deal = next(iter(sandbox.records("Deals").items()))
    owner = deal["Owner"]["id"]
    outcomes = conn.client.create_tasks(
        [task(deal_id, "k1", owner), task("404", "k2"), task(deal_id, "k3")]
    )
    assert [o.status for o in outcomes] == [
        WriteStatus.WRITTEN,
        WriteStatus.INVALID,
        WriteStatus.WRITTEN,
    ]
    assert outcomes[1].record_id == "404" and outcomes[1].field == "What_Id"
    assert sandbox.count("create_tasks") == 1
    created = {t["id"]: t for t in sandbox.tasks()}
    assert set(created) == {outcomes[0].record_id, outcomes[2].record_id}
    first = created[outcomes[0].record_id]
    assert first["Owner"]["id"] == owner
    assert first["Description"] == "NPS 3\n\n[engage:k1]"
    assert first["Due_Date"] == "2026-11-25" and first["Status"] == "Not Started"
    conn.close()
