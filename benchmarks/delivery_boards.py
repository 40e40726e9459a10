"""Figures for the Trello, Planner and Worktile pulls (not a test): calls, wall time, and the
time the pacing would have waited, against each tool's sandbox over real HTTP.

Usage: .venv/bin/python benchmarks/delivery_boards.py [--items N]

For each tool, N work items (default 2,000) in one linked project are pulled twice into a
fresh SQLite store: a first pull, then a second after 10 % of the items changed. Trello's
pacing (100 calls per 10 s per token) and Worktile's (200 a minute) run on a simulated clock
that their sleeps advance, so the figures show how long a real pull would wait without this
script waiting for it; the sandboxes count on the same clock, and their refusals (429) are
printed: 0 means the pacing held.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.delivery.pacing import CallPacer, PacedSession
from connector.delivery.planner import PlannerClient
from connector.delivery.trello import LIMIT_WINDOW, TOKEN_LIMIT, TrelloClient
from connector.delivery.worktile import WorktileClient
from connector.http import HttpTransport
from connector.sandbox.planner import PlannerSandbox
from connector.sandbox.trello import TrelloSandbox
from connector.sandbox.trello.seed import DEMO_LABELS, DEMO_LISTS
from connector.sandbox.worktile import WorktileSandbox
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.demo.boards import linked_mapping
from jobs.store import Store
from jobs.store.store import upgrade_at


class SimulatedClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fresh_store(folder: Path, name: str) -> Store:
    url = f"sqlite:///{folder / name}.db"
    upgrade_at(url)
    return Store.open(url)


def bench_trello(items: int, folder: Path) -> None:
    clock = SimulatedClock()
    with TrelloSandbox(clock=clock) as sandbox:
        board = sandbox.add_board("B", DEMO_LISTS, DEMO_LABELS, short_link="BENCH001")
        cards = [
            sandbox.add_card(board, "Backlog", f"Request {n}", labels=("Request",), at=clock())
            for n in range(items)
        ]
        pacer = CallPacer(TOKEN_LIMIT, LIMIT_WINDOW, clock=clock, sleep=clock.sleep)
        client = TrelloClient(
            sandbox.key,
            sandbox.token,
            HttpTransport(session=PacedSession(pacer)),
            base_url=sandbox.url,
            milestone_labels=("Milestone",),
            clock=clock,
        )
        source = ConfiguredSource("trello", client, linked_mapping("trello", "BENCH001", "D1"))

        def changed() -> None:
            for card in cards[: items // 10]:
                sandbox.move_card(card, "Doing", at=clock())

        run("trello", source, fresh_store(folder, "trello"), clock, sandbox.api_calls, changed)
        print(
            f"  trello: paced {pacer.waited_seconds:.0f} s in all, window peak "
            f"{sandbox.token_window.peak}/100, refused {sandbox.refused_429}"
        )


def bench_planner(items: int, folder: Path) -> None:
    clock = SimulatedClock()
    with PlannerSandbox(clock=clock, requests_per_window=10_000) as sandbox:
        plan = sandbox.add_plan(
            "P",
            ("Milestones", "To do", "Done"),
            labels=("Change request", "Incident"),
            plan_id="PLAN",
        )
        tasks = [sandbox.add_task(plan, "To do", f"Item {n}") for n in range(items)]
        client = PlannerClient(
            sandbox.tenant,
            sandbox.client_id,
            sandbox.client_secret,
            HttpTransport(),
            graph_url=sandbox.url,
            login_url=sandbox.url,
            milestone_buckets=("Milestones",),
            clock=clock,
        )
        source = ConfiguredSource("planner", client, linked_mapping("planner", "PLAN", "D1"))

        def changed() -> None:
            for task in tasks[: items // 10]:
                sandbox.update_task(task, percentComplete=100, completedDateTime=clock())

        run("planner", source, fresh_store(folder, "planner"), clock, sandbox.graph_calls, changed)


def bench_worktile(items: int, folder: Path) -> None:
    clock = SimulatedClock()
    with WorktileSandbox(clock=clock) as sandbox:
        project = sandbox.add_project("P", "P")
        # One a second, as a team's tasks are touched over time (the cursor is a second).
        start = clock() - timedelta(seconds=items)
        tasks = [
            sandbox.add_task(project, f"工单 {n}", at=start + timedelta(seconds=n))
            for n in range(items)
        ]
        pacer = CallPacer(200, timedelta(minutes=1), clock=clock, sleep=clock.sleep)
        client = WorktileClient(
            sandbox.url,
            sandbox.client_id,
            sandbox.client_secret,
            HttpTransport(session=PacedSession(pacer)),
            milestone_types=("里程碑",),
            clock=clock,
        )
        source = ConfiguredSource("worktile", client, linked_mapping("worktile", "P", "D1"))

        def changed() -> None:
            clock.sleep(60)
            for task in tasks[: items // 10]:
                sandbox.update_task(task, state="已完成", at=clock())

        run("worktile", source, fresh_store(folder, "worktile"), clock, sandbox.api_calls, changed)
        print(f"  worktile: paced {pacer.waited_seconds:.0f} s, refused {sandbox.refused_429}")


def run(name, source, store, clock, calls, change) -> None:  # type: ignore[no-untyped-def]
    try:
        for label in ("first pull", "second pull, 10 % changed"):
            before, started = calls(), time.perf_counter()
            report = pull_source(source, store, clock=clock)
            took = time.perf_counter() - started
            print(
                f"{name:8} {label:26} calls {calls() - before:5}  items read "
                f"{report.items_read:6}  facts changed {sum(report.changed.values()):6}  "
                f"{took:6.2f} s wall" + (f"  ERROR {report.error}" if report.error else "")
            )
            change()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for bench in (bench_trello, bench_planner, bench_worktile):
            bench(args.items, Path(folder))


if __name__ == "__main__":
    main()
