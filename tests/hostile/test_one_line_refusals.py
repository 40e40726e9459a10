"""Every refusal of issue 18 item 11: one line on stderr, the documented exit code, no
traceback (docs/reliability.md "Exit codes"). The survey page's non-ASCII CSRF field is
tested with the survey app (tests/surveys); two commands on a fresh store in
test_fresh_store_race.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main

CRM = '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'


def _config(text: str, encoding: str = "utf-8", bom: bytes = b"") -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "engage.toml"
        path.write_bytes(bom + text.encode(encoding))
        return path

    return write


def _store(url: str) -> Callable[[Path], Path]:
    return _config(CRM + f'[store]\nurl = "{url}"\n')


def _with_file(name: str, content: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        (folder / name).write_text(content, encoding="utf-8")
        return _store(f"sqlite:///{folder / 'engage.db'}")(folder)

    return write


GBK_COMMENT = CRM + '# 客户成功部的连接\n[store]\nurl = "sqlite:///engage.db"\n'


@pytest.mark.parametrize(
    ("config", "args", "code", "says"),
    [
        pytest.param(
            _config(GBK_COMMENT, "gbk"),
            ["status"],
            2,
            "engage.toml: not UTF-8 text (line 5); TOML files are UTF-8, save it so",
            id="config-in-gbk",
        ),
        pytest.param(
            _config(GBK_COMMENT, "utf-16"),
            ["status"],
            2,
            "engage.toml: saved as UTF-16; TOML files are UTF-8, save it so",
            id="config-in-utf16",
        ),
        pytest.param(
            _store("sqlite:///no/such/folder/engage.db"),
            ["status"],
            2,
            "engage.toml: store.url: the folder ",
            id="store-in-a-missing-folder",
        ),
        pytest.param(
            _store("::a garbage url::"),
            ["status"],
            2,
            "engage.toml: store.url: not a database URL; write e.g. sqlite:///engage.db",
            id="garbage-store-url",
        ),
        pytest.param(
            _store("mysql://engage@127.0.0.1/engage"),
            ["status"],
            2,
            "engage.toml: store.url: the store supports sqlite and postgresql, not mysql",
            id="unsupported-database",
        ),
        pytest.param(
            _store("postgresql+psycopg://postgres@127.0.0.1:1/test"),
            ["status"],
            75,
            "cannot open the store postgresql+psycopg://postgres@127.0.0.1:1/test: ",
            id="database-down",
        ),
        pytest.param(
            _with_file("deep.json", "[" * 100_000 + "]" * 100_000),
            ["import", "tickets", "{folder}/deep.json"],
            2,
            "deep.json: the JSON is nested too deeply to read",
            id="json-nested-100000-deep",
        ),
    ],
)
def test_a_refusal_is_one_line_with_its_exit_code(
    tmp_path: Path,
    config: Callable[[Path], Path],
    args: list[str],
    code: int,
    says: str,
) -> None:
    path = config(tmp_path)
    args = [a.replace("{folder}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["--config", str(path), *args])
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_a_ticket_dated_year_1_is_one_row_of_the_report_not_a_crash(tmp_path: Path) -> None:
    path = _with_file(
        "tickets.csv",
        "external_id,engagement_id,priority,opened_at\nT1,D1,P1,0001-01-01T00:00:00+08:00\n",
    )(tmp_path)
    result = CliRunner().invoke(
        main, ["--config", str(path), "import", "tickets", str(tmp_path / "tickets.csv")]
    )
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1  # some rows not loaded (docs/import.md)
    assert "year 1 is out of range" in result.stdout and result.stderr == ""


def test_a_config_file_with_a_utf8_bom_is_simply_read(tmp_path: Path) -> None:
    # Windows Notepad saves UTF-8 with a byte order mark; it used to be "Invalid statement".
    path = _config(CRM + '[store]\nurl = "sqlite:///engage.db"\n', bom=b"\xef\xbb\xbf")(tmp_path)
    # `status` only reads: the store is created first, explicitly.
    assert CliRunner().invoke(main, ["--config", str(path), "db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(main, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    assert "last runs" in result.stdout
