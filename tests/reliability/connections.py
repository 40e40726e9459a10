"""For fault tests: a connection to a sandbox whose retry policy never sleeps (many stops and
retries, no waiting on the wall clock), and the CRM's records to compare two runs by."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Connection, connect
from tests.conftest import WRITE_STAMPS, FakeClock, crm_state

#: Every module the Zoho sandbox holds.
ZOHO_MODULES = ("Accounts", "Contacts", "Deals")


def open_connection(crm: SandboxCRM, clock: FakeClock, tmp_path: Path, name: str) -> Connection:
    """`connect` to ``crm`` with a store ``tmp_path/name`` (SQLite) and its own config file."""
    # The one retry policy, with its sleep injected: the test never waits on the wall clock.
    policy = RetryPolicy(sleep=lambda _: None, random=random.Random(5).random)
    settings = sandbox_settings(crm, f"sqlite:///{tmp_path / name}", tmp_path / f"{name}.toml")
    return connect(settings, clock=clock, policy=policy)


def every_record(crm: SandboxCRM) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of every module, without the stamps the CRM puts on each write (what two
    runs that end alike must agree on)."""
    return crm_state(crm, ZOHO_MODULES, WRITE_STAMPS)
