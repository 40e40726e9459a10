"""A standard Zoho org (no Calls/Events, no custom source fields, Zoho's standard stages) works
the first time from the CLI, and lost deals are known by their stage's meaning in the CRM."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from click.testing import CliRunner, Result

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from mappings.spec import default_mapping_path
from tests.conftest import FakeClock, write_sandbox_config

OPEN_STAGES = {"Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review"}
LOST_STAGES = {"Closed Lost", "Closed Lost to Competition"}


def engage(runner: CliRunner, config: Path, *args: str) -> Result:
    return runner.invoke(main, ["--config", str(config), *args])


def skipped_ids(store_url: str) -> set[str]:
    store = Store.open(store_url)
    try:
        return {s.record_id for s in store.skips(limit=None)}
    finally:
        store.close()


def token_for(crm: SandboxCRM) -> str:
    return str(
        requests.post(
            f"{crm.url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": crm.client_id,
                "client_secret": crm.client_secret,
                "refresh_token": crm.refresh_token,
            },
            timeout=10,
        ).json()["access_token"]
    )


def test_the_standard_org_has_no_calls_and_says_what_each_stage_means(clock: FakeClock) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=40) as crm:
        headers = {"Authorization": f"Zoho-oauthtoken {token_for(crm)}"}
        calls = requests.get(
            f"{crm.url}/crm/v8/Calls", params={"fields": "Subject"}, headers=headers, timeout=10
        )
        assert calls.status_code == 400
        assert calls.json()["code"] == "INVALID_MODULE"
        fields = requests.get(
            f"{crm.url}/crm/v8/settings/fields",
            params={"module": "Deals"},
            headers=headers,
            timeout=10,
        ).json()["fields"]
        names = {f["api_name"] for f in fields}
        assert not names & {"Contract_End", "SLA_Tier", "Billing_Model", "Engagement_Start"}
        stage = next(f for f in fields if f["api_name"] == "Stage")
        meaning = {v["actual_value"]: v["forecast_type"] for v in stage["pick_list_values"]}
        assert meaning["Closed Lost to Competition"] == "Closed Lost"
        assert meaning["Closed Won"] == "Closed Won"
        assert meaning["Value Proposition"] == "Open"
        assert len(meaning) == 9


def test_a_standard_org_is_set_up_and_run_from_nothing_with_no_file_edited(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=120) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        mapping = tmp_path / "mapping.toml"

        init = engage(runner, config, "mappings", "init", "--output", str(mapping))
        assert init.exit_code == 0, init.output
        text = mapping.read_text(encoding="utf-8")
        # Only what the org has is mapped; the rest are suggestions saying what they add.
        assert "# [sources.activities.calls]" in text
        assert "# [sources.activities.meetings]" in text
        assert '[sources.activities.notes]\nmodule = "Notes"\noptional = true' in text
        assert '# end_date = "Contract_End"  # Deals has no such field' in text
        assert "contract-end and renewal signals" in text

        check = engage(runner, config, "mappings", "check", "--json")
        assert check.exit_code == 0, check.output
        report = json.loads(check.output)
        assert report["problems"] == []
        assert report["warnings"], "the target fields are still to be created"

        ensure = engage(runner, config, "fields", "ensure")
        assert ensure.exit_code == 0, ensure.output
        assert "source field Deals.Contract_End (end_date) does not exist" in ensure.output

        crm.reset_calls()
        run = engage(runner, config, "run")
        assert run.exit_code == 0, run.output
        assert crm.count("get_records", "Calls") == crm.count("fields", "Calls") == 0
        skipped = skipped_ids(sqlite_url)  # seeded broken values, skipped with a reason
        deals = {i: d for i, d in crm.records("Deals").items() if i not in skipped}
        open_deals = [d for d in deals.values() if d["Stage"] in OPEN_STAGES]
        lost_deals = [d for d in deals.values() if d["Stage"] in LOST_STAGES]
        assert open_deals and lost_deals
        assert all(isinstance(d["Engagement_Risk_Score"], int) for d in open_deals)
        assert all(d["Engagement_Risk_Level"] in {"Low", "Medium", "High"} for d in open_deals)
        assert all(d.get("Engagement_Risk_Score") is None for d in lost_deals)


def test_the_shipped_mapping_runs_on_a_standard_org_naming_the_missing_sources(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=80) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        check = engage(runner, config, "mappings", "check", "--json")
        assert check.exit_code == 0, check.output
        report = json.loads(check.output)
        assert report["problems"] == []
        where = {w["where"] for w in report["warnings"]}
        assert {
            "sources.activities.calls.module",
            "sources.activities.meetings.module",
            "sources.engagements.fields.end_date",
            "sources.engagements.fields.sla_tier",
        } <= where
        source_hint = next(
            w["detail"] for w in report["warnings"] if w["where"].endswith("fields.end_date")
        )
        assert "engage fields ensure --sources" in source_hint
        assert engage(runner, config, "fields", "ensure").exit_code == 0

        run = engage(runner, config, "run")
        assert run.exit_code == 0, run.output
        assert "warning: sources.activities.calls: the CRM has no module Calls" in run.output
        assert "warning: sources.engagements.fields.end_date: Deals has no field" in run.output
        skipped = skipped_ids(sqlite_url)
        scored = [
            d
            for i, d in crm.records("Deals").items()
            if d["Stage"] in OPEN_STAGES and i not in skipped
        ]
        assert scored
        assert all(isinstance(d["Engagement_Risk_Score"], int) for d in scored)

        # The modules known missing cost nothing on the next run (the answer is kept a day).
        crm.reset_calls()
        assert engage(runner, config, "run").exit_code == 0
        assert crm.count("get_records", "Calls") == crm.count("fields") == 0


def test_fields_ensure_sources_creates_the_recommended_fields_and_the_sync_reads_them(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=40) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        assert engage(runner, config, "fields", "ensure").exit_code == 0  # the targets
        assert engage(runner, config, "run").exit_code == 0  # the missing sources are noted
        created = engage(runner, config, "fields", "ensure", "--sources")
        assert created.exit_code == 0, created.output
        fields = {f["api_name"]: f for f in crm.fields("Deals")}
        assert fields["Contract_End"]["data_type"] == "date"
        assert {v["actual_value"] for v in fields["SLA_Tier"]["pick_list_values"]} == {
            "Gold",
            "Silver",
            "Bronze",
        }
        deal_id = next(i for i, d in crm.records("Deals").items() if d["Stage"] == "Closed Won")
        clock.advance(minutes=5)
        crm.edit("Deals", deal_id, Contract_End="2020-01-31")
        clock.advance(minutes=5)
        run = engage(runner, config, "run")
        assert run.exit_code == 0, run.output
        assert "Contract_End" not in run.output  # no longer a warning: the field exists
        assert "Contract ended" in str(crm.records("Deals")[deal_id]["Engagement_Risk_Drivers"])


def lost_mapping(tmp_path: Path, config: Path, action: str) -> None:
    text = default_mapping_path("zoho").read_text(encoding="utf-8")
    text = text.replace('lost = "clear"', f'lost = "{action}"', 1)
    (tmp_path / "my-org.toml").write_text(text, encoding="utf-8")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'kind = "zoho"', 'kind = "zoho"\nmapping = "my-org.toml"'
        ),
        encoding="utf-8",
    )


def test_lost_stages_not_in_any_list_are_lost_and_a_deal_lost_later_is_cleared(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=120) as crm:
        crm.add_stage("Lost - Budget Cut", "Closed Lost", 0)  # the org's own lost stage
        deals = crm.records("Deals")
        qualifying = sorted(i for i, d in deals.items() if d["Stage"] == "Qualification")
        cut, moved = qualifying[0], qualifying[1]
        crm.edit("Deals", cut, Stage="Lost - Budget Cut")
        crm.edit("Deals", moved, Closing_Date="2025-06-30")  # an overdue open deal
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        assert engage(runner, config, "fields", "ensure").exit_code == 0
        assert engage(runner, config, "run").exit_code == 0
        competition = [i for i, d in deals.items() if d["Stage"] == "Closed Lost to Competition"]
        assert competition
        for deal_id in [*competition, cut]:
            assert deals[deal_id]["Engagement_Risk_Score"] is None
            assert deals[deal_id]["Engagement_Risk_Drivers"] is None

        # An open deal, scored and written, then lost to a competitor.
        assert isinstance(deals[moved]["Engagement_Risk_Score"], int)
        assert "Expected close date passed" in deals[moved]["Engagement_Risk_Drivers"]
        clock.advance(hours=1)
        crm.edit("Deals", moved, Stage="Closed Lost to Competition")
        clock.advance(minutes=1)
        assert engage(runner, config, "run").exit_code == 0
        plugin = [
            "Engagement_Risk_Score",
            "Engagement_Risk_Level",
            "Engagement_Risk_Drivers",
            "Engagement_SLA_Status",
            "Engagement_Health_Updated",
        ]
        assert {name: deals[moved][name] for name in plugin} == dict.fromkeys(plugin)


def test_on_close_final_keeps_the_last_values_and_says_the_deal_is_lost(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, org="standard", deals=80) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        lost_mapping(tmp_path, config, "final")
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        assert engage(runner, config, "fields", "ensure").exit_code == 0
        assert engage(runner, config, "run").exit_code == 0
        deals = crm.records("Deals")
        moved = next(
            i
            for i, d in sorted(deals.items())
            if d["Stage"] in OPEN_STAGES and d["Engagement_Risk_Score"] is not None
        )
        score, level = deals[moved]["Engagement_Risk_Score"], deals[moved]["Engagement_Risk_Level"]
        clock.advance(hours=1)
        crm.edit("Deals", moved, Stage="Closed Lost")
        clock.advance(minutes=1)
        assert engage(runner, config, "run").exit_code == 0
        assert deals[moved]["Engagement_Risk_Score"] == score
        assert deals[moved]["Engagement_Risk_Level"] == level
        drivers = deals[moved]["Engagement_Risk_Drivers"]
        assert drivers == "Deal lost: no longer scored / 商机已丢失：不再评分"


def test_an_optional_module_or_field_gone_since_the_last_look_is_skipped_not_a_failure(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, deals=60) as crm:  # an org with every module and field
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        first = engage(runner, config, "run")
        assert first.exit_code == 0, first.output
        assert "warning:" not in first.output
        crm.remove_module("Calls")
        crm.remove_field("Deals", "SLA_Tier")
        clock.advance(minutes=10)
        crm.reset_calls()
        second = engage(runner, config, "run")  # the kept answer still says both exist
        assert second.exit_code == 0, second.output
        assert "warning: sources.activities.calls: the CRM has no module Calls" in second.output
        assert crm.count("get_records", "Calls") == 1
        clock.advance(minutes=10)
        crm.reset_calls()
        third = engage(runner, config, "run")  # looked again: known missing, not asked
        assert third.exit_code == 0, third.output
        assert crm.count("get_records", "Calls") == 0
        assert crm.count("fields", "Calls") == 1
        assert "Deals has no field SLA_Tier" in third.output
