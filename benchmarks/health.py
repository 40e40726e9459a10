"""Figures for the engagement health computation (`jobs.score.score`) at scale (not a test).

Usage: .venv/bin/python benchmarks/health.py [--engagements N] [--quick] [--seed S]

Builds a SQLite store in a temporary directory with N active engagements (default 10,000;
``--quick``: 1,000), each with 10 milestones, 50 tickets, cost entries, touchpoints and change
requests, all drawn from ``random.Random(seed)``. Then it times three runs of `score` with a
fixed clock (no wall clock enters the computation):

  (a) full      the first run: every engagement is computed;
  (b) quiet     a second run with nothing changed: every engagement must be skipped;
  (c) 1% edit   after changing one ticket of 1% of the engagements: only those are recomputed.

Each phase runs in its own child process, so that its peak RSS (``ru_maxrss``) is its own and
not the data generator's. Scoring's worker processes (forked from a fork server, so not this
process's children) are sampled from /proc every 50 ms: the largest one's peak RSS and their CPU
time (the fork server's included) are reported beside the phase's own CPU time, which says how
much work a phase was whatever else the machine was doing. A phase's seconds are measured
without tracemalloc (which slows Python down several times); the tracemalloc peak comes from
repeating the phase on a copy of the store taken just before it. Data generation is reported
separately and not counted.

Target: the full computation under 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jobs.config import HealthSection, RiskSection, SlaSection
from jobs.score import ScoreReport, score
from jobs.store import Store
from mappings.domain import (
    ChangeRequest,
    ChangeStatus,
    CostEntry,
    Engagement,
    EngagementStatus,
    Milestone,
    Ticket,
    TicketPriority,
    Touchpoint,
    TouchpointKind,
)

#: The benchmark's "now": a Monday morning. Every phase runs with this clock.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
TARGET_SECONDS = 10.0
TIERS = ("Gold", "Silver", "Bronze")
SOURCE = "bench"
MILESTONES_PER_ENGAGEMENT = 10
TICKETS_PER_ENGAGEMENT = 50
PRIORITIES = (TicketPriority.P1, TicketPriority.P2, TicketPriority.P3, TicketPriority.P4)
PRIORITY_WEIGHTS = (5, 15, 40, 40)


def clock() -> datetime:
    return NOW


# --- data ------------------------------------------------------------------------------------


def _engagement(rng: random.Random, i: int) -> Engagement:
    start = TODAY - timedelta(days=rng.randint(60, 700))
    end = start + timedelta(days=rng.randint(240, 1100))  # some ended, some ending soon
    return Engagement(
        crm_id=f"E{i:06d}",
        name=f"Engagement {i}",
        account_id=f"A{i // 4:05d}",
        account_name=f"Client {i // 4}",
        owner_id=f"U{i % 37:03d}",
        owner_name=f"Manager {i % 37}",
        stage="Closed Won",
        status=EngagementStatus.ACTIVE,
        contract_value=Decimal(rng.randrange(50_000, 2_000_000, 1_000)),
        currency="USD",
        start_date=start,
        end_date=end,
        closing_date=start - timedelta(days=rng.randint(5, 40)),
        billing_model=rng.choice(("fixed price", "time and materials", "managed service")),
        sla_tier=TIERS[i % len(TIERS)],
        modified_at=NOW - timedelta(days=rng.randint(1, 60)),
    )


def _milestones(rng: random.Random, e: Engagement) -> list[Milestone]:
    assert e.start_date is not None and e.end_date is not None
    span = (e.end_date - e.start_date).days
    result = []
    for n in range(MILESTONES_PER_ENGAGEMENT):
        planned = e.start_date + timedelta(days=span * (n + 1) // (MILESTONES_PER_ENGAGEMENT + 1))
        delivered: date | None = None
        accepted: date | None = None
        if planned < TODAY:
            if rng.random() < 0.85:  # delivered, mostly on time
                delivered = planned + timedelta(days=rng.choice((-5, -2, 0, 0, 1, 3, 9)))
                delivered = min(delivered, TODAY)
                accepted = min(delivered + timedelta(days=rng.randint(0, 7)), TODAY)
                percent = 100.0
            else:  # overdue
                percent = float(rng.randrange(40, 95, 5))
        else:
            percent = float(rng.choice((0, 0, 0, 10, 25, 50)))
        result.append(
            Milestone(
                external_id=f"{e.crm_id}-M{n:02d}",
                engagement_id=e.crm_id,
                name=f"Milestone {n + 1}",
                planned_date=planned,
                planned_value=Decimal(rng.randrange(5_000, 150_000, 500)),
                percent_complete=percent,
                delivered_date=delivered,
                accepted_date=accepted,
                rejected_count=rng.choice((1, 1, 2)) if rng.random() < 0.04 else 0,
            )
        )
    return result


def _ticket(rng: random.Random, e: Engagement, n: int) -> Ticket:
    priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    is_open = rng.random() < 0.03
    age_days = rng.uniform(0.2, 12) if is_open else rng.uniform(1, 150)
    opened = (NOW - timedelta(days=age_days)).replace(microsecond=0)
    if opened.weekday() >= 5:  # most tickets arrive on weekdays
        opened -= timedelta(days=2)
    first: datetime | None = None
    resolved: datetime | None = None
    pauses: tuple[tuple[datetime, datetime], ...] = ()
    if is_open:
        if rng.random() < 0.6:
            first = min(opened + timedelta(minutes=rng.randint(5, 300)), NOW)
    else:
        first = opened + timedelta(minutes=rng.randint(2, 600))
        resolved = first + timedelta(hours=rng.uniform(0.5, 24 * rng.choice((1, 2, 3, 5))))
        if rng.random() < 0.15:  # waited on the client for a while
            wait_start = first + (resolved - first) * rng.uniform(0.1, 0.5)
            wait_end = wait_start + timedelta(hours=rng.uniform(1, 30))
            pauses = ((wait_start, wait_end),)
            resolved += wait_end - wait_start
        if resolved > NOW:
            resolved = NOW - timedelta(minutes=rng.randint(1, 60))
            first = min(first, resolved)
            pauses = ()
    return Ticket(
        external_id=f"{e.crm_id}-T{n:02d}",
        engagement_id=e.crm_id,
        priority=priority,
        opened_at=opened,
        first_response_at=first,
        resolved_at=resolved,
        waiting_on_client=pauses,
    )


def _costs(rng: random.Random, e: Engagement) -> list[CostEntry]:
    assert e.start_date is not None
    months = min(6, max(1, (TODAY - e.start_date).days // 30))
    return [
        CostEntry(
            external_id=f"{e.crm_id}-C{n}",
            engagement_id=e.crm_id,
            spent_on=min(e.start_date + timedelta(days=30 * (n + 1)), TODAY),
            amount=Decimal(rng.randrange(10_000, 120_000, 100)),
            category=rng.choice(("labour", "labour", "travel", "licences")),
        )
        for n in range(months)
    ]


def _touchpoints(rng: random.Random, e: Engagement) -> list[Touchpoint]:
    result = []
    gap = rng.choice((0, 0, 0, 7, 14, 21))  # some engagements stopped reporting a while ago
    for week in range(12):
        if rng.random() < 0.85:
            at = NOW - timedelta(days=gap + 7 * week + rng.randint(0, 3), hours=rng.randint(0, 8))
            result.append(
                Touchpoint(
                    external_id=f"{e.crm_id}-S{week:02d}",
                    engagement_id=e.crm_id,
                    kind=TouchpointKind.STATUS_REPORT,
                    at=at,
                )
            )
    result.extend(
        Touchpoint(
            external_id=f"{e.crm_id}-P{n}",
            engagement_id=e.crm_id,
            kind=rng.choice((TouchpointKind.MEETING, TouchpointKind.CALL, TouchpointKind.REVIEW)),
            at=NOW - timedelta(days=rng.randint(1, 80), hours=rng.randint(0, 8)),
        )
        for n in range(rng.randint(0, 3))
    )
    return result


def _change_requests(rng: random.Random, e: Engagement) -> list[ChangeRequest]:
    assert e.contract_value is not None
    return [
        ChangeRequest(
            external_id=f"{e.crm_id}-R{n}",
            engagement_id=e.crm_id,
            raised_on=TODAY - timedelta(days=rng.randint(1, 200)),
            value=(e.contract_value * Decimal(rng.uniform(0.01, 0.15))).quantize(Decimal(1)),
            status=rng.choice(list(ChangeStatus)),
        )
        for n in range(rng.choice((0, 0, 1, 1, 2, 3)))
    ]


def generate(url: str, engagements: int, seed: int, start: int = 0) -> dict[str, int]:
    """Fill the store with the engagements ``start`` to ``start + engagements - 1`` (several
    processes can fill one store, each its own range: benchmarks/workers.py); returns how many
    rows of each kind were saved."""
    rng = random.Random(seed + start)
    store = Store.open(url)
    counts: dict[str, int] = {}
    chunk = 1000
    end = start + engagements
    try:
        for first in range(start, end, chunk):
            batch = [_engagement(rng, i) for i in range(first, min(first + chunk, end))]
            facts: dict[str, list[Any]] = {
                "milestones": [],
                "tickets": [],
                "costs": [],
                "touchpoints": [],
                "change_requests": [],
            }
            for e in batch:
                facts["milestones"] += _milestones(rng, e)
                facts["tickets"] += [_ticket(rng, e, n) for n in range(TICKETS_PER_ENGAGEMENT)]
                facts["costs"] += _costs(rng, e)
                facts["touchpoints"] += _touchpoints(rng, e)
                facts["change_requests"] += _change_requests(rng, e)
            store.save_engagements(batch, NOW - timedelta(hours=1))
            counts["engagements"] = counts.get("engagements", 0) + len(batch)
            for kind, items in facts.items():
                store.save_facts(kind, items, SOURCE, NOW - timedelta(hours=1))
                counts[kind] = counts.get(kind, 0) + len(items)
    finally:
        store.close()
    return counts


def change_one_percent(url: str, engagements: int, seed: int) -> int:
    """Resolve (or re-prioritise) one ticket in every hundredth engagement; returns how many
    engagements were changed."""
    rng = random.Random(seed + 1)
    store = Store.open(url)
    try:
        tickets = store.tickets()
        changed = []
        ids = sorted(tickets)[:: max(1, 100)][: max(1, engagements // 100)]
        for eid in ids:
            ticket = rng.choice(tickets[eid])
            if ticket.resolved_at is None:
                update: dict[str, Any] = {"resolved_at": NOW - timedelta(minutes=5)}
            else:
                others = [p for p in PRIORITIES if p is not ticket.priority]
                update = {"priority": rng.choice(others)}
            changed.append(Ticket.model_validate({**ticket.model_dump(), **update}))
        saved = store.save_facts("tickets", changed, SOURCE, NOW)
        assert saved == len(changed), (saved, len(changed))
        return len(ids)
    finally:
        store.close()


# --- phases (each in a child process) --------------------------------------------------------


def run_score(url: str) -> ScoreReport:
    store = Store.open(url)
    try:
        return score(store, HealthSection(), clock=clock, risk=RiskSection(), sla=SlaSection())
    finally:
        store.close()


class Descendants(threading.Thread):
    """Samples this process's descendants (scoring's worker processes, which are the children
    of a fork server, so `RUSAGE_CHILDREN` never sees them) every 50 ms from /proc: each one's
    peak RSS (VmHWM) and CPU time, as last seen before it exited."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._stopped = threading.Event()
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (peak RSS MB, CPU s)

    def run(self) -> None:
        while not self._stopped.wait(0.05):
            self._sample()

    def stop(self) -> None:
        self._stopped.set()
        self.join()
        self._sample()

    def peak_rss_mb(self) -> float:
        return max((rss for rss, _ in self._seen.values()), default=0.0)

    def cpu_seconds(self) -> float:
        return sum(cpu for _, cpu in self._seen.values())

    def _sample(self) -> None:
        # Walk down from this process through each thread's children (cheap: a few files),
        # rather than reading every process of the machine, which would itself cost CPU.
        ticks = os.sysconf("SC_CLK_TCK")
        todo, found = [os.getpid()], []
        while todo:
            pid = todo.pop()
            try:
                for task in (Path("/proc") / str(pid) / "task").iterdir():
                    kids = [int(k) for k in (task / "children").read_text().split()]
                    todo += kids
                    found += kids
            except OSError:
                continue  # exited meanwhile
        for pid in found:
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
                fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            peak = next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")),
                0,
            )
            cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
            self._seen[pid] = (peak / 1024, cpu)


def child(phase: str, url: str, engagements: int, seed: int, traced: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    work: Callable[[], Any]
    if phase == "generate":
        work = lambda: generate(url, engagements, seed)
    elif phase == "change":
        work = lambda: change_one_percent(url, engagements, seed)
    else:
        work = lambda: run_score(url)
    if traced:
        tracemalloc.start()
    descendants = Descendants()
    descendants.start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    outcome = work()
    result["seconds"] = time.perf_counter() - started
    descendants.stop()
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["worker_cpu_seconds"] = descendants.cpu_seconds()
    result["worker_maxrss_mb"] = descendants.peak_rss_mb()
    if traced:
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if isinstance(outcome, ScoreReport):
        result["report"] = {
            "scored": outcome.scored,
            "changed": outcome.changed,
            "skipped_unchanged": outcome.skipped_unchanged,
        }
    else:
        result["outcome"] = outcome
    return result


def spawn(
    phase: str, db: Path, engagements: int, seed: int, traced: bool = False
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--_child", phase, "--_db", str(db)]
    args += ["--engagements", str(engagements), "--seed", str(seed)]
    if traced:
        args.append("--_traced")
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def timed_phase(title: str, db: Path, engagements: int, seed: int) -> dict[str, Any]:
    """Run a score phase on the store, and again with tracemalloc on a copy taken before it."""
    snapshot = db.with_name(db.stem + "-snapshot.db")
    shutil.copyfile(db, snapshot)
    figures = spawn("score", db, engagements, seed)
    report = figures["report"]
    print(
        f"  {title:<34} {figures['seconds']:7.2f} s   max RSS {figures['maxrss_mb']:7.1f} MB "
        f"(largest worker {figures['worker_maxrss_mb']:.1f} MB)   CPU {figures['cpu_seconds']:.1f} s "
        f"+ workers {figures['worker_cpu_seconds']:.1f} s   "
        f"scored {report['scored']}, recomputed "
        f"{report['scored'] - report['skipped_unchanged']}, "
        f"skipped unchanged {report['skipped_unchanged']}, health changed {report['changed']}",
        flush=True,
    )
    traced = spawn("score", snapshot, engagements, seed, traced=True)
    snapshot.unlink()
    figures["traced_peak_mb"] = traced["traced_peak_mb"]
    print(
        f"  {'':<34} tracemalloc peak {figures['traced_peak_mb']:7.1f} MB "
        f"(traced repeat: {traced['seconds']:.1f} s)",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 engagements")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_db", help=argparse.SUPPRESS)
    parser.add_argument("--_traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    engagements = 1000 if args.quick else args.engagements

    if args._child:
        url = f"sqlite:///{args._db}"
        print(json.dumps(child(args._child, url, engagements, args.seed, args._traced)))
        return 0

    with tempfile.TemporaryDirectory(prefix="health-bench-") as tmp:
        db = Path(tmp) / "health.db"
        print(f"Engagement health benchmark: {engagements} engagements, seed {args.seed}")
        print(f"  clock {NOW.isoformat()}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
        generated = spawn("generate", db, engagements, args.seed)
        counts = generated["outcome"]
        print(
            f"  data generation (not counted): {generated['seconds']:.1f} s, "
            + ", ".join(f"{n} {kind}" for kind, n in counts.items())
            + f"; store {db.stat().st_size / 2**20:.0f} MB",
            flush=True,
        )
        print()
        full = timed_phase("(a) full computation", db, engagements, args.seed)
        quiet = timed_phase("(b) second run, nothing changed", db, engagements, args.seed)
        edited = spawn("change", db, engagements, args.seed)["outcome"]
        print(f"  changed one ticket in each of {edited} engagements (1%)", flush=True)
        partial = timed_phase("(c) after 1% changed", db, engagements, args.seed)
        print()
        problems = []
        if full["report"]["scored"] != engagements:
            problems.append(f"(a) scored {full['report']['scored']} of {engagements}")
        if quiet["report"]["skipped_unchanged"] != quiet["report"]["scored"]:
            problems.append("(b) recomputed engagements although nothing changed")
        recomputed = partial["report"]["scored"] - partial["report"]["skipped_unchanged"]
        if recomputed != edited:
            problems.append(f"(c) recomputed {recomputed}, expected {edited}")
        for problem in problems:
            print(f"  CHECK FAILED: {problem}")
        verdict = "PASS" if full["seconds"] < TARGET_SECONDS else "MISS"
        print(
            f"Target: full computation under {TARGET_SECONDS:.0f} s on a 2-core machine "
            f"({engagements} engagements): {full['seconds']:.2f} s -> {verdict}"
        )
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
