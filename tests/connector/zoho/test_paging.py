"""Zoho's Get Records paging (research/zoho.md §2) as an object: no HTTP, plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import ConnectorError
from connector.zoho import paging
from connector.zoho.paging import RecordsPaginator

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def full_page(p: RecordsPaginator, *, token: str | None = None, newest: datetime = T0) -> bool:
    p.received(paging.PAGE_SIZE, newest)
    return p.advance(more_records=True, next_page_token=token)


def test_the_first_2000_records_are_asked_by_page_number_then_by_the_token_given() -> None:
    p = RecordsPaginator("Deals", None)
    asked = [p.page_params()]
    for _ in range(10):  # ten pages of 200: the 2,000 that `page` reaches
        full_page(p, token="t1")
        asked.append(p.page_params())
    assert asked[:10] == [{"page": n} for n in range(1, 11)]
    assert asked[10] == {"page_token": "t1"}
    full_page(p, token="t2")
    assert p.page_params() == {"page_token": "t2"}
    assert not p.finished


def test_an_answer_without_more_records_finishes_the_read() -> None:
    p = RecordsPaginator("Deals", None)
    p.received(3, T0)
    assert p.advance(more_records=False, next_page_token=None) is False
    assert p.finished
    assert p.newest_seen == T0


def test_past_2000_records_without_a_next_page_token_is_an_error_naming_the_module() -> None:
    p = RecordsPaginator("Accounts", None)
    for _ in range(9):
        full_page(p)
    with pytest.raises(ConnectorError, match="more Accounts records past 2,000"):
        full_page(p, token=None)


def test_a_page_token_given_twice_is_a_loop() -> None:
    p = RecordsPaginator("Deals", None)
    for _ in range(10):
        full_page(p, token="same")
    with pytest.raises(ConnectorError, match="loop detected in Deals pagination"):
        full_page(p, token="same")


def test_at_the_query_limit_a_new_query_starts_from_the_newest_second_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE_TOKEN_LIMIT_RECORDS", 400)
    p = RecordsPaginator("Deals", T0)
    assert full_page(p, newest=T0 + timedelta(minutes=1)) is False
    assert full_page(p, newest=T0 + timedelta(minutes=2)) is True  # 400 reached: restart
    assert p.modified_since == T0 + timedelta(minutes=2)
    assert p.page_params() == {"page": 1}
    assert full_page(p, newest=T0 + timedelta(minutes=3)) is False  # the count starts again
    assert p.page_params() == {"page": 2}


def test_more_records_in_one_second_than_a_query_reaches_cannot_be_paged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE_TOKEN_LIMIT_RECORDS", 400)
    p = RecordsPaginator("Deals", T0)
    full_page(p, newest=T0)
    with pytest.raises(ConnectorError, match="modified in the same second"):
        full_page(p, newest=T0)


def test_the_newest_seen_is_the_latest_of_every_page_not_the_last() -> None:
    p = RecordsPaginator("Deals", None)
    full_page(p, newest=T0 + timedelta(hours=1))
    full_page(p, newest=T0)
    p.received(0, None)
    assert p.newest_seen == T0 + timedelta(hours=1)
