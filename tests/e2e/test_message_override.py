"""A company's own wording: an override file changes one driver's words, and the next push
writes them into the deal's drivers field in the (sandbox) CRM, read back from the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import Config, Settings
from jobs.demo.run import sandbox_env
from jobs.messages.catalog import shipped_messages
from jobs.runner import Job, connect, run_job
from tests.conftest import FakeClock
from tests.jobs.messages.test_catalogs import config_with_override

FIELD = "Engagement_Risk_Drivers"
#: Next steps of the contract rules (the sandbox's deals have no delivery facts yet).
CANDIDATES = {
    "step.contract_ending": "start the renewal talk",
    "step.contract_ended": "record the renewal or close the deal",
    "step.no_contract_end": "enter the contract end date on the deal",
    "step.no_sla_tier": "agree an SLA tier with the client",
}
OURS_EN = "call the client's procurement lead (our renewal desk: ext. 4410)"
OURS_ZH = "请致电客户采购负责人（续约专线 4410）"


def settings(sandbox: SandboxCRM, store_url: str, config_path: Path, **messages: str) -> Settings:
    config = Config.model_validate(
        {
            "crm": {"kind": "zoho", "zoho": {"accounts_url": sandbox.url}},
            "store": {"url": store_url},
            "messages": messages,
        }
    )
    return Settings(config, config_path, sandbox_env(sandbox))


def drivers(sandbox: SandboxCRM) -> dict[str, str]:
    return {k: v.get(FIELD) or "" for k, v in sandbox.records("Deals").items()}


def test_an_override_file_changes_a_driver_in_the_crm_after_the_next_push(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config_path = tmp_path / "engage.toml"
    conn = connect(settings(sandbox, sqlite_url, config_path), clock=clock)
    assert run_job(conn, Job.RUN).status == "ok"
    conn.close()
    before = drivers(sandbox)
    key, shipped = next(
        (k, s) for k, s in CANDIDATES.items() if any(s in v for v in before.values())
    )
    assert shipped_messages()["en"][key] == shipped
    with_it = {d for d, text in before.items() if shipped in text}

    (tmp_path / "words.toml").write_text(
        f'[en]\n"{key}" = "{OURS_EN}"\n[zh_Hans]\n"{key}" = "{OURS_ZH}"\n', encoding="utf-8"
    )
    conn = connect(
        settings(sandbox, sqlite_url, config_path, override_file="words.toml"), clock=clock
    )
    assert run_job(conn, Job.RUN).status == "ok"  # same day, same facts: only the words changed
    conn.close()
    after = drivers(sandbox)
    assert {d for d, text in after.items() if OURS_EN in text and OURS_ZH in text} == with_it
    assert [d for d, text in after.items() if shipped in text] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            '[en]\n"step.no_such" = "x"\n',
            "words.toml: en.step.no_such: no such message (engage messages list)",
            id="unknown-key",
        ),
        pytest.param(
            '[fr]\n"step.spi" = "x"\n',
            "words.toml: fr: unknown locale; known: en, zh_Hans",
            id="unknown-locale",
        ),
        pytest.param(
            '[en]\n"driver.spi" = "SPI {spi:dec2} for {client}"\n',
            "words.toml: en.driver.spi: unknown field client; this message has {spi}",
            id="unknown-field",
        ),
    ],
)
def test_a_bad_override_file_is_refused_naming_the_file_and_key(
    tmp_path: Path, content: str, message: str
) -> None:
    config = config_with_override(tmp_path, content)
    result = CliRunner().invoke(main, ["--config", str(config), "messages", "check"])
    assert result.exit_code == 2
    assert message in result.output
    assert str(tmp_path) in result.output
