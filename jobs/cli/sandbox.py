"""`engage sandbox` and `engage demo`: try the plugin against a local imitation of a CRM."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from jobs.cli import context
from jobs.config import SECRET_ENV

SANDBOX_PORT = 8766


@click.command()
@click.option("--crm", "crm_kind", type=click.Choice(["zoho", "odoo", "fxiaoke"]), default="zoho")
@click.option(
    "--odoo-version",
    type=click.Choice(["16", "17", "18", "19"]),
    default="19",
    show_default=True,
    help="With --crm odoo: the Odoo release the sandbox plays.",
)
@click.option("--port", default=SANDBOX_PORT, show_default=True, help="0: any free port.")
@click.option("--deals", default=300, show_default=True, help="Deals to seed.")
@click.option(
    "--org",
    type=click.Choice(["default", "standard"]),
    default="default",
    show_default=True,
    help="Zoho: standard = only Zoho's standard modules and fields (no Calls/Events, no custom fields).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON line (URL, database, login, credentials) once listening.",
)
def sandbox(
    crm_kind: str, odoo_version: str, port: int, deals: int, org: str, as_json: bool
) -> None:
    """Start a sandbox CRM (a local imitation of Zoho CRM v8, Odoo or Fxiaoke) until Ctrl-C."""
    import signal

    from connector.sandbox import SANDBOX_BANNER
    from connector.sandbox.serving import ServedOnThread

    crm: ServedOnThread
    try:
        crm, details = _start_sandbox(crm_kind, int(odoo_version), port, deals, org)
    except OSError as exc:
        context.fail(
            f"cannot listen on port {port}: {exc.strerror or exc}; choose another with --port"
        )
    # The sandboxes' credentials are public test values, not secrets: printing them is safe.
    banner = details.pop("banner", SANDBOX_BANNER)
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False))
        sys.stdout.flush()
    else:
        context.console.print(f"[bold yellow]{banner}[/]")
        context.console.print(f"listening on {details['url']}")
        if crm_kind == "zoho":
            context.console.print("Point a config at it (accounts_url = that URL) and set:")
        elif crm_kind == "fxiaoke":
            context.console.print(
                f'[crm.fxiaoke] base_url = that URL, app_id = "{details["app_id"]}", '
                f'admin_mobile = "{details["admin_mobile"]}"; set:',
                markup=False,
            )
        else:
            context.console.print(f"Database {details['database']}, login {details['login']}; set:")
        for name, value in details["env"].items():
            context.console.print(f"  export {name}={value}")

    def stop_on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        crm.stop()


def _start_sandbox(
    crm_kind: str, odoo_version: int, port: int, deals: int, org: str = "default"
) -> tuple[Any, dict[str, Any]]:
    """Start the chosen sandbox on ``port``; returns it and what a script needs to use it."""
    if crm_kind == "zoho":
        from connector.sandbox import SandboxCRM

        zoho = SandboxCRM(deals=deals, org="standard" if org == "standard" else "default")
        url = zoho.start(port=port)
        return zoho, {
            "crm": "zoho",
            "sandbox": True,
            "url": url,
            "accounts_url": url,
            "api_domain": url,
            "database": None,
            "login": zoho.api_user["email"],
            "credentials": {
                "client_id": zoho.client_id,
                "client_secret": zoho.client_secret,
                "refresh_token": zoho.refresh_token,
            },
            # Sandbox only: POST {"days": 1} there moves the sandbox's clock (credits, tokens).
            "clock_url": f"{url}/__sandbox__/clock",
            "env": {
                SECRET_ENV["client_id"]: zoho.client_id,
                SECRET_ENV["client_secret"]: zoho.client_secret,
                SECRET_ENV["refresh_token"]: zoho.refresh_token,
            },
        }
    if crm_kind == "fxiaoke":
        from jobs.demo.fxiaoke import fxiaoke_sandbox_details

        return fxiaoke_sandbox_details(deals, port)
    from connector.sandbox.odoo.server import OdooSandbox

    odoo = OdooSandbox(deals=deals, version=odoo_version)
    url = odoo.start(port=port)
    return odoo, {
        "crm": "odoo",
        "sandbox": True,
        "version": odoo_version,
        "url": url,
        "database": odoo.database,
        "login": odoo.login,
        "credentials": {"api_key": odoo.api_key, "password": odoo.api_key},
        "env": {SECRET_ENV["api_key"]: odoo.api_key},
        "banner": f"SANDBOX ODOO {odoo_version} — a local imitation of Odoo for demos and "
        "tests. Not a real CRM.",
    }


@click.command()
@click.option("--db", default="engage-demo.db", show_default=True, help="SQLite file (recreated).")
@click.option("--deals", default=300, show_default=True)
@click.option("--crm", "crm_kind", type=click.Choice(["zoho", "odoo", "fxiaoke"]), default="zoho")
@click.option(
    "--odoo-api",
    type=click.Choice(["json2", "jsonrpc", "xmlrpc"]),
    default="json2",
    show_default=True,
    help="With --crm odoo: the sandbox plays Odoo 19 (JSON-2) or Odoo 17 (JSON-RPC, XML-RPC).",
)
def demo(db: str, deals: int, crm_kind: str, odoo_api: str) -> None:
    """Start the sandbox CRM, run sync-score-push once, and read the values back from the CRM."""
    from jobs.demo.run import run_demo

    run_demo(
        Path(db),
        deals=deals,
        console=context.console,
        crm_kind=crm_kind,
        odoo_api=odoo_api,
    )
