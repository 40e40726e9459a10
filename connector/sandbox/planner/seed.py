"""Demo plans for the Planner sandbox: a PMO's plan per engagement.

Tasks in the "Milestones" bucket are deliverables (one finished after its due date), the others
are work items; the mapping says which bucket is which stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .server import PlannerSandbox

DEMO_BUCKETS = ("Milestones", "To do", "In progress", "Waiting for client", "Done")
DEMO_LABELS = ("Change request", "Incident")


def seed_planner_plans(
    sandbox: PlannerSandbox, now: datetime, titles: tuple[str, ...] = ("Service desk rollout",)
) -> dict[str, str]:
    """Plans titled ``titles``; title -> plan id."""
    day = timedelta(days=1)
    plans: dict[str, str] = {}
    for title in titles:
        plan = sandbox.add_plan(title, DEMO_BUCKETS, labels=DEMO_LABELS)
        plans[title] = plan
        sandbox.add_task(
            plan,
            "Milestones",
            "Pilot go-live",
            due=now - 20 * day,
            percent=100,
            completed=now - 14 * day,  # six days late
            at=now - 60 * day,
        )
        sandbox.add_task(plan, "Milestones", "Full rollout", due=now + 30 * day, percent=50)
        sandbox.add_task(
            plan, "In progress", "Migrate the knowledge base", priority=3, at=now - 6 * day
        )
        sandbox.add_task(
            plan,
            "Done",
            "Train the first-line team",
            percent=100,
            completed=now - day,
            at=now - 5 * day,
        )
        # Overdue: 60 % done, 15 days after its due date.
        sandbox.add_task(plan, "Milestones", "Knowledge base live", due=now - 15 * day, percent=60)
    return plans


def add_many_tasks(sandbox: PlannerSandbox, plan_id: str, count: int) -> list[str]:
    return [sandbox.add_task(plan_id, "To do", f"Work item {n}") for n in range(count)]
