"""The demo's delivery tools: a Jira Cloud and a PingCode sandbox, each with a project linked
to one of the demo's deals, pulled by the run like any configured source (jobs/delivery/).

Both are seeded relative to today, so the story is the same every day: Jira's "Release 2.1"
and PingCode's "版本 2.1" are 9 days late, and the drivers on those deals say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Self

from connector.sandbox.jira import JiraState, SandboxJira
from connector.sandbox.pingcode import PingCodeState, SandboxPingCode
from jobs.config import Config, Settings
from jobs.delivery.config import secret_variable
from jobs.demo.facts import WITH_FACTS
from jobs.store import Store
from mappings.domain import Engagement, EngagementStatus

JIRA_EMAIL, JIRA_TOKEN = "demo@sandbox.invalid", "sandbox-jira-token"
PINGCODE_APP, PINGCODE_SECRET = "sandbox-app", "sandbox-pingcode-secret"
#: How late the demo's late releases are, in days.
DAYS_LATE = 9

JIRA_MAPPING = """# Written by `engage demo`: the Jira sandbox's words (docs/delivery.md).
tool = "jira"
[link.projects]
ACME = "{deal}"
[tickets]
types = ["Service Request", "Bug"]
priority = {{ Highest = "P1", High = "P2", Medium = "P3", Low = "P4", Lowest = "P4" }}
first_response_statuses = ["In Progress"]
waiting_statuses = ["Waiting for customer"]
resolved_statuses = ["Resolved", "Done"]
[costs]
hourly_rate = 65
[changes]
types = ["Change Request"]
approved_statuses = ["Approved"]
rejected_statuses = ["Rejected"]
"""

PINGCODE_MAPPING = """# Written by `engage demo`: the PingCode sandbox's words (docs/delivery.md).
tool = "pingcode"
[link.projects]
HZB = "{deal}"
[tickets]
types = ["事务", "缺陷"]
priority = {{ "最高" = "P1", "较高" = "P2", "普通" = "P3", "较低" = "P4", "最低" = "P4" }}
resolved_statuses = ["已完成", "已关闭"]
[changes]
types = ["变更"]
"""


@dataclass
class DemoDelivery:
    """Both sandboxes, running; `settings` adds them to a config, `seed` fills them."""

    folder: Path
    jira: SandboxJira = field(default_factory=lambda: SandboxJira(JiraState()))
    pingcode: SandboxPingCode = field(default_factory=lambda: SandboxPingCode(PingCodeState()))
    linked: dict[str, str] = field(default_factory=dict)  # tool -> deal id

    def __enter__(self) -> Self:
        self.jira.state.add_account(JIRA_EMAIL, JIRA_TOKEN)
        self.pingcode.state.add_app(PINGCODE_APP, PINGCODE_SECRET)
        self.jira.start()
        self.pingcode.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.jira.stop()
        self.pingcode.stop()

    def settings(self, settings: Settings) -> Settings:
        """``settings`` with ``[sources.delivery.jira]`` and ``.pingcode``, their secrets in
        its environment (the sandboxes' public ones)."""
        data = settings.config.model_dump(mode="json", exclude_unset=True)
        data["sources"] = {
            "delivery": {
                "jira": {
                    "kind": "jira",
                    "mapping": "demo-jira.toml",
                    "base_url": self.jira.url,
                    "email": JIRA_EMAIL,
                },
                "pingcode": {
                    "kind": "pingcode",
                    "mapping": "demo-pingcode.toml",
                    "base_url": self.pingcode.url,
                    "client_id": PINGCODE_APP,
                },
            }
        }
        env = {
            **settings.env,
            secret_variable("jira", "token"): JIRA_TOKEN,
            secret_variable("pingcode", "client_secret"): PINGCODE_SECRET,
        }
        return Settings(Config.model_validate(data), settings.path, env)

    def seed(self, store: Store, today: date) -> dict[str, Engagement]:
        """Link a project in each tool to a demo deal (active, without the demo's file facts)
        and fill both; writes the two mapping files. Returns tool -> its deal."""
        active = [e for e in store.engagements() if e.status is EngagementStatus.ACTIVE]
        spare = active[WITH_FACTS:] or active
        deals = {"jira": spare[0], "pingcode": spare[min(1, len(spare) - 1)]}
        (self.folder / "demo-jira.toml").write_text(
            JIRA_MAPPING.format(deal=deals["jira"].crm_id), encoding="utf-8"
        )
        (self.folder / "demo-pingcode.toml").write_text(
            PINGCODE_MAPPING.format(deal=deals["pingcode"].crm_id), encoding="utf-8"
        )
        seed_jira(self.jira.state, today)
        seed_pingcode(self.pingcode.state, today)
        self.linked = {tool: e.crm_id for tool, e in deals.items()}
        return deals


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def seed_jira(state: JiraState, today: date) -> None:
    state.add_project("ACME", "Acme web platform")
    state.add_version("ACME", "Release 2.0", today - timedelta(days=40), released=True)
    late = state.add_version("ACME", "Release 2.1", today - timedelta(days=DAYS_LATE))
    state.add_version("ACME", "Release 2.2", today + timedelta(days=25))
    opened = today - timedelta(days=12)
    done = state.add_issue("ACME", priority="High", created=_at(opened, 2), fix_versions=[late.id])
    state.move(done.key, "In Progress", _at(opened, 3))
    state.move(done.key, "Resolved", _at(opened + timedelta(days=1), 7))
    waiting = state.add_issue("ACME", priority="Highest", created=_at(opened, 6))
    state.move(waiting.key, "In Progress", _at(opened, 7))
    state.move(waiting.key, "Waiting for customer", _at(opened, 8))
    state.move(waiting.key, "In Progress", _at(opened + timedelta(days=2), 8))
    open_one = state.add_issue("ACME", type="Bug", priority="Medium", created=_at(today, 1))
    state.log_work(done.key, _at(opened, 3), 6 * 3600)
    state.log_work(open_one.key, _at(today, 2), 2 * 3600)
    change = state.add_issue(
        "ACME", type="Change Request", priority="Medium", created=_at(opened, 5)
    )
    state.move(change.key, "Approved", _at(opened + timedelta(days=3), 5))


def seed_pingcode(state: PingCodeState, today: date) -> None:
    state.add_project("HZB", "杭州银行移动端")
    state.add_version(
        "HZB", "版本 2.0", _at(today - timedelta(days=30), 10), stage="published", progress=1.0
    )
    state.add_version("HZB", "版本 2.1", _at(today - timedelta(days=DAYS_LATE), 10), progress=0.6)
    state.add_version("HZB", "版本 3.0", _at(today + timedelta(days=40), 10))
    opened = today - timedelta(days=5)
    first = state.add_item("HZB", priority="较高", created_at=_at(opened, 2))
    state.move(first, "已完成", _at(opened + timedelta(days=1), 3))
    state.add_item("HZB", type="bug", priority="最高", created_at=_at(today, 1))
    state.add_item("HZB", type="change", priority="普通", created_at=_at(opened, 4))
