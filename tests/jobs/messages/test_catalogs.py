"""The message catalogs: complete as shipped, a gap reported by `engage messages check` and
filled with the English text, CLDR plurals, numbers and dates per locale."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main
from jobs.config import load_settings
from jobs.health.risk import communication_factor
from jobs.messages.catalog import Words, shipped_messages
from mappings.domain import Touchpoint

TODAY = date(2026, 11, 29)


def config_with_override(tmp_path: Path, override: str) -> Path:
    (tmp_path / "words.toml").write_text(override, encoding="utf-8")
    config = tmp_path / "engage.toml"
    config.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "e.db"}"\n'
        '[messages]\noverride_file = "words.toml"\n',
        encoding="utf-8",
    )
    return config


def test_the_shipped_catalogs_are_complete(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path / "none.toml"), "messages", "check"]
    )
    assert result.exit_code == 0, result.output
    english = len(shipped_messages()["en"])
    assert result.output.strip() == f"all {english} messages translated in en, zh_Hans"


def test_a_message_missing_from_chinese_is_reported_and_shown_in_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(shipped_messages()["zh_Hans"], "step.report_overdue")
    config = config_with_override(tmp_path, '[en]\n"step.spi" = "re-plan with the lead"\n')

    result = CliRunner().invoke(main, ["--config", str(config), "messages", "check"])
    assert result.exit_code == 1
    assert (
        'zh_Hans: step.report_overdue: missing, shown in English: "send this week\'s report"'
        in result.output
    )
    assert "1 of " in result.output and "messages need a translation" in result.output

    words = load_settings(config).words
    report = Touchpoint.model_validate(
        {
            "external_id": "R1",
            "engagement_id": "D1",
            "kind": "status_report",
            "at": datetime(2026, 10, 26, tzinfo=UTC),
        }
    )
    found = communication_factor([report], 7, TODAY, words=words)
    assert found is not None
    assert found.drivers[0].zh == "周报已逾期 27 天（约定每 7 天一次）— send this week's report"


@pytest.mark.parametrize(
    ("locale", "count", "text"),
    [
        ("en", 1, "1 day"),
        ("en", 2, "2 days"),
        ("en", 0, "0 days"),
        ("zh_Hans", 1, "1 天"),
        ("zh_Hans", 2, "2 天"),
    ],
)
def test_days_are_counted_by_cldr_plural_rules(locale: str, count: int, text: str) -> None:
    assert Words.shipped().count("days", count, locale) == text


def test_dates_and_numbers_are_written_as_the_locale_writes_them() -> None:
    words = Words.shipped()
    assert words.format("en", date(2026, 11, 20), "date") == "Nov 20, 2026"
    assert words.format("zh_Hans", date(2026, 11, 20), "date") == "2026年11月20日"
    assert words.format("en", 12345) == "12,345"
    assert words.format("en", 87.5, "pct") == "88%"
    assert words.format("en", 0.8333, "dec2") == "0.83"


def test_an_override_keeps_the_plural_forms_of_a_unit(tmp_path: Path) -> None:
    config = config_with_override(
        tmp_path, '[en.unit]\ndays = { one = "{n} working day", other = "{n} working days" }\n'
    )
    words = load_settings(config).words
    assert words.count("days", 1, "en") == "1 working day"
    assert words.count("days", 3, "en") == "3 working days"
    assert words.count("days", 3, "zh_Hans") == "3 天"
