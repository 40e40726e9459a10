"""The words the mapping writes in the drivers field itself ("no risk signals", "deal lost")
come from the message catalogs, in the field's `drivers_language`, and a company's override
file reaches the CRM at the next run (docs/messages.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from mappings.spec import default_mapping_path
from tests.conftest import FakeClock, write_sandbox_config

DRIVERS = "Engagement_Risk_Drivers"
SUMMARY = "Account_Health_Summary"


def engage(runner: CliRunner, config: Path, *args: str) -> Result:
    result = runner.invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def configure(crm: SandboxCRM, store_url: str, tmp_path: Path, language: str) -> Path:
    """The sandbox's config with a copy of the shipped mapping whose drivers field is in
    `language` and says a lost deal is lost (`on_close.lost = "final"`), and a (still empty)
    override file."""
    mapping = default_mapping_path("zoho").read_text(encoding="utf-8")
    for shipped, ours in [
        ('drivers_language = "both"', f'drivers_language = "{language}"'),
        ('lost = "clear"', 'lost = "final"'),
    ]:
        assert shipped in mapping
        mapping = mapping.replace(shipped, ours)
    (tmp_path / "mapping.toml").write_text(mapping, encoding="utf-8")
    (tmp_path / "our-words.toml").write_text("", encoding="utf-8")
    config = write_sandbox_config(crm, store_url, tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        'kind = "zoho"\n', 'kind = "zoho"\nmapping = "mapping.toml"\n'
    )
    config.write_text(f'{text}[messages]\noverride_file = "our-words.toml"\n', encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("language", "locale", "no_drivers", "deal_lost"),
    [
        pytest.param("zh", "zh_Hans", "无风险信号", "商机已丢失：不再评分", id="chinese"),
        pytest.param("en", "en", "No risk signals", "Deal lost: no longer scored", id="english"),
    ],
)
def test_the_drivers_field_says_no_risk_and_deal_lost_in_the_field_s_language(
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
    language: str,
    locale: str,
    no_drivers: str,
    deal_lost: str,
) -> None:
    with SandboxCRM(clock=clock, deals=40) as crm:
        config = configure(crm, sqlite_url, tmp_path, language)
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        engage(runner, config, "fields", "ensure")
        engage(runner, config, "run")
        deals = crm.records("Deals")
        calm = sorted(i for i, d in deals.items() if d.get(DRIVERS) == no_drivers)
        assert len(calm) >= 2
        lost, *calm = calm
        clock.advance(hours=1)
        crm.edit("Deals", lost, Stage="Closed Lost")
        clock.advance(minutes=1)
        engage(runner, config, "run")
        assert deals[lost][DRIVERS] == deal_lost

        # The company's own words for "no risk signals", in this language: the next run
        # writes them on every deal without drivers, though no deal's health changed.
        (tmp_path / "our-words.toml").write_text(
            f'[{locale}]\n"field.no_drivers" = "All clear ({language})"\n', encoding="utf-8"
        )
        clock.advance(hours=1)
        engage(runner, config, "run")
        deals = crm.records("Deals")
        assert [deals[i][DRIVERS] for i in calm] == [f"All clear ({language})"] * len(calm)
        assert deals[lost][DRIVERS] == deal_lost


def test_the_company_s_account_summary_reaches_every_account_at_the_next_run(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, deals=40) as crm:
        config = configure(crm, sqlite_url, tmp_path, "both")
        runner = CliRunner(env={**sandbox_env(crm), "COLUMNS": "250"})
        engage(runner, config, "fields", "ensure")
        engage(runner, config, "run")
        summaries = {
            i: a.get(SUMMARY) for i, a in crm.records("Accounts").items() if a.get(SUMMARY)
        }
        assert any("riskiest:" in s for s in summaries.values()), summaries

        # The company's own wording of an account's line: nothing else changed, and the next
        # run rewrites every account that has one (summary_language = "both": English, then
        # Chinese).
        (tmp_path / "our-words.toml").write_text(
            '[en]\n"account.summary" = "Watch {name}: {score} ({level}) of {active:active_engagements}"\n'
            '[zh_Hans]\n"account.summary" = "关注{name}：{score} 分"\n',
            encoding="utf-8",
        )
        clock.advance(hours=1)
        engage(runner, config, "run")
        accounts = crm.records("Accounts")
        rewritten = {i: accounts[i][SUMMARY] for i, s in summaries.items() if "riskiest:" in s}
        assert rewritten
        for text in rewritten.values():
            assert text.startswith("Watch "), text
            assert "关注" in text and "riskiest" not in text, text
