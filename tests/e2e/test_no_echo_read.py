"""The run after a push does not read back what the push wrote (jobs/push/echo.py): Zoho moves
Modified_Time on the plugin's own writes, so a plain incremental read would fetch every written
record again. A person's edit after the push is still read and synced."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.sandbox import SandboxCRM
from connector.sandbox.zoho import coql
from jobs.demo.run import sandbox_settings
from jobs.runner import Connection, Job, connect, run_job
from tests.conftest import FakeClock

#: What the default mapping reads, and which of them the push writes.
READ_MODULES = ("Accounts", "Contacts", "Deals", "Calls", "Events", "Notes")
WRITTEN_MODULES = ("Accounts", "Deals")


def reads(crm: SandboxCRM, module: str) -> int:
    return crm.count("get_records", module) + crm.count("coql", module)


def pushed_once(crm: SandboxCRM, store_url: str, tmp_path: Path, clock: FakeClock) -> Connection:
    conn = connect(sandbox_settings(crm, store_url, tmp_path / "engage.toml"), clock=clock)
    first = run_job(conn, Job.RUN)
    assert first.push is not None and first.push.written > 100
    clock.advance(minutes=15)
    crm.reset_calls()
    return conn


def test_the_run_after_a_push_reads_one_call_per_module_and_writes_nothing(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = pushed_once(sandbox, store_url, tmp_path, clock)

    after = run_job(conn, Job.RUN)

    assert after.push is not None and after.push.to_update == 0
    assert sandbox.count("update") == 0
    assert {m: reads(sandbox, m) for m in READ_MODULES} == dict.fromkeys(READ_MODULES, 1)
    # The modules the push wrote were asked who else changed them (one COQL call, answered
    # 204); none of their records was fetched. (A module the push did not write may send back
    # the records of its cursor's own second: If-Modified-Since goes one second early until the
    # org's reading of that second is known, connector/zoho/times.py IfModifiedSinceReading.)
    assert {m: sandbox.count("coql", m) for m in WRITTEN_MODULES} == {"Accounts": 1, "Deals": 1}
    assert [key for key in sandbox.served if key[0] in WRITTEN_MODULES] == []
    # The cursor moved past the push: the next run is a plain read again, one call a module.
    clock.advance(minutes=15)
    sandbox.reset_calls()
    run_job(conn, Job.RUN)
    assert {m: sandbox.count("get_records", m) for m in READ_MODULES} == dict.fromkeys(
        READ_MODULES, 1
    )
    assert sandbox.count("coql") == 0 and sandbox.count("update") == 0
    conn.close()


def test_a_deal_a_person_edits_after_the_push_is_read_and_synced(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = pushed_once(sandbox, store_url, tmp_path, clock)
    deal_id = next(e.crm_id for e in conn.store.engagements() if e.status.value == "active")
    sandbox.edit("Deals", deal_id, Deal_Name="Renamed by a person")

    run_job(conn, Job.RUN)

    assert {e.crm_id: e.name for e in conn.store.engagements()}[deal_id] == "Renamed by a person"
    # One COQL call listed it, one Get Records call fetched it (and only it).
    assert (sandbox.count("coql", "Deals"), sandbox.count("get_records", "Deals")) == (1, 1)
    assert [key for key in sandbox.served if key[0] == "Deals"] == [("Deals", deal_id)]
    conn.close()


def test_when_zoho_refuses_the_coql_filter_the_read_falls_back_and_misses_nothing(
    sandbox: SandboxCRM,
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other reading of the unconfirmed points (COQL scope, Modified_By in a criterion):
    Zoho refuses the query; the read is then a plain one, echo included."""
    conn = pushed_once(sandbox, sqlite_url, tmp_path, clock)
    deal_id = next(e.crm_id for e in conn.store.engagements() if e.status.value == "active")
    sandbox.edit("Deals", deal_id, Deal_Name="Renamed by a person")

    def refuse(*_: object) -> coql.Query:
        raise coql.CoqlError(
            "SYNTAX_ERROR", "error occured while parsing the query", {"clause": "where"}
        )

    monkeypatch.setattr(coql, "parse", refuse)

    after = run_job(conn, Job.RUN)

    assert {e.crm_id: e.name for e in conn.store.engagements()}[deal_id] == "Renamed by a person"
    assert after.push is not None and after.push.to_update <= 2  # the deal and its account
    # Refused once (accounts are read first), not asked again by this process.
    assert (sandbox.count("coql", "Accounts"), sandbox.count("coql", "Deals")) == (1, 0)
    assert sandbox.count("get_records", "Deals") >= 2  # the echo is read again
    conn.close()
