"""The org's shared limits: credits reserved atomically in blocks, concurrency slots."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connector.errors import CreditBudgetExceededError
from jobs.store import Store
from jobs.store import cluster_tables as t
from jobs.store.org_limits import OrgLimitTables
from jobs.workers.credits import OrgReservingMeter
from tests.conftest import FakeClock

pytestmark = pytest.mark.postgres


class CountingMeter:
    """The connection's own meter, as far as these tests care: counts what reaches it."""

    def __init__(self) -> None:
        self.charged = 0

    def charge(self, credits: int) -> None:
        self.charged += credits

    def refund(self, credits: int) -> None:
        self.charged -= credits

    def crm_remaining(self, remaining: int) -> None:
        pass


@pytest.fixture
def cluster(pg_schema: Callable[[], str]) -> Iterator[Store]:
    store = Store.open(pg_schema())
    yield store
    store.close()


def test_the_cluster_tables_match_the_migration(cluster: Store) -> None:
    with cluster.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), t.metadata)
    ours = {"connections", "run_chunks", "org_limits", "push_chunks"}
    assert [d for d in diffs if any(f"'{name}'" in repr(d) for name in ours)] == []


def test_many_threads_reserving_at_once_never_pass_the_budget(
    cluster: Store, clock: FakeClock
) -> None:
    limits = OrgLimitTables(cluster.engine)
    limits.set_limits("acme", budget=1000, concurrency=2, window_seconds=86_400)
    granted: list[bool] = []

    def reserve() -> None:
        granted.extend(limits.reserve("acme", 30, clock()) is not None for _ in range(20))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 160 asks of 30 against 1000: 33 fit (990), the 34th would make 1020.
    assert 30 * sum(granted) == 990
    assert limits.limits("acme").used == 990  # type: ignore[union-attr]
    assert not limits.reserve("acme", 11, clock())
    assert limits.reserve("acme", 10, clock())  # exactly to the budget


def test_blocks_are_reserved_spent_in_memory_and_the_unused_part_given_back(
    cluster: Store, clock: FakeClock
) -> None:
    limits = OrgLimitTables(cluster.engine)
    limits.set_limits("acme", budget=250, concurrency=2, window_seconds=86_400)
    inner = CountingMeter()
    meter = OrgReservingMeter(inner, limits, "acme", block=100, clock=clock)
    for _ in range(3):
        meter.charge(1)  # one block of 100 reserved for the three calls
    assert limits.limits("acme").used == 100  # type: ignore[union-attr]
    meter.refund(1)
    assert inner.charged == 2
    meter.close()  # 98 unspent go back
    assert limits.limits("acme").used == 2  # type: ignore[union-attr]


def test_a_killed_job_over_reserves_at_most_one_block_and_never_overspends(
    cluster: Store, clock: FakeClock
) -> None:
    limits = OrgLimitTables(cluster.engine)
    limits.set_limits("acme", budget=250, concurrency=2, window_seconds=86_400)
    killed = OrgReservingMeter(CountingMeter(), limits, "acme", block=100, clock=clock)
    killed.charge(5)  # then kill -9: close() never runs, its block stays reserved
    survivor_inner = CountingMeter()
    survivor = OrgReservingMeter(survivor_inner, limits, "acme", block=100, clock=clock)
    spent = 0
    with pytest.raises(CreditBudgetExceededError, match="org acme's credit budget"):
        while True:
            survivor.charge(10)
            spent += 10
    # 250 - 100 (the dead block) = 150 for the survivor: one block of 100, then 50 asked
    # call by call (a whole block no longer fits). Lost to the kill: 95, less than a block.
    assert spent == 150 == survivor_inner.charged
    assert limits.limits("acme").used == 250  # type: ignore[union-attr]


def test_a_block_is_not_spent_after_the_window_it_was_reserved_in(
    cluster: Store, clock: FakeClock
) -> None:
    limits = OrgLimitTables(cluster.engine)
    limits.set_limits("acme", budget=150, concurrency=2, window_seconds=3600)
    meter = OrgReservingMeter(CountingMeter(), limits, "acme", block=100, clock=clock)
    meter.charge(1)  # block of 100 in the first window; 99 held
    clock.advance(hours=1)  # the window ends: the 99 are void, not spent in the next one
    meter.charge(1)
    assert meter.reserved == 200
    assert limits.limits("acme").used == 100  # type: ignore[union-attr]
    meter.close()  # 99 of the new window's block go back
    assert limits.limits("acme").used == 1  # type: ignore[union-attr]


def test_a_new_window_starts_from_zero(cluster: Store, clock: FakeClock) -> None:
    limits = OrgLimitTables(cluster.engine)
    limits.set_limits("acme", budget=100, concurrency=2, window_seconds=3600)
    assert limits.reserve("acme", 100, clock())
    clock.advance(minutes=59)
    assert not limits.reserve("acme", 1, clock())
    clock.advance(minutes=1)
    assert limits.reserve("acme", 60, clock())
    assert limits.limits("acme").used == 60  # type: ignore[union-attr]
    # Credits reserved in the old window are not given back into the new one.
    limits.give_back("acme", 40, clock() - timedelta(minutes=30))
    assert limits.limits("acme").used == 60  # type: ignore[union-attr]


def test_an_org_never_has_more_slots_in_use_than_its_cap(cluster: Store) -> None:
    limits = OrgLimitTables(cluster.engine)
    held: list[int | None] = []
    with limits.slot("acme", 2) as first, limits.slot("acme", 2) as second:
        held += [first, second]
        assert limits.slots_in_use("acme") == 2
        with limits.slot("acme", 2, keep_waiting=lambda: False) as third:
            assert third is None
        # Another org's slots are its own.
        with limits.slot("other", 2) as other:
            assert other == 0
    assert held == [0, 1]
    assert limits.slots_in_use("acme") == 0


HOLD_A_SLOT = """
import sys, time
from jobs.store import Store
from jobs.store.org_limits import OrgLimitTables
with OrgLimitTables(Store.open(sys.argv[1]).engine).slot("acme", 1) as k:
    print("held", k, flush=True)
    time.sleep(120)
"""


def test_a_slot_whose_holder_was_killed_is_free_at_once(pg_schema: Callable[[], str]) -> None:
    url = pg_schema()
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SLOT, url], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held 0\n"
            other = Store.open(url)
            limits = OrgLimitTables(other.engine)
            with limits.slot("acme", 1, keep_waiting=lambda: False) as got:
                assert got is None
            holder.kill()  # kill -9: no unlock ever runs
            holder.wait()
            # PostgreSQL ends the session when the socket closes; then the slot is free.
            with limits.slot("acme", 1, keep_waiting=until(seconds=10)) as got:
                assert got == 0
            other.close()
        finally:
            holder.kill()


def until(seconds: float) -> Callable[[], bool]:
    """Keep waiting for a slot until then (an event awaited, not a timing asserted)."""
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() < deadline
