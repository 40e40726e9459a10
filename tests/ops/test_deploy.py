"""deploy/: the systemd unit as systemd reads it, `engage --version`, and a real `engage daemon`
process serving /healthz and /metrics (issue 20 items 3 and 7); the container file has its own
tests (test_containerfile.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from tests.conftest import write_sandbox_config

DEPLOY = Path(__file__).parents[2] / "deploy"
ENGAGE = str(Path(sys.executable).with_name("engage"))


def test_engage_version_is_the_package_s() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"engage, version {version('engagement-connector')}\n"


def unit_settings() -> dict[str, str]:
    lines = (DEPLOY / "engage.service").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_systemd_unit_is_valid_and_stops_the_daemon_with_sigterm(tmp_path: Path) -> None:
    settings = unit_settings()
    assert settings["ExecStart"].endswith("/engage daemon")
    assert settings["EnvironmentFile"] == "/etc/engage/engage.env"
    assert settings["Restart"] == "on-failure"
    assert settings["KillSignal"] == "SIGTERM"
    assert int(settings["TimeoutStopSec"]) >= 90
    # systemd's own reading, with the paths of this machine: no unknown key, no bad value.
    unit = (DEPLOY / "engage.service").read_text()
    unit = unit.replace("/opt/engage/venv/bin/engage", ENGAGE)
    unit = unit.replace("User=engage", "User=root").replace("Group=engage", "Group=root")
    (tmp_path / "engage.service").write_text(unit)
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "engage.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (checked.returncode, checked.stderr) == (0, "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None  # not listening yet


def test_the_daemon_process_serves_health_and_metrics_until_sigterm(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    port = free_port()
    with config.open("a") as file:
        file.write(f'[daemon]\nmetrics_address = "127.0.0.1:{port}"\n')
    process = subprocess.Popen(
        [ENGAGE, "--config", str(config), "daemon"],
        env={**os.environ, **sandbox_env(sandbox)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        metrics: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # polls for an event; nothing timed is asserted
            answer = scrape(f"http://127.0.0.1:{port}/metrics")
            if answer is not None:
                metrics = {
                    s.name + str(sorted(s.labels.items())): s.value
                    for f in text_string_to_metric_families(answer[1])
                    for s in f.samples
                }
                if metrics.get("engage_runs_total[('outcome', 'ok')]") == 1:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the daemon's /metrics never showed a finished run")
        health = scrape(f"http://127.0.0.1:{port}/healthz")
        assert health is not None and health[0] == 200, health
        assert metrics["engage_api_calls_total[('crm', 'zoho')]"] == len(sandbox.calls)
        # `engage healthcheck` (the container's HEALTHCHECK) finds it from the same config.
        probe = [ENGAGE, "--config", str(config), "healthcheck"]
        checked = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert scrape(f"http://127.0.0.1:{port}/healthz") is None  # the endpoint closed with it
    after = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=60)
    assert after.returncode == 1


def test_a_metrics_address_without_a_port_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "engage.toml"
    config.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:1"\n'
        '[daemon]\nmetrics_address = "9465"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "daemon"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {config}: daemon.metrics_address: '9465' is not host:port "
        "(e.g. 127.0.0.1:9465), nor empty"
    )


def test_serve_sandbox_and_the_metrics_endpoint_default_to_three_distinct_ports() -> None:
    from jobs.cli.sandbox import SANDBOX_PORT
    from jobs.config import DaemonSection

    serve = main.commands["serve"]
    serve_port = next(p.default for p in serve.params if p.name == "port")
    metrics_port = int(DaemonSection().metrics_address.rpartition(":")[2])
    assert DaemonSection().metrics_address.startswith("127.0.0.1:")  # loopback by default
    assert sorted([serve_port, SANDBOX_PORT, metrics_port]) == [8765, 8766, 9465]
