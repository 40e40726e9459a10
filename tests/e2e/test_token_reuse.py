"""Real `engage` processes against the sandbox (issue 16 items 1 and 7).

- 20 commands in a row, each a new process, cost exactly one token refresh (the sandbox counts).
- Two processes that need a token at the same moment cost one refresh.
- A refresh refused for Zoho's quota is one line naming when to try again, exit 75.
- An accounts_url that is closed, answers 404, or is another data centre (which does not know
  the client, answering ``invalid_client`` as Zoho does, research/zoho.md §1): one line naming
  ``crm.zoho.accounts_url``, exit 2, no secret printed.

The sandbox runs in this process on the real clock (the subprocesses read the machine's).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_env
from tests.conftest import write_sandbox_config

ENGAGE = str(Path(sys.executable).with_name("engage"))
KEY = "crm.zoho.accounts_url"


def engage(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENGAGE, "--config", str(config), *args],
        check=False,
        env={**os.environ, **env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def start_engage(config: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ENGAGE, "--config", str(config), *args],
        env={**os.environ, **env, "COLUMNS": "250"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def crm() -> Iterator[SandboxCRM]:
    with SandboxCRM(deals=60, accounts=20) as sandbox:
        yield sandbox


def test_twenty_commands_in_a_row_cost_one_token(
    crm: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(crm, sqlite_url, tmp_path)
    env = sandbox_env(crm)
    commands = [
        ["mappings", "check"],
        ["fields", "ensure", "--dry-run"],
        ["sync"],
        ["score"],
        ["plan"],
        ["push", "--dry-run"],
        ["push"],
        ["status"],
        ["sync"],
        ["plan", "--json"],
        ["run"],
        ["status", "--failed"],
        ["mappings", "check", "--json"],
        ["sync", "--full"],
        ["push"],
        ["run"],
        ["plan"],
        ["fields", "ensure"],
        ["status"],
        ["run"],
    ]
    assert len(commands) == 20
    for command in commands:
        result = engage(config, env, *command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert crm.count("token") == 1
    assert crm.count("update") >= 1  # the commands did reach the CRM with that one token


def test_two_processes_needing_a_token_at_once_make_one_refresh(
    crm: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(crm, sqlite_url, tmp_path)
    engage(config, sandbox_env(crm), "db", "upgrade").check_returncode()  # the store exists
    # The first token request is held until a second one arrives or a second has passed, so
    # both processes are waiting for a token at the same time; the lock must make it one.
    arrived = threading.Condition()
    requests_seen = [0]
    original = crm._token

    def held_token(params: dict[str, str]) -> object:
        with arrived:
            requests_seen[0] += 1
            arrived.notify_all()
            arrived.wait_for(lambda: requests_seen[0] >= 2, timeout=1.0)
        return original(params)

    crm._token = held_token  # type: ignore[method-assign]
    first = start_engage(config, sandbox_env(crm), "mappings", "check")
    second = start_engage(config, sandbox_env(crm), "mappings", "check")
    for process in (first, second):
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, (out, err)
    assert crm.count("token") == 1


def test_a_refused_refresh_names_when_to_try_again(
    crm: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(crm, sqlite_url, tmp_path)
    for _ in range(10):  # another tool spent the refresh token's quota
        requests.post(
            crm.url + "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": crm.client_id,
                "client_secret": crm.client_secret,
                "refresh_token": crm.refresh_token,
            },
            timeout=10,
        ).raise_for_status()
    for command in (["sync"], ["plan"]):
        result = engage(config, sandbox_env(crm), *command)
        assert result.returncode == 75, (result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert "the next can be had at" in lines[0] and "UTC" in lines[0]
        assert lines[0].count("the next run resumes") <= 1
    assert crm.count("token") == 11  # the second command did not ask again


class NotFound(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>404 Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("where", ["closed-port", "answers-404", "other-data-centre"])
def test_a_wrong_accounts_url_is_one_line_naming_the_key(
    crm: SandboxCRM, sqlite_url: str, tmp_path: Path, where: str
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Another data centre's accounts server: the client is not registered there.
    other_dc = SandboxCRM(deals=1, accounts=1, client_id="client-of-another-dc")
    other_dc.start()
    try:
        url = {
            "closed-port": closed_port_url(),
            "answers-404": f"http://127.0.0.1:{server.server_address[1]}",
            "other-data-centre": other_dc.url,
        }[where]
        config = tmp_path / "engage.toml"
        config.write_text(
            f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "{url}"\n'
            f'[store]\nurl = "{sqlite_url}"\n',
            encoding="utf-8",
        )
        env = sandbox_env(crm)
        for command in (["sync"], ["mappings", "check"]):
            result = engage(config, env, *command)
            assert result.returncode == 2, (result.stdout, result.stderr)
            assert result.stdout == ""
            lines = result.stderr.splitlines()
            assert len(lines) == 1, lines
            assert KEY in lines[0] and url in lines[0]
            assert "resumes" not in lines[0] and "Traceback" not in lines[0]
            for secret in (crm.client_secret, crm.refresh_token):
                assert secret not in result.stdout + result.stderr
        if where == "other-data-centre":
            assert "another data centre" in lines[0]
    finally:
        other_dc.stop()
        server.shutdown()
        server.server_close()


def test_a_wrong_client_secret_is_told_apart_from_a_revoked_refresh_token(
    crm: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(crm, sqlite_url, tmp_path)
    wrong_secret = {**sandbox_env(crm), "ENGAGE_ZOHO_CLIENT_SECRET": "wrong-secret-4711"}
    revoked = {**sandbox_env(crm), "ENGAGE_ZOHO_REFRESH_TOKEN": "revoked-token-0815"}
    secret_result = engage(config, wrong_secret, "sync")
    token_result = engage(config, revoked, "sync")
    for result, secret in ((secret_result, "wrong-secret-4711"), (token_result, "revoked-0815")):
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
        assert secret not in result.stderr
    assert "ENGAGE_ZOHO_CLIENT_SECRET" in secret_result.stderr
    assert "ENGAGE_ZOHO_REFRESH_TOKEN" in token_result.stderr
    assert "revoked" in token_result.stderr and "revoked" not in secret_result.stderr
