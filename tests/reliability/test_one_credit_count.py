"""One credit count (issue 16 item 6): every call of every command is counted, metadata, field
creation and the plan's lookups included, and `engage status`, the run's summary and the budget
check show the number the CRM charged (the sandbox charges by Zoho's cost table, §6)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.credits import credits_used
from jobs.demo.run import sandbox_env
from jobs.store import Store
from tests.conftest import FakeClock, write_sandbox_config


def test_every_command_s_calls_are_counted_as_the_crm_charged_them(
    clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(
        deals=80, accounts=30, clock=clock, plugin_fields=False, daily_credits=2000
    ) as crm:
        # Other integrations spent over half the org's credits: Zoho sends its count (§6).
        crm.spend_credits(1200)
        config = write_sandbox_config(crm, store_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        for command in (
            ["mappings", "check"],  # metadata only
            ["fields", "ensure"],  # metadata and field creation
            ["sync"],
            ["score"],
            ["plan"],  # the plan's metadata lookups
            ["push", "--dry-run"],
            ["push"],
            ["run"],
            ["mappings", "check"],  # the last answer's count includes every call before it
        ):
            result = runner.invoke(main, ["--config", str(config), *command])
            assert result.exit_code in (0, 1), (command, result.output)
            clock.advance(minutes=1)
        assert crm.count("create_fields") >= 1 and crm.count("fields") >= 3
        charged = crm.credits_used
        store = Store.open(store_url)
        assert credits_used(store, clock()) == charged
        runs = store.runs()
        store.close()
        # The run's own figure is what the CRM charged for its calls.
        last = runs[0]
        assert last.job == "run" and last.counts["api_credits"] >= 1
        shown = runner.invoke(main, ["--config", str(config), "status"])
        assert f"API credits used in the last 24 hours: {charged} of the daily budget" in (
            shown.output
        )
        # The CRM's own count, with its age, and what it leaves now: the figure the budget
        # check uses, equal to what the sandbox's org has left.
        left = 2000 - crm.org_credits_used
        assert f"the CRM reported {left} API credits left for the whole org" in shown.output
        assert "(1 min ago)" in shown.output
        assert f"this connection spent 0 since: {left} left" in shown.output


def test_a_call_refused_with_429_costs_nothing_in_either_count(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=40, accounts=10, clock=clock, concurrency_limit=0) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(
            main, ["--config", str(config), "mappings", "check"]
        )
        assert result.exit_code == 75, result.output
        store = Store.open(sqlite_url)
        assert credits_used(store, clock()) == crm.credits_used == 0
        store.close()
