"""`engage sandbox` as a script starts it: a real process, its one JSON line, then real calls."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from jobs.cli import SANDBOX_PORT
from jobs.surveys.config import SurveysSection

ENGAGE = str(Path(sys.executable).parent / "engage")


@contextmanager
def sandbox_process(*args: str) -> Iterator[dict[str, Any]]:
    """Run `engage sandbox ... --json` and yield the line it prints once it listens."""
    with subprocess.Popen(
        [ENGAGE, "sandbox", "--port", "0", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        stdout = process.stdout
        try:
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.append(stdout.readline()))
            reader.start()
            reader.join(timeout=60)  # bounds the wait on the process, not a sleep
            assert lines and lines[0], f"no line from engage sandbox: {process.poll()}"
            yield json.loads(lines[0])
        finally:
            process.terminate()
            _out, err = process.communicate(timeout=30)
    # SIGTERM stops it cleanly: exit 0, nothing on stderr.
    assert process.returncode == 0, err
    assert err == ""


def test_the_zoho_sandbox_prints_its_url_and_credentials_and_answers_with_them() -> None:
    with sandbox_process("--crm", "zoho", "--deals", "40") as details:
        assert details["crm"] == "zoho" and details["sandbox"] is True
        url = details["url"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{SANDBOX_PORT}")
        credentials = details["credentials"]
        token = requests.post(
            f"{details['accounts_url']}/oauth/v2/token",
            data={"grant_type": "refresh_token", **credentials},
            timeout=10,
        ).json()
        assert token["api_domain"] == details["api_domain"] == url
        deals = requests.get(
            f"{url}/crm/v8/Deals",
            params={"fields": "Deal_Name", "per_page": 200},
            headers={"Authorization": f"Zoho-oauthtoken {token['access_token']}"},
            timeout=10,
        )
        assert deals.status_code == 200
        assert len(deals.json()["data"]) == 40
        assert details["env"]["ENGAGE_ZOHO_REFRESH_TOKEN"] == credentials["refresh_token"]


@pytest.mark.parametrize("version", ["17", "19"])
def test_the_odoo_sandbox_plays_the_release_asked_for(version: str) -> None:
    with sandbox_process("--crm", "odoo", "--odoo-version", version, "--deals", "20") as details:
        assert details["crm"] == "odoo" and details["version"] == int(version)
        with xmlrpc.client.ServerProxy(f"{details['url']}/xmlrpc/2/common") as common:
            assert common.version()["server_version"].startswith(version)
            uid = common.authenticate(
                details["database"], details["login"], details["credentials"]["api_key"], {}
            )
        assert isinstance(uid, int) and uid > 0


def test_the_sandbox_does_not_take_the_survey_page_port() -> None:
    serve_default = int(SurveysSection().base_url.rsplit(":", 1)[1])
    assert serve_default == 8765 and SANDBOX_PORT != serve_default
