"""Figures for pulling delivery facts from the Jira sandbox at scale (not a test).

Usage: .venv/bin/python benchmarks/delivery_pull.py [--issues-per-project N] [--projects P]

Seeds the Jira Cloud sandbox (real HTTP on localhost) with P projects of N issues (default
10 x 2,000), then times (a) the first pull into a fresh SQLite store and (b) a second pull
after 5 issues changed and 1 was deleted, printing calls, items read and seconds of each.
Times depend on the machine; the call counts do not (tests/delivery/test_jira.py holds them).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.delivery.jira import JiraAuth, JiraClient
from connector.http import HttpTransport
from connector.sandbox.jira import JiraState, SandboxJira
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.store import Store
from mappings.delivery import DeliveryMapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues-per-project", type=int, default=2000)
    parser.add_argument("--projects", type=int, default=10)
    args = parser.parse_args()
    state = JiraState()
    state.add_account("bench@example.com", "t")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    keys = [f"P{n}" for n in range(args.projects)]
    for key in keys:
        state.add_project(key, key)
        for i in range(args.issues_per_project):
            state.add_issue(key, priority="Medium", created=start + timedelta(minutes=i))
    mapping = DeliveryMapping.model_validate(
        {
            "tool": "jira",
            "link": {"projects": {k: f"D{k}" for k in keys}},
            "tickets": {"priority": {"Medium": "P3"}},
        }
    )
    with SandboxJira(state) as sandbox, tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.db'}")

        def pull(label: str) -> None:
            client = JiraClient(
                sandbox.url, JiraAuth(email="bench@example.com", api_token="t"), HttpTransport()
            )
            state.calls.clear()
            began = time.perf_counter()
            report = pull_source(
                ConfiguredSource("jira", client, mapping), store, clock=lambda: datetime.now(UTC)
            )
            seconds = time.perf_counter() - began
            print(
                f"{label}: {sum(state.calls.values())} calls, {report.items_read} items read, "
                f"{sum(report.changed.values())} facts changed, {report.deleted} deleted, {seconds:.1f} s"
            )

        pull("first pull ")
        for key in ("P0-5", "P0-6", "P1-100", f"P{args.projects - 1}-1", "P2-7"):
            state.move(key, "In Progress")
        state.delete("P1-10")
        pull("second pull")
        store.close()


if __name__ == "__main__":
    main()
