"""Pushes of values unique per record go through ``load`` (the import API): one call per batch.

``write(ids, vals)`` gives every id the same values, so a risk-drivers text unique per deal
used to cost one ``write`` per deal (issue 16 item 9: 1,829 calls for 4,531 records). ``load``
takes a row per record with its ``.id``; Odoo rolls the whole call back when a row is refused
and names the row, so the refused one is isolated with its reason and the rest loaded again.
"""

from __future__ import annotations

import math
from pathlib import Path

from connector.base import WriteOutcome, WriteStatus
from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock
from tests.connector.odoo.conftest import OPPORTUNITIES, client_for
from tests.connector.odoo.test_fields_and_tasks import _invoke

LEVELS = ("low", "medium", "high", "critical")


def _first_push_rows(ids: list[int]) -> list[dict[str, object]]:
    """What a first push writes: every target field, the drivers text unique per deal."""
    return [
        {
            "id": str(i),
            "x_engagement_risk_score": n % 101,
            "x_engagement_risk_level": LEVELS[n % 4],
            "x_engagement_risk_drivers": f"Contract ends in {n} days; {n % 7} late tickets",
            "x_engagement_sla_status": ["compliant", "at_risk", "breached"][n % 3],
            "x_engagement_health_updated": "2026-11-23T17:30:00+08:00",
        }
        for n, i in enumerate(ids)
    ]


def _push(odoo: OdooSandbox, rows: list[dict[str, object]]) -> list[WriteOutcome]:
    """As the push job sends them: batches of the client's ``max_write_batch``."""
    client = client_for(odoo)
    client.get_fields(OPPORTUNITIES)
    odoo.reset_calls()
    outcomes: list[WriteOutcome] = []
    size = client.max_write_batch
    for start in range(0, len(rows), size):
        outcomes += client.update_records(OPPORTUNITIES, rows[start : start + size])
    return outcomes


def test_5000_opportunities_with_unique_drivers_cost_one_call_per_batch(clock: FakeClock) -> None:
    with OdooSandbox(clock=clock, version=19, accounts=300, deals=5000) as odoo:
        leads = odoo.records("crm.lead")
        ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")
        assert len(ids) == 5000
        rows = _first_push_rows(ids)
        statuses = [o.status for o in _push(odoo, rows)]
        batch = client_for(odoo).max_write_batch
        assert statuses == [WriteStatus.WRITTEN] * 5000
        assert odoo.count("load", "crm.lead") + odoo.count("write", "crm.lead") <= math.ceil(
            5000 / batch
        )
        for n, i in enumerate(ids):
            assert leads[i]["x_engagement_risk_drivers"] == rows[n]["x_engagement_risk_drivers"]
            assert leads[i]["x_engagement_risk_level"] == LEVELS[n % 4]
            assert leads[i]["x_engagement_risk_score"] == n % 101
        assert {leads[i]["x_engagement_health_updated"] for i in ids} == {"2026-11-23 09:30:00"}


def test_a_refused_row_is_isolated_with_its_reason_and_the_rest_loaded(
    odoo: OdooSandbox,
) -> None:
    leads = odoo.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")[:40]
    odoo.refuse_writes_to("crm.lead", ids[17], "Closed engagements cannot be rescored")
    odoo.delete("crm.lead", ids[30])  # deleted in Odoo after the sync read it
    before = dict(leads[ids[17]])
    outcomes = _push(odoo, _first_push_rows(ids))
    refused = {
        i: o for i, o in zip(ids, outcomes, strict=True) if o.status is not WriteStatus.WRITTEN
    }
    assert set(refused) == {ids[17], ids[30]}
    assert refused[ids[17]].status is WriteStatus.INVALID
    assert refused[ids[17]].crm_code == "ValidationError"
    assert refused[ids[17]].message and "cannot be rescored" in refused[ids[17]].message
    assert refused[ids[30]].status is WriteStatus.FAILED
    assert refused[ids[30]].crm_code == "MissingError"
    assert leads[ids[17]] == before  # nothing of the refused row was written
    written = [i for i in ids if i not in refused]
    assert all(leads[i]["x_engagement_risk_drivers"].startswith("Contract ends") for i in written)
    # One load refused (naming both rows), each refused row tried alone with write, one
    # load of the 38 others.
    assert odoo.count("load", "crm.lead") == 2
    assert odoo.count("write", "crm.lead") == 2


def test_archived_opportunities_are_found_by_load(odoo: OdooSandbox) -> None:
    """``load`` looks ``.id`` up with a search, which hides archived (lost) leads unless the
    context turns active_test off."""
    lost = odoo.lost_leads[:3]
    assert lost
    leads = odoo.records("crm.lead")
    others = sorted(i for i, r in leads.items() if r["type"] == "opportunity" and r["active"])[:5]
    outcomes = _push(odoo, _first_push_rows([*lost, *others]))
    assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 8
    assert odoo.count("load") == 1 and odoo.count("write") == 0
    assert all(leads[i]["x_engagement_risk_drivers"].startswith("Contract ends") for i in lost)


def test_the_first_push_of_5000_deals_through_engage(clock: FakeClock, tmp_path: Path) -> None:
    """The acceptance of issue 16 item 9, end to end: sync, score, push on 5,000 deals."""
    with OdooSandbox(clock=clock, version=17, accounts=300, deals=5000) as odoo:
        for step in (["sync"], ["score"]):
            code, output = _invoke(odoo, tmp_path, *step)
            assert code == 0, output
        odoo.reset_calls()
        code, output = _invoke(odoo, tmp_path, "push")
        assert code == 0, output
        leads = odoo.records("crm.lead")
        scored = [i for i, r in leads.items() if r.get("x_engagement_risk_drivers")]
        drivers = {leads[i]["x_engagement_risk_drivers"] for i in scored}
        # Over a thousand distinct texts: grouped write needed one call per distinct set.
        assert len(scored) > 4000 and len(drivers) > 1000
        batch = client_for(odoo).max_write_batch
        lead_calls = odoo.count("load", "crm.lead") + odoo.count("write", "crm.lead")
        print(f"first push: {len(scored)} opportunities written in {lead_calls} calls")
        assert lead_calls <= math.ceil(5000 / batch) + 3


def test_where_load_is_refused_it_is_tried_once_and_write_does_the_rest(
    odoo: OdooSandbox,
) -> None:
    leads = odoo.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")[:20]
    # Two sets of columns (half the rows also carry a score): two loads would be needed.
    rows: list[dict[str, object]] = [
        {"id": str(i), "x_engagement_risk_drivers": f"why {i}"}
        | ({"x_engagement_risk_score": n} if n % 2 else {})
        for n, i in enumerate(ids)
    ]
    odoo.refuse_load()
    outcomes = _push(odoo, rows)
    assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 20
    assert odoo.count("load") == 1
    assert [leads[i]["x_engagement_risk_drivers"] for i in ids] == [f"why {i}" for i in ids]
    assert [leads[i]["x_engagement_risk_score"] for n, i in enumerate(ids) if n % 2] == [
        n for n in range(20) if n % 2
    ]
