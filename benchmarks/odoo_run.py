"""Figures for one full and one quiet run against the Odoo sandbox, per API (not a test).

Usage: .venv/bin/python benchmarks/odoo_run.py [DEALS ...]   (default: 5000)

Prints, per API and run: calls by (model, method), write calls against the number of records
written (grouping by value makes the first much smaller), and wall time. The sandbox answers
from memory with no latency, so wall time is the connector's own cost.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from jobs.demo.odoo import SANDBOX_VERSION, odoo_sandbox, odoo_sandbox_settings
from jobs.runner import Job, connect, run_job


def measure(deals: int, api: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, odoo_sandbox(deals, api) as odoo:  # type: ignore[arg-type]
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        conn = connect(odoo_sandbox_settings(odoo, store_url, Path(tmp) / "engage.toml"))
        for title in ("first run (everything new)", "second run (nothing changed)"):
            odoo.reset_calls()
            started = time.perf_counter()
            result = run_job(conn, Job.RUN)
            seconds = time.perf_counter() - started
            calls = Counter(f"{model}.{method}" for _api, model, method in odoo.calls)
            written = result.push.written if result.push else 0
            print(f"\n{deals} deals, Odoo {SANDBOX_VERSION[api]} over {api} — {title}")
            print(f"  status {result.status}; wall {seconds:.2f} s")
            for name, count in sorted(calls.items()):
                print(f"  {name:<32} {count:>6}")
            writes = sum(v for k, v in calls.items() if k.endswith((".write", ".load")))
            print(f"  write + load calls {writes} for {written} records written")
        conn.close()


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [5000]:
        for kind in ("json2", "jsonrpc"):
            measure(n, kind)
