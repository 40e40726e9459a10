"""Writes: grouped by value so the cost follows distinct values, not records; bad rows isolated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.base import WriteStatus
from connector.odoo.values import plan_writes
from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock
from tests.connector.odoo.conftest import OPPORTUNITIES, client_for

LEVELS = ("low", "medium", "high", "critical")


@pytest.fixture(params=[19, 17], ids=["json2", "jsonrpc"])
def big(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[OdooSandbox]:
    with OdooSandbox(clock=clock, version=request.param, accounts=200, deals=1000) as sandbox:
        yield sandbox


def test_a_risk_level_on_1000_opportunities_with_4_levels_takes_4_write_calls_without_load(
    big: OdooSandbox,
) -> None:
    leads = big.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")
    assert len(ids) == 1000
    big.refuse_load()  # a server where the import API is refused: grouped write it is
    client = client_for(big)
    rows = [{"id": str(i), "x_engagement_risk_level": LEVELS[n % 4]} for n, i in enumerate(ids)]
    big.reset_calls()
    outcomes = client.update_records(OPPORTUNITIES, rows)
    assert big.count("load", "crm.lead") == 1  # tried once, refused, not tried again
    assert big.count("write", "crm.lead") == 4
    assert all(o.status is WriteStatus.WRITTEN for o in outcomes)
    assert [leads[i]["x_engagement_risk_level"] for i in ids] == [
        LEVELS[n % 4] for n in range(1000)
    ]


def test_rows_sharing_whole_rows_are_written_together() -> None:
    rows = [
        (1, {"a": 1, "b": "x"}),
        (2, {"a": 1, "b": "x"}),
        (3, {"a": 2, "b": "y"}),
    ]
    assert plan_writes(rows) == [([1, 2], {"a": 1, "b": "x"}), ([3], {"a": 2, "b": "y"})]


def test_per_field_grouping_is_chosen_when_rows_differ_but_values_repeat() -> None:
    # Six rows, no two alike (6 calls as rows); per field: 2 levels + 3 tiers = 5 calls.
    rows = [
        (i, {"level": "high" if i % 2 else "low", "tier": "a" if i < 3 else "b"}) for i in range(6)
    ]
    rows = [(i, {**v, "tier": ["a", "b", "c"][i % 3]}) for i, v in rows]
    groups = plan_writes(rows)
    assert len(groups) == 5  # 2 levels + 3 tiers, against 6 distinct rows
    assert ([1, 3, 5], {"level": "high"}) in groups


def test_a_refused_record_is_isolated_and_the_rest_written(odoo: OdooSandbox) -> None:
    leads = odoo.records("crm.lead")
    ids = sorted(i for i, r in leads.items() if r["type"] == "opportunity")[:8]
    odoo.delete("crm.lead", ids[5])  # deleted in Odoo after the sync read it
    client = client_for(odoo)
    client.get_fields(OPPORTUNITIES)  # metadata first, so only writes are counted below
    odoo.reset_calls()
    outcomes = client.update_records(
        OPPORTUNITIES, [{"id": str(i), "x_engagement_risk_level": "high"} for i in ids]
    )
    assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 5 + [WriteStatus.FAILED] + [
        WriteStatus.WRITTEN
    ] * 2
    assert outcomes[5].crm_code == "MissingError"
    # 8 refused, 4+4: first half written, second refused; 2+2, then 1+1.
    assert odoo.count("write", "crm.lead") == 7
    assert all(leads[i]["x_engagement_risk_level"] == "high" for i in ids if i != ids[5])


def test_a_constraint_refusal_is_invalid_with_odoos_reason(odoo: OdooSandbox) -> None:
    ids = sorted(i for i, r in odoo.records("crm.lead").items() if r["type"] == "opportunity")
    client = client_for(odoo)
    outcomes = client.update_records(
        OPPORTUNITIES,
        [
            {"id": str(ids[0]), "x_engagement_risk_score": 150},
            {"id": str(ids[1]), "x_engagement_risk_score": 60},
        ],
    )
    assert outcomes[0].status is WriteStatus.INVALID
    assert outcomes[0].crm_code == "ValidationError"
    assert "between 0 and 100" in outcomes[0].message
    assert outcomes[1].status is WriteStatus.WRITTEN


def test_values_are_written_in_odoos_shapes(odoo: OdooSandbox) -> None:
    lead_id = min(i for i, r in odoo.records("crm.lead").items() if r["type"] == "opportunity")
    client = client_for(odoo)
    client.update_records(
        OPPORTUNITIES,
        [
            {
                "id": str(lead_id),
                "x_engagement_health_updated": "2026-11-23T17:30:00+08:00",
                "x_engagement_nps": None,
            }
        ],
    )
    stored = odoo.records("crm.lead")[lead_id]
    assert stored["x_engagement_health_updated"] == "2026-11-23 09:30:00"  # naive UTC
    assert stored["x_engagement_nps"] is False  # Odoo's empty


def test_a_choice_odoo_does_not_offer_is_refused_before_any_call(odoo: OdooSandbox) -> None:
    lead_id = min(i for i, r in odoo.records("crm.lead").items() if r["type"] == "opportunity")
    client = client_for(odoo)
    client.get_fields(OPPORTUNITIES)
    odoo.reset_calls()
    [outcome] = client.update_records(
        OPPORTUNITIES, [{"id": str(lead_id), "x_engagement_risk_level": "High"}]
    )
    assert outcome.status is WriteStatus.INVALID
    assert "low, medium, high, critical" in outcome.message
    assert odoo.count("write") == 0


def test_fields_whose_values_go_together_are_written_together() -> None:
    # drivers and score move together (3 combinations); level and tier have 2 values each.
    rows = [
        (
            i,
            {
                "drivers": f"d{i % 3}",
                "score": i % 3,
                "level": ["low", "high"][i % 2],
                "tier": "ab"[i // 6],
            },
        )
        for i in range(12)
    ]
    groups = plan_writes(rows)
    # Per field: 3 + 3 + 2 + 2 = 10 calls; whole rows: 12; drivers+score together: 3 + 2 + 2 = 7.
    assert len(groups) == 7
    assert ([0, 3, 6, 9], {"drivers": "d0", "score": 0}) in groups
    assert sorted(i for ids, vals in groups for i in ids if "tier" in vals) == list(range(12))
