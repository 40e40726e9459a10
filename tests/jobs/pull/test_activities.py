"""CRM activities become touchpoints: of the deal they are on, or of every engagement of the
account they are on; deleted activities take their touchpoints away."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.base import DeletedRecord, RecordPage
from jobs.messages.catalog import Words
from jobs.messages.fields import field_words
from jobs.pull.activities import sync_activities
from jobs.store import Store
from mappings.domain import Engagement, TouchpointKind
from mappings.engine import Mapper
from mappings.spec import load_mapping
from mappings.tomlfile import ConfigFileError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

MAPPING = """
crm = "zoho"
[sources.accounts]
module = "Accounts"
fields = { crm_id = "id", name = "Account_Name" }
[sources.engagements]
module = "Deals"
fields = { crm_id = "id", name = "Deal_Name", account_id = "Account_Name.id", stage = "Stage" }
[sources.activities.calls]
module = "Calls"
kind = "call"
[sources.activities.calls.fields]
crm_id = "id"
at = "Call_Start_Time"
related_module = "$se_module"
related_id = "What_Id.id"
modified_at = "Modified_Time"
[targets.engagements]
module = "Deals"
fields = { risk_score = "Engagement_Risk_Score" }
"""


class Activities:
    """A CRM holding only calls: pages of raw records and deletions, as a client yields them."""

    max_write_batch = 100

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.deleted: list[DeletedRecord] = []
        self.asked_since: list[datetime | None] = []

    def call(self, call_id: str, module: str, related: str, at: str, modified: datetime) -> None:
        self.calls[call_id] = {
            "id": call_id,
            "Call_Start_Time": at,
            "$se_module": module,
            "What_Id": {"id": related, "name": "x"},
            "Modified_Time": modified.isoformat(),
        }

    def iter_pages(
        self, module: str, fields: Sequence[str], *, modified_since: datetime | None = None
    ) -> Iterator[RecordPage]:
        assert module == "Calls"
        # $se_module arrives with What_Id; it is not a field one asks for.
        assert sorted(fields) == ["Call_Start_Time", "Modified_Time", "What_Id"]
        self.asked_since.append(modified_since)
        records = [
            r
            for r in self.calls.values()
            if modified_since is None
            or datetime.fromisoformat(r["Modified_Time"]) >= modified_since
        ]
        newest = max((datetime.fromisoformat(r["Modified_Time"]) for r in records), default=None)
        yield RecordPage(module, records, False, newest)

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        yield from self.deleted


def engagement(crm_id: str, account_id: str, status: str = "active") -> Engagement:
    return Engagement(
        crm_id=crm_id,
        name=crm_id,
        account_id=account_id,
        stage="Closed Won",
        status=status,
        contract_value=Decimal(1000),
        start_date=date(2026, 1, 1),
    )


@pytest.fixture
def mapper(tmp_path: Path) -> Mapper:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return Mapper(load_mapping(path), field_words(Words.shipped()))


def touchpoints(store: Store) -> dict[str, list[tuple[str, TouchpointKind, datetime]]]:
    return {
        eid: [(t.external_id, t.kind, t.at) for t in items]
        for eid, items in store.touchpoints().items()
    }


def test_calls_on_deals_and_accounts_become_touchpoints(mapper: Mapper, store: Store) -> None:
    store.save_engagements(
        [
            engagement("D1", "A1"),
            engagement("D2", "A1"),
            engagement("D3", "A2"),
            engagement("D4", "A1", status="pipeline"),  # not under way: no touchpoint from A1
        ],
        NOW,
    )
    crm = Activities()
    crm.call("C1", "Deals", "D3", "2026-11-20T10:00:00+08:00", NOW - timedelta(days=3))
    crm.call("C2", "Accounts", "A1", "2026-11-18T09:30:00+00:00", NOW - timedelta(days=2))
    crm.call("C3", "Leads", "L7", "2026-11-19T09:30:00+00:00", NOW - timedelta(days=2))
    crm.call("C4", "Deals", "D1", "not a time", NOW - timedelta(days=1))

    counts = sync_activities(
        crm, mapper, store, "activities.calls", clock=lambda: NOW, run_id=None, full=False
    )

    # read 4: C1 on a deal, C2 on an account of two active engagements; C3 on a lead is left out;
    # C4 has no readable start time and is skipped with its reason.
    assert counts == (4, 2, 1, 0, 1)
    call_at = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
    assert touchpoints(store) == {
        "D1": [("Calls:C2@D1", TouchpointKind.CALL, call_at)],
        "D2": [("Calls:C2@D2", TouchpointKind.CALL, call_at)],
        "D3": [("Calls:C1", TouchpointKind.CALL, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))],
    }
    [skip] = store.skips()
    assert (skip.kind, skip.record_id) == ("activities.calls", "C4")
    assert "Call_Start_Time" in skip.reason and "not a time" in skip.reason


def test_the_next_pull_asks_only_for_changes_and_deleted_calls_go(
    mapper: Mapper, store: Store
) -> None:
    store.save_engagements([engagement("D1", "A1"), engagement("D2", "A1")], NOW)
    crm = Activities()
    crm.call("C1", "Deals", "D1", "2026-11-20T10:00:00+00:00", NOW - timedelta(days=3))
    crm.call("C2", "Accounts", "A1", "2026-11-18T09:30:00+00:00", NOW - timedelta(days=2))
    sync_activities(crm, mapper, store, "activities.calls", clock=lambda: NOW, run_id=1, full=False)
    assert sum(len(v) for v in store.touchpoints().values()) == 3

    crm.deleted = [DeletedRecord("Calls", "C2", NOW)]
    del crm.calls["C2"]
    counts = sync_activities(
        crm, mapper, store, "activities.calls", clock=lambda: NOW, run_id=2, full=False
    )
    assert crm.asked_since == [None, NOW - timedelta(days=2)]
    assert counts[3] == 2  # C2's touchpoints on D1 and D2
    assert touchpoints(store) == {
        "D1": [("Calls:C1", TouchpointKind.CALL, datetime(2026, 11, 20, 10, tzinfo=UTC))]
    }


def test_an_unknown_touchpoint_kind_names_the_mapping_key(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING.replace('kind = "call"', 'kind = "phone"'), encoding="utf-8")
    with pytest.raises(ConfigFileError) as error:
        load_mapping(path)
    assert "sources.activities.calls.kind" in str(error.value)
    assert "phone" in str(error.value)
