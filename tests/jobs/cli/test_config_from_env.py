"""Every config key can be set by an environment variable (ENGAGE_<SECTION>_<KEY>); the file
stays the default, and an invalid value is refused naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main
from jobs.config import load_settings
from mappings.tomlfile import ConfigFileError

FILE = '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "engage.toml"
    path.write_text(FILE + extra, encoding="utf-8")
    return path


def test_values_set_only_by_environment_variables_take_effect(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = load_settings(
        config,
        env={
            "ENGAGE_STORE_URL": f"sqlite:///{tmp_path / 'from-env.db'}",
            "ENGAGE_SCHEDULE_RUN_EVERY_MINUTES": "5",
            "ENGAGE_PUSH_WRITE_CONCURRENCY": "2",
            "ENGAGE_SURVEYS_ENABLED": "true",
        },
    )
    assert settings.store_url == f"sqlite:///{tmp_path / 'from-env.db'}"
    assert settings.config.schedule.run_every_minutes == 5
    assert settings.config.push.write_concurrency == 2
    assert settings.config.surveys.enabled is True
    # Without the variables, the defaults.
    assert load_settings(config, env={}).config.schedule.run_every_minutes == 15


def test_the_variable_wins_over_the_file_and_the_daemon_name_is_accepted(tmp_path: Path) -> None:
    config = _config(tmp_path, "[schedule]\nrun_every_minutes = 30\n")
    assert load_settings(config, env={}).config.schedule.run_every_minutes == 30
    env = {"ENGAGE_DAEMON_RUN_EVERY_MINUTES": "7"}
    assert load_settings(config, env=env).config.schedule.run_every_minutes == 7
    env = {"ENGAGE_CRM_ZOHO_ACCOUNTS_URL": "https://accounts.zoho.eu"}
    assert load_settings(config, env=env).config.crm.zoho is not None
    assert load_settings(config, env=env).config.crm.zoho.accounts_url == "https://accounts.zoho.eu"


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("ENGAGE_DAEMON_RUN_EVERY_MINUTES", "0", "schedule.run_every_minutes"),
        ("ENGAGE_SCHEDULE_RUN_EVERY_MINUTES", "often", "schedule.run_every_minutes"),
        ("ENGAGE_STORE_URL", "mysql://db/engage", "store.url"),
        ("ENGAGE_CRM_KIND", "salesforce", "crm.kind"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable(
    tmp_path: Path, variable: str, value: str, key: str
) -> None:
    config = _config(tmp_path)
    with pytest.raises(ConfigFileError) as caught:
        load_settings(config, env={variable: value})
    assert str(caught.value).startswith(f"environment variable {variable}: {key}: ")
    assert str(config) not in str(caught.value)


def test_the_cli_uses_the_environment_and_refuses_a_wrong_value_in_one_line(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    store = tmp_path / "env-store.db"
    runner = CliRunner(env={"ENGAGE_STORE_URL": f"sqlite:///{store}"})
    upgraded = runner.invoke(main, ["--config", str(config), "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert store.is_file()  # the store is where the variable said, not the file's default

    wrong = CliRunner(env={"ENGAGE_SCHEDULE_RUN_EVERY_MINUTES": "-1"})
    refused = wrong.invoke(main, ["--config", str(config), "status"])
    assert refused.exit_code == 2
    assert refused.output.startswith(
        "error: environment variable ENGAGE_SCHEDULE_RUN_EVERY_MINUTES: "
        "schedule.run_every_minutes: "
    )
    assert refused.output.count("\n") == 1
