"""The demo's Trello, Planner and Worktile: one engagement linked to each tool's sandbox.

Three active engagements that the demo's file facts left alone (jobs/demo/facts.py) get a
Trello board, a Planner plan and a Worktile project, seeded by the sandboxes' own seeds (each
with an overdue milestone, a request that waited on the client...), linked through the shipped
default mappings' ``link.projects`` and pulled with the real clients over HTTP. The sandboxes
stop once pulled: the facts are in the store, and the run scores and pushes them like any.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.delivery.pacing import CallPacer, PacedSession
from connector.delivery.planner import PlannerClient
from connector.delivery.trello import LIMIT_WINDOW, TOKEN_LIMIT, TrelloClient
from connector.delivery.worktile import WorktileClient
from connector.http import HttpTransport
from connector.sandbox.planner import PlannerSandbox, seed_planner_plans
from connector.sandbox.trello import TrelloSandbox, seed_trello_boards
from connector.sandbox.worktile import WorktileSandbox, seed_worktile_projects
from jobs.delivery.pull import ConfiguredSource, SourceReport, pull_source
from jobs.runner import Connection
from jobs.store import Store
from mappings.delivery import DeliveryMapping, load_delivery_mapping
from mappings.domain import EngagementStatus
from mappings.spec import EngagementOutput

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@dataclass(frozen=True)
class LinkedTool:
    tool: str
    project: str
    engagement_id: str
    report: SourceReport


def linked_mapping(tool: str, project: str, engagement_id: str) -> DeliveryMapping:
    """The shipped default mapping of ``tool``, its project linked to the engagement."""
    data = load_delivery_mapping(MAPPINGS / f"{tool}-delivery.toml").model_dump(mode="json")
    data["link"]["projects"] = {project: engagement_id}
    return DeliveryMapping.model_validate(data)


def pull_demo_boards(
    store: Store, now: datetime, avoid: Collection[str] = (), console: Console | None = None
) -> list[LinkedTool]:
    """Seed, link and pull one engagement per tool (none of ``avoid``: the deals the demo
    linked to Jira and PingCode); what each pull did, also told on ``console``."""
    linked = _seed_and_pull(store, now, avoid)
    if console is not None and linked:
        console.print(
            "pulled from the Trello, Planner and Worktile sandboxes: " + describe_pulls(linked)
        )
    return linked


def _seed_and_pull(store: Store, now: datetime, avoid: Collection[str]) -> list[LinkedTool]:
    active = [e for e in store.engagements() if e.status is EngagementStatus.ACTIVE]
    with_facts = set(store.milestones()) | set(store.tickets()) | set(avoid)
    spare = [e for e in active if e.crm_id not in with_facts][:3]
    if len(spare) < 3:
        spare = active[-3:]  # a small demo: every active engagement has file facts
    if len(spare) < 3:
        return []
    clock = lambda: now
    linked: list[LinkedTool] = []
    with TrelloSandbox(clock=clock) as trello:
        board = seed_trello_boards(trello, now)["Brand refresh"]
        short = str(trello.boards[board]["shortLink"])
        pacer = CallPacer(TOKEN_LIMIT, LIMIT_WINDOW, clock=clock, tool="trello")
        client = TrelloClient(
            trello.key,
            trello.token,
            HttpTransport(session=PacedSession(pacer)),
            base_url=trello.url,
            milestone_labels=("Milestone",),
            clock=clock,
        )
        linked.append(_pull("trello", client, short, spare[0].crm_id, store, now))
    with PlannerSandbox(clock=clock) as planner:
        plan = seed_planner_plans(planner, now)["Service desk rollout"]
        graph = PlannerClient(
            planner.tenant,
            planner.client_id,
            planner.client_secret,
            HttpTransport(),
            graph_url=planner.url,
            login_url=planner.url,
            milestone_buckets=("Milestones",),
            clock=clock,
        )
        linked.append(_pull("planner", graph, plan, spare[1].crm_id, store, now))
    with WorktileSandbox(clock=clock) as worktile:
        seed_worktile_projects(worktile, now)
        team = WorktileClient(
            worktile.url,
            worktile.client_id,
            worktile.client_secret,
            HttpTransport(),
            milestone_types=("里程碑",),
            clock=clock,
        )
        linked.append(_pull("worktile", team, "KF", spare[2].crm_id, store, now))
    return linked


def _pull(
    tool: str,
    client: TrelloClient | PlannerClient | WorktileClient,
    project: str,
    engagement_id: str,
    store: Store,
    now: datetime,
) -> LinkedTool:
    source = ConfiguredSource(f"demo-{tool}", client, linked_mapping(tool, project, engagement_id))
    report = pull_source(source, store, clock=lambda: now)
    return LinkedTool(tool, project, engagement_id, report)


def describe_pulls(linked: list[LinkedTool]) -> str:
    return "; ".join(
        f"{item.tool} {item.project} → deal {item.engagement_id}: {item.report.releases_read} "
        f"milestones, {item.report.items_read} items"
        + (f" ({item.report.error})" if item.report.error else "")
        + "".join(f" ({line})" for line in item.report.problems)
        for item in linked
    )


def show_tool_drivers(console: Console, conn: Connection, linked: list[LinkedTool]) -> None:
    """Each linked deal's risk drivers as the CRM holds them now (read through its API)."""
    target = conn.mapper.spec.targets.engagements
    rule = target.fields.get(EngagementOutput.RISK_DRIVERS)
    if rule is None or not linked:
        return
    wanted = {item.engagement_id for item in linked}
    in_crm = {
        record["id"]: record
        for page in conn.client.iter_pages(target.module, [rule.field])
        for record in page.records
        if record["id"] in wanted
    }
    table = Table(title=f"deals linked to a delivery tool: {rule.field} read back from the CRM")
    for column in ("tool", "project", "deal", rule.field):
        table.add_column(column, overflow="fold")
    for item in linked:
        drivers = str(in_crm.get(item.engagement_id, {}).get(rule.field) or "—")
        table.add_row(item.tool, item.project, item.engagement_id, drivers)
    console.print(table)
