"""What each Deal stage means, read from the Stage picklist's metadata.

Zoho keeps a stage's meaning beside its name: each ``pick_list_values`` entry of the Deals
``Stage`` field (GET /settings/fields?module=Deals) carries a ``forecast_type`` ("Open",
"Closed Won", "Closed Lost"), a ``forecast_category`` and a ``probability``.

UNCONFIRMED (research/zoho.md §5 lists only display_value, actual_value, reference_value,
sequence_number, id and type as the keys of a picklist entry): both readings seen in clients
are handled. ``forecast_type`` as a string is looked at first; ``forecast_category`` is read as
an object (``{"name": …}`` or ``{"display_value": …}``) or a plain string, and counts only when it
names an outcome itself ("Closed Won", "Closed Lost", "Open"); lacking both, a stage at 100 %
probability whose category is "Closed" is won. A stage with none of these is left unknown (the
mapping's ``status_by_stage`` or "pipeline" decides), never guessed from its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.base import StageOutcome

_BY_TEXT = {
    "open": StageOutcome.OPEN,
    "closed won": StageOutcome.WON,
    "closed_won": StageOutcome.WON,
    "won": StageOutcome.WON,
    "closed lost": StageOutcome.LOST,
    "closed_lost": StageOutcome.LOST,
    "lost": StageOutcome.LOST,
}


def stage_outcomes(entries: Iterable[Any]) -> tuple[tuple[str, StageOutcome], ...]:
    """(actual value, outcome) for each picklist entry whose metadata tells it."""
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("actual_value") is None:
            continue
        outcome = _outcome(entry)
        if outcome is not None:
            found.append((str(entry["actual_value"]), outcome))
    return tuple(found)


def _outcome(entry: dict[str, Any]) -> StageOutcome | None:
    by_type = _text_outcome(entry.get("forecast_type"))
    if by_type is not None:
        return by_type
    category = entry.get("forecast_category")
    if isinstance(category, dict):
        category = category.get("name") or category.get("display_value")
    by_category = _text_outcome(category)
    if by_category is not None:
        return by_category
    probability = entry.get("probability")
    if isinstance(category, str) and category.strip().lower() == "closed" and probability == 100:
        return StageOutcome.WON
    return None


def _text_outcome(value: Any) -> StageOutcome | None:
    if not isinstance(value, str):
        return None
    return _BY_TEXT.get(value.strip().lower())
