"""Admin tooling against the sandbox over real HTTP: check, fields ensure, plan, policies."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import requests
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import load_settings
from jobs.demo import sandbox_env, sandbox_settings
from jobs.runner import Job, connect, run_job
from jobs.score import score
from mappings.spec import default_mapping_path
from tests.conftest import FakeClock, write_sandbox_config


def custom_mapping(tmp_path: Path, config: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the shipped mapping with some lines changed, used by ``config``."""
    text = default_mapping_path("zoho").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    mapping = tmp_path / "my-org.toml"
    mapping.write_text(text, encoding="utf-8")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'kind = "zoho"', 'kind = "zoho"\nmapping = "my-org.toml"'
        ),
        encoding="utf-8",
    )
    return mapping


def create_text_field(crm: SandboxCRM, label: str, length: int) -> None:
    token = requests.post(
        f"{crm.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "refresh_token": crm.refresh_token,
        },
        timeout=10,
    ).json()["access_token"]
    response = requests.post(
        f"{crm.url}/crm/v8/settings/fields",
        params={"module": "Deals"},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        json={"fields": [{"field_label": label, "data_type": "text", "length": length}]},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def test_check_lists_all_four_problems_at_once_and_writes_nothing(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    create_text_field(sandbox, "Client Ref", 20)
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    custom_mapping(
        tmp_path,
        config,
        ('nps = "Engagement_NPS"', 'nps = "Engagement_NPSS"'),  # no such field
        ('risk_score = "Engagement_Risk_Score"', 'risk_score = "Client_Ref"'),  # number -> text(20)
        ('high = "High"', 'high = "Hoch"'),  # a picklist value Deals lack
        ('csat = "Engagement_CSAT"', 'csat = "Expected_Revenue"'),  # a formula field
    )
    sandbox.reset_calls()
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "250"})
    result = runner.invoke(main, ["--config", str(config), "mappings", "check", "--json"])
    assert result.exit_code == 1, result.output
    problems = {(p["kind"], p["field"]) for p in json.loads(result.output)["problems"]}
    assert problems == {
        ("unknown field", "Engagement_NPSS"),
        ("type mismatch", "Client_Ref"),
        ("picklist value missing", "Engagement_Risk_Level"),
        ("read-only target", "Expected_Revenue"),
    }
    table = runner.invoke(main, ["--config", str(config), "mappings", "check"])
    assert table.exit_code == 1
    assert "closest: Engagement_NPS" in table.output
    assert "4 problem(s)" in table.output
    assert sandbox.count("update") == 0 and sandbox.count("create_fields") == 0
    assert not (tmp_path / "engage.db").exists() or sandbox.count("get_records") == 0


def test_fields_ensure_creates_every_target_once_then_run_writes_into_them(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, plugin_fields=False) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "200"})
        check = runner.invoke(main, ["--config", str(config), "mappings", "check", "--json"])
        # Target fields not created yet are what `fields ensure` is for: warnings, not errors.
        assert check.exit_code == 0, check.output
        report = json.loads(check.output)
        assert report["problems"] == []
        assert len(report["warnings"]) == 9
        assert all("run `engage fields ensure`" in w["detail"] for w in report["warnings"])
        dry = runner.invoke(main, ["--config", str(config), "fields", "ensure", "--dry-run"])
        assert dry.exit_code == 0 and "would create" in dry.output
        assert crm.count("create_fields") == 0
        first = runner.invoke(main, ["--config", str(config), "fields", "ensure"])
        assert first.exit_code == 0, first.output
        deal_fields = {f["api_name"]: f for f in crm.fields("Deals")}
        assert deal_fields["Engagement_Risk_Level"]["data_type"] == "picklist"
        assert {
            v["actual_value"] for v in deal_fields["Engagement_Risk_Level"]["pick_list_values"]
        } == {
            "Low",
            "Medium",
            "High",
            "Critical",
        }
        assert deal_fields["Engagement_Risk_Score"]["data_type"] == "integer"
        assert "Account_Health_Summary" in {f["api_name"] for f in crm.fields("Accounts")}
        crm.reset_calls()
        again = runner.invoke(main, ["--config", str(config), "fields", "ensure"])
        assert again.exit_code == 0
        assert "nothing to create" in again.output
        assert crm.count("create_fields") == 0
        assert runner.invoke(main, ["--config", str(config), "mappings", "check"]).exit_code == 0
        run = runner.invoke(main, ["--config", str(config), "run"])
        assert run.exit_code == 0, run.output
        scores = [d["Engagement_Risk_Score"] for d in crm.records("Deals").values()]
        assert sum(s is not None for s in scores) > 200


def test_keep_human_edits_leaves_a_person_s_value_and_lists_the_conflict(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    custom_mapping(
        tmp_path,
        config,
        (
            'risk_level = { field = "Engagement_Risk_Level", ',
            'risk_level = { field = "Engagement_Risk_Level", policy = "keep_human_edits", ',
        ),
    )
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "250"})
    assert runner.invoke(main, ["--config", str(config), "run"]).exit_code == 0
    deals = sandbox.records("Deals")
    deal_id = next(i for i, d in sorted(deals.items()) if d["Engagement_Risk_Level"] == "Low")
    # The account manager knows better than the score.
    sandbox.edit("Deals", deal_id, Engagement_Risk_Level="Critical")
    clock.advance(minutes=15)
    second = runner.invoke(main, ["--config", str(config), "run"])
    assert second.exit_code == 0, second.output
    assert deals[deal_id]["Engagement_Risk_Level"] == "Critical"
    status = runner.invoke(main, ["--config", str(config), "status"])
    assert "conflicts: values people changed, left alone (1)" in status.output
    assert deal_id in status.output and "Critical" in status.output


def test_plan_prices_a_push_of_1000_changed_deals_exactly(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, deals=2000, accounts=120) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        runner = CliRunner(env=sandbox_env(crm))
        assert runner.invoke(main, ["--config", str(config), "run"]).exit_code == 0
        conn = connect(sandbox_settings(crm, sqlite_url, tmp_path / "engage.toml"), clock=clock)
        # 1,000 scored active deals get a contract end next week: score, level and drivers change.
        health = conn.store.health()
        next_week = clock().date() + timedelta(days=7)
        active = [
            e.crm_id
            for e in conn.store.engagements()
            if e.status.value == "active"
            and e.start_date
            and e.start_date <= next_week
            and e.end_date != next_week
        ]
        changed = [i for i in active if i in health][:1000]
        assert len(changed) == 1000
        clock.advance(minutes=5)
        for deal_id in changed:
            crm.edit("Deals", deal_id, Contract_End=next_week.isoformat())
        clock.advance(minutes=5)
        assert runner.invoke(main, ["--config", str(config), "sync"]).exit_code == 0
        # Score without pushing, so the plan has something to price.
        score(conn.store, conn.settings.config.health, clock=clock)
        conn.close()
        planned = runner.invoke(main, ["--config", str(config), "plan", "--json"])
        assert planned.exit_code == 0, planned.output
        plan = json.loads(planned.output)
        deal_rows = {u["id"] for u in plan["updates"] if u["module"] == "Deals"}
        assert set(changed) <= deal_rows
        assert plan["cost"]["by_module"]["Deals"]["calls"] == math.ceil(len(deal_rows) / 100)
        crm.reset_calls()
        pushed = runner.invoke(main, ["--config", str(config), "push"])
        assert pushed.exit_code == 0, pushed.output
        # The sandbox's own counters agree with the plan.
        assert crm.count("update") == plan["cost"]["calls"]
        assert crm.credits_used == plan["cost"]["credits"]


def test_a_target_field_deleted_after_the_check_stops_only_that_field(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "250"})
    assert runner.invoke(main, ["--config", str(config), "mappings", "check"]).exit_code == 0
    sandbox.remove_field("Deals", "Engagement_Risk_Drivers")  # an admin tidies up the layout
    result = runner.invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 1
    assert "Deals.Engagement_Risk_Drivers no longer exist" in result.output
    deals = sandbox.records("Deals")
    assert sum(d["Engagement_Risk_Score"] is not None for d in deals.values()) > 200
    status = runner.invoke(main, ["--config", str(config), "status", "--failed"])
    assert "FIELD_MISSING" in status.output and "Engagement_Risk_Drivers" in status.output


def test_malformed_mapping_toml_names_file_line_and_column(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    mapping = custom_mapping(tmp_path, config)
    mapping.write_text(mapping.read_text(encoding="utf-8") + "\n[broken\n", encoding="utf-8")
    result = CliRunner(env=sandbox_env(sandbox)).invoke(
        main, ["--config", str(config), "mappings", "check"]
    )
    assert result.exit_code == 2
    lines = mapping.read_text(encoding="utf-8").splitlines()
    assert result.output.startswith(f"error: {mapping}: not valid TOML")
    assert f"line {len(lines)}" in result.output and "column" in result.output


def test_unknown_transform_in_a_mapping_lists_the_valid_ones(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    mapping = custom_mapping(
        tmp_path,
        config,
        (
            'contract_value = { path = "Contract_Value", optional = true }',
            'contract_value = { path = "Contract_Value", optional = true, transform = "money" }',
        ),
    )
    result = CliRunner(env=sandbox_env(sandbox)).invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {mapping}: sources.engagements.fields.contract_value.transform: "
        "unknown transform 'money'; valid: number, date, datetime, text, boolean"
    )


def test_a_target_field_deleted_between_sync_and_push_stops_only_that_field(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    run_job(conn, Job.SYNC)
    score(conn.store, conn.settings.config.health, clock=clock)
    sandbox.remove_field("Deals", "Engagement_SLA_Status")
    result = run_job(conn, Job.PUSH)
    assert result.status == "partial"
    assert result.message is not None and "Deals.Engagement_SLA_Status" in result.message
    deals = sandbox.records("Deals")
    scored = conn.store.health()
    # Every scored deal got its other fields, in one retry of the refused rows per call.
    assert all(deals[i]["Engagement_Risk_Score"] == h.risk_score for i, h in scored.items())
    assert not any("Engagement_SLA_Status" in d for d in deals.values())
    failed = [o for o in conn.store.failed_outcomes(limit=1000) if o.crm_code == "FIELD_MISSING"]
    assert {o.field for o in failed} == {"Engagement_SLA_Status"}
    conn.close()


def test_fields_ensure_records_the_api_names_the_crm_generated(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, plugin_fields=False) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        # Zoho derives API names from labels; a double underscore does not survive that.
        mapping = custom_mapping(
            tmp_path,
            config,
            ('risk_score = "Engagement_Risk_Score"', 'risk_score = "Health__Score"'),
        )
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "200"})
        result = runner.invoke(main, ["--config", str(config), "fields", "ensure"])
        assert result.exit_code == 0, result.output
        assert f"the CRM named Health__Score Health_Score; {mapping} now says" in result.output
        text = mapping.read_text(encoding="utf-8")
        assert 'risk_score = "Health_Score"' in text and "Health__Score" not in text
        assert text.startswith("# Default mapping for Zoho CRM")  # comments kept
        assert runner.invoke(main, ["--config", str(config), "mappings", "check"]).exit_code == 0


def test_mappings_init_writes_a_starter_mapping_that_checks_clean(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    starter = tmp_path / "starter.toml"
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})
    result = runner.invoke(
        main,
        ["--config", str(config), "mappings", "init", "--crm", "zoho", "--output", str(starter)],
    )
    assert result.exit_code == 0, result.output
    text = starter.read_text(encoding="utf-8")
    assert 'end_date = { path = "Contract_End", optional = true }  # guessed' in text
    assert 'sla_tier = { path = "SLA_Tier", optional = true }  # guessed' in text
    # This org has every module of the shipped mapping: none is commented out.
    assert '[sources.activities.calls]\nmodule = "Calls"\noptional = true' in text
    # The config used the shipped default: init pointed it at the starter.
    assert 'mapping = "starter.toml"' in config.read_text(encoding="utf-8")
    check = runner.invoke(main, ["--config", str(config), "mappings", "check"])
    assert check.exit_code == 0, check.output
    again = runner.invoke(
        main, ["--config", str(config), "mappings", "init", "--output", str(starter)]
    )
    assert again.exit_code == 2 and "pass --force" in again.output


def test_a_where_filter_decides_which_deals_are_engagements(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    custom_mapping(
        tmp_path,
        config,
        (
            "\n[targets.engagements]\n",
            (
                '\n[sources.engagements.where]\nBilling_Model = ["Managed Service", "Dedicated Team"]'
                "\n\n[targets.engagements]\n"
            ),
        ),
    )
    conn = connect(load_settings(config, env=sandbox_env(sandbox)), clock=clock)
    run_job(conn, Job.SYNC)
    engagements = {e.crm_id for e in conn.store.engagements()}
    deals = sandbox.records("Deals")
    wanted = {
        i
        for i, d in deals.items()
        if d["Billing_Model"] in ("Managed Service", "Dedicated Team")
        and i not in sandbox.odd_deals
    }
    assert engagements == wanted
    leaving = min(engagements)
    clock.advance(minutes=5)
    sandbox.edit("Deals", leaving, Billing_Model="Fixed Price")
    clock.advance(minutes=5)
    result = run_job(conn, Job.SYNC)
    assert result.sync is not None and result.sync.kinds["engagements"].filtered >= 1
    assert leaving not in {e.crm_id for e in conn.store.engagements()}
    conn.close()


def test_a_changed_mapping_re_reads_everything_and_fixes_earlier_skips(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    mapping = custom_mapping(tmp_path, config)
    # An amount typed as text into the text field Contract_Value, as an import would leave it.
    garbled = min(i for i in sandbox.records("Deals") if i not in sandbox.odd_deals)
    sandbox.edit("Deals", garbled, Contract_Value="1,200,000 CNY")
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "250"})
    assert runner.invoke(main, ["--config", str(config), "sync"]).exit_code == 0
    assert garbled in runner.invoke(main, ["--config", str(config), "status"]).output
    # The admin reads amounts as numbers from now on; no deal changed in the CRM.
    mapping.write_text(
        mapping.read_text(encoding="utf-8").replace(
            'contract_value = { path = "Contract_Value", optional = true }',
            'contract_value = { path = "Contract_Value", optional = true, transform = "number" }',
        ),
        encoding="utf-8",
    )
    clock.advance(minutes=5)
    sandbox.reset_calls()
    resync = runner.invoke(main, ["--config", str(config), "sync"])
    assert resync.exit_code == 0, resync.output
    deals_pages = sandbox.count("get_records", "Deals")
    assert deals_pages == math.ceil(len(sandbox.records("Deals")) / 200)  # everything re-read
    conn = connect(load_settings(config, env=sandbox_env(sandbox)), clock=clock)
    assert garbled in {e.crm_id for e in conn.store.engagements()}
    assert garbled not in {s.record_id for s in conn.store.skips(limit=1000)}
    conn.close()


def test_score_then_plan_previews_the_first_push(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env=sandbox_env(sandbox))
    assert runner.invoke(main, ["--config", str(config), "sync"]).exit_code == 0
    assert runner.invoke(main, ["--config", str(config), "score"]).exit_code == 0
    plan = json.loads(runner.invoke(main, ["--config", str(config), "plan", "--json"]).output)
    assert plan["counts"]["update"] > 200
    assert {u["module"] for u in plan["updates"]} == {"Deals", "Accounts"}
    assert sandbox.count("update") == 0


def test_crm_errors_in_admin_commands_are_one_line(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    env = {**sandbox_env(sandbox), "ENGAGE_ZOHO_CLIENT_SECRET": "not-the-secret"}
    for command in (["mappings", "check"], ["fields", "ensure"], ["plan"]):
        result = CliRunner(env=env).invoke(main, ["--config", str(config), *command])
        # A wrong secret is bad configuration (exit 2), named with its variable (issue 16).
        assert result.exit_code == 2, command
        assert result.output.startswith("error: Zoho rejected the client id or secret")
        assert "ENGAGE_ZOHO_CLIENT_SECRET" in result.output and len(result.output.splitlines()) == 1
        assert "Traceback" not in result.output and "not-the-secret" not in result.output
