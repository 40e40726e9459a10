"""What every CRM client must do, checked against each CRM's sandbox over real HTTP."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from connector.base import NewTask, WriteStatus
from connector.errors import UnknownFieldError
from tests.conftest import FakeClock
from tests.contract.conftest import Adapter


def test_paging_returns_every_deal_once_across_several_pages(adapter: Adapter) -> None:
    pages = list(adapter.client.iter_pages(adapter.deals_module, adapter.read_fields))
    ids = [record["id"] for page in pages for record in page.records]
    assert len(pages) >= 3
    assert [page.more_records for page in pages][-1] is False
    assert len(ids) == len(set(ids))
    assert set(ids) == adapter.deal_ids()


def test_incremental_read_returns_the_deals_changed_since_and_moves_the_cursor(
    adapter: Adapter, clock: FakeClock
) -> None:
    clock.advance(hours=2)
    since = clock()
    changed = sorted(adapter.deal_ids())[:2]
    clock.advance(minutes=5)
    for record_id in changed:
        adapter.edit_deal(record_id)
    pages = list(
        adapter.client.iter_pages(adapter.deals_module, adapter.read_fields, modified_since=since)
    )
    records = [record for page in pages for record in page.records]
    assert sorted(r["id"] for r in records) == changed
    newest = max(p.newest_modified for p in pages if p.newest_modified is not None)
    assert newest == clock()


def test_reading_a_field_the_crm_does_not_have_raises_unknown_field_naming_it(
    adapter: Adapter,
) -> None:
    # The sync reads on without an optional field that is gone; it knows only this error type,
    # never a CRM's own code (Zoho's INVALID_DATA, Odoo's missing fields_get entry).
    with pytest.raises(UnknownFieldError) as raised:
        list(adapter.client.iter_pages(adapter.deals_module, [*adapter.read_fields, "Gone_Field"]))
    assert raised.value.field == "Gone_Field"


def test_a_deleted_deal_is_reported(adapter: Adapter, clock: FakeClock) -> None:
    known = adapter.deal_ids()
    since = clock()
    victim = sorted(known)[5]
    clock.advance(minutes=1)
    adapter.delete_deal(victim)
    assert adapter.deleted_ids(known, since) == {victim}


def test_field_metadata_describes_the_plugin_fields(adapter: Adapter) -> None:
    fields = {f.api_name: f for f in adapter.client.get_fields(adapter.deals_module)}
    score, level = fields[adapter.score_field], fields[adapter.level_field]
    assert score.data_type == "integer" and score.custom and not score.read_only
    assert level.data_type == "picklist"
    assert adapter.level_value in level.picklist_values


def test_update_writes_the_good_rows_and_refuses_the_invalid_one(adapter: Adapter) -> None:
    first, bad, last = sorted(adapter.deal_ids())[:3]
    outcomes = adapter.client.update_records(
        adapter.deals_module,
        [
            {"id": first, adapter.score_field: 42, adapter.level_field: adapter.level_value},
            {"id": bad, adapter.score_field: "forty-two"},
            {"id": last, adapter.score_field: 7},
        ],
    )
    assert [(o.record_id, o.status) for o in outcomes] == [
        (first, WriteStatus.WRITTEN),
        (bad, WriteStatus.INVALID),
        (last, WriteStatus.WRITTEN),
    ]
    assert outcomes[1].field == adapter.score_field
    assert adapter.stored(first, adapter.score_field) == 42
    assert adapter.stored(first, adapter.level_field) == adapter.level_value
    assert adapter.stored(last, adapter.score_field) == 7
    assert adapter.stored(bad, adapter.score_field) in (None, False)


def test_create_tasks_attaches_follow_ups_and_refuses_an_unknown_record(adapter: Adapter) -> None:
    one, two = sorted(adapter.deal_ids())[:2]
    due = date(2026, 12, 1)
    tasks = [
        NewTask(adapter.deals_module, one, "Call about NPS 3", "Detractor", due, key="t-1"),
        NewTask(adapter.deals_module, adapter.missing_id, "Nobody", "", due, key="t-2"),
        NewTask(
            adapter.deals_module, two, "Review SLA", "Breached twice", due + timedelta(1), "t-3"
        ),
    ]
    outcomes = adapter.client.create_tasks(tasks)
    assert [o.status for o in outcomes] == [
        WriteStatus.WRITTEN,
        WriteStatus.INVALID,
        WriteStatus.WRITTEN,
    ]
    assert outcomes[0].record_id != outcomes[2].record_id
    assert sorted(adapter.tasks()) == sorted([(one, "Call about NPS 3"), (two, "Review SLA")])
