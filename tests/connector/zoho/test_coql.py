"""The COQL keyset listing of who changed what (research/zoho.md §3), with a plain fake ``ask``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.zoho.coql import modified_ids

SINCE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ZOHO_NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class FakeZoho:
    """Answers queries in turn from a script, and keeps what was asked."""

    def __init__(self, *answers: dict[str, Any] | None) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, query: str, limit: int) -> tuple[dict[str, Any] | None, datetime | None]:
        self.asked.append((query, limit))
        return self.answers.pop(0), ZOHO_NOW


def row(record_id: str, at: str) -> dict[str, str]:
    return {"id": record_id, "Modified_Time": at}


def test_nobody_else_changed_anything_is_one_small_query() -> None:
    zoho = FakeZoho(None)  # 204

    found, began = modified_ids(zoho, "Deals", SINCE, "77", others=True)

    assert (found, began) == ({}, ZOHO_NOW)
    ((query, limit),) = zoho.asked
    assert limit == 200  # 1 credit (§3)
    assert "Modified_By not in ('77')" in query
    assert "Modified_Time >= '2026-03-01T09:00:00+00:00'" in query


def test_the_next_query_continues_after_the_last_row_by_time_and_id() -> None:
    zoho = FakeZoho(
        {
            "data": [row("5", "2026-03-01T09:01:00+00:00"), row("9", "2026-03-01T09:02:00+00:00")],
            "info": {"more_records": True},
        },
        {"data": [row("3", "2026-03-01T09:02:00+00:00")], "info": {"more_records": False}},
    )

    found, _ = modified_ids(zoho, "Deals", SINCE, "77", others=False)

    assert list(found) == ["5", "9", "3"]
    assert found["3"] == datetime(2026, 3, 1, 9, 2, tzinfo=UTC)
    (_, first), (second, limit) = zoho.asked
    assert (first, limit) == (200, 2000)
    assert "Modified_By in ('77')" in second
    assert (
        "(Modified_Time > '2026-03-01T09:02:00+00:00' or "
        "(Modified_Time = '2026-03-01T09:02:00+00:00' and id > '9'))"
    ) in second
