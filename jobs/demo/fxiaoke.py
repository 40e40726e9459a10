"""`engage demo --crm fxiaoke`: the Fxiaoke sandbox and the settings that point at it.

The sandbox's plugin fields carry generated API names (field_xxxxx__c), as a real tenant's do,
so the demo first does what an admin would: `engage fields ensure` finds them by label and
writes their names into a copy of the mapping, which the run then uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.sandbox.fxiaoke import FXIAOKE_SANDBOX_BANNER, FxiaokeSandbox
from jobs.admin.fields import ensure_fields
from jobs.config import SECRET_ENV, Config, Settings
from jobs.runner import connect


def fxiaoke_sandbox(deals: int) -> FxiaokeSandbox:
    return FxiaokeSandbox(deals=deals)


def fxiaoke_sandbox_settings(
    sandbox: FxiaokeSandbox, store_url: str, config_path: Path, mapping: Path | None = None
) -> Settings:
    config = Config.model_validate(
        {
            "crm": {
                "kind": "fxiaoke",
                "mapping": str(mapping) if mapping else None,
                "fxiaoke": {
                    "base_url": sandbox.url,
                    "app_id": sandbox.app_id,
                    "admin_mobile": sandbox.admin["mobile"],
                },
            },
            "store": {"url": store_url},
        }
    )
    return Settings(config, config_path, fxiaoke_env(sandbox))


def fxiaoke_env(sandbox: FxiaokeSandbox) -> dict[str, str]:
    return {
        SECRET_ENV["app_secret"]: sandbox.app_secret,
        SECRET_ENV["permanent_code"]: sandbox.permanent_code,
    }


def settings_with_found_fields(
    settings: Settings, sandbox: FxiaokeSandbox, copy_dir: Path
) -> Settings:
    """The settings again, with a mapping that names the tenant's fields as `describe` has them."""
    conn = connect(settings)
    try:
        result = ensure_fields(
            conn.client, conn.mapper.spec, settings.mapping_path, dry_run=False, copy_dir=copy_dir
        )
    finally:
        conn.close()
    if result.mapping_written is None:
        return settings
    crm = settings.config.crm.model_copy(update={"mapping": str(result.mapping_written)})
    config = settings.config.model_copy(update={"crm": crm})
    return Settings(config, settings.path, fxiaoke_env(sandbox))


def fxiaoke_status_section(settings: Settings) -> str:
    section = settings.config.crm.fxiaoke
    if section is None:
        raise ValueError("not a Fxiaoke configuration")
    mapping = settings.config.crm.mapping
    return (
        '[crm]\nkind = "fxiaoke"\n'
        + (f"mapping = {_quoted(mapping)}\n" if mapping else "")
        + f'[crm.fxiaoke]\nbase_url = "http://127.0.0.1"\napp_id = "{section.app_id}"\n'
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fxiaoke_sandbox_details(deals: int, port: int) -> tuple[FxiaokeSandbox, dict[str, Any]]:
    """`engage sandbox --crm fxiaoke`: start it on ``port``; what a script needs to use it."""
    sandbox = FxiaokeSandbox(deals=deals)
    url = sandbox.start(port=port)
    return sandbox, {
        "crm": "fxiaoke",
        "sandbox": True,
        "url": url,
        "base_url": url,
        "app_id": sandbox.app_id,
        "admin_mobile": sandbox.admin["mobile"],
        "open_user_id": sandbox.admin["openUserId"],
        "credentials": {
            "app_secret": sandbox.app_secret,
            "permanent_code": sandbox.permanent_code,
        },
        "env": fxiaoke_env(sandbox),
        "banner": FXIAOKE_SANDBOX_BANNER,
    }
