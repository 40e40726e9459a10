"""Every way an Odoo connection goes wrong ends in one line that says what to do."""

from __future__ import annotations

import pytest

from connector.errors import AuthenticationError, ConfigurationError
from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock
from tests.connector.odoo.conftest import OPPORTUNITIES, client_for

FIELDS = ["name", "stage_id", "write_date"]


def _read(client: object) -> None:
    list(client.iter_pages(OPPORTUNITIES, FIELDS))  # type: ignore[attr-defined]


def _one_line(error: Exception, odoo: OdooSandbox) -> str:
    text = str(error)
    assert "\n" not in text
    assert odoo.api_key not in text and "Traceback" not in text
    return text


def test_wrong_database_names_the_setting_to_fix(odoo: OdooSandbox) -> None:
    client = client_for(odoo, database="engage-prod")
    with pytest.raises(ConfigurationError) as caught:
        _read(client)
    text = _one_line(caught.value, odoo)
    assert "has no database 'engage-prod'" in text
    assert "set crm.odoo.database" in text


def test_wrong_api_key_is_tried_once_and_never_again(odoo: OdooSandbox) -> None:
    client = client_for(odoo, api_key="not-the-key-123456")
    for _ in range(3):  # the sync, then the deletion scan, then the push: one failure in all
        with pytest.raises(AuthenticationError) as caught:
            _read(client)
    text = _one_line(caught.value, odoo)
    assert "refused login" in text and "ENGAGE_ODOO_API_KEY" in text
    assert "locks a login after 10 failures" in text
    assert odoo.login_failures == 1


def test_a_wrong_login_is_a_refused_login_on_jsonrpc(clock: FakeClock) -> None:
    # JSON-2 authenticates by the key alone; JSON-RPC logs in with login and key.
    with OdooSandbox(clock=clock, version=17, accounts=5, deals=10) as odoo:
        client = client_for(odoo, login="someone@else.example")
        with pytest.raises(AuthenticationError) as caught:
            _read(client)
        assert "refused login 'someone@else.example'" in _one_line(caught.value, odoo)
        assert odoo.login_failures == 1


def test_crm_app_not_installed_says_to_install_it(odoo: OdooSandbox) -> None:
    odoo.uninstall_crm()
    with pytest.raises(ConfigurationError) as caught:
        _read(client_for(odoo))
    text = _one_line(caught.value, odoo)
    assert "has no model 'crm.lead'" in text
    assert "install the CRM app" in text


def test_access_error_on_a_field_names_the_field_and_the_fix(odoo: OdooSandbox) -> None:
    client = client_for(odoo)
    client.get_fields(OPPORTUNITIES)  # metadata read before an admin restricted the field
    odoo.restrict_field("crm.lead", "x_engagement_risk_score")
    lead = min(i for i, r in odoo.records("crm.lead").items() if r["type"] == "opportunity")
    with pytest.raises(ConfigurationError) as caught:
        client.update_records(OPPORTUNITIES, [{"id": str(lead), "x_engagement_risk_score": 5}])
    text = _one_line(caught.value, odoo)
    assert caught.value.field == "x_engagement_risk_score"
    assert "may not write field 'x_engagement_risk_score' of crm.lead" in text
    assert "give the user a group with access" in text


def test_a_key_that_expires_mid_run_says_so(odoo: OdooSandbox) -> None:
    client = client_for(odoo)
    _read(client)
    odoo.expire_api_key()
    with pytest.raises(AuthenticationError) as caught:
        _read(client)
    text = _one_line(caught.value, odoo)
    assert "expired or was revoked" in text
    assert "create a new key" in text and "ENGAGE_ODOO_API_KEY" in text
