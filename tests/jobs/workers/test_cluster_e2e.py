"""Two (and more) `engage worker` subprocesses on one PostgreSQL database, three connections
(two Zoho sandboxes, one Odoo sandbox) on short schedules, over real HTTP.

Slow by nature (minutes of real time on purpose): the durations are printed."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FakeClock
from tests.jobs.workers.cluster import (
    EVERY_SECONDS,
    assert_ends_as_after_clean_runs,
    cluster,
    overlaps,
    wait_for,
)
from tests.jobs.workers.conftest import SHORT_TIMINGS

pytestmark = pytest.mark.postgres

#: The acceptance asks for 2 minutes of short schedules; ENGAGE_TEST_CLUSTER_SECONDS shortens it
#: on a slow machine.
STEADY_SECONDS = float(os.environ.get("ENGAGE_TEST_CLUSTER_SECONDS", "120"))
KILLS = 15
STALE = float(SHORT_TIMINGS["ENGAGE_WORKER_STALE_SECONDS"])


def test_two_workers_never_overlap_a_connections_runs_and_tick_once_per_timestamp(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> None:
    began = time.monotonic()
    with cluster(tmp_path, pg_schema, clock) as (live, reference):
        live.start_worker("a")
        live.start_worker("b")
        time.sleep(STEADY_SECONDS)  # the workers run on their own schedule meanwhile
        live.settle()
        live.stop_workers()
        for name in live.stores:
            runs = live.runs(name)
            assert len(runs) >= 5, f"{name}: only {len(runs)} runs"
            assert [r.status for r in runs] == ["ok"] * len(runs), name
            assert overlaps(runs) == [], name
        ticks = live.sql(
            "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'engage.tick' GROUP BY 1"
        )
        assert len(ticks) >= STEADY_SECONDS / 2
        assert [t for t in ticks if t[1] > 1] == []
        # Both workers worked (a test of one worker would prove nothing about two).
        for label in ("a", "b"):
            assert "Starting job engage.run" in live.log_of(label), label
        assert_ends_as_after_clean_runs(live, reference)
    print(f"\n2 workers, 3 connections, {STEADY_SECONDS:g} s: {time.monotonic() - began:.0f} s")


def test_kill_9_on_one_worker_the_other_takes_over_and_the_crms_end_as_after_clean_runs(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> None:
    began = time.monotonic()
    rng = random.Random(26)
    recoveries: list[float] = []
    with cluster(tmp_path, pg_schema, clock) as (live, reference):
        live.start_worker("steady")
        for kill in range(KILLS):
            victim = live.start_worker("victim")
            time.sleep(rng.uniform(1.0, 4.0))  # a random moment of its work
            # The runs the victim works for just now (its jobs hold their leases).
            held = {
                name
                for (name,) in live.sql(
                    "SELECT c.name FROM connections c JOIN procrastinate_jobs j "
                    "ON c.lease_holder = 'job:' || j.id WHERE j.status = 'doing' AND "
                    "j.worker_id = (SELECT max(id) FROM procrastinate_workers)"
                )
            }
            killed_at = datetime.now(UTC)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            start = time.monotonic()
            for name in held:
                wait_for(
                    f"kill {kill}: {name} run again",
                    lambda name=name: any(  # type: ignore[misc]
                        r.started_at > killed_at for r in live.runs(name)
                    ),
                    seconds=60,
                )
            if held:
                recoveries.append(time.monotonic() - start)
        last_kill = datetime.now(UTC)
        for name in live.stores:
            wait_for(
                f"{name}: a run ended ok after the last kill",
                lambda name=name: any(  # type: ignore[misc]
                    r.started_at > last_kill and r.status == "ok" for r in live.runs(name)
                ),
            )
        live.settle()
        assert live.sql("SELECT id FROM procrastinate_jobs WHERE status = 'doing'") == [], (
            "a job was left stalled"
        )
        live.stop_workers()
        assert_ends_as_after_clean_runs(live, reference)
        reaped = live.sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed' "
            "AND task_name IN ('engage.run', 'engage.push')"
        )[0][0]
    assert len(recoveries) >= 5, f"only {len(recoveries)} kills hit a run"
    # Taken over within 5 s of the stale limit (+ one tick, as a run waits to be due).
    assert max(recoveries) <= STALE + 5 + EVERY_SECONDS, recoveries
    print(
        f"\n{KILLS} kills, {len(recoveries)} during a run: taken over in "
        f"{min(recoveries):.1f}-{max(recoveries):.1f} s (stale limit {STALE:g} s); "
        f"{reaped} stalled run/push jobs failed by the reaper; "
        f"{time.monotonic() - began:.0f} s in all"
    )
