"""Reading what a Zoho stage means from its picklist entry, in both shapes seen in the wild."""

from __future__ import annotations

from connector.base import StageOutcome
from connector.zoho.stages import stage_outcomes


def test_forecast_type_says_open_won_or_lost() -> None:
    entries = [
        {"actual_value": "Qualification", "forecast_type": "Open", "probability": 10},
        {"actual_value": "Closed Won", "forecast_type": "Closed Won", "probability": 100},
        {"actual_value": "Lost to Competition", "forecast_type": "Closed Lost", "probability": 0},
    ]
    assert dict(stage_outcomes(entries)) == {
        "Qualification": StageOutcome.OPEN,
        "Closed Won": StageOutcome.WON,
        "Lost to Competition": StageOutcome.LOST,
    }


def test_forecast_category_read_as_an_object_or_a_string_when_the_type_is_absent() -> None:
    entries = [
        {
            "actual_value": "Signed",
            "forecast_category": {"name": "Closed", "id": "1"},
            "probability": 100,
        },
        {"actual_value": "Dropped", "forecast_category": "Closed Lost", "probability": 0},
        {"actual_value": "Pitch", "forecast_category": {"display_value": "Open"}},
    ]
    assert dict(stage_outcomes(entries)) == {
        "Signed": StageOutcome.WON,
        "Dropped": StageOutcome.LOST,
        "Pitch": StageOutcome.OPEN,
    }


def test_a_stage_without_forecast_metadata_is_left_unknown_not_guessed_from_its_name() -> None:
    entries = [{"actual_value": "Closed Lost", "display_value": "Closed Lost"}, "junk", {}]
    assert stage_outcomes(entries) == ()
