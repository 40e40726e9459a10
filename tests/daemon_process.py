"""`engage daemon` as a real process, for tests: start it on a config, wait for what the test
waits for in the store, stop it with SIGTERM as systemd does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_env
from jobs.store import Store

ENGAGE = str(Path(sys.executable).with_name("engage"))


def wait_for(predicate: Callable[[], object], timeout_seconds: float = 60.0) -> None:
    """Poll for an event (not a timing assertion); fail if it never happens."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail("the daemon did not finish a run in time")


def daemon_until(
    sandbox: SandboxCRM,
    config: Path,
    store_url: str,
    until: Callable[[Store], object],
    while_running: Callable[[Store], None] | None = None,
) -> tuple[int, str]:
    """Run `engage daemon` until ``until(store)`` holds, call ``while_running(store)``, then
    SIGTERM: (its exit code, its output)."""
    process = subprocess.Popen(
        [ENGAGE, "--config", str(config), "daemon"],
        env={**os.environ, **sandbox_env(sandbox)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    store = Store.open(store_url)
    try:
        wait_for(lambda: until(store))
        if while_running is not None:
            while_running(store)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        store.close()
    return process.returncode, output
