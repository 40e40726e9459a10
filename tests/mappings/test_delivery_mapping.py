"""The delivery mapping: the shipped examples load, linking is never guessed, value shares."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.delivery.base import Release
from jobs.config import load_settings
from mappings.delivery import (
    DeliveryMapping,
    load_delivery_mapping,
    project_links,
    split_project_field,
    to_milestones,
)
from mappings.tomlfile import ConfigFileError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name",
    [
        "jira-delivery.toml",
        "pingcode-delivery.toml",
        "trello-delivery.toml",
        "worktile-delivery.toml",
        "planner-delivery.toml",
    ],
)
def test_the_shipped_delivery_mappings_load(name: str) -> None:
    mapping = load_delivery_mapping(ROOT / "mappings" / name)
    assert mapping.tool == name.split("-")[0]
    assert set(mapping.tickets.priority.values()) == {"P1", "P2", "P3", "P4"}


def test_the_example_config_has_delivery_sources() -> None:
    sources = load_settings(ROOT / "config.example.toml", env={}).config.sources.delivery
    assert sources["jira"].chosen_auth == "basic" and sources["pingcode"].enabled is False


def test_a_bad_mapping_names_its_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "jira.toml"
    path.write_text('tool = "jira"\n[tickets]\npriority = { Highest = "P0" }\n', encoding="utf-8")
    with pytest.raises(ConfigFileError) as bad:
        load_delivery_mapping(path)
    assert str(bad.value).startswith(f"{path}: tickets.priority.Highest: ")


def test_links_come_from_the_table_and_the_deal_field_and_a_double_link_is_not_guessed() -> None:
    mapping = DeliveryMapping.model_validate(
        {"tool": "jira", "link": {"projects": {"ACME": "D1", "OPS": "D2"}}}
    )
    deal_fields = {
        "D3": split_project_field("WEB, jira:APP pingcode:HZB"),
        "D4": split_project_field("OPS"),
    }

    links, problems = project_links(mapping, deal_fields, "jira")

    assert links == {"ACME": "D1", "WEB": "D3", "APP": "D3"}
    assert problems == [
        (
            "project OPS is linked to several engagements (D2, D4); link it to one "
            "(link.projects or the deal field)"
        )
    ]


def test_releases_share_the_contract_value_as_the_mapping_says() -> None:
    mapping = DeliveryMapping.model_validate(
        {"tool": "jira", "milestones": {"value_share": {"2.0": 0.5}}}
    )
    releases = [
        Release("ACME", "1", "2.0", date(2026, 10, 1), released=True),
        Release("ACME", "2", "2.1", date(2026, 11, 14)),
        Release("ACME", "3", "2.2", date(2026, 12, 14)),
        Release("ACME", "4", "later", None),
    ]

    milestones, skipped = to_milestones(mapping, releases, "D1", Decimal(100000))

    # 2.0 takes half; 2.1 and 2.2 share the other half; "later" has no date and is skipped.
    assert [(m.name, m.planned_value) for m in milestones] == [
        ("2.0", Decimal("50000.00")),
        ("2.1", Decimal("25000.00")),
        ("2.2", Decimal("25000.00")),
    ]
    assert [(r.name, why.key) for r, why in skipped] == [("later", "due")]
    assert milestones[0].percent_complete == 100 and milestones[0].delivered_date == date(
        2026, 10, 1
    )
