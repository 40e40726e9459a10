"""Figures for one full run and one quiet run against the sandbox CRM (not a test).

Usage: .venv/bin/python benchmarks/run_once.py [DEALS ...]   (default: 5000)

Prints, per run: API calls by kind against the theoretical minimum (ceil(N/200) reads per
module, the three activity modules included; ceil(changed/100) writes), and wall time. The sandbox answers from memory with no
simulated latency, so wall time here is the connector's own cost (mapping, store, HTTP stack).
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job


def measure(deals: int) -> None:
    accounts = max(120, deals // 20)
    with tempfile.TemporaryDirectory() as tmp, SandboxCRM(deals=deals, accounts=accounts) as crm:
        contacts = len(crm.records("Contacts"))
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        conn = connect(sandbox_settings(crm, store_url, Path(tmp) / "engage.toml"))
        for title in ("first run (everything new)", "second run (nothing changed)"):
            crm.reset_calls()
            started = time.perf_counter()
            result = run_job(conn, Job.RUN)
            seconds = time.perf_counter() - started
            calls = Counter(f"{kind} {detail}".strip() for kind, detail in crm.calls)
            written = result.push.written if result.push else 0
            modules = ("Accounts", "Contacts", "Deals", "Calls", "Events", "Notes")
            minimum_reads = sum(math.ceil(len(crm.records(m)) / 200) for m in modules)
            print(f"\n{deals} deals, {accounts} accounts, {contacts} contacts — {title}")
            print(f"  status {result.status}; wall {seconds:.2f} s")
            for name, count in sorted(calls.items()):
                print(f"  {name:<24} {count:>6}")
            print(
                f"  record pages {sum(v for k, v in calls.items() if k.startswith('get_records'))}"
                f" (minimum for a full read {minimum_reads}); "
                f"write calls {sum(v for k, v in calls.items() if k.startswith('update'))}"
                f" for {written} records (minimum ceil(records/100) per module)"
            )
        conn.close()


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [5000]:
        measure(n)
