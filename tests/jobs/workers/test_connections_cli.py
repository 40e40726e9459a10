"""`engage connections add|list|show|pause|resume|remove`, and `engage worker` refusing SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.store import Store
from jobs.store.connections import ConnectionTables
from jobs.workers.connections import settings_of
from mappings.tomlfile import ConfigFileError
from tests.jobs.workers.conftest import zoho_config, zoho_env

pytestmark = pytest.mark.postgres


def engage(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    return result.exit_code, result.output


def test_a_connection_is_added_listed_shown_paused_resumed_and_removed(
    sandbox: SandboxCRM, pg_schema: Callable[[], str], tmp_path: Path
) -> None:
    cluster, own = pg_schema(), pg_schema()
    config = zoho_config(tmp_path / "acme.toml", sandbox, own, 'org = "acme-org"\n')
    code, out = engage("connections", "add", "acme", "--config", str(config), "--cluster", cluster)
    assert code == 0, out
    assert "connection acme added (org acme-org)" in out
    assert "ENGAGE_ACME_ZOHO_CLIENT_SECRET" in out
    code, out = engage("connections", "list", "--cluster", cluster)
    assert code == 0 and "acme\tzoho\torg acme-org\tevery 3 s\tidle" in out
    code, out = engage("connections", "pause", "acme", "--cluster", cluster)
    assert code == 0 and "paused" in out
    code, out = engage("connections", "list", "--json", "--cluster", cluster)
    assert [c["paused"] for c in json.loads(out)] == [True]
    engage("connections", "resume", "acme", "--cluster", cluster)
    code, out = engage("connections", "show", "acme", "--cluster", cluster)
    assert code == 0 and '"paused": false' in out and sandbox.url in out
    # Adding it again replaces its definition: still one row.
    code, out = engage("connections", "add", "acme", "--config", str(config), "--cluster", cluster)
    assert code == 0 and "connection acme updated" in out
    code, out = engage("connections", "remove", "acme", "--cluster", cluster)
    assert code == 0
    code, out = engage("connections", "list", "--cluster", cluster)
    assert code == 0 and out == ""
    code, out = engage("connections", "remove", "acme", "--cluster", cluster)
    assert code == 2 and "no connection 'acme'" in out


def test_the_row_names_the_secrets_variables_and_never_holds_a_secret(
    sandbox: SandboxCRM, pg_schema: Callable[[], str], tmp_path: Path
) -> None:
    cluster, own = pg_schema(), pg_schema()
    config = zoho_config(tmp_path / "acme.toml", sandbox, own)
    code, out = engage(
        "connections",
        "add",
        "acme",
        "--config",
        str(config),
        "--secret-env",
        "refresh_token=VAULT_ACME_REFRESH",
        "--cluster",
        cluster,
    )
    assert code == 0, out
    store = Store.open(cluster)
    row = ConnectionTables(store.engine).get("acme")
    assert dict(row.secret_env) == {
        "client_id": "ENGAGE_ACME_ZOHO_CLIENT_ID",
        "client_secret": "ENGAGE_ACME_ZOHO_CLIENT_SECRET",
        "refresh_token": "VAULT_ACME_REFRESH",
    }
    stored = json.dumps([str(v) for v in row.__dict__.values()])
    assert sandbox.client_secret not in stored and sandbox.refresh_token not in stored
    # A worker without the variable is told which one, by name.
    with pytest.raises(ConfigFileError, match="set the environment variable VAULT_ACME_REFRESH"):
        settings_of(row, env=zoho_env("acme", sandbox))
    env = zoho_env("acme", sandbox) | {"VAULT_ACME_REFRESH": sandbox.refresh_token}
    settings = settings_of(row, env=env)
    assert settings.secret("refresh_token").get_secret_value() == sandbox.refresh_token
    assert settings.store_url == own
    store.close()


def test_bad_definitions_are_refused_in_one_line(
    sandbox: SandboxCRM, pg_schema: Callable[[], str], tmp_path: Path
) -> None:
    cluster = pg_schema()
    sqlite_store = zoho_config(tmp_path / "a.toml", sandbox, f"sqlite:///{tmp_path / 'a.db'}")
    code, out = engage(
        "connections", "add", "a", "--config", str(sqlite_store), "--cluster", cluster
    )
    assert code == 2
    assert "store.url must be a PostgreSQL URL" in out and "a.toml" in out
    good = zoho_config(tmp_path / "b.toml", sandbox, pg_schema())
    code, out = engage(
        "connections", "add", "Bad Name", "--config", str(good), "--cluster", cluster
    )
    assert code == 2 and "is not a connection name" in out
    code, out = engage(
        "connections", "add", "b", "--config", str(good), "--secret-env", "api_key=X",
        "--cluster", cluster,
    )  # fmt: skip
    assert code == 2 and "a zoho connection has no such secret" in out
    code, out = engage(
        "connections", "add", "b", "--config", str(good), "--secret-env", "client_id",
        "--cluster", cluster,
    )  # fmt: skip
    assert code == 2 and "write SECRET=VARIABLE" in out
    bad = tmp_path / "c.toml"
    bad.write_text(good.read_text(encoding="utf-8") + "run_every_secs = 3\n", encoding="utf-8")
    code, out = engage("connections", "add", "c", "--config", str(bad), "--cluster", cluster)
    assert code == 2 and "c.toml" in out and "cluster.run_every_secs" in out


def test_the_worker_on_an_sqlite_store_says_postgresql_is_needed_and_exits_2(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = zoho_config(tmp_path / "engage.toml", sandbox, sqlite_url)
    for command in (["worker"], ["cluster", "init"], ["connections", "list"]):
        code, out = engage("--config", str(config), *command)
        assert code == 2, command
        expected = (
            "error: workers need a PostgreSQL store, not sqlite (keep `engage daemon` for one "
            "machine, or point [store] url or --cluster at PostgreSQL)"
        )
        assert out.strip().splitlines() == [expected]


def test_a_worker_before_cluster_init_says_to_run_it(pg_schema: Callable[[], str]) -> None:
    code, out = engage("worker", "--cluster", pg_schema())
    assert code == 2
    assert "run `engage cluster init` first" in out


def test_cluster_init_then_status_shows_jobs_orgs_and_connections(
    sandbox: SandboxCRM, pg_schema: Callable[[], str], tmp_path: Path
) -> None:
    cluster = pg_schema()
    config = zoho_config(tmp_path / "acme.toml", sandbox, pg_schema(), "org_credit_budget = 500\n")
    code, out = engage("cluster", "status", "--cluster", cluster)
    assert code == 2 and "run `engage cluster init` first" in out
    assert engage("cluster", "init", "--cluster", cluster) == (
        0,
        "cluster ready: job tables created; add connections, then start workers\n",
    )
    code, out = engage("cluster", "init", "--cluster", cluster)
    assert code == 0 and "already there" in out
    assert (
        engage("connections", "add", "acme", "--config", str(config), "--cluster", cluster)[0] == 0
    )
    code, out = engage("cluster", "status", "--json", "--cluster", cluster)
    assert code == 0, out
    status = json.loads(out)
    assert status["jobs"] == {} and status["stalled"] == []
    assert [
        (o["org"], o["budget"], o["used"], o["concurrency"], o["slots_in_use"])
        for o in status["orgs"]
    ] == [("acme", 500, 0, 2, 0)]
    assert [c["name"] for c in status["connections"]] == ["acme"]
    code, out = engage("cluster", "status", "--cluster", cluster)
    assert code == 0
    assert "org acme: 0 of 500 credits reserved this window, 0 of 2 slots in use" in out


def test_a_worker_timing_that_is_not_a_number_is_refused_in_one_line(
    pg_schema: Callable[[], str],
) -> None:
    code, out = engage(
        "worker", "--cluster", pg_schema(), env={"ENGAGE_WORKER_STALE_SECONDS": "soon"}
    )
    assert code == 2
    assert out.strip().splitlines() == [
        "error: environment variable ENGAGE_WORKER_STALE_SECONDS: 'soon' is not a number"
    ]
