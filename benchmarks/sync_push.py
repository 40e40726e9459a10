"""Sync and push against the sandbox CRM with simulated latency, against the API-call minimum and
a naive baseline (not a test; `make bench`).

Usage: .venv/bin/python benchmarks/sync_push.py [--quick] [--latency-ms 50] [--edition professional]

For 10,000 and 100,000 deals (``--quick``: 10,000 only), each size in its own child process so
that its peak memory is its own, with the sandbox CRM in a grandchild process (its memory and
CPU are not the connector's; on a 2-core machine they still share the CPUs). Scenarios, in order:

  (a) full pull             `engage sync` into an empty store
  (b) push 100% changed     score, then `engage push` of every engagement and account
  (c) incremental, echo     `engage run` right after (b): it re-reads the records the push
                            modified (their Modified_Time moved), writes nothing
  (d) incremental, quiet    `engage run` again: nothing changed anywhere
  (e) push 10% changed      one value changed on 10% of the engagements, `engage push`

For each: API calls against the minimum (ceil(N/200) reads per module, ceil(changed/100) writes;
the deleted-records check is the "metadata" on top), credits as the sandbox charged them, wall
time against the physical limit (calls x latency / usable concurrency: 1 for paged reads, the
write concurrency for writes), and the peak RSS of the connector's process so far.

The naive baseline is what a hand-written integration does every run: read every deal, then one
update call per record with every value, no diff, on the same number of threads. Its reads are
those of (a); its writes are measured on every record at 10,000 deals and on a 5,000-record
sample (scaled up, and said so) at 100,000.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from connector.credits import EDITION_CONCURRENCY
from jobs.config import SECRET_ENV, Config, Settings
from jobs.push import plan, wanted_values
from jobs.runner import Connection, Job, connect, run_job

SIZES = (10_000, 100_000)
NAIVE_SAMPLE = 5_000
#: Zoho holds concurrent writes to 10 per org on every edition (research/zoho.md §6).
WRITE_CONCURRENCY = 10


# --- the sandbox, in its own process ------------------------------------------------------------


def serve_sandbox(pipe: Pipe, deals: int, latency: float, concurrency: int) -> None:
    """Child process: a sandbox CRM answering control messages until told to stop."""
    from connector.sandbox import SandboxCRM
    from connector.sandbox.faults import FaultPlan

    crm = SandboxCRM(deals=deals, accounts=max(120, deals // 20), concurrency_limit=concurrency)
    crm.install_faults(FaultPlan(latency_seconds=latency))
    pipe.send(
        {
            "url": crm.start(),
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "refresh_token": crm.refresh_token,
            "sizes": {m: len(crm.records(m)) for m in ("Accounts", "Contacts", "Deals")},
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
            pipe.send((Counter(kind for kind, _ in crm.calls), crm.credits_used))


@dataclass
class Figures:
    title: str
    reads: int
    writes: int
    other: int
    min_reads: int
    min_writes: int
    credits: int
    seconds: float
    limit_seconds: float
    written: int
    #: Peak RSS of this process right after the scenario (ru_maxrss never goes down).
    peak_mb: float

    def lines(self) -> list[str]:
        ratio = self.seconds / self.limit_seconds if self.limit_seconds else float("nan")
        calls = (
            f"    calls: {self.reads} reads (minimum {self.min_reads}) + {self.writes} writes "
            f"(minimum {self.min_writes}) + {self.other} metadata/deleted; "
            f"{self.credits} credits; {self.written} records written"
        )
        wall = (
            f"    wall {self.seconds:.2f} s; physical limit {self.limit_seconds:.2f} s "
            f"({ratio:.2f}x); peak RSS so far {self.peak_mb:.0f} MB"
        )
        return [f"  {self.title}", calls, wall]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(
    title: str,
    pipe: Pipe,
    latency: float,
    action: Any,
    min_reads: int,
    min_writes: int,
) -> tuple[Figures, Any]:
    pipe.send("reset")
    pipe.recv()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    pipe.send("calls")
    calls, credits = pipe.recv()
    reads, writes = calls["get_records"], calls["update"]
    other = sum(calls.values()) - reads - writes - calls["token"]
    # Pages are read one after another (each needs the previous page's token); writes overlap.
    limit = (reads + other) * latency + writes * latency / WRITE_CONCURRENCY
    written = result.push.written if getattr(result, "push", None) else 0
    figures = Figures(
        title,
        reads,
        writes,
        other,
        min_reads,
        min_writes,
        credits,
        seconds,
        limit,
        written,
        peak_rss_mb(),
    )
    return figures, result


def min_writes(conn: Connection) -> int:
    """ceil(changed/100) write calls per module, for what a push would write now."""
    rows = plan(conn.mapper, conn.store).rows_by_module()
    return sum(math.ceil(n / 100) for n in rows.values())


def naive_writes(conn: Connection, sample: int | None) -> tuple[int, float, int]:
    """One update call per record, every value, no diff: (calls, seconds, records in the run)."""
    rows = [
        (module, {"id": rid, **values})
        for module, records in wanted_values(conn.mapper, conn.store).items()
        for rid, values in records.items()
    ]
    total = len(rows)
    if sample is not None:
        rows = rows[:sample]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY) as pool:
        list(pool.map(lambda item: conn.client.update_records(item[0], [item[1]]), rows))
    return len(rows), time.perf_counter() - started, total


def run_size(deals: int, latency: float, edition: str) -> None:
    concurrency = EDITION_CONCURRENCY[edition]
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_sandbox, args=(child, deals, latency, concurrency))
    process.start()
    info = parent.recv()
    sizes = info["sizes"]
    min_full_reads = sum(math.ceil(n / 200) for n in sizes.values())
    print(
        f"\n{deals} deals, {sizes['Accounts']} accounts, {sizes['Contacts']} contacts; latency "
        f"{latency * 1000:.0f} ms; {edition} edition (concurrency {concurrency}, "
        f"{WRITE_CONCURRENCY} concurrent writes)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.model_validate(
            {
                "crm": {"kind": "zoho", "zoho": {"accounts_url": info["url"]}, "edition": edition},
                "store": {"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
                "push": {"write_concurrency": WRITE_CONCURRENCY},
            }
        )
        env = {
            SECRET_ENV["client_id"]: info["client_id"],
            SECRET_ENV["client_secret"]: info["client_secret"],
            SECRET_ENV["refresh_token"]: info["refresh_token"],
        }
        conn = connect(Settings(config, Path(tmp) / "engage.toml", env))
        full, _ = measure(
            "(a) full pull",
            parent,
            latency,
            lambda: run_job(conn, Job.SYNC),
            min_full_reads,
            0,
        )
        run_job(conn, Job.SCORE)
        first, _ = measure(
            "(b) push 100% changed",
            parent,
            latency,
            lambda: run_job(conn, Job.PUSH),
            0,
            min_writes(conn),
        )
        echo, _ = measure(
            "(c) incremental right after the push (re-reads its own writes)",
            parent,
            latency,
            lambda: run_job(conn, Job.RUN),
            3,
            0,
        )
        quiet, _ = measure(
            "(d) incremental, nothing changed",
            parent,
            latency,
            lambda: run_job(conn, Job.RUN),
            3,
            0,
        )
        health = conn.store.health()
        changed = sorted(health)[::10]
        conn.store.save_health(
            [
                health[e].model_copy(update={"risk_score": (health[e].risk_score + 1) % 101})
                for e in changed
            ]
        )
        tenth, _ = measure(
            f"(e) push 10% changed ({len(changed)} engagements; their accounts follow)",
            parent,
            latency,
            lambda: run_job(conn, Job.PUSH),
            0,
            min_writes(conn),
        )
        for figures in (full, first, echo, quiet, tenth):
            print("\n".join(figures.lines()))

        sample = None if deals <= 10_000 else NAIVE_SAMPLE
        parent.send("reset")
        parent.recv()
        calls, seconds, total = naive_writes(conn, sample)
        parent.send("calls")
        _, naive_sample_credits = parent.recv()
        scale = total / calls
        naive_calls = full.reads + full.other + total
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
            ours = figures.reads + figures.writes + figures.other
            print(
                f"    vs {figures.title.split(' ', 1)[1]}: calls x{naive_calls / max(1, ours):.1f}, "
                f"credits x{naive_credits / max(1, figures.credits):.1f}, "
                f"wall x{naive_seconds / figures.seconds:.1f}"
            )
        print(f"  peak RSS of the connector process: {peak_rss_mb():.0f} MB")
        conn.close()
    parent.send("stop")
    process.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 deals only")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--edition", default="professional", choices=sorted(EDITION_CONCURRENCY))
    parser.add_argument("--size", type=int, help="run one size in this process (internal)")
    args = parser.parse_args()
    if args.size:
        run_size(args.size, args.latency_ms / 1000, args.edition)
        return
    for deals in SIZES[:1] if args.quick else SIZES:
        # One child per size: its peak RSS is its own.
        command = [sys.executable, __file__, "--size", str(deals)]
        command += ["--latency-ms", str(args.latency_ms), "--edition", args.edition]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
