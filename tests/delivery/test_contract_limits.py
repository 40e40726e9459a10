"""The delivery-source contract, continued: paging and rate limits, over every tool's world
(tests/delivery/conftest.py) against its sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.delivery.pull import pull_source
from jobs.store import Store
from tests.conftest import FakeClock
from tests.delivery.conftest import DeliveryWorld
from tests.delivery.test_contract import seed_acme


def test_a_project_with_one_item_more_than_a_page_loads_every_item(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    world.add_project("ACME")
    p3 = next(k for k, v in world.priorities.items() if v == "P3")
    created = datetime(2026, 11, 20, 9, tzinfo=UTC)
    keys = [
        world.add_item("ACME", priority=p3, created=created, type=world.ticket_type)
        for _ in range(world.page_size + 1)
    ]

    report = pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    assert report.error is None and report.skipped == 0
    assert report.items_read == world.page_size + 1
    assert sorted(t.external_id for t in store.tickets()["D1"]) == sorted(keys)


def test_a_429_from_the_tool_is_waited_out_and_the_pull_completes(
    world_with_throttle: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    # PingCode's sandbox refuses only past its real limit: tests/delivery/test_pingcode.py.
    world = world_with_throttle
    assert world.throttle is not None
    keys = seed_acme(world)
    world.throttle()  # the tool refuses the pull's first call with its 429

    report = pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    assert report.error is None
    assert sorted(t.external_id for t in store.tickets()["D1"]) == sorted(
        [keys["first"], keys["second"]]
    )
    # One refusal, one wait of the one retry policy (the Retry-After where the tool sends one).
    assert len(world.client.transport.policy.waits) == 1  # type: ignore[attr-defined]
    if world.refusals is not None:
        assert world.refusals() == 1
