"""`engage demo`: the whole path on the embedded default — sandbox CRM and an SQLite file.

It starts the sandbox on a free port, runs sync → score → push once, shows the engagements and
their health, then reads the Deals back **through the CRM API** to show the values landed, and
runs a second time to show that nothing unchanged is written again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.odoo import OdooClient
from connector.sandbox import SANDBOX_BANNER, SandboxCRM
from connector.sandbox.fxiaoke import FXIAOKE_SANDBOX_BANNER, FxiaokeSandbox
from connector.sandbox.odoo.server import ODOO_SANDBOX_BANNER, OdooSandbox
from jobs.config import SECRET_ENV, Config, Settings
from jobs.demo.boards import pull_demo_boards, show_tool_drivers
from jobs.demo.delivery import DemoDelivery
from jobs.demo.facts import add_demo_facts
from jobs.demo.fxiaoke import (
    fxiaoke_sandbox,
    fxiaoke_sandbox_settings,
    fxiaoke_status_section,
    settings_with_found_fields,
)
from jobs.demo.history import DEMO_WEEKS, backfill_history
from jobs.demo.odoo import OdooApi, odoo_sandbox, odoo_sandbox_settings, odoo_status_section
from jobs.push.plan import same_value
from jobs.runner import Connection, Job, RunResult, connect, run_job
from jobs.store.store import upgrade_at
from mappings.domain import Engagement
from mappings.spec import EngagementOutput

SHOWN_ROWS = 15


def sandbox_settings(crm: SandboxCRM, store_url: str, config_path: Path) -> Settings:
    """Settings for a running sandbox CRM, with its (public) credentials as the environment."""
    config = Config.model_validate(
        {"crm": {"kind": "zoho", "zoho": {"accounts_url": crm.url}}, "store": {"url": store_url}}
    )
    return Settings(config, config_path, sandbox_env(crm))


def sandbox_env(crm: SandboxCRM) -> dict[str, str]:
    return {
        SECRET_ENV["client_id"]: crm.client_id,
        SECRET_ENV["client_secret"]: crm.client_secret,
        SECRET_ENV["refresh_token"]: crm.refresh_token,
    }


def run_demo(
    db: Path,
    *,
    deals: int = 300,
    console: Console | None = None,
    crm_kind: str = "zoho",
    odoo_api: OdooApi = "json2",
    clock: Callable[[], datetime] | None = None,
) -> None:
    """`clock`: the demo's time (tests pass theirs); the machine's by default."""
    console = console or Console()
    banners = {"odoo": ODOO_SANDBOX_BANNER, "fxiaoke": FXIAOKE_SANDBOX_BANNER}
    console.print(f"[bold yellow]{banners.get(crm_kind, SANDBOX_BANNER)}[/]")
    if db.exists():
        db.unlink()  # a fresh sandbox needs a fresh store: old cursors would point at nothing
    sandbox: SandboxCRM | OdooSandbox | FxiaokeSandbox
    if crm_kind == "odoo":
        sandbox = odoo_sandbox(deals, odoo_api)
    elif crm_kind == "fxiaoke":
        sandbox = fxiaoke_sandbox(deals)
    else:
        sandbox = SandboxCRM(deals=deals)
    with sandbox as crm, DemoDelivery(db.parent) as delivery:
        crm.start()
        console.print(f"sandbox CRM listening on {crm.url} with {deals} deals")
        # Also written next to the DB so that `engage status` can read the demo's store.
        store_url, config_path = f"sqlite:///{db.resolve()}", db.with_suffix(".toml")
        if isinstance(crm, OdooSandbox):
            settings = odoo_sandbox_settings(crm, store_url, config_path, odoo_api)
        elif isinstance(crm, FxiaokeSandbox):
            settings = fxiaoke_sandbox_settings(crm, store_url, config_path)
            settings = settings_with_found_fields(settings, crm, db.parent)
            console.print(
                f"the plugin's fields found by label in describe; {settings.mapping_path.name} "
                "names them (Fxiaoke generates field_xxxxx__c names)"
            )
            console.print(
                "Fxiaoke takes one record per update call and 100 calls per 20 s per endpoint "
                "(the sandbox holds to that): the first push waits about 20 s per 100 records"
            )
        else:
            settings = sandbox_settings(crm, store_url, config_path)
        settings = delivery.settings(settings)
        write_status_config(settings)
        before, after = upgrade_at(store_url)
        console.print(
            f"store {db.name} upgraded from {before or 'none (a new store)'} to schema {after} "
            "(the demo upgrades its store on its own)"
        )
        conn = connect(settings, clock=clock)
        try:
            demo_runs(console, conn, delivery)
        finally:
            conn.close()
    console.print(
        f"\nStore: {db}. See runs and skipped records with "
        f"`.venv/bin/engage --config {settings.path.name} status`."
    )


def demo_runs(console: Console, conn: Connection, delivery: DemoDelivery) -> None:
    """Sync; add the demo's facts, link and seed the delivery tools and back-fill the score
    history; then the first run (shown and read back) and a second one that writes nothing."""
    run_job(conn, Job.SYNC)
    if isinstance(conn.client, OdooClient):
        client = conn.client  # the version is known when it was detected, not forced
        version = f" {client.server_version}" if client.server_version else ""
        console.print(f"talked to Odoo{version} over {client.api_kind}")
    added = add_demo_facts(conn.store, conn.clock())
    console.print(
        "delivery facts added, as `engage import` would: "
        + ", ".join(f"{n} {kind}" for kind, n in added.items())
    )
    linked = delivery.seed(conn.store, conn.clock().date())
    console.print(
        f"delivery tools: Jira sandbox project ACME linked to {linked['jira'].name}, "
        f"PingCode sandbox project HZB to {linked['pingcode'].name} (pulled by the run)"
    )
    rows = backfill_history(conn, conn.clock())
    console.print(
        f"score history: the portfolio scored as of each of the last {DEMO_WEEKS} weeks "
        f"from today's facts ({rows} history rows), so `engage report` has weeks to draw"
    )
    tools = pull_demo_boards(conn.store, conn.clock(), delivery.linked.values(), console)
    first = run_job(conn, Job.RUN)
    report_run(console, "first run", first)
    show_health(console, conn)
    show_read_back(console, conn)
    show_delivery_drivers(console, conn, linked)
    show_tool_drivers(console, conn, tools)
    second = run_job(conn, Job.RUN)
    report_run(console, "second run, nothing changed in the CRM", second)


def write_status_config(settings: Settings) -> None:
    settings.path.write_text(
        "# Written by `engage demo` so that `engage status` can read the demo's store.\n"
        + (
            odoo_status_section(settings)
            if settings.config.crm.kind == "odoo"
            else fxiaoke_status_section(settings)
            if settings.config.crm.kind == "fxiaoke"
            else '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1"\n'
        )
        + f'[store]\nurl = "{settings.config.store.url}"\n',
        encoding="utf-8",
    )


def report_run(console: Console, title: str, result: RunResult) -> None:
    counts = result.counts()
    writes = counts.get("push_written", 0)
    console.print(
        f"\n[bold]{title}[/]: {result.status}; "
        f"read {counts.get('sync_read', 0)}, skipped {counts.get('sync_skipped', 0)}, "
        f"scored {counts.get('scored', 0)}, records written {writes}, "
        f"unchanged {counts.get('push_unchanged', 0)}"
    )
    if result.delivery:
        for name, d in result.delivery.sources.items():
            console.print(
                f"  delivery source {name}: {d.items_read} items and {d.releases_read} releases "
                f"read, {sum(d.changed.values())} facts stored, {d.skipped} skipped"
            )
    if result.message:
        console.print(f"[red]{result.message}[/]")


def show_health(console: Console, conn: Connection) -> None:
    health = conn.store.health()
    engagements = [e for e in conn.store.engagements() if e.crm_id in health]
    engagements.sort(key=lambda e: (-health[e.crm_id].risk_score, e.crm_id))
    table = Table(
        title=f"engagements and their health (riskiest {SHOWN_ROWS} of {len(engagements)})"
    )
    for column in ("deal", "account", "stage", "risk", "level", "main reason"):
        table.add_column(column, overflow="fold")
    for e in engagements[:SHOWN_ROWS]:
        h = health[e.crm_id]
        reason = f"{h.drivers[0].en}\n{h.drivers[0].zh}" if h.drivers else "—"
        table.add_row(
            e.name, e.account_name or "", e.stage, str(h.risk_score), h.risk_level.value, reason
        )
    console.print(table)
    skipped = conn.store.skips(limit=5)
    if skipped:
        console.print(f"{conn.store.skip_count()} records skipped, for example:")
        for s in skipped:
            console.print(f"  {s.kind} {s.record_id}: {s.reason}", markup=False)


def show_read_back(console: Console, conn: Connection) -> None:
    """Read the Deals from the CRM API (not the store) and compare with the computed health."""
    target = conn.mapper.spec.targets.engagements
    name_rule = conn.mapper.spec.sources.engagements.fields["name"]
    name_field = name_rule.path or ""
    written = [rule.field for rule in target.fields.values()]
    in_crm = {
        record["id"]: record
        for page in conn.client.iter_pages(target.module, sorted({*written, name_field}))
        for record in page.records
    }
    health = conn.store.health()
    matching = 0
    for engagement_id, h in health.items():
        wanted = conn.mapper.engagement_values(h)
        record = in_crm.get(engagement_id, {})
        if all(same_value(record.get(f), v) for f, v in wanted.items()):
            matching += 1
    shown = [
        target.fields[o].field
        for o in (
            EngagementOutput.RISK_SCORE,
            EngagementOutput.RISK_LEVEL,
            EngagementOutput.RISK_DRIVERS,
        )
        if o in target.fields
    ]
    ranked = sorted(health.values(), key=lambda h: (-h.risk_score, h.engagement_id))
    table = Table(title=f"read back from the CRM API: {target.module} custom fields")
    for column in (name_field, *shown):
        table.add_column(column, overflow="fold")
    for h in ranked[:SHOWN_ROWS]:
        record = in_crm.get(h.engagement_id, {})
        table.add_row(*(str(record.get(field)) for field in (name_field, *shown)))
    console.print(table)
    console.print(
        f"[bold green]{matching} of {len(health)}[/] scored deals in the CRM hold exactly the "
        "values computed here."
    )


def show_delivery_drivers(
    console: Console, conn: Connection, linked: dict[str, Engagement]
) -> None:
    """The drivers the CRM holds now on the deals linked to the delivery tools (read back
    through the CRM API): a fact pulled from Jira or PingCode, in the deal's own field."""
    target = conn.mapper.spec.targets.engagements
    rule = target.fields.get(EngagementOutput.RISK_DRIVERS)
    if rule is None:
        return
    ids = {e.crm_id for e in linked.values()}
    in_crm = {
        record["id"]: record
        for page in conn.client.iter_pages(target.module, [rule.field])
        for record in page.records
        if record.get("id") in ids
    }
    console.print("\n[bold]from the delivery tools[/], read back from the CRM field " + rule.field)
    for tool, engagement in linked.items():
        drivers = str(in_crm.get(engagement.crm_id, {}).get(rule.field) or "")
        console.print(f"  {engagement.name} ({tool}): {drivers}", markup=False)
