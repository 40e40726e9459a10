"""Demo projects for the Worktile sandbox: a delivery team's project per engagement."""

from __future__ import annotations

from datetime import datetime, timedelta

from .server import WorktileSandbox


def seed_worktile_projects(
    sandbox: WorktileSandbox,
    now: datetime,
    names: tuple[tuple[str, str], ...] = (("客服外包", "KF"),),
) -> dict[str, str]:
    """Projects (name, identifier); name -> project id. One milestone task is overdue."""
    day = timedelta(days=1)
    projects: dict[str, str] = {}
    for name, identifier in names:
        project = sandbox.add_project(name, identifier)
        projects[name] = project
        sandbox.add_task(
            project, "一期验收", kind="里程碑", state="进行中", due=now - 9 * day, at=now - 50 * day
        )
        sandbox.add_task(project, "二期上线", kind="里程碑", due=now + 20 * day, at=now - 50 * day)
        sandbox.add_task(
            project, "工单：登录页报错", state="已完成", priority="较高", at=now - 5 * day
        )
        sandbox.add_task(project, "工单：导出很慢", state="待确认", at=now - 2 * day)
        sandbox.add_task(
            project,
            "培训完成",
            kind="里程碑",
            state="进行中",
            due=now - 16 * day,
            at=now - 50 * day,
        )
    return projects


def add_many_tasks(
    sandbox: WorktileSandbox, project_id: str, count: int, at: datetime
) -> list[str]:
    return [sandbox.add_task(project_id, f"工单 {n}", at=at) for n in range(count)]
