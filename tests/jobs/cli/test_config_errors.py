"""Bad configuration: one line naming the file and the key, exit status 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env

GOOD = """
[crm]
kind = "zoho"
[crm.zoho]
accounts_url = "{url}"
[store]
url = "sqlite:///engage.db"
"""


@pytest.mark.parametrize(
    ("broken", "key", "says"),
    [
        pytest.param(
            lambda text: text.replace('accounts_url = "{url}"\n', ""),
            "crm.zoho.accounts_url",
            "required key is missing",
            id="missing-key",
        ),
        pytest.param(
            lambda text: text + '[schedule]\nrun_every_minutes = "often"\n',
            "schedule.run_every_minutes",
            "valid integer",
            id="wrong-type",
        ),
        pytest.param(
            lambda text: text.replace('kind = "zoho"', 'kind = "salesforce"'),
            "crm.kind",
            "'zoho'",
            id="unknown-crm",
        ),
        pytest.param(
            lambda text: text + "[health]\nmedum = 20\n",
            "health.medum",
            "unknown key",
            id="misspelt-key",
        ),
        pytest.param(
            lambda text: text.replace("[store]", 'client_secret = "s3cr3t-value"\n[store]'),
            "crm.zoho.client_secret",
            "ENGAGE_ZOHO_CLIENT_SECRET",
            id="secret-in-file",
        ),
        pytest.param(
            lambda text: text + "[risk]\nreport_cadence_days = 7\n",
            "risk.report_cadence_days",
            "status_report_every_days in [sla.tiers.NAME.goals]",
            id="removed-report-cadence",
        ),
    ],
)
def test_bad_config_stops_with_one_line(
    sandbox: SandboxCRM, tmp_path: Path, broken: object, key: str, says: str
) -> None:
    path = tmp_path / "engage.toml"
    path.write_text(broken(GOOD).replace("{url}", sandbox.url), encoding="utf-8")  # type: ignore[operator]
    result = CliRunner(env=sandbox_env(sandbox)).invoke(main, ["--config", str(path), "run"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {path}: {key}: ")
    assert says in lines[0]
    assert "s3cr3t-value" not in result.output
    # Nothing written: no store created, no call made to the CRM.
    assert not (tmp_path / "engage.db").exists()
    assert sandbox.calls == []


def test_missing_secret_names_the_environment_variable(sandbox: SandboxCRM, tmp_path: Path) -> None:
    path = tmp_path / "engage.toml"
    path.write_text(GOOD.replace("{url}", sandbox.url), encoding="utf-8")
    env = {**sandbox_env(sandbox), "ENGAGE_ZOHO_REFRESH_TOKEN": ""}
    result = CliRunner(env=env).invoke(main, ["--config", str(path), "sync"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {path}: crm.zoho.refresh_token: set the environment variable "
        "ENGAGE_ZOHO_REFRESH_TOKEN"
    )
    assert sandbox.calls == []


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["--config", str(tmp_path / "nope.toml"), "run"])
    assert missing.exit_code == 2
    assert missing.output.strip() == f"error: {tmp_path / 'nope.toml'}: file not found"
    bad = tmp_path / "bad.toml"
    bad.write_text("[crm\nkind=", encoding="utf-8")
    result = runner.invoke(main, ["--config", str(bad), "run"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {bad}: not valid TOML")


def test_bad_mapping_file_names_its_key(sandbox: SandboxCRM, tmp_path: Path) -> None:
    mapping = tmp_path / "my-org.toml"
    mapping.write_text(
        'crm = "zoho"\n[sources.accounts]\nmodule = "Accounts"\n[sources.accounts.fields]\n'
        'crm_id = "id"\nname = "Account_Name"\n'
        '[sources.engagements]\nmodule = "Deals"\n[sources.engagements.fields]\n'
        'crm_id = "id"\ncontract_valu = "Amount"\n'
        '[targets.engagements]\nmodule = "Deals"\n[targets.engagements.fields]\n'
        'risk_score = "Engagement_Risk_Score"\n',
        encoding="utf-8",
    )
    path = tmp_path / "engage.toml"
    path.write_text(
        GOOD.replace("{url}", sandbox.url).replace(
            'kind = "zoho"', 'kind = "zoho"\nmapping = "my-org.toml"'
        ),
        encoding="utf-8",
    )
    result = CliRunner(env=sandbox_env(sandbox)).invoke(main, ["--config", str(path), "run"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {mapping}: sources.engagements.fields.contract_valu: "
        "not an attribute of Engagement"
    )
