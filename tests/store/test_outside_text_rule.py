"""The one rule for text from outside, at the store: NUL removed from text, JSON and jsonb."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jobs.store import Store
from jobs.store.field_states import save_crm_values, stored_fields
from mappings.domain import Milestone

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_nul_is_removed_from_text_and_json_values_on_both_databases(store: Store) -> None:
    store.record_skip("engagements", "D\x001", "Amount = '12\x00,000'", "Amount", None, NOW)
    with store.engine.begin() as conn:
        # A CRM value of a plugin field, kept as JSON (jsonb on PostgreSQL, which refuses
        # "\u0000" even escaped).
        save_crm_values(conn, "Deals", {"D1": {"Risk_Notes": "late\x00 again"}}, NOW)
    (skip,) = store.skips()
    assert (skip.record_id, skip.reason) == ("D1", "Amount = '12,000'")
    with store.engine.connect() as conn:
        fields = stored_fields(conn, "Deals", ["D1"])
    assert fields["D1"]["Risk_Notes"][1] == "late again"


def test_text_without_nul_is_stored_exactly_as_given(store: Store) -> None:
    given = "Rollout\r\nBcc: x@y \\u0000 \x1b[31m 上线 \t"
    store.set_meta("note", given)
    assert store.meta("note") == given


def test_nul_in_a_batch_of_facts_is_removed_and_the_warning_names_only_those_facts(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Many facts go as one array per column on PostgreSQL: the rule must look into the arrays,
    # and the warning must name the fact that held NUL, not the thousand around it.
    milestones = [
        Milestone(
            external_id=f"M{i:04d}",
            engagement_id="E1",
            name="Kick\x00off" if i == 7 else f"Milestone {i}",
            planned_date=date(2026, 12, 1),
            planned_value=Decimal("1000.00"),
            percent_complete=0.0,
        )
        for i in range(1200)
    ]
    with caplog.at_level(logging.WARNING, logger="jobs.store.outside_text"):
        assert store.save_facts("milestones", milestones, "file", NOW) == 1200
    names = {m.external_id: m.name for m in store.milestones()["E1"]}
    assert names["M0007"] == "Kickoff"
    assert names["M0008"] == "Milestone 8"
    warnings = [r.getMessage() for r in caplog.records if "NUL" in r.getMessage()]
    if store.engine.dialect.name == "postgresql":
        # Positional parameters on SQLite leave the row unnamed ("?"), as for every table there.
        assert len(warnings) == 1 and "milestones M0007 (name)" in warnings[0], warnings
        assert "M0008" not in warnings[0]
    else:
        assert len(warnings) == 1 and "milestones" in warnings[0], warnings
