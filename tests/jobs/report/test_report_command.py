"""`engage report` filters and bad input; `engage report link`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner

from jobs.cli import main
from jobs.config import HealthSection
from jobs.report import links
from jobs.score import score
from jobs.store import Store
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, engagement


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str, clock: FakeClock) -> Path:
    store = Store.open(sqlite_url)
    store.save_engagements(
        [
            engagement("D1", owner_id="U1", owner_name="Li Na"),
            engagement("D2", owner_id="U1", owner_name="Li Na", end_date=None),
            engagement("D3", owner_id="U2", owner_name="Sofia Martins", account_id="A2"),
        ],
        clock(),
    )
    score(store, HealthSection(), clock=clock)
    store.close()
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{sqlite_url}"\n[surveys]\nbase_url = "https://r.example.com"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("filters", "count"),
    [([], 3), (["--owner", "Li Na"], 2), (["--owner", "U2"], 1), (["--account", "A2"], 1)],
)
def test_the_report_covers_the_engagements_asked_for(
    config: Path, tmp_path: Path, filters: list[str], count: int
) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        main, ["--config", str(config), "report", *filters, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"report of {count} engagements written to {out}" in result.output
    noun = "engagement" if count == 1 else "engagements"
    assert f"{count} {noun} scored, as of Nov 23, 2026" in out.read_text(encoding="utf-8")


def test_since_must_be_before_today(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "report",
            "--since",
            "2026-12-01",
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip() == "error: --since 2026-12-01 is not before today"


def test_a_link_for_one_recipient(
    config: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    result = CliRunner().invoke(
        main, ["--config", str(config), "report", "link", "--to", "ceo@example.com", "--days", "3"]
    )
    assert result.exit_code == 0, result.output
    url = urlparse(result.output.splitlines()[0])
    assert (url.scheme, url.netloc, url.path) == ("https", "r.example.com", "/report")
    token = parse_qs(url.query)["link"][0]
    assert links.check(token, SECRET, clock() + timedelta(days=3) - timedelta(seconds=1)) is None
    assert links.check(token, SECRET, clock() + timedelta(days=3)) == 410


def test_a_link_needs_the_secret(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGAGE_SURVEY_SECRET", raising=False)
    result = CliRunner().invoke(
        main, ["--config", str(config), "report", "link", "--to", "ceo@example.com"]
    )
    assert result.exit_code == 2
    assert "ENGAGE_SURVEY_SECRET" in result.output
