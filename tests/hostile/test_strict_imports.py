"""File imports are strict and complete: a file that cannot be read whole loads nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jobs import facts_import
from jobs.cli import main
from jobs.store import Store

HEADER = "external_id,engagement_id,priority,opened_at\n"


def _row(external_id: str) -> str:
    return f"{external_id},D1,P2,2026-11-02T09:30:00+08:00\n"


def _config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    return path


def _import(tmp_path: Path, store_url: str, file: Path, *options: str) -> Result:
    config = _config(tmp_path, store_url)
    return CliRunner().invoke(
        main, ["--config", str(config), "import", "tickets", str(file), *options]
    )


def _stored(store_url: str) -> list[str]:
    store = Store.open(store_url)
    try:
        return sorted(t.external_id for ts in store.tickets().values() for t in ts)
    finally:
        store.close()


def _one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_an_unclosed_quote_on_line_3_refuses_the_file_and_loads_nothing(
    tmp_path: Path, store_url: str
) -> None:
    path = tmp_path / "tickets.csv"
    # 5 rows: the quote opened on line 3 swallowed lines 3 to 6 into one cell.
    text = HEADER + _row("T1") + 'T2,D1,"P2,2026-11-02T09:30:00+08:00\n'
    path.write_text(text + _row("T3") + _row("T4") + _row("T5"), encoding="utf-8")
    result = _import(tmp_path, store_url, path)
    assert result.exit_code == 2
    assert "line 3: a quoted cell starts in this row and is never closed" in _one_line(result)
    assert _stored(store_url) == []


def test_a_stray_quote_inside_a_cell_is_refused_with_its_line(
    tmp_path: Path, store_url: str
) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(HEADER + _row("T1") + _row('"T2"x'), encoding="utf-8")
    result = _import(tmp_path, store_url, path)
    assert result.exit_code == 2
    assert "line 3: a quote" in _one_line(result)


def test_a_problem_at_the_end_rolls_back_every_batch_stored_before(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts_import, "BATCH_ROWS", 2)  # 3 batches stored before line 8
    path = tmp_path / "tickets.csv"
    good = "".join(_row(f"T{i}") for i in range(6))
    path.write_bytes((HEADER + good + _row("工单")).encode("gbk"))
    result = _import(tmp_path, sqlite_url, path)
    assert result.exit_code == 2
    assert _one_line(result).endswith(
        "not UTF-8 text (line 8); save it as UTF-8 (e.g. Excel's 'CSV UTF-8'), or name its "
        "encoding, e.g. --encoding gbk"
    )
    assert _stored(sqlite_url) == []


def test_a_gbk_file_loads_when_its_encoding_is_named(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes((HEADER + _row("工单-1")).encode("gbk"))
    assert _import(tmp_path, sqlite_url, path, "--encoding", "gbk").exit_code == 0
    assert _stored(sqlite_url) == ["工单-1"]
    unknown = _import(tmp_path, sqlite_url, path, "--encoding", "klingon")
    assert unknown.exit_code == 2
    assert "unknown encoding 'klingon'" in _one_line(unknown)


def test_a_utf16_file_with_its_bom_loads_and_one_without_is_refused(
    tmp_path: Path, sqlite_url: str
) -> None:
    with_bom = tmp_path / "with_bom.csv"
    with_bom.write_bytes((HEADER + _row("工单-2")).encode("utf-16"))  # BOM first (Excel)
    assert _import(tmp_path, sqlite_url, with_bom).exit_code == 0
    assert _stored(sqlite_url) == ["工单-2"]
    bare = tmp_path / "bare.csv"
    bare.write_bytes((HEADER + _row("工单-3")).encode("utf-16-le"))
    refused = _import(tmp_path, sqlite_url, bare)
    assert refused.exit_code == 2
    assert "looks like UTF-16 without a byte order mark" in _one_line(refused)
    assert _import(tmp_path, sqlite_url, bare, "--encoding", "utf-16-le").exit_code == 0
    assert _stored(sqlite_url) == ["工单-2", "工单-3"]


def test_json_nested_100000_deep_is_refused_in_one_line(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "tickets.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = _import(tmp_path, sqlite_url, path)
    assert result.exit_code == 2
    assert "nested too deeply" in _one_line(result)


def test_a_ticket_dated_year_1_is_a_bad_row_and_the_others_load(
    tmp_path: Path, store_url: str
) -> None:
    path = tmp_path / "tickets.csv"
    year_1 = "T2,D1,P2,0001-01-01T00:00:00+08:00\n"
    path.write_text(HEADER + _row("T1") + year_1 + _row("T3"), encoding="utf-8")
    result = _import(tmp_path, store_url, path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "year 1 is out of range; dates are between 1900 and 2999" in result.stdout
    assert _stored(store_url) == ["T1", "T3"]


def test_a_nul_in_an_imported_row_is_removed_and_the_row_loads(
    tmp_path: Path, store_url: str
) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(HEADER + _row("T\x001") + _row("T2"), encoding="utf-8")
    result = _import(tmp_path, store_url, path)
    assert result.exit_code == 0, result.output
    assert _stored(store_url) == ["T1", "T2"]
