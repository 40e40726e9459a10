"""`engage fields ensure` and `engage mappings check` on Odoo; activities found again on retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.base import NewTask, WriteStatus
from connector.sandbox.odoo.server import OdooSandbox
from jobs.cli import main
from tests.conftest import FakeClock
from tests.connector.odoo.conftest import OPPORTUNITIES, client_for


@pytest.fixture(params=[19, 17], ids=["json2", "jsonrpc"])
def bare(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[OdooSandbox]:
    """An Odoo database where nobody has created the plugin's x_ fields yet."""
    with OdooSandbox(
        clock=clock, version=request.param, accounts=10, deals=20, plugin_fields=False
    ) as sandbox:
        yield sandbox


def _invoke(odoo: OdooSandbox, tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "engage.toml"
    config.write_text(
        f'[crm]\nkind = "odoo"\n[crm.odoo]\nurl = "{odoo.url}"\n'
        f'database = "{odoo.database}"\nlogin = "{odoo.login}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "engage.db"}"\n',
        encoding="utf-8",
    )
    result = CliRunner(env={"COLUMNS": "250", "ENGAGE_ODOO_API_KEY": odoo.api_key}).invoke(
        main, ["--config", str(config), *args]
    )
    return result.exit_code, result.output


def test_fields_ensure_creates_the_x_fields_once_and_check_then_passes(
    bare: OdooSandbox, tmp_path: Path
) -> None:
    code, output = _invoke(bare, tmp_path, "mappings", "check")
    assert code == 1 and "x_engagement_risk_level" in output
    code, output = _invoke(bare, tmp_path, "fields", "ensure")
    assert code == 0, output
    assert "created as x_engagement_risk_level" in output
    lead_fields = bare.models.fields["crm.lead"]
    assert lead_fields["x_engagement_risk_level"]["type"] == "selection"
    assert [k for k, _ in lead_fields["x_engagement_risk_level"]["selection"]] == [
        "low",
        "medium",
        "high",
        "critical",
    ]
    assert lead_fields["x_engagement_risk_score"]["type"] == "integer"
    assert lead_fields["x_engagement_health_updated"]["type"] == "datetime"
    assert bare.models.fields["res.partner"]["x_account_health_summary"]["type"] == "text"
    created = bare.records("ir.model.fields")
    assert {row["state"] for row in created.values()} == {"manual"}
    assert len(created) == 9
    code, output = _invoke(bare, tmp_path, "fields", "ensure")
    assert code == 0 and "nothing to create" in output
    assert len(bare.records("ir.model.fields")) == 9
    code, output = _invoke(bare, tmp_path, "mappings", "check")
    assert code == 0, output


def test_a_task_retried_with_the_same_key_is_found_not_doubled(bare: OdooSandbox) -> None:
    lead = min(i for i, r in bare.records("crm.lead").items() if r["type"] == "opportunity")
    task = NewTask(
        OPPORTUNITIES, str(lead), "Call the client", "NPS 4 <ask why>", date(2026, 12, 1), "s-42"
    )
    first = client_for(bare).create_tasks([task])
    # A new process (after a crash, say) retries the same follow-up.
    second = client_for(bare).create_tasks([task])
    assert first == second and first[0].status is WriteStatus.WRITTEN
    [activity] = bare.records("mail.activity").values()
    assert str(activity["id"]) == first[0].record_id
    assert activity["activity_type_id"] == 4  # To-Do, found by its XML id
    assert activity["res_model"] == "crm.lead" and activity["res_id"] == lead
    assert activity["note"] == "<p>NPS 4 &lt;ask why&gt;</p>"
    assert activity["date_deadline"] == "2026-12-01"


def test_the_same_key_twice_in_one_call_makes_one_activity(bare: OdooSandbox) -> None:
    lead = min(i for i, r in bare.records("crm.lead").items() if r["type"] == "opportunity")
    task = NewTask(OPPORTUNITIES, str(lead), "Call", "", date(2026, 12, 1), "same-key")
    first, second = client_for(bare).create_tasks([task, task])
    assert first == second and first.status is WriteStatus.WRITTEN
    assert len(bare.records("mail.activity")) == 1


def test_plan_prices_the_push_in_the_write_calls_it_then_makes(
    clock: FakeClock, tmp_path: Path
) -> None:
    with OdooSandbox(clock=clock, version=19, accounts=30, deals=120) as odoo:
        for step in (["sync"], ["score"]):
            code, output = _invoke(odoo, tmp_path, *step)
            assert code == 0, output
        code, output = _invoke(odoo, tmp_path, "plan", "--json")
        assert code == 0, output
        cost = json.loads(output)["cost"]
        updates = json.loads(output)["counts"]["update"]
        odoo.reset_calls()
        code, output = _invoke(odoo, tmp_path, "push")
        assert code == 0, output
        # The push writes with load (a row per record) or write (one value set per call).
        writes = odoo.count("write") + odoo.count("load")
        assert cost["calls"] == writes
        assert 0 < writes < updates  # batching saves calls
