"""Figures for `engage import` (not a test): peak memory of a large file, time on both stores.

Usage: .venv/bin/python benchmarks/import_facts.py [--quick] [--rows N] [--megabytes M]

1. Memory: a tickets CSV of M megabytes (default 50) is imported by `engage import` in a
   process of its own into SQLite; its peak RSS (getrusage of the child) is printed beside the
   limit of 300 MB (issue 18: the whole file in memory needed 1.33 GB for 50 MB).
2. Time: N rows (default 100,000) are imported into SQLite and into PostgreSQL
   (127.0.0.1:5432/test, a schema of its own, dropped afterwards) in the same run; both times
   are printed, and the ratio beside the target of 3 (issue 18: 151 s against 6.5 s).

`--quick`: 5 MB and 10,000 rows. PASS/MISS lines say whether each target was met.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

POSTGRES = os.environ.get(
    "ENGAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGAGE = str(Path(sys.executable).with_name("engage"))
MEMORY_LIMIT_MB = 300
TIME_RATIO_TARGET = 3.0

HEADER = "external_id,engagement_id,priority,opened_at,first_response_at,resolved_at\n"


def write_tickets(path: Path, *, rows: int | None = None, megabytes: float | None = None) -> int:
    """A tickets CSV of `rows` rows or of about `megabytes` MB; returns its number of rows."""
    limit = None if megabytes is None else int(megabytes * 1_000_000)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        size = len(HEADER)
        while (rows is None or written < rows) and (limit is None or size < limit):
            day = 1 + written % 28
            line = (
                f"JIRA-{written:08d},58430000004{written % 5000:05d},P{1 + written % 4},"
                f"2026-11-{day:02d}T09:30:00+08:00,2026-11-{day:02d}T09:50:00+08:00,"
                f"2026-11-{day:02d}T15:30:00+08:00\n"
            )
            out.write(line)
            size += len(line)
            written += 1
    return written


def config_for(folder: Path, store_url: str) -> Path:
    path = folder / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    return path


def run_import(config: Path, file: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB of the `engage import` process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(  # noqa: PLW1510 - the return code is checked below
        [ENGAGE, "--config", str(config), "import", "tickets", str(file)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"engage import exited {done.returncode}: {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of the children is the largest of them so far (kB on Linux).
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--megabytes", type=float, default=None)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    megabytes = args.megabytes or (5 if args.quick else 50)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "big.csv"
        count = write_tickets(big, megabytes=megabytes)
        print(f"memory: {big.stat().st_size / 1e6:.1f} MB, {count} tickets, into SQLite")
        config = config_for(folder, f"sqlite:///{folder / 'memory.db'}")
        seconds, peak = run_import(config, big)
        verdict = "PASS" if peak < MEMORY_LIMIT_MB else "MISS"
        print(f"  {seconds:.1f} s, peak RSS {peak:.0f} MB (limit {MEMORY_LIMIT_MB} MB) {verdict}")
        big.unlink()

        file = folder / "tickets.csv"
        write_tickets(file, rows=rows)
        print(f"time: {rows} tickets, the same file into each store")
        sqlite_seconds, _ = run_import(config_for(folder, f"sqlite:///{folder / 't.db'}"), file)
        print(f"  SQLite      {sqlite_seconds:7.1f} s")
        schema = f"engage_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            pg_seconds, _ = run_import(config_for(folder, url), file)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        ratio = pg_seconds / sqlite_seconds
        verdict = "PASS" if ratio <= TIME_RATIO_TARGET else "MISS"
        print(f"  PostgreSQL  {pg_seconds:7.1f} s  ({ratio:.1f}x SQLite; target <= 3x) {verdict}")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
