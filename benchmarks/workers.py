"""Scoring spread over `engage worker` processes (not a test): wall time and CPU per engagement
on 1, 2 and 4 worker processes, with the single-process figure beside them, in one run.

Usage: .venv/bin/python benchmarks/workers.py [--engagements N] [--processes 1,2,4] [--seed S]

Builds a store in a fresh schema of the local PostgreSQL (ENGAGE_BENCH_POSTGRES_URL, default
the tests' database) with N engagements (default 100,000) and their delivery facts, drawn as
benchmarks/health.py draws them. Then, for each figure, every engagement's health is cleared and
scored again:

  single      `jobs.score.score` in this process, no worker process (what `engage run` does on
              a small portfolio; the daemon's own fan-out is not used, to show one core);
  P workers   P `engage worker --queues score --concurrency 1` subprocesses on the cluster's
              job tables, the run's ceil(N / 500) `score_chunk` jobs deferred at once; timed
              from the deferral to the last chunk's success, the workers' CPU read from /proc.

Data generation is reported apart (rows per second; one process per CPU, at most two, each
filling its own range of engagements) and not counted. The machine's other load counts in wall
time, not in CPU time: read the CPU per engagement to compare. Beside each row: the ideal wall
time on this machine (the single wall time / min(P, CPUs): P processes cannot go faster than
the cores they share), the 1-minute load average when the row started (other work on the
machine), and the peak RSS of the largest worker process (VmHWM; for "single", this process).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from jobs.config import HealthSection
from jobs.score import CHUNK_SIZE, score
from jobs.store import Store
from jobs.store.connections import ConnectionTables
from jobs.store.org_limits import OrgLimitTables
from jobs.workers.app import Timings, make_app
from jobs.workers.connections import read_definition, save_definition
from jobs.workers.tasks import SCORE_CHUNK

BASE_URL = os.environ.get(
    "ENGAGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGAGE = str(Path(sys.executable).with_name("engage"))
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _health_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "bench_health", Path(__file__).with_name("health.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(admin: sa.Engine) -> tuple[str, str]:
    name = f"engage_bench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    return name, f"{BASE_URL}?options=-csearch_path%3D{name}"


def _clear_health(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM engagement_health"))
        conn.execute(sa.text("DELETE FROM health_history"))
    engine.dispose()
    store = Store.open(url)
    store.clear_measures()
    store.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime + stime


def single(url: str) -> tuple[float, float]:
    _clear_health(url)
    store = Store.open(url)
    wall, cpu = time.perf_counter(), time.process_time()
    report = score(store, HealthSection(), clock=_health_module().clock, workers=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    assert report.scored > 0
    return wall, cpu


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def on_workers(
    url: str, cluster: str, processes: int, engagements: int
) -> tuple[float, float, float]:
    _clear_health(url)
    engine = sa.create_engine(cluster)
    tables = ConnectionTables(engine)
    token = tables.take_lease("bench", "benchmark", _now(), timedelta(hours=2))
    assert token is not None
    chunks = math.ceil(engagements / CHUNK_SIZE)
    tables.start_chunks("bench", token, chunks)
    env = dict(os.environ) | {
        "ENGAGE_CLUSTER_URL": cluster,
        "ENGAGE_BENCH_ZOHO_CLIENT_ID": "bench",
        "ENGAGE_BENCH_ZOHO_CLIENT_SECRET": "bench",
        "ENGAGE_BENCH_ZOHO_REFRESH_TOKEN": "bench",
        "ENGAGE_WORKER_POLLING_SECONDS": "0.2",
    }
    workers = [
        subprocess.Popen(
            [ENGAGE, "worker", "--queues", "score", "--concurrency", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        _until(engine, "SELECT count(*) FROM procrastinate_workers", processes)
        cpu_before = sum(_cpu_seconds(w.pid) for w in workers)
        wall = time.perf_counter()
        app = make_app(cluster, Timings())
        with app.open():
            app.configure_task(SCORE_CHUNK, queue="score").batch_defer(
                *({"connection": "bench", "token": token, "chunk": k} for k in range(chunks))
            )
        _until(
            engine,
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'engage.score_chunk' "
            f"AND status = 'succeeded' AND (args->>'token')::int = {token}",
            chunks,
        )
        wall = time.perf_counter() - wall
        cpu = sum(_cpu_seconds(w.pid) for w in workers) - cpu_before
        rss = max(_peak_rss_mb(w.pid) for w in workers)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait()
        tables.release_lease("bench", token)
        engine.dispose()
    return wall, cpu, rss


def generate(url: str, engagements: int, seed: int) -> dict[str, int]:
    """The store filled by one process per CPU (at most two: the database needs a core too),
    each with its own range of engagements; how many rows of each kind were saved."""
    parts = max(1, min(2, os.cpu_count() or 1, engagements // 1000))
    health = _health_module()
    if parts == 1:
        counts: dict[str, int] = health.generate(url, engagements, seed)
        return counts
    # Forked, so the children need not import this file again; each sends its counts back.
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[dict[str, int]] = context.Queue()
    bounds = [engagements * k // parts for k in range(parts + 1)]
    children = [
        context.Process(
            target=lambda a, b: results.put(health.generate(url, b - a, seed, a)),
            args=(bounds[k], bounds[k + 1]),
        )
        for k in range(parts)
    ]
    for child in children:
        child.start()
    counts = {}
    for _ in children:
        for kind, n in results.get().items():
            counts[kind] = counts.get(kind, 0) + n
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"a data generator exited with {child.exitcode}")
    return counts


def _row(label: str, wall: float, cpu: float, n: int, wall1: float, ideal: float) -> str:
    return (
        f"{label:<12}{wall:>9.1f}{cpu:>9.1f}{1000 * cpu / n:>12.2f}{wall / wall1:>11.2f}"
        f"{ideal:>10.1f}"
    )


def _until(engine: sa.Engine, query: str, wanted: int) -> None:
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(sa.text(query)).scalar_one() >= wanted:
                return
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for: {query}")


def _now() -> datetime:
    return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=100_000)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    counts_of_processes = [int(p) for p in args.processes.split(",")]
    admin = sa.create_engine(BASE_URL)
    made = [_schema(admin), _schema(admin)]
    (_, store_url), (_, cluster_url) = made
    folder = Path(tempfile.mkdtemp(prefix="engage-bench-"))
    try:
        started = time.perf_counter()
        counts = generate(store_url, args.engagements, args.seed)
        seconds = time.perf_counter() - started
        rows = sum(counts.values())
        print(f"data: {counts} in {seconds:.0f} s: {rows / seconds:,.0f} rows/s (not counted)")
        # What a run does after its sync, before the scoring (jobs/store/statistics.py): timed
        # apart, so that every row below reads tables PostgreSQL has statistics of.
        started = time.perf_counter()
        bench_store = Store.open(store_url)
        analyzed = bench_store.refresh_statistics()
        bench_store.close()
        print(
            f"statistics: {len(analyzed)} tables analyzed in "
            f"{time.perf_counter() - started:.1f} s (not counted)"
        )
        config = folder / "bench.toml"
        config.write_text(
            '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
            f'[store]\nurl = "{store_url}"\n',
            encoding="utf-8",
        )
        cluster = Store.open(cluster_url)
        save_definition(
            ConnectionTables(cluster.engine),
            OrgLimitTables(cluster.engine),
            read_definition("bench", config, {}),
            _now(),
        )
        subprocess.run([ENGAGE, "cluster", "init", "--cluster", cluster_url], check=True)
        cluster.close()
        n, cpus = args.engagements, os.cpu_count() or 1
        print(f"\nscoring {n:,} engagements on {cpus} CPUs")
        print(
            f"{'':<12}{'wall s':>9}{'CPU s':>9}{'CPU ms/eng':>12}{'vs single':>11}"
            f"{'ideal s':>10}{'load':>7}{'peak RSS MB':>13}"
        )
        load = os.getloadavg()[0]
        wall1, cpu1 = single(store_url)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(_row("single", wall1, cpu1, n, wall1, wall1) + f"{load:>7.1f}{rss1:>13.0f}")
        for p in counts_of_processes:
            load = os.getloadavg()[0]
            wall, cpu, rss = on_workers(store_url, cluster_url, p, n)
            label = f"{p} worker" + ("s" if p > 1 else "")
            ideal = wall1 / min(p, cpus)
            print(_row(label, wall, cpu, n, wall1, ideal) + f"{load:>7.1f}{rss:>13.0f}")
    finally:
        with admin.begin() as conn:
            for name, _ in made:
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
