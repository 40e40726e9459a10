"""The daemon's operator endpoint (issue 20 item 3): /metrics in the Prometheus text format,
read from a store filled by a real `engage run` against the sandbox, and /healthz."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import load_settings
from jobs.demo.run import sandbox_env, sandbox_settings
from jobs.ops.server import OpsServer
from jobs.ops.serving import start_ops_server
from jobs.runner import Connection, connect
from jobs.store import schema
from tests.conftest import POSTGRES_URL, FakeClock, write_sandbox_config


def get(server: OpsServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus_client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def ran(clock: FakeClock, store_url: str, tmp_path: Path) -> Iterator[tuple[SandboxCRM, str]]:
    """A sandbox and a store after one real `engage run` (counts of that run only)."""
    with SandboxCRM(deals=60, accounts=20, clock=clock) as crm:
        config = write_sandbox_config(crm, store_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
        assert result.exit_code == 0, result.output
        yield crm, store_url


@pytest.fixture
def connection(
    ran: tuple[SandboxCRM, str], clock: FakeClock, tmp_path: Path
) -> Iterator[Connection]:
    crm, store_url = ran
    conn = connect(sandbox_settings(crm, store_url, tmp_path / "engage.toml"), clock=clock)
    yield conn
    conn.close()


def test_metrics_parse_and_count_what_the_sandbox_served_and_charged(
    ran: tuple[SandboxCRM, str], connection: Connection
) -> None:
    crm, _ = ran
    # Every request the sandbox served (its token endpoint included: the run sends that too).
    served = list(crm.calls)
    assert ("token", "") in served
    charged = crm.credits_used
    server = start_ops_server(connection, lambda: True, address="127.0.0.1:0")
    assert server is not None
    try:
        status, text = get(server, "/metrics")
    finally:
        server.stop()
    assert status == 200
    got = samples(text)
    assert got[("engage_store_up", ())] == 1
    assert got[("engage_api_calls_total", (("crm", "zoho"),))] == len(served)
    assert got[("engage_api_credits_total", (("crm", "zoho"),))] == charged > 0
    assert got[("engage_runs_total", (("outcome", "ok"),))] == 1
    # The run read every deal and account of the sandbox and wrote the health of each deal.
    assert got[("engage_records_total", (("what", "read"),))] >= 60 + 20
    assert got[("engage_records_total", (("what", "written"),))] > 0
    levels = Counter(h.risk_level.value for h in connection.store.health().values())
    assert len(levels) >= 1
    for level, count in levels.items():
        assert got[("engage_engagements_by_risk", (("level", level),))] == count
    assert got[("engage_push_unpushed_records", ())] == 0
    assert got[("engage_push_lag_seconds", ())] == 0
    assert got[("engage_api_credits_left", (("by", "budget"), ("crm", "zoho")))] > 0
    assert ("engage_sla_breached_engagements", ()) in got


def test_healthz_is_ok_after_a_run_and_503_when_the_scheduler_stops(
    connection: Connection,
) -> None:
    alive = [True]
    server = start_ops_server(connection, lambda: alive[0], address="127.0.0.1:0")
    assert server is not None
    try:
        status, text = get(server, "/healthz")
        assert status == 200, text
        body = json.loads(text)
        assert body["store"] == "reachable" and body["last_run_status"] == "ok"
        assert body["last_run_age_seconds"] == 0  # the fake clock has not moved since
        alive[0] = False
        status, text = get(server, "/healthz")
        assert (status, json.loads(text)["scheduler"]) == (503, "stopped")
        assert get(server, "/nothing")[0] == 404
    finally:
        server.stop()


def test_healthz_turns_unhealthy_when_the_store_s_schema_is_dropped(
    clock: FakeClock, tmp_path: Path
) -> None:
    schema = "engage_ops_dropped"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        with SandboxCRM(deals=10, accounts=5, clock=clock) as crm:
            config = write_sandbox_config(crm, url, tmp_path)
            result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
            assert result.exit_code == 0, result.output
            conn = connect(sandbox_settings(crm, url, config), clock=clock)
            server = start_ops_server(conn, lambda: True, address="127.0.0.1:0")
            assert server is not None
            try:
                assert get(server, "/healthz")[0] == 200
                with admin.begin() as c:
                    c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                status, text = get(server, "/healthz")
                assert status == 503
                assert json.loads(text)["store"].startswith("unreachable")
                status, text = get(server, "/metrics")
                assert status == 200
                assert samples(text)[("engage_store_up", ())] == 0
            finally:
                server.stop()
                conn.close()
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_a_run_long_overdue_makes_the_daemon_unhealthy(
    connection: Connection, clock: FakeClock
) -> None:
    server = start_ops_server(connection, lambda: True, address="127.0.0.1:0")
    assert server is not None
    try:
        clock.advance(minutes=3 * 15 + 1)  # three intervals of the default schedule, and more
        status, text = get(server, "/healthz")
    finally:
        server.stop()
    assert status == 503 and json.loads(text)["last_run"] == "stale"


def test_an_address_in_use_is_one_warning_and_the_daemon_runs_on(
    connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    first = start_ops_server(connection, lambda: True, address="127.0.0.1:0")
    assert first is not None
    try:
        second = start_ops_server(connection, lambda: True, address=f"127.0.0.1:{first.port}")
    finally:
        first.stop()
    assert second is None
    expected = (
        f"no /healthz or /metrics: cannot listen on 127.0.0.1:{first.port} (Address already in "
        'use); set [daemon] metrics_address in the config to a free host:port, or to "" to '
        "turn the endpoint off"
    )
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [expected]


def test_push_lag_is_the_age_of_the_oldest_health_change_not_yet_pushed(
    connection: Connection, clock: FakeClock
) -> None:
    health = schema.engagement_health
    changed_at = clock()
    first, second = sorted(connection.store.health())[:2]
    # Scoring changed two engagements (ten minutes apart) after the last push.
    for engagement_id in (first, second):
        with connection.store.engine.begin() as conn:
            conn.execute(
                health.update()
                .where(health.c.engagement_id == engagement_id)
                .values(risk_score=health.c.risk_score + 1, updated_at=clock())
            )
        clock.advance(minutes=10)
    server = start_ops_server(connection, lambda: True, address="127.0.0.1:0")
    assert server is not None
    try:
        got = samples(get(server, "/metrics")[1])
    finally:
        server.stop()
    assert got[("engage_push_unpushed_records", ())] == 2
    assert got[("engage_push_lag_seconds", ())] == (clock() - changed_at).total_seconds() == 1200


def test_healthz_turns_unhealthy_when_the_sqlite_file_is_removed(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=10, accounts=5, clock=clock) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
        assert result.exit_code == 0, result.output
        conn = connect(sandbox_settings(crm, sqlite_url, config), clock=clock)
    server = start_ops_server(conn, lambda: True, address="127.0.0.1:0")
    assert server is not None
    try:
        assert get(server, "/healthz")[0] == 200
        # Moved away under the running daemon (a botched restore): its pooled connections
        # would still answer from the unlinked file.
        (tmp_path / "engage.db").rename(tmp_path / "moved.db")
        status, text = get(server, "/healthz")
    finally:
        server.stop()
        conn.close()
    assert status == 503
    assert json.loads(text)["store"] == "unreachable: FileNotFoundError"


#: Three SLA tiers: one in the Philippines, one in the Philippines whose calendar lists a day of
#: 2101 (the tier's own list stands in for the package's data), one without a region.
TIERS = """
[sla.tiers.Manila]
calendar = { timezone = "Asia/Manila", region = "PH" }
goals = { first_response_minutes = { P1 = 60 }, resolution_minutes = { P1 = 480 } }
[sla.tiers.Listed]
calendar = { timezone = "Asia/Manila", region = "PH", holidays = [2101-01-01] }
goals = { first_response_minutes = { P1 = 60 }, resolution_minutes = { P1 = 480 } }
[sla.tiers.Weekdays]
calendar = { timezone = "UTC" }
goals = { first_response_minutes = { P1 = 60 }, resolution_minutes = { P1 = 480 } }
"""


def calendar_samples(text: str) -> dict[tuple[str, str, str], tuple[float, float]]:
    got = samples(text)
    return {
        (dict(labels)["tier"], dict(labels)["region"], dict(labels)["year"]): (
            value,
            got[("engage_calendar_data_partial", labels)],
        )
        for (name, labels), value in got.items()
        if name == "engage_calendar_data_missing"
    }


def scrape_with_tiers(
    tiers: str, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> tuple[int, dict[str, Any], str]:
    """/healthz (status, body) and /metrics of a daemon whose config adds ``tiers``, at the
    clock's time."""
    with SandboxCRM(deals=5, accounts=2, clock=clock) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        with config.open("a", encoding="utf-8") as file:
            file.write(tiers)
        conn = connect(load_settings(config, env=sandbox_env(crm)), clock=clock)
        server = start_ops_server(conn, lambda: True, address="127.0.0.1:0")
        assert server is not None
        try:
            status, text = get(server, "/healthz")
            metrics = get(server, "/metrics")[1]
        finally:
            server.stop()
            conn.close()
    return status, json.loads(text), metrics


def test_a_tier_whose_region_s_holiday_data_ends_next_year_degrades_health_and_metrics(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    """The `holidays` package's tables end with 2100: on 23 Nov 2100 the Philippine calendar
    has this year's data and none for 2101, which an SLA window opened in December reaches."""
    clock.now = datetime(2100, 11, 23, 9, 0, tzinfo=UTC)
    status, body, metrics = scrape_with_tiers(TIERS, clock, sqlite_url, tmp_path)
    assert status == 200, body  # degraded, not unhealthy: a restart cannot fix the data
    assert (body["status"], body["calendar"]) == ("degraded", "missing")
    assert [(g["tier"], g["region"], g["year"], g["data"]) for g in body["calendar_gaps"]] == [
        ("Manila", "PH", 2101, "missing")
    ]
    assert "region PH has no holiday data for 2101" in body["calendar_gaps"][0]["note"]
    # (missing, partial) per tier with a region and year; the tier without one has no data
    # to run out.
    assert calendar_samples(metrics) == {
        ("Listed", "PH", "2100"): (0, 0),
        ("Listed", "PH", "2101"): (0, 0),
        ("Manila", "PH", "2100"): (0, 0),
        ("Manila", "PH", "2101"): (1, 0),
    }


def test_china_beyond_the_state_council_notices_is_partial_and_health_stays_ok(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    """On 23 Nov 2026 (the test clock) `chinese_calendar` holds 2026, not 2027; the `holidays`
    package has 2027's statutory holidays but no make-up working days."""
    shanghai = (
        '[sla.tiers.Shanghai]\ncalendar = { timezone = "Asia/Shanghai", region = "CN" }\n'
        "goals = { first_response_minutes = { P1 = 60 }, resolution_minutes = { P1 = 480 } }\n"
    )
    status, body, metrics = scrape_with_tiers(shanghai, clock, sqlite_url, tmp_path)
    assert (status, body["status"], body["calendar"]) == (200, "ok", "partial")
    assert [(g["tier"], g["year"], g["data"]) for g in body["calendar_gaps"]] == [
        ("Shanghai", 2027, "partial")
    ]
    assert calendar_samples(metrics) == {
        ("Shanghai", "CN", "2026"): (0, 0),
        ("Shanghai", "CN", "2027"): (0, 1),
    }


def test_the_default_tiers_follow_their_weekdays_and_need_no_holiday_data(
    connection: Connection,
) -> None:
    server = start_ops_server(connection, lambda: True, address="127.0.0.1:0")
    assert server is not None
    try:
        body = json.loads(get(server, "/healthz")[1])
        metrics = get(server, "/metrics")[1]
    finally:
        server.stop()
    assert (body["status"], body["calendar"], body["calendar_gaps"]) == ("ok", "complete", [])
    assert calendar_samples(metrics) == {}
