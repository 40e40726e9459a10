"""Log lines an operator can use (issue 20 item 2): `--log-format json` gives one JSON object a
line, each line of a run carries its run id, connection and step, and no line holds a secret."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from connector.redact import RedactingFilter, register_secret
from connector.sandbox import SandboxCRM
from jobs import log_context
from jobs.demo.run import sandbox_env
from jobs.store import Store
from tests.conftest import write_sandbox_config

ENGAGE = str(Path(sys.executable).with_name("engage"))


def engage(
    crm: SandboxCRM, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENGAGE, *args],
        env={**os.environ, **sandbox_env(crm), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_line_of_a_full_run_is_json_with_its_run_and_no_secret(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    Store.open(sqlite_url).close()  # the schema in place: what follows is the run's own
    done = engage(sandbox, "-v", "--log-format", "json", "--config", str(config), "run")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # every line parses
    store = Store.open(sqlite_url)
    run_id = store.runs()[0].id
    store.close()
    # The store's schema check (alembic) comes before the run; every line from the run's start
    # on carries the run, the connection and the step it was logged in.
    first = next(i for i, r in enumerate(records) if r["run_id"] is not None)
    assert {r["logger"].split(".")[0] for r in records[:first]} <= {"alembic"}
    ours = records[first:]
    assert {r["run_id"] for r in ours} == {run_id}
    assert {r["connection"] for r in ours} == {"zoho:engage.toml"}
    assert {"sync", "score", "push"} <= {r["step"] for r in ours}
    assert all(r["time"] and r["level"] and r["message"] for r in ours)
    assert any("skipped engagements" in r["message"] and r["step"] == "sync" for r in ours)
    for secret in (sandbox.client_secret, sandbox.refresh_token, *sandbox._tokens):
        assert secret not in done.stderr and secret not in done.stdout


def test_the_environment_and_the_config_choose_the_format_and_text_lines_have_a_timestamp(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    by_env = engage(
        sandbox, "-v", "--config", str(config), "sync", env={"ENGAGE_LOG_FORMAT": "json"}
    )
    assert by_env.returncode == 0, by_env.stderr
    assert all(json.loads(line)["message"] for line in by_env.stderr.splitlines())
    text = engage(sandbox, "-v", "--config", str(config), "sync")
    store = Store.open(sqlite_url)
    run_id = store.runs()[0].id
    store.close()
    started = [line for line in text.stderr.splitlines() if "sync #" in line and "started" in line]
    # 2026-12-02T01:20:03Z INFO [run 2 zoho:engage.toml sync] jobs.runner: sync #2 started
    assert len(started) == 1
    stamp, _level, rest = started[0].split(" ", 2)
    assert stamp.endswith("Z") and stamp[4] == "-" and stamp[10] == "T"
    assert rest.startswith(f"[run {run_id} zoho:engage.toml sync] ")
    with config.open("a", encoding="utf-8") as file:
        file.write('[log]\nformat = "json"\n')
    by_config = engage(sandbox, "-v", "--config", str(config), "sync")
    assert by_config.returncode == 0, by_config.stderr
    assert any(json.loads(line)["step"] == "sync" for line in by_config.stderr.splitlines())
    bad = engage(sandbox, "--log-format", "xml", "--config", str(config), "status")
    assert bad.returncode == 2 and "xml" in bad.stderr and "Traceback" not in bad.stderr


def test_the_json_form_masks_secrets_in_the_message_the_traceback_and_every_field() -> None:
    secret = "s3cr3t-refresh-token-value"
    register_secret(secret)
    handler = logging.Handler()
    handler.addFilter(RedactingFilter())
    handler.addFilter(log_context.RunContextFilter())
    formatter = log_context.JsonFormatter()
    try:
        raise ValueError(f"token endpoint refused {secret}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "refresh %s failed", (secret,), sys.exc_info()
        )
    record.connection = f"zoho:{secret}"
    assert handler.filter(record)
    line = json.loads(formatter.format(record))
    assert secret not in json.dumps(line)
    # Other tests of the process register secrets of their own (the registry is process-wide),
    # and a word of this message may be one of them: what counts is that this secret is masked.
    assert line["message"].endswith("*** failed")
    assert "refused ***" in line["traceback"]
    assert line["connection"] == "zoho:***"
