"""`[crm] kind = "odoo"`: the settings it needs, and the secret only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.redact import redact
from jobs.config import load_settings
from jobs.odoo_connect import odoo_client
from mappings.tomlfile import ConfigFileError

GOOD = (
    '[crm]\nkind = "odoo"\n[crm.odoo]\nurl = "https://acme.odoo.com/"\n'
    'database = "acme"\nlogin = "bot@acme.example"\n'
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engage.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_odoo_settings_load_with_the_key_from_the_environment(tmp_path: Path) -> None:
    key = "odoo-key-from-env-991"
    settings = load_settings(_write(tmp_path, GOOD), env={"ENGAGE_ODOO_API_KEY": key})
    odoo = settings.config.crm.odoo
    assert odoo is not None
    assert (odoo.url, odoo.database, odoo.api) == ("https://acme.odoo.com", "acme", "auto")
    assert settings.mapping_path.name == "odoo.toml"
    odoo_client(settings, transport=None)  # type: ignore[arg-type]
    assert redact(f"header bearer {key}") == "header bearer ***"


def test_a_missing_api_key_names_the_environment_variable(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, GOOD), env={})
    with pytest.raises(ConfigFileError) as caught:
        odoo_client(settings, transport=None)  # type: ignore[arg-type]
    assert "crm.odoo.api_key" in str(caught.value)
    assert "ENGAGE_ODOO_API_KEY" in str(caught.value)


def test_an_api_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + 'api_key = "abc123456"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_settings(path, env={})
    assert "crm.odoo.api_key" in str(caught.value)
    assert "ENGAGE_ODOO_API_KEY" in str(caught.value)
    assert "abc123456" not in str(caught.value)


def test_kind_odoo_without_its_section_says_which_section(tmp_path: Path) -> None:
    path = _write(tmp_path, '[crm]\nkind = "odoo"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_settings(path, env={})
    assert "[crm.odoo]" in str(caught.value)
