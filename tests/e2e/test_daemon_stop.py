"""`engage daemon` stopped by SIGTERM/SIGINT mid-run (issue 20 item 1): it stops at a safe
point, records the run "interrupted", exits 0 without a traceback, and the next run leaves the
CRM exactly as one clean run does (the sandbox is read back).

The daemon is a real subprocess with `-v --log-format json`; the signal is sent once its log
says it is scoring, or once the sandbox has received the push's first write call (a sandbox
latency keeps that call in flight while the signal lands). Waits poll and are bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.push.due import waiting
from jobs.store import Store
from tests.conftest import FakeClock, crm_state, write_sandbox_config

ENGAGE = str(Path(sys.executable).with_name("engage"))
GRACE_SECONDS = 30


def poll(what: str, predicate: Callable[[], bool], timeout_seconds: float = 120.0) -> None:
    """Wait for an event (not a timing assertion); fail naming it if it never happens."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    pytest.fail(f"never happened: {what}")


class Daemon:
    """`engage -v --log-format json daemon` in a session of its own, its stderr collected."""

    def __init__(self, crm: SandboxCRM, config: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [ENGAGE, "-v", "--log-format", "json", "--config", str(config), "daemon"],
            env={**os.environ, **sandbox_env(crm)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def logged(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def stop(self, signum: int, *, group: bool = False) -> tuple[int, str]:
        """Send ``signum`` (to the whole process group, as Ctrl-C and systemd do, if
        ``group``); the exit code and stdout once it has ended."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        # Not communicate(): it would read stderr too, beside the reader thread.
        self.process.wait(timeout=GRACE_SECONDS + 30)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None and self.process.stderr is not None
        with self.process.stdout, self.process.stderr:  # a few lines: the pipe never filled
            return self.process.returncode, self.process.stdout.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.communicate()


def config_for(crm: SandboxCRM, url: str, tmp_path: Path, grace: float = GRACE_SECONDS) -> Path:
    path = write_sandbox_config(crm, url, tmp_path)
    with path.open("a", encoding="utf-8") as file:
        # One write call at a time, so that the signal lands with more calls still to make.
        file.write(
            f"[push]\nwrite_concurrency = 1\n[daemon]\nstop_grace_seconds = {grace}\n"
            # Any free port: tests run side by side.
            'metrics_address = "127.0.0.1:0"\n'
        )
    return path


def clean_run_state(tmp_path: Path, start: datetime, deals: int) -> dict[str, Any]:
    """What one uninterrupted `engage run` with the same config leaves in the same CRM."""
    folder = tmp_path / "clean"
    folder.mkdir()
    with SandboxCRM(deals=deals, clock=FakeClock(start)) as clean:
        config = config_for(clean, f"sqlite:///{folder / 'engage.db'}", folder)
        result = CliRunner(env=sandbox_env(clean)).invoke(main, ["--config", str(config), "run"])
        assert result.exit_code == 0, result.output
        return crm_state(clean)


def finish_and_compare(crm: SandboxCRM, config: Path, url: str, expected: dict[str, Any]) -> None:
    """The next run, then the CRM as a clean run leaves it, and nothing left to write."""
    result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 0, result.output
    got = crm_state(crm)
    diff = {
        (m, rid, k): (rec.get(k), expected[m].get(rid, {}).get(k))
        for m, recs in got.items()
        for rid, rec in recs.items()
        for k in set(rec) | set(expected[m].get(rid, {}))
        if rec.get(k) != expected[m].get(rid, {}).get(k)
    }
    assert diff == {}
    assert {m: set(recs) for m, recs in got.items()} == {
        m: set(recs) for m, recs in expected.items()
    }
    store = Store.open(url)
    try:
        assert [r.status for r in store.runs()][:2] == ["ok", "interrupted"]
        assert waiting(store)[0] == 0  # no record left with a value to write
    finally:
        store.close()


def interrupted_run(url: str) -> Any:
    store = Store.open(url)
    try:
        return store.runs()[0]
    finally:
        store.close()


def assert_ended_cleanly(daemon: Daemon, code: int, stdout: str) -> None:
    """Exit 0, no traceback anywhere, and the daemon said it stopped."""
    assert code == 0, "\n".join(daemon.lines)
    assert "Traceback" not in "\n".join(daemon.lines) + stdout
    assert "daemon stopped" in stdout


def assert_stopped_at_a_safe_point_within_the_grace(daemon: Daemon, url: str, step: str) -> Any:
    """The run is "interrupted" at a safe point of ``step``, reached before the grace period
    ran out (the daemon says when it does not: the message and a warning line)."""
    run = interrupted_run(url)
    assert run.status == "interrupted"
    assert run.message.startswith(f"stopped at a safe point during {step}"), run.message
    assert not [
        m for line in daemon.logged() if "did not reach a safe point" in (m := line["message"])
    ]
    summary = [line for line in daemon.logged() if line["step"] == "summary"]
    assert len(summary) == 1 and summary[0]["run_id"] == run.id
    return run


def hold_the_push_call_in_flight(daemon: Daemon, crm: SandboxCRM) -> None:
    """Wait until the push has started, make every write call from then on outlast the test's
    wait for the daemon, and wait for the first of them."""
    poll(
        "the daemon's log saying it pushes",
        lambda: any(line["step"] == "push" for line in daemon.logged()),
    )
    crm.latency_seconds = GRACE_SECONDS + 30
    poll("the push's first write call", lambda: crm.count("update") >= 1)


def test_sigterm_during_the_push_stops_after_the_call_in_flight(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    expected = clean_run_state(tmp_path, start, deals=300)
    url = f"sqlite:///{tmp_path / 'engage.db'}"
    with SandboxCRM(deals=300, clock=FakeClock(start)) as crm:
        # Every call takes a while, so the push's first write is still in flight at the signal.
        crm.install_faults(FaultPlan(latency_seconds=0.3))
        config = config_for(crm, url, tmp_path)
        daemon = Daemon(crm, config)
        try:
            poll("the push's first write call", lambda: crm.count("update") >= 1)
            # To the daemon alone: what systemd (KillMode=mixed) and `podman stop` send.
            code, stdout = daemon.stop(signal.SIGTERM)
        finally:
            daemon.kill()
        writes_when_stopped = crm.count("update")
        assert_ended_cleanly(daemon, code, stdout)
        assert_stopped_at_a_safe_point_within_the_grace(daemon, url, "push")
        # Stopped mid-push: the call in flight returned, no other started (300 deals and 120
        # accounts take 5 write calls of 100 rows).
        assert writes_when_stopped < 5
        shown = CliRunner().invoke(
            main, ["--config", str(config), "status"], env={"COLUMNS": "250"}
        )
        row = next(line for line in shown.output.splitlines() if "│ run " in line)
        assert "interrupted" in row and "failed" not in row
        crm.install_faults(FaultPlan())
        crm.latency_seconds = 0.0
        finish_and_compare(crm, config, url, expected)


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [
        # What systemd (KillMode=mixed) and `podman stop` / `docker stop` send: the daemon only.
        pytest.param(signal.SIGTERM, False, id="SIGTERM"),
        # Ctrl-C reaches the whole process group: the scoring workers too, which must not
        # fail the run.
        pytest.param(signal.SIGINT, True, id="ctrl-c-to-the-group"),
    ],
)
def test_a_signal_during_scoring_stops_after_a_chunk(
    tmp_path: Path, signum: signal.Signals, to_group: bool
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    # Enough engagements for several chunks, scored by worker processes (jobs/score.py).
    expected = clean_run_state(tmp_path, start, deals=3000)
    url = f"sqlite:///{tmp_path / 'engage.db'}"
    with SandboxCRM(deals=3000, clock=FakeClock(start)) as crm:
        config = config_for(crm, url, tmp_path)
        daemon = Daemon(crm, config)
        try:
            poll(
                "the daemon's log saying it scores",
                lambda: any(line["step"] == "score" for line in daemon.logged()),
            )
            code, stdout = daemon.stop(signum, group=to_group)
        finally:
            daemon.kill()
        assert_ended_cleanly(daemon, code, stdout)
        run = assert_stopped_at_a_safe_point_within_the_grace(daemon, url, "score")
        # What it finished is recorded: some engagements scored, not all 3000 deals.
        assert 0 < run.counts["scored"] < 3000
        assert f"{run.counts['scored']} scored" in run.message
        assert crm.count("update") == 0  # the push never started
        finish_and_compare(crm, config, url, expected)


def test_a_second_sigterm_stops_at_once_and_the_journal_covers_the_call_in_flight(
    tmp_path: Path,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    expected = clean_run_state(tmp_path, start, deals=300)
    url = f"sqlite:///{tmp_path / 'engage.db'}"
    with SandboxCRM(deals=300, clock=FakeClock(start)) as crm:
        config = config_for(crm, url, tmp_path)
        daemon = Daemon(crm, config)
        try:
            hold_the_push_call_in_flight(daemon, crm)
            daemon.process.send_signal(signal.SIGTERM)
            poll(
                "the first signal taken",
                lambda: any("safe point" in line["message"] for line in daemon.logged()),
            )
            code, stdout = daemon.stop(signal.SIGTERM)
        finally:
            crm.latency_seconds = 0.0
            daemon.kill()
        assert code == 0, "\n".join(daemon.lines)
        assert "Traceback" not in "\n".join(daemon.lines) + stdout
        run = interrupted_run(url)
        assert run.status == "interrupted"
        assert run.message.startswith("stopped at once by a second signal (SIGTERM) during push")
        finish_and_compare(crm, config, url, expected)


def test_a_run_that_reaches_no_safe_point_within_the_grace_period_is_stopped_then(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'engage.db'}"
    with SandboxCRM(deals=300, clock=FakeClock(datetime.now(UTC))) as crm:
        config = config_for(crm, url, tmp_path, grace=1)
        daemon = Daemon(crm, config)
        try:
            hold_the_push_call_in_flight(daemon, crm)  # the call in flight outlasts the grace
            code, stdout = daemon.stop(signal.SIGTERM)
        finally:
            crm.latency_seconds = 0.0
            daemon.kill()
        assert code == 0, "\n".join(daemon.lines)
        assert "Traceback" not in "\n".join(daemon.lines) + stdout
        run = interrupted_run(url)
        assert (run.status, run.message.split(";")[0]) == (
            "interrupted",
            "did not reach a safe point within 1 s during push",
        )
        assert "the run did not reach a safe point within 1 s" in [
            line["message"] for line in daemon.logged()
        ]
