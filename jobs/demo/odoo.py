"""`engage demo --crm odoo`: the Odoo sandbox and the settings that point at it."""

from __future__ import annotations

from pathlib import Path

from connector.sandbox.odoo.server import OdooSandbox
from jobs.config import SECRET_ENV, Config, Settings

#: "json2", "jsonrpc" or "xmlrpc" (the `--odoo-api` choices).
OdooApi = str
#: The server release the sandbox plays for each API: JSON-2 needs 19+, 17 has only JSON-RPC.
SANDBOX_VERSION: dict[str, int] = {"json2": 19, "jsonrpc": 17, "xmlrpc": 17}


def odoo_sandbox(deals: int, api: OdooApi) -> OdooSandbox:
    return OdooSandbox(deals=deals, version=SANDBOX_VERSION[api])


def odoo_sandbox_settings(
    sandbox: OdooSandbox, store_url: str, config_path: Path, api: OdooApi | None = None
) -> Settings:
    """Settings for a running Odoo sandbox. JSON-2 and JSON-RPC are found by detection (``api =
    auto``), as against a real server; XML-RPC is used only when asked for, so it is forced."""
    config = Config.model_validate(
        {
            "crm": {
                "kind": "odoo",
                "odoo": {
                    "url": sandbox.url,
                    "database": sandbox.database,
                    "login": sandbox.login,
                    "api": "xmlrpc" if api == "xmlrpc" else "auto",
                },
            },
            "store": {"url": store_url},
        }
    )
    return Settings(config, config_path, {SECRET_ENV["api_key"]: sandbox.api_key})


def odoo_status_section(settings: Settings) -> str:
    odoo = settings.config.crm.odoo
    if odoo is None:
        raise ValueError("not an Odoo configuration")
    return (
        f'[crm]\nkind = "odoo"\n[crm.odoo]\nurl = "http://127.0.0.1"\n'
        f'database = "{odoo.database}"\nlogin = "{odoo.login}"\n'
    )
