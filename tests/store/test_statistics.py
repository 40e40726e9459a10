"""Before scoring, PostgreSQL gets the statistics of the tables a sync has just filled
(jobs/store/statistics.py): its planner read every ticket for each chunk of 500 engagements
while the tickets table had never been analyzed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from jobs.config import HealthSection
from jobs.score import score
from jobs.store import Store
from mappings.domain import Ticket
from tests.store.test_facts_store import NOW, ticket


def analyzed(store: Store) -> dict[str, bool]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema()"
            )
        ).tuples()
        return dict(rows.all())


def tickets(first: int, count: int) -> list[Ticket]:
    return [ticket(f"T{i}", f"D{i // 10}") for i in range(first, first + count)]


@pytest.mark.postgres
def test_tables_filled_by_a_sync_are_analyzed_once_and_again_only_after_as_many_changes(
    postgres_url: str,
) -> None:
    store = Store.open(postgres_url)
    try:
        store.save_facts("tickets", tickets(0, 5_000), "file", NOW)
        assert analyzed(store)["tickets"] is False
        assert "tickets" in store.refresh_statistics()
        assert analyzed(store)["tickets"] is True
        # Nothing changed since: nothing to do (the runs' small tables are not analyzed each run).
        assert store.refresh_statistics() == []
        # Grown by less than autovacuum waits for (10%, and 20 pages of some 50 tickets): left
        # to it; grown by more, analyzed again.
        store.save_facts("tickets", tickets(5_000, 300), "file", NOW)
        assert "tickets" not in store.refresh_statistics()
        store.save_facts("tickets", tickets(5_300, 2_000), "file", NOW)
        assert "tickets" in store.refresh_statistics()
    finally:
        store.close()


@pytest.mark.postgres
def test_a_scoring_pass_analyzes_the_tickets_a_first_sync_stored(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        store.save_facts("tickets", tickets(0, 5_000), "file", NOW)
        score(store, HealthSection(), clock=lambda: datetime(2026, 11, 24, tzinfo=UTC))
        assert analyzed(store)["tickets"] is True
    finally:
        store.close()


def test_sqlite_has_nothing_to_analyze(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        store.save_facts("tickets", tickets(0, 2_000), "file", NOW)
        assert store.refresh_statistics() == []
    finally:
        store.close()
