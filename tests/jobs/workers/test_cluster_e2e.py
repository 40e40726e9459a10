"""Two (and more) `engage worker` subprocesses on one PostgreSQL database, three connections
(two Zoho sandboxes, one Odoo sandbox) on short schedules, over real HTTP.

Slow by nature (minutes of real time on purpose): the durations are printed."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FakeClock
from tests.jobs.workers.cluster import (
    EVERY_SECONDS,
    Cluster,
    alerts_sent_once,
    assert_ends_as_after_clean_runs,
    cluster,
    overlaps,
    pushed_in_chunks,
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
        live.provoke_breaches()
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
        assert pushed_in_chunks(live, "z1") == 3
        alerts = alerts_sent_once(live)
        # No kill: every alert was recorded sent, and each breach reached both hooks once.
        assert {hook: u for hook, (_, _, u) in alerts.items() if u} == {}
        for name in live.breached:
            assert [alerts[name + route][0] for route in ("slack", "teams")] == [1, 1], alerts
    print(
        f"\n2 workers, 3 connections, {STEADY_SECONDS:g} s: {time.monotonic() - began:.0f} s; "
        f"alerts (received, sent, uncertain) per hook: {alerts}"
    )


def test_kill_9_on_one_worker_the_other_takes_over_and_the_crms_end_as_after_clean_runs(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> None:
    began = time.monotonic()
    rng = random.Random(26)
    recoveries: list[float] = []
    killed: Counter[str] = Counter()  # the tasks the kills hit
    with cluster(tmp_path, pg_schema, clock) as (live, reference):
        live.start_worker("steady")
        live.provoke_breaches()  # alerted on during the kills
        for kill in range(KILLS):
            before = live.sql("SELECT coalesce(max(id), 0) FROM procrastinate_workers")[0][0]
            victim = live.start_worker("victim")
            wait_for(
                "the victim to register",
                lambda before=before: (  # type: ignore[misc]
                    live.sql("SELECT coalesce(max(id), 0) FROM procrastinate_workers")[0][0]
                    > before
                ),
            )
            worker_id = live.sql("SELECT max(id) FROM procrastinate_workers")[0][0]
            # Kill it at a seeded moment of a run, a scoring chunk or a push of its own: a job
            # that ended within the moment (short jobs on an idle machine) is not a kill during
            # a job, so wait for its next one.
            jobs: list[tuple[int, str, str]] = []
            while not jobs:
                wait_for("the victim to take a job", lambda w=worker_id: bool(doing(live, w)), 60)  # type: ignore[misc]
                time.sleep(rng.uniform(0, 0.3))
                jobs = doing(live, worker_id)
            killed_at = datetime.now(UTC)
            killed.update(task for _, task, _ in jobs)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            start = time.monotonic()
            for job_id, task, name in jobs:
                wait_for(
                    f"kill {kill}: {task} of {name} taken up",
                    taken_up(live, job_id, task, name, killed_at),
                    60,
                )
            if jobs:
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
        assert pushed_in_chunks(live, "z1") == 3
        alerts = alerts_sent_once(live)
        for name in live.breached:  # each breach alerted (received, or left uncertain)
            for route in ("slack", "teams"):
                _, sent, uncertain = alerts[name + route]
                assert sent + uncertain >= 1, alerts
        reaped = live.sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed' "
            "AND task_name IN ('engage.run', 'engage.push', 'engage.alerts')"
        )[0][0]
    assert len(recoveries) >= KILLS - 2, f"only {len(recoveries)} kills hit a job"
    # Taken over within 5 s of the stale limit (+ one tick, as a run waits to be due).
    assert max(recoveries) <= STALE + 5 + EVERY_SECONDS, recoveries
    print(
        f"\n{KILLS} kills, {len(recoveries)} during a run: taken over in "
        f"{min(recoveries):.1f}-{max(recoveries):.1f} s (stale limit {STALE:g} s); "
        f"jobs killed: {dict(killed)}; {reaped} stalled run/push/alerts jobs failed by the reaper; "
        f"alerts (received, sent, uncertain) per hook: {alerts}; "
        f"{time.monotonic() - began:.0f} s in all"
    )


def doing(live: Cluster, worker_id: int) -> list[tuple[int, str, str]]:
    """The victim's jobs of a connection's run in progress: (id, task, connection)."""
    return [
        (int(i), str(task), str(name))
        for i, task, name in live.sql(
            "SELECT id, task_name, args->>'connection' FROM procrastinate_jobs "
            "WHERE status = 'doing' AND worker_id = :worker AND task_name IN "
            "('engage.run', 'engage.score_chunk', 'engage.push', 'engage.alerts')",
            worker=worker_id,
        )
    ]


def taken_up(
    live: Cluster, job_id: int, task: str, name: str, killed_at: datetime
) -> Callable[[], bool]:
    """A dead run or push chunk is failed and the next run starts; a dead scoring chunk is run
    again; a dead alerts job is failed (never run again: what it left "sending" is uncertain).
    A short job may have ended between the look and the kill: then it is not stuck either."""
    if task == "engage.alerts":  # failed by the reaper (or it ended just before the kill)
        return lambda: (
            live.sql("SELECT status::text FROM procrastinate_jobs WHERE id = :id", id=job_id)
            in ([("failed",)], [("succeeded",)])
        )
    if task == "engage.score_chunk":
        return lambda: (
            live.sql("SELECT status::text FROM procrastinate_jobs WHERE id = :id", id=job_id)
            == [("succeeded",)]
        )
    return lambda: any(r.started_at > killed_at for r in live.runs(name))


def test_kill_9_during_a_push_chunk_the_next_run_writes_the_rest_and_nothing_twice(
    tmp_path: Path, pg_schema: Callable[[], str], clock: FakeClock
) -> None:
    """The random kills of the loop above land on runs and scoring chunks: a push chunk is
    over in a fraction of a second. Here z1 answers each call in 1.5 s, so its first push (its
    deals and accounts in chunks of 400, each chunk's four update calls of 100 sent at once,
    two chunks at a time on a worker of concurrency 2) is killed for certain with calls in
    flight: written by the CRM, their answers never read. The next run's push finds those
    values in the records its sync has just read (the ledger's pending rows) and records them as
    written without sending them again; the rest it writes once."""
    with cluster(tmp_path, pg_schema, clock) as (live, reference):
        crm = live.zoho["z1"]
        crm.latency_seconds = 1.5
        victim = live.start_worker("victim")
        wait_for("the victim to write a push chunk of z1", lambda: bool(pushing(live)), 120)
        wait_for("the chunk's calls sent", lambda: crm.count("update") > 0, 30)
        time.sleep(0.5)  # the calls of the chunks in hand are in, their answers not out
        chunks = pushing(live)
        written_before = len(live.observers["z1"].counts.rows_received)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        crm.latency_seconds = 0.0
        live.start_worker("steady")
        assert chunks, "the victim was killed between two push chunks"
        wait_for(
            "the killed push chunks failed by the reaper",
            lambda: (
                live.sql(
                    "SELECT DISTINCT status::text FROM procrastinate_jobs WHERE id = ANY(:ids)",
                    ids=[job_id for job_id, _ in chunks],
                )
                == [("failed",)]
            ),
            60,
        )
        live.provoke_breaches()
        provoked_at = datetime.now(UTC)
        for name in live.stores:  # started after the kill, and after the breaches were made
            wait_for(
                f"{name}: a run ended ok after the kill and the breaches",
                lambda name=name: any(  # type: ignore[misc]
                    r.started_at > provoked_at and r.status == "ok" for r in live.runs(name)
                ),
            )
        live.settle()
        live.stop_workers()
        records = len(reference.observers["z1"].counts.rows_received)
        assert 0 < written_before < records, "the kill did not land inside the first push"
        assert_ends_as_after_clean_runs(live, reference)
    print(
        f"\nkilled push chunks {[c for _, c in chunks]} of z1 after {written_before} of "
        f"{records} records were written; "
        "the rest written by the next run, none twice"
    )


def pushing(live: Cluster) -> list[tuple[int, int]]:
    """z1's push chunks being written: (job id, chunk)."""
    return [
        (int(i), int(chunk))
        for i, chunk in live.sql(
            "SELECT id, args->>'chunk' FROM procrastinate_jobs WHERE status = 'doing' "
            "AND task_name = 'engage.push' AND args->>'connection' = 'z1'"
        )
    ]
