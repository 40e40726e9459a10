"""Sync and push against the sandbox CRM with simulated latency, against the API-call minimum,
the physical limit and a naive baseline, with a verdict per target of issue 6 (`make bench`).

Usage: .venv/bin/python benchmarks/sync_push.py [--quick] [--size N] [--latency-ms 50]
       [--edition professional] [--profile DIR] [--postgres URL]

For 10,000 and 100,000 deals (``--quick``: 10,000 only; ``--size``: that one; the store in
SQLite, or with ``--postgres`` in a database of its own on that server), each size in its
own child process so that its memory is its own, with the sandbox CRM in a grandchild process
(its memory and CPU are not the connector's; on a 2-core machine they still share the CPUs).
The runs are 15 minutes apart, as the daemon schedules them: the connector's and the sandbox's
clocks (both injected, starting at 08:00 UTC today so that no run crosses midnight) jump 15
minutes between runs; nothing waits. Scenarios, in order:

  (a) full pull             `engage sync` into an empty store
  (b) push 100% changed     score, then `engage push` of every engagement and account
  (c) incremental, echo     `engage run` 15 minutes later: it re-reads the records the push
                            modified (their Modified_Time moved), writes nothing
  (d) incremental, quiet    `engage run` 15 minutes later again: nothing changed anywhere
  (e) push 10% changed      one value changed on 10% of the engagements, `engage push`
  (f) credits shared        the org's other integrations leave fewer credits than the push
                            needs; Zoho's X-API-CREDITS-REMAINING must stop it in time

For each: API calls against the minimum (ceil(N/200) reads per module, ceil(changed/100) writes
per module), "metadata" calls on top (deleted-records checks, field metadata), credits as the
sandbox charged them, wall time against the physical limit (calls x latency / usable
concurrency: 1 for paged reads, the write concurrency for writes), the machine's load, the
peak RSS of the connector process during the scenario (Linux's VmHWM, reset before each), and
the CPU seconds the connector and the sandbox each spent (on a 2-core machine the sandbox's
work, which a real CRM does elsewhere, competes with the connector's).
Deleted-records checks run at most hourly (`[crm.zoho] deleted_check_every_hours`, and on every
full sync), so (c) and (d) make none; when due they cost one call (2 credits) per module.

Targets (a verdict line each): (1) calls equal the minimum plus metadata; (2) the quiet run
writes nothing and reads at most once per module; (3) the push's wall time is within 1.5x the
physical limit, for (b) and (e); (4) peak RSS under 300 MB; (5) a push stops before the org's
credits run out when Zoho says fewer remain than the connector's own budget.

The transport floor sends, a day later, as many write calls of as many records per module as
(b) and as (e) did (the wanted values, each body ready), through the same client on the same
number of threads: nothing planned, journaled or stored. It is the least a push can take on
this machine with this sandbox, and shows how much of a push's time is its own work. The
sandbox's latency is its whole response time, its own work included.

The naive baseline is what a hand-written integration does every run: read every deal, then one
update call per record with every value, no diff, on the same number of threads. Its reads are
those of (a); its writes are measured on every record at 10,000 deals and on a 5,000-record
sample (scaled up, and said so) at 100,000.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.credits import EDITION_CONCURRENCY
from jobs.config import SECRET_ENV, Config, Settings
from jobs.push.plan import plan_chunks, wanted_chunks
from jobs.runner import Connection, Job, RunResult, connect, run_job

SIZES = (10_000, 100_000)
NAIVE_SAMPLE = 5_000
#: Zoho holds concurrent writes to 10 per org on every edition (research/zoho.md §6).
WRITE_CONCURRENCY = 10
#: Between two runs, as `engage daemon` schedules them by default.
RUN_EVERY = timedelta(minutes=15)
MODULES = ("Accounts", "Contacts", "Deals", "Calls", "Events", "Notes")
WALL_TARGET = 1.5
RSS_TARGET_MB = 300


class SimClock:
    """Wall time from a fixed start, plus jumps: the same in both processes."""

    def __init__(self, start: datetime, wall_zero: float) -> None:
        self.start = start
        self.wall_zero = wall_zero
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.time() - self.wall_zero) + self.offset


# --- the sandbox, in its own process ------------------------------------------------------------


def serve_sandbox(
    pipe: Pipe, deals: int, latency: float, concurrency: int, start: datetime, wall_zero: float
) -> None:
    """Child process: a sandbox CRM answering control messages until told to stop."""
    from connector.sandbox import SandboxCRM
    from connector.sandbox.faults import FaultPlan

    clock = SimClock(start, wall_zero)
    crm = SandboxCRM(
        deals=deals, accounts=max(120, deals // 20), concurrency_limit=concurrency, clock=clock
    )
    crm.install_faults(FaultPlan(latency_seconds=latency))
    # The seeded records live as long as the process: out of the garbage collector's full
    # passes, which at 100,000 deals cost the sandbox a fifth of its time answering writes
    # (a real CRM's work, done elsewhere, but on this machine it shares the CPUs).
    gc.freeze()
    pipe.send(
        {
            "url": crm.start(),
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "refresh_token": crm.refresh_token,
            "sizes": {m: len(crm.records(m)) for m in MODULES},
        }
    )
    while True:
        message = pipe.recv()
        if message == "stop":
            crm.stop()
            return
        if message == "reset":
            crm.reset_calls()
            pipe.send(None)
        elif message == "calls":
            pipe.send((Counter(crm.calls), crm.credits_used))
        elif message == "cpu":
            pipe.send(time.process_time())
        elif message[0] == "advance":
            clock.offset += message[1]
            pipe.send(None)
        elif message[0] == "leave_credits":
            # Other integrations of the org spend all but this many of the daily credits.
            crm.spend_credits(crm.daily_credits - crm.org_credits_used - message[1])
            pipe.send(None)
        elif message == "org_credits":
            pipe.send((crm.org_credits_used, crm.daily_credits))


@dataclass
class Figures:
    title: str
    calls: Counter[tuple[str, str]]
    min_reads: int
    min_writes: int
    credits: int
    seconds: float
    limit_seconds: float
    written: int
    peak_mb: float
    load: float
    #: CPU seconds of the connector process (all its threads) and of the sandbox process.
    cpu: float = 0.0
    sandbox_cpu: float = 0.0

    @property
    def reads(self) -> int:
        return sum(n for (kind, _), n in self.calls.items() if kind == "get_records")

    @property
    def writes(self) -> int:
        return sum(n for (kind, _), n in self.calls.items() if kind == "update")

    @property
    def metadata(self) -> int:
        return sum(
            n
            for (kind, _), n in self.calls.items()
            if kind not in ("get_records", "update", "token")
        )

    def reads_per_module(self) -> dict[str, int]:
        return {m: self.calls[("get_records", m)] for m in MODULES}

    @property
    def ratio(self) -> float:
        return self.seconds / self.limit_seconds if self.limit_seconds else float("nan")

    def lines(self) -> list[str]:
        deleted = sum(n for (kind, _), n in self.calls.items() if kind == "deleted")
        return [
            f"  {self.title}",
            (
                f"    calls: {self.reads} reads (minimum {self.min_reads}) + {self.writes} writes "
                f"(minimum {self.min_writes}) + {self.metadata} metadata ({deleted} deleted-records "
                f"checks); {self.credits} credits; {self.written} records written"
            ),
            (
                f"    wall {self.seconds:.2f} s; physical limit {self.limit_seconds:.2f} s "
                f"({self.ratio:.2f}x); peak RSS {self.peak_mb:.0f} MB; load {self.load:.2f}"
            ),
            (
                f"    CPU: connector {self.cpu:.2f} s, sandbox CRM {self.sandbox_cpu:.2f} s "
                f"(both on this machine's {os.cpu_count()} CPUs)"
            ),
        ]


def reset_peak_rss() -> None:
    """Linux: VmHWM starts again from the current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Bench:
    def __init__(
        self, pipe: Pipe, clock: SimClock, latency: float, profile: Path | None, deals: int
    ) -> None:
        self.pipe = pipe
        self.clock = clock
        self.latency = latency
        self.profile = profile
        self.deals = deals

    def ask(self, message: Any) -> Any:
        self.pipe.send(message)
        return self.pipe.recv()

    def advance(self, delta: timedelta) -> None:
        self.clock.offset += delta
        self.ask(("advance", delta))

    def measure(
        self, title: str, action: Callable[[], RunResult], min_reads: int, min_writes: int
    ) -> tuple[Figures, RunResult]:
        self.ask("reset")
        reset_peak_rss()
        profiler = cProfile.Profile() if self.profile else None
        sandbox_cpu = self.ask("cpu")
        cpu = time.process_time()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = action()
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        sandbox_cpu = self.ask("cpu") - sandbox_cpu
        if profiler and self.profile:
            profiler.dump_stats(self.profile / f"{self.deals}-{title[1]}.prof")
        calls, credits = self.ask("calls")
        reads = sum(n for (kind, _), n in calls.items() if kind == "get_records")
        writes = sum(n for (kind, _), n in calls.items() if kind == "update")
        other = sum(n for (kind, _), n in calls.items() if kind not in ("update", "token")) - reads
        # Pages are read one after another (each needs the previous page's token); writes overlap.
        limit = (reads + other) * self.latency + writes * self.latency / WRITE_CONCURRENCY
        written = result.push.written if result.push else 0
        figures = Figures(
            title,
            calls,
            min_reads,
            min_writes,
            credits,
            seconds,
            limit,
            written,
            peak_rss_mb(),
            os.getloadavg()[0],
            cpu,
            sandbox_cpu,
        )
        if result.status not in ("ok",):
            figures.title += f" [status {result.status}: {result.message}]"
        return figures, result


def rows_to_write(conn: Connection) -> dict[str, int]:
    """Rows per module a push would write now (planned a chunk at a time, nothing kept)."""
    rows: Counter[str] = Counter()
    for chunk in plan_chunks(conn.mapper, conn.store):
        rows.update(write.module for write in chunk.writes)
    return dict(rows)


def min_calls(rows: dict[str, int], size: int) -> int:
    return sum(math.ceil(n / size) for n in rows.values())


def naive_writes(
    conn: Connection, every: dict[str, list[dict[str, Any]]], sample: int | None
) -> tuple[int, float, int]:
    """One update call per record of ``every`` (``module_rows``), every value, no diff:
    (calls, seconds, records in the run)."""
    rows = [(module, row) for module, records in every.items() for row in records]
    total = len(rows)
    rows = rows[:sample]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY) as pool:
        list(pool.map(lambda item: conn.client.update_records(item[0], [item[1]]), rows))
    return len(rows), time.perf_counter() - started, total


def module_rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every record's wanted values as a write call sends them, per module."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for module, _ids, records in wanted_chunks(conn.mapper, conn.store):
        rows.setdefault(module, []).extend({"id": rid, **v} for rid, v in records.items())
    return rows


def transport_floor(
    bench: Bench, conn: Connection, rows: dict[str, list[dict[str, Any]]], wanted: dict[str, int]
) -> tuple[float, float, float]:
    """The write calls of a push of ``wanted`` rows per module, bodies ready, nothing planned,
    journaled or stored: the least any push can take on this machine with this client and
    sandbox. (wall seconds, connector CPU seconds, sandbox CPU seconds)."""
    size = conn.client.max_write_batch
    calls = [
        (module, part)
        for module, n in wanted.items()
        for start in range(0, n, size)
        for part in [rows[module][start : min(n, start + size)]]
    ]
    sandbox_cpu = bench.ask("cpu")
    cpu = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY) as pool:
        list(pool.map(lambda call: conn.client.update_records(*call), calls))
    seconds = time.perf_counter() - started
    return seconds, time.process_time() - cpu, bench.ask("cpu") - sandbox_cpu


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@contextmanager
def store_url(tmp: Path, postgres: str | None, deals: int) -> Iterator[str]:
    """SQLite in ``tmp``, or with ``postgres`` (a server URL) a database of its own on that
    server, created for this size and dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    server = sa.make_url(postgres)
    name = f"engage_bench_{deals}_{os.getpid()}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run_size(
    deals: int, latency: float, edition: str, profile: Path | None, postgres: str | None
) -> None:
    concurrency = EDITION_CONCURRENCY[edition]
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = SimClock(today, time.time())
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=serve_sandbox,
        args=(child, deals, latency, concurrency, clock.start, clock.wall_zero),
    )
    process.start()
    info = parent.recv()
    bench = Bench(parent, clock, latency, profile, deals)
    sizes = info["sizes"]
    min_full_reads = sum(math.ceil(n / 200) for n in sizes.values())
    print(
        f"\n{deals} deals, {sizes['Accounts']} accounts, {sizes['Contacts']} contacts, "
        f"{sizes['Calls'] + sizes['Events'] + sizes['Notes']} calls, meetings and notes; latency "
        f"{latency * 1000:.0f} ms; {edition} edition (concurrency {concurrency}, "
        f"{WRITE_CONCURRENCY} concurrent writes); store {'PostgreSQL' if postgres else 'SQLite'}; "
        f"load at start {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} CPUs)"
    )
    with tempfile.TemporaryDirectory() as tmp, store_url(Path(tmp), postgres, deals) as url:
        config = Config.model_validate(
            {
                "crm": {"kind": "zoho", "zoho": {"accounts_url": info["url"]}, "edition": edition},
                "store": {"url": url},
                "push": {"write_concurrency": WRITE_CONCURRENCY},
            }
        )
        env = {
            SECRET_ENV["client_id"]: info["client_id"],
            SECRET_ENV["client_secret"]: info["client_secret"],
            SECRET_ENV["refresh_token"]: info["refresh_token"],
        }
        conn = connect(Settings(config, Path(tmp) / "engage.toml", env), clock=clock)
        full, _ = bench.measure("(a) full pull", lambda: run_job(conn, Job.SYNC), min_full_reads, 0)
        reset_peak_rss()
        run_job(conn, Job.SCORE)
        score_peak = peak_rss_mb()
        written = rows_to_write(conn)
        first, _ = bench.measure(
            "(b) push 100% changed", lambda: run_job(conn, Job.PUSH), 0, min_calls(written, 100)
        )
        bench.advance(RUN_EVERY)
        echo_reads = sum(max(1, math.ceil(written.get(m, 0) / 200)) for m in MODULES)
        echo, _ = bench.measure(
            "(c) incremental 15 min after the push (re-reads its own writes)",
            lambda: run_job(conn, Job.RUN),
            echo_reads,
            0,
        )
        bench.advance(RUN_EVERY)
        quiet, _ = bench.measure(
            "(d) incremental 15 min later, nothing changed",
            lambda: run_job(conn, Job.RUN),
            len(MODULES),
            0,
        )
        bench.advance(RUN_EVERY)
        changed = change_tenth(conn)
        tenth_rows = rows_to_write(conn)
        tenth, _ = bench.measure(
            f"(e) push 10% changed ({changed} engagements; their accounts follow)",
            lambda: run_job(conn, Job.PUSH),
            0,
            min_calls(tenth_rows, 100),
        )
        peak_scenarios = max(f.peak_mb for f in (full, first, echo, quiet, tenth))
        peak_scenarios = max(peak_scenarios, score_peak)
        for figures in (full, first, echo, quiet, tenth):
            print("\n".join(figures.lines()))
        print(f"  score (between (a) and (b)): peak RSS {score_peak:.0f} MB")
        shared = credits_shared(bench, conn)
        print("\n".join(shared[0]))
        # A day later the org's credits are back (Zoho's window is a rolling 24 hours).
        bench.advance(timedelta(days=1))

        every = module_rows(conn)
        floors = {}
        print("  transport floor: the same write calls, bodies ready, nothing planned or stored:")
        for figures, wanted in ((first, written), (tenth, tenth_rows)):
            seconds, cpu, sandbox_cpu = transport_floor(bench, conn, every, wanted)
            floors[figures.title[:3]] = seconds
            print(
                f"    {figures.title[:3]} {min_calls(wanted, 100)} calls: {seconds:.2f} s "
                f"({seconds / figures.limit_seconds:.2f}x the physical limit); CPU: connector "
                f"{cpu:.2f} s, sandbox CRM {sandbox_cpu:.2f} s; the push took "
                f"{figures.seconds / seconds:.2f}x this"
            )

        sample = None if deals <= 10_000 else NAIVE_SAMPLE
        bench.ask("reset")
        calls, seconds, total = naive_writes(conn, every, sample)
        _, naive_sample_credits = bench.ask("calls")
        scale = total / calls
        naive_calls = full.reads + full.metadata + total
        naive_credits = full.credits + round(naive_sample_credits * scale)
        naive_seconds = full.seconds + seconds * scale
        note = (
            "" if sample is None else f" (writes measured on {calls} records, scaled x{scale:.1f})"
        )
        print(f"  naive baseline, every run{note}:")
        print(
            f"    {naive_calls} calls, {naive_credits} credits, {naive_seconds:.1f} s per run "
            f"(a full read plus {total} single-record updates)"
        )
        for figures in (first, quiet, tenth):
            ours = figures.reads + figures.writes + figures.metadata
            print(
                f"    vs {figures.title.split(' ', 1)[1]}: calls x{naive_calls / max(1, ours):.1f}, "
                f"credits x{naive_credits / max(1, figures.credits):.1f}, "
                f"wall x{naive_seconds / figures.seconds:.1f}"
            )
        conn.close()

        print(f"  targets at {deals} deals (load now {os.getloadavg()[0]:.2f}):")
        minimum = all(
            f.reads == f.min_reads and f.writes == f.min_writes for f in (full, first, tenth)
        )
        over = [
            f"{m} {n}/{math.ceil(sizes[m] / 200)}"
            + (" (past the 100,000 records one query reaches)" if sizes[m] > 100_000 else "")
            for m, n in full.reads_per_module().items()
            if n != math.ceil(sizes[m] / 200)
        ]
        print(
            f"    {verdict(minimum)} (1) calls = minimum + metadata: (a) {full.reads}/"
            f"{full.min_reads} reads + {full.metadata} metadata, (b) {first.writes}/"
            f"{first.min_writes} writes, (e) {tenth.writes}/{tenth.min_writes} writes"
            + (f"; reads above the minimum: {', '.join(over)}" if over else "")
        )
        per_module = quiet.reads_per_module()
        quiet_ok = quiet.writes == 0 and max(per_module.values()) <= 1
        shown = ", ".join(f"{m} {n}" for m, n in per_module.items())
        print(
            f"    {verdict(quiet_ok)} (2) quiet run (d): {quiet.writes} writes; reads per module: "
            f"{shown}; {quiet.metadata} deleted-records checks (hourly: none due)"
        )
        for figures in (first, tenth):
            print(
                f"    {verdict(figures.ratio <= WALL_TARGET)} (3) push wall {figures.title[:3]}: "
                f"{figures.seconds:.2f} s = {figures.ratio:.2f}x the physical limit "
                f"{figures.limit_seconds:.2f} s (target {WALL_TARGET}x; load {figures.load:.2f}; "
                f"connector CPU {figures.cpu:.2f} s; transport floor "
                f"{floors[figures.title[:3]] / figures.limit_seconds:.2f}x)"
            )
        print(
            f"    {verdict(peak_scenarios < RSS_TARGET_MB)} (4) peak RSS of the connector "
            f"process, (a)-(e) and scoring: {peak_scenarios:.0f} MB (target < {RSS_TARGET_MB} MB"
            + ("" if deals >= 100_000 else ", set for 100,000 deals")
            + ")"
        )
        print(f"    {verdict(shared[1])} (5) {shared[2]}")
    parent.send("stop")
    process.join(timeout=30)


def change_tenth(conn: Connection) -> int:
    """Raise the risk score of every tenth scored engagement by one, as a scoring run would:
    the values change and so does their time."""
    changed = sorted(conn.store.inputs_hashes())[::10]
    now = conn.clock()
    for start in range(0, len(changed), 2000):  # a chunk at a time: this process is measured
        health = conn.store.health(changed[start : start + 2000])
        conn.store.save_health(
            [
                h.model_copy(update={"risk_score": (h.risk_score + 1) % 101, "updated_at": now})
                for h in health.values()
            ]
        )
    return len(changed)


def credits_shared(bench: Bench, conn: Connection) -> tuple[list[str], bool, str]:
    """(f): other integrations leave 60 credits; a run that would need more must stop in time."""
    bench.advance(RUN_EVERY)
    change_tenth(conn)
    left = 60
    bench.ask(("leave_credits", left))
    figures, result = bench.measure(
        f"(f) the org's other integrations leave {left} credits; `engage run` needs more",
        lambda: run_job(conn, Job.RUN),
        0,
        0,
    )
    used, allowance = bench.ask("org_credits")
    ok = result.status == "stopped" and used <= allowance
    written = result.push.written if result.push else 0
    lines = [
        *figures.lines()[:2],
        f"    {written} records written before it stopped; org credits used {used} of {allowance}",
    ]
    what = (
        f"shared credits: the run {result.status} with the org at {used} of {allowance} "
        f"credits ({'not ' if used <= allowance else ''}exceeded), {figures.credits} spent"
    )
    return lines, ok, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 deals only")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--edition", default="professional", choices=sorted(EDITION_CONCURRENCY))
    parser.add_argument("--size", type=int, help="one size only (run in this process)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats per scenario here")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="store in PostgreSQL (a database of its own per size on this server, dropped "
        "afterwards; e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) "
        "instead of SQLite",
    )
    args = parser.parse_args()
    if args.size:
        run_size(args.size, args.latency_ms / 1000, args.edition, args.profile, args.postgres)
        return
    for deals in SIZES[:1] if args.quick else SIZES:
        # One child per size: its peak RSS is its own.
        command = [sys.executable, __file__, "--size", str(deals)]
        command += ["--latency-ms", str(args.latency_ms), "--edition", args.edition]
        if args.profile:
            command += ["--profile", str(args.profile)]
        if args.postgres:
            command += ["--postgres", args.postgres]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
