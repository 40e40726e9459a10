"""`engage sources check` with Trello, Planner and Worktile sections in the config: the
clients built from the config (secrets from the environment), one line per problem."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from connector.sandbox.planner import PlannerSandbox, seed_planner_plans
from connector.sandbox.trello import TrelloSandbox, seed_trello_boards
from connector.sandbox.trello.seed import DEMO_LABELS, DEMO_LISTS
from connector.sandbox.worktile import WorktileSandbox, seed_worktile_projects
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from jobs.store.store import upgrade_at
from tests.conftest import FakeClock

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
BUCKETS = ("Milestones", "To do", "In progress", "Waiting for client", "Done")


@pytest.fixture
def tools(clock: FakeClock) -> Iterator[tuple[TrelloSandbox, PlannerSandbox, WorktileSandbox]]:
    with (
        TrelloSandbox(clock=clock) as trello,
        PlannerSandbox(clock=clock) as planner,
        WorktileSandbox(clock=clock) as worktile,
    ):
        yield trello, planner, worktile


def linked_mapping(tmp_path: Path, tool: str, project: str, *, drop_waiting: bool = False) -> str:
    text = (MAPPINGS / f"{tool}-delivery.toml").read_text(encoding="utf-8")
    text = text.replace("[link.projects]\n", f'[link.projects]\n"{project}" = "D1"\n', 1)
    if drop_waiting:
        text = text.replace(
            'waiting_statuses = ["Waiting for client"]', 'waiting_statuses = ["Waiting on client"]'
        )
    name = f"{tool}-delivery.toml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def write_config(
    tmp_path: Path, trello: TrelloSandbox, planner: PlannerSandbox, worktile: WorktileSandbox
) -> Path:
    store_url = f"sqlite:///{tmp_path / 'engage.db'}"
    upgrade_at(store_url)
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{store_url}"\n'
        "[sources.delivery.studio]\n"
        f'kind = "trello"\nmapping = "trello-delivery.toml"\nbase_url = "{trello.url}"\n'
        f'app_key = "{trello.key}"\n'
        "[sources.delivery.pmo]\n"
        f'kind = "planner"\nmapping = "planner-delivery.toml"\nbase_url = "{planner.url}"\n'
        f'login_url = "{planner.url}"\ntenant = "{planner.tenant}"\n'
        f'client_id = "{planner.client_id}"\n'
        "[sources.delivery.cn]\n"
        f'kind = "worktile"\nmapping = "worktile-delivery.toml"\nbase_url = "{worktile.url}"\n'
        f'client_id = "{worktile.client_id}"\n',
        encoding="utf-8",
    )
    return path


def test_sources_check_names_each_tools_problem_in_one_line(
    tools: tuple[TrelloSandbox, PlannerSandbox, WorktileSandbox], tmp_path: Path
) -> None:
    trello, planner, worktile = tools
    trello.add_board("Brand refresh", DEMO_LISTS, DEMO_LABELS, short_link="STUDIO01")
    worktile.add_project("客服外包", "KF")
    linked_mapping(tmp_path, "trello", "STUDIO01", drop_waiting=True)
    linked_mapping(tmp_path, "planner", "NO-SUCH-PLAN")
    linked_mapping(tmp_path, "worktile", "KF")
    path = write_config(tmp_path, trello, planner, worktile)
    env = {
        "ENGAGE_DELIVERY_STUDIO_TOKEN": trello.token,
        "ENGAGE_DELIVERY_PMO_CLIENT_SECRET": planner.client_secret,
        "ENGAGE_DELIVERY_CN_CLIENT_SECRET": "not-the-secret",
    }

    result = CliRunner(env=env).invoke(main, ["--config", str(path), "sources", "check"])

    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("delivery source")]
    assert lines == [
        (
            "delivery source studio: tickets.waiting_statuses: list 'Waiting on client' does not "
            "exist in trello"
        ),
        (
            "delivery source pmo: link.projects.NO-SUCH-PLAN: project NO-SUCH-PLAN (linked to D1) "
            "does not exist in planner or the credentials cannot see it"
        ),
        (
            "delivery source cn: credentials: worktile refused them: Worktile refused the app's "
            "credentials (client_id sandbox-worktile-app): invalid client_id or client_secret "
            "[1101] HTTP 200"
        ),
    ]
    assert "3 problem(s)" in result.output
    assert "not-the-secret" not in result.output


def test_a_missing_token_names_the_variable_to_set(
    tools: tuple[TrelloSandbox, PlannerSandbox, WorktileSandbox], tmp_path: Path
) -> None:
    trello, planner, worktile = tools
    for tool in ("trello", "planner", "worktile"):
        linked_mapping(tmp_path, tool, "X")
    path = write_config(tmp_path, trello, planner, worktile)

    result = CliRunner(env={}).invoke(main, ["--config", str(path), "sources", "check"])

    assert result.exit_code == 2, result.output
    assert "sources.delivery.studio" in result.output
    assert "ENGAGE_DELIVERY_STUDIO_TOKEN" in result.output


def test_a_trello_section_without_its_api_key_names_the_file_and_key(tmp_path: Path) -> None:
    shutil.copy(MAPPINGS / "trello-delivery.toml", tmp_path)
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        "[sources.delivery.studio]\n"
        'kind = "trello"\nmapping = "trello-delivery.toml"\nbase_url = "https://api.trello.com"\n',
        encoding="utf-8",
    )

    result = CliRunner(env={}).invoke(main, ["--config", str(path), "sources", "check"])

    assert result.exit_code == 2, result.output
    assert "engage.toml" in result.output and "sources.delivery.studio" in result.output
    assert "trello needs app_key" in result.output


def test_sync_sources_pulls_each_tool_through_its_configured_client(
    tools: tuple[TrelloSandbox, PlannerSandbox, WorktileSandbox],
    sandbox: SandboxCRM,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    trello, planner, worktile = tools
    now = clock()
    board = seed_trello_boards(trello, now)["Brand refresh"]
    plan = seed_planner_plans(planner, now)["Service desk rollout"]
    seed_worktile_projects(worktile, now)
    linked_mapping(tmp_path, "trello", str(trello.boards[board]["shortLink"]))
    linked_mapping(tmp_path, "planner", plan)
    linked_mapping(tmp_path, "worktile", "KF")
    path = write_config(tmp_path, trello, planner, worktile)
    text = path.read_text(encoding="utf-8").replace("http://127.0.0.1:9", sandbox.url)
    path.write_text(text, encoding="utf-8")
    env = {
        **sandbox_env(sandbox),
        "ENGAGE_DELIVERY_STUDIO_TOKEN": trello.token,
        "ENGAGE_DELIVERY_PMO_CLIENT_SECRET": planner.client_secret,
        "ENGAGE_DELIVERY_CN_CLIENT_SECRET": worktile.client_secret,
    }

    # Wide enough that no table row wraps.
    result = CliRunner(env={**env, "COLUMNS": "300"}).invoke(
        main, ["--config", str(path), "sync", "--sources"]
    )

    assert result.exit_code == 0, result.output
    # The seeds: Trello 3 milestone cards and 2 requests; Planner 3 milestone tasks and 2
    # others; Worktile 3 milestone tasks and 2 tickets.
    for name in ("studio", "pmo", "cn"):
        assert re.search(
            rf"delivery {name}\s+│ 1 projects, 2 items and 3 releases read, 5 facts changed, "
            r"0 skipped, 0 deleted",
            result.output,
        ), result.output
    store = Store.open(f"sqlite:///{tmp_path / 'engage.db'}", upgrade=False)
    try:
        assert len(store.milestones()["D1"]) == 9
        assert len(store.tickets()["D1"]) == 6
    finally:
        store.close()
