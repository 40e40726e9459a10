"""Importing delivery facts from CSV and JSON: good rows load, bad rows are named by row and field."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.facts_import import ImportFileError, RowError, import_file
from jobs.store import Store
from mappings.domain import Engagement, EngagementStatus, TicketPriority
from tests.conftest import write_sandbox_config

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TICKET_COLUMNS = [
    "external_id",
    "engagement_id",
    "priority",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "waiting_on_client",
]


def engagement(crm_id: str) -> Engagement:
    return Engagement(
        crm_id=crm_id,
        name=f"Engagement {crm_id}",
        account_id="A1",
        stage="Closed Won",
        status=EngagementStatus.ACTIVE,
    )


def ticket_row(i: int) -> dict[str, str]:
    opened = datetime(2026, 10, 1, 9, 0, tzinfo=UTC) + timedelta(hours=7 * i)
    wait_start = opened + timedelta(hours=1)
    return {
        "external_id": f"JIRA-{i:03d}",
        "engagement_id": f"D{i % 3 + 1}",
        "priority": f"P{i % 4 + 1}",
        "opened_at": opened.astimezone().isoformat(),
        "first_response_at": (opened + timedelta(minutes=30)).isoformat(),
        "resolved_at": (opened + timedelta(hours=20)).isoformat() if i % 5 else "",
        "waiting_on_client": (
            f"{wait_start.isoformat()}/{(wait_start + timedelta(hours=2)).isoformat()}"
            if i % 2
            else ""
        ),
    }


def write_csv(path: Path, rows: list[dict[str, str]], *, bom: bool = True) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def ticket_file(tmp_path: Path) -> tuple[Path, list[RowError]]:
    """100 tickets, three of them bad; the errors expected for them."""
    rows = [ticket_row(i) for i in range(100)]
    # The header is row 1, so the data row at index i is row i + 2.
    before_opened, unknown_priority, naive = 17, 42, 88
    opened = datetime.fromisoformat(rows[before_opened]["opened_at"])
    rows[before_opened]["resolved_at"] = (opened - timedelta(hours=1)).isoformat()
    rows[unknown_priority]["priority"] = "P9"
    rows[naive]["opened_at"] = "2026-10-20T09:00:00"
    expected = [
        RowError(before_opened + 2, "resolved_at", ""),
        RowError(unknown_priority + 2, "priority", ""),
        RowError(naive + 2, "opened_at", ""),
    ]
    return write_csv(tmp_path / "tickets.csv", rows), expected


def test_csv_tickets_load_good_rows_and_name_the_bad_ones(
    store: Store, ticket_file: tuple[Path, list[RowError]]
) -> None:
    path, expected = ticket_file
    store.save_engagements([engagement("D1"), engagement("D2"), engagement("D3")], NOW)
    report = import_file(store, "tickets", path, at=NOW)

    assert (report.total, report.loaded, report.changed, report.failed) == (100, 97, 97, 3)
    assert [(e.row, e.field) for e in report.errors] == [(e.row, e.field) for e in expected]
    before_opened, unknown_priority, naive = report.errors
    assert "resolved_at" in before_opened.message and "opened_at" in before_opened.message
    assert "'P9'" in unknown_priority.message and "'P1'" in unknown_priority.message
    assert "needs a time zone offset" in naive.message
    assert report.warnings == []

    tickets = store.tickets()
    assert sum(len(v) for v in tickets.values()) == 97
    first = next(t for t in tickets["D2"] if t.external_id == "JIRA-001")
    assert first.priority is TicketPriority.P2
    assert len(first.waiting_on_client) == 1
    assert first.opened_at == datetime.fromisoformat(ticket_row(1)["opened_at"])
    assert not any(t.external_id == "JIRA-017" for t in tickets["D3"])

    again = import_file(store, "tickets", path, at=NOW + timedelta(days=1))
    assert (again.loaded, again.changed, again.failed) == (97, 0, 3)
    assert sum(len(v) for v in store.tickets().values()) == 97


def test_rows_for_engagements_not_synced_load_with_a_warning(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [ticket_row(i) for i in range(6)], bom=False)
    store.save_engagements([engagement("D1")], NOW)
    report = import_file(store, "tickets", path, at=NOW)
    assert (report.loaded, report.changed, report.errors) == (6, 6, [])
    assert [(w.row, w.field) for w in report.warnings] == [
        (3, "engagement_id"),
        (4, "engagement_id"),
        (6, "engagement_id"),
        (7, "engagement_id"),
    ]
    assert "D2" in report.warnings[0].message


def test_csv_conventions(store: Store, tmp_path: Path) -> None:
    """Empty cells are missing values, blank lines count as rows, repeated ids are refused."""
    path = tmp_path / "costs.csv"
    path.write_text(
        "external_id, engagement_id ,spent_on,amount,category\n"
        "C1,D1,2026-02-01,800.25,\n"
        "\n"
        "C2,D1,2026-02-02,,travel\n"
        "C1,D1,2026-02-03,10,travel\n"
        "C3,D1,2026-02-03,10.125,travel\n"
        "C4,D1,2026-02-04,12,travel,extra\n",
        encoding="utf-8",
    )
    report = import_file(store, "costs", path, at=NOW)
    assert [(e.row, e.field) for e in report.errors] == [
        (4, "amount"),
        (5, "external_id"),
        (6, "amount"),
        (7, ""),
    ]
    assert report.errors[0].message == "required, but missing"
    assert "row 2" in report.errors[1].message
    assert "decimal places" in report.errors[2].message
    assert "column 6" in report.errors[3].message
    (cost,) = store.cost_entries()["D1"]
    assert (cost.amount, cost.category) == (Decimal("800.25"), "labour")


def test_json_milestones(store: Store, tmp_path: Path) -> None:
    rows = [
        {
            "external_id": "M1",
            "engagement_id": "D1",
            "name": "上线验收",
            "planned_date": "2026-03-01",
            "planned_value": 25000.5,
            "percent_complete": 100,
            "delivered_date": "2026-03-02",
            "accepted_date": None,
            "rejected_count": 1,
        },
        {
            "external_id": 2,
            "engagement_id": "D1",
            "name": "Go-live",
            "planned_date": "2026-06-01",
            "planned_value": "40000",
        },
        {"external_id": "M3", "engagement_id": "D1", "name": "x", "planned_date": "2026-13-01"},
        ["not", "an", "object"],
    ]
    path = tmp_path / "milestones.json"
    path.write_text(json.dumps({"rows": rows}, ensure_ascii=False), encoding="utf-8")
    report = import_file(store, "milestones", path, at=NOW)
    assert (report.total, report.loaded, report.changed) == (4, 2, 2)
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "planned_date"),
        (3, "planned_value"),
        (4, ""),
    ]
    assert report.failed == 2
    m1, m2 = store.milestones()["D1"]
    assert (m1.name, m1.planned_value, m1.delivered_date) == (
        "上线验收",
        Decimal("25000.50"),
        date(2026, 3, 2),
    )
    assert (m2.external_id, m2.percent_complete) == ("2", 0)

    # A plain list works too, and the same facts change nothing.
    path.write_text(json.dumps(rows[:2], ensure_ascii=False), encoding="utf-8")
    again = import_file(store, "milestones", path, at=NOW)
    assert (again.loaded, again.changed, again.errors) == (2, 0, [])


def test_json_waiting_intervals_are_pairs(store: Store, tmp_path: Path) -> None:
    base = {"engagement_id": "D1", "priority": "P1", "opened_at": "2026-11-02T09:00:00+08:00"}
    rows = [
        {
            **base,
            "external_id": "T1",
            "waiting_on_client": [["2026-11-02T10:00:00+08:00", "2026-11-02T12:00:00+08:00"]],
        },
        {**base, "external_id": "T2", "waiting_on_client": [["2026-11-02T10:00:00+08:00"]]},
        {
            **base,
            "external_id": "T3",
            "waiting_on_client": [["2026-11-02T12:00:00+08:00", "2026-11-02T10:00:00+08:00"]],
        },
        {**base, "external_id": "T4", "first_response_at": "2026-11-02T10:00:00"},
    ]
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    report = import_file(store, "tickets", path, at=NOW)
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "waiting_on_client"),
        (3, "waiting_on_client"),
        (4, "first_response_at"),
    ]
    assert "needs a time zone offset" in report.errors[2].message
    (t1,) = store.tickets()["D1"]
    assert t1.waiting_on_client[0][1] - t1.waiting_on_client[0][0] == timedelta(hours=2)


def test_unknown_columns_stop_the_whole_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "external_id,engagement_id,priority,opened_at,severity,assignee\n"
        "T1,D1,P1,2026-11-02T09:00:00+08:00,high,li\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as caught:
        import_file(store, "tickets", path, at=NOW)
    message = str(caught.value)
    assert message.startswith("unknown column(s): assignee, severity; the columns are ")
    assert "waiting_on_client (optional)" in message
    assert store.tickets() == {}


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        pytest.param("t.xlsx", b"PK", "name the file .csv or .json", id="extension"),
        pytest.param("t.csv", b"", "the file is empty", id="empty"),
        pytest.param("t.csv", b"external_id\nT1\n", "required column(s) missing", id="cols"),
        pytest.param("t.csv", b"external_id\n\xff\xfe\n", "not UTF-8", id="encoding"),
        pytest.param("t.json", b"[{", "not valid JSON", id="json"),
        pytest.param("t.json", b'{"tickets": []}', "expected a list of objects", id="shape"),
    ],
)
def test_file_level_errors(
    store: Store, tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=says.replace("(", r"\(").replace(")", r"\)")):
        import_file(store, "tickets", path, at=NOW)


def test_cli_import(
    sandbox: SandboxCRM,
    sqlite_url: str,
    tmp_path: Path,
    ticket_file: tuple[Path, list[RowError]],
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    path, expected = ticket_file
    runner = CliRunner(env={"COLUMNS": "200"})

    result = runner.invoke(main, ["--config", str(config), "import", "tickets", str(path)])
    assert result.exit_code == 1, result.output
    assert "100 tickets row(s), 97 loaded (97 new or changed), 3 failed" in result.output
    table_lines = [line for line in result.output.splitlines() if "│" in line]
    for error in expected:
        assert any(f" {error.row} " in line and error.field in line for line in table_lines)
    assert "needs a time zone offset" in result.output
    assert "not in the store" in result.output  # no engagement synced yet

    again = runner.invoke(main, ["--config", str(config), "import", "tickets", str(path)])
    assert again.exit_code == 1
    assert "97 loaded (0 new or changed), 3 failed" in again.output

    good = write_csv(tmp_path / "good.csv", [ticket_row(i) for i in range(3)])
    ok = runner.invoke(main, ["--config", str(config), "import", "tickets", str(good)])
    assert ok.exit_code == 0, ok.output

    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,colour\nT1,red\n", encoding="utf-8")
    failed = runner.invoke(main, ["--config", str(config), "import", "tickets", str(bad)])
    assert failed.exit_code == 2
    lines = failed.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: unknown column(s): colour")

    missing = runner.invoke(
        main, ["--config", str(config), "import", "tickets", str(tmp_path / "nope.csv")]
    )
    assert missing.exit_code == 2
    assert missing.output.strip() == f"error: {tmp_path / 'nope.csv'}: no such file"

    wrong_kind = runner.invoke(main, ["--config", str(config), "import", "surveys", str(good)])
    assert wrong_kind.exit_code == 2

    assert sandbox.calls == []  # the import needs no CRM
