"""Text from outside is data: a NUL or a header-like line break in CRM values never stops a run.

PostgreSQL refuses U+0000 in text and jsonb (psycopg: "PostgreSQL text fields cannot contain
NUL"); one CRM deal holding it used to stop every run for all deals. The store removes it by
its one rule (docs/reliability.md, "Text from outside") and the record is stored anyway.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from jobs.store import schema as t
from tests.conftest import write_sandbox_config


def test_a_nul_and_a_header_line_break_in_crm_names_do_not_stop_the_run(
    sandbox: SandboxCRM, store_url: str, tmp_path: Path
) -> None:
    deal_ids = sorted(set(sandbox.records("Deals")) - set(sandbox.odd_deals))
    nul_deal, header_deal = deal_ids[0], deal_ids[1]
    sandbox.edit("Deals", nul_deal, Deal_Name="Rollout\u0000 phase 2")
    sandbox.edit("Deals", header_deal, Deal_Name="Rollout\r\nBcc: x@y")
    contact_id = min(sandbox.records("Contacts"))
    sandbox.edit("Contacts", contact_id, Last_Name="Wang\u0000\r\nBcc: x@y")
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    runner = CliRunner(env=sandbox_env(sandbox))

    result = runner.invoke(main, ["--config", str(config), "run"])

    assert result.exit_code == 0, result.output
    store = Store.open(store_url)
    try:
        names = {e.crm_id: e.name for e in store.engagements()}
        # Every deal the sandbox holds is written, but those it makes odd on purpose.
        skipped = {s.record_id for s in store.skips(limit=10_000)}
        assert set(deal_ids) <= set(names) and not (set(deal_ids) & skipped)
        assert names[nul_deal] == "Rollout phase 2"  # the NUL removed, nothing else
        assert names[header_deal] == "Rollout\r\nBcc: x@y"  # stored as given
        with store.engine.connect() as conn:
            last = conn.execute(
                sa.select(t.contacts.c.last_name).where(t.contacts.c.crm_id == contact_id)
            ).scalar_one()
        assert last == "Wang\r\nBcc: x@y"
        runs = store.runs()
        assert runs[0].status == "ok"
    finally:
        store.close()
    # The cleaned records are named in a warning, so that someone can fix them in the CRM.
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert any("NUL" in w and "engagements" in w and nul_deal in w for w in warnings), warnings
    assert any("NUL" in w and "contacts" in w and contact_id in w for w in warnings), warnings
