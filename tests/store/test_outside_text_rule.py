"""The one rule for text from outside, at the store: NUL removed from text, JSON and jsonb."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.store import Store
from jobs.store.field_states import save_crm_values, stored_fields

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
