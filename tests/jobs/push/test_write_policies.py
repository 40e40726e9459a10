"""Write policies (always, if_empty, keep_human_edits): `decide`, and the planner agreeing with
it for every stored state."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.push.plan import compare_chunk, decide
from jobs.store.store import FieldState
from mappings.spec import TargetField, WritePolicy


def state(written: Any, crm: Any, seen: bool = True) -> FieldState:
    return FieldState(written_value=written, crm_value=crm, crm_seen=seen)


@pytest.mark.parametrize(
    ("policy", "current", "wanted", "decision"),
    [
        pytest.param("always", None, "High", "write", id="always-new"),
        pytest.param("always", state("High", "High"), "High", "same", id="always-unchanged"),
        pytest.param(
            "always", state("High", "Low"), "High", "write", id="always-overwrites-person"
        ),
        pytest.param("if_empty", state(None, None), "High", "write", id="if-empty-fills"),
        pytest.param("if_empty", state(None, "Low"), "High", "keep", id="if-empty-keeps-value"),
        pytest.param("if_empty", state("High", "High"), "Medium", "keep", id="if-empty-fills-once"),
        pytest.param(
            "keep_human_edits", state("High", "Low"), "Medium", "conflict", id="keep-conflict"
        ),
        pytest.param(
            "keep_human_edits", state("High", "Medium"), "Medium", "same", id="keep-agrees"
        ),
        pytest.param(
            "keep_human_edits", state("High", "High"), "Medium", "write", id="keep-updates-own"
        ),
        pytest.param(
            "keep_human_edits", state(None, "Low"), "High", "conflict", id="keep-prior-value"
        ),
    ],
)
def test_write_policies(
    policy: str, current: FieldState | None, wanted: Any, decision: str
) -> None:
    assert decide(TargetField(field="F", policy=WritePolicy(policy)), current, wanted) == decision


class _OneRule:
    """A mapping with one target field, F, under ``policy``."""

    def __init__(self, policy: WritePolicy) -> None:
        self.rule = TargetField(field="F", policy=policy)

    def target_rules(self, module: str) -> dict[str, TargetField]:
        return {"F": self.rule}


_STORED = [
    (written, crm, seen)
    for written in (None, "", "High", 5, 5.0, True, 1)
    for crm in (None, "", "High", "Low", 5, 5.0, True, 1)
    for seen in (True, False)
]


@pytest.mark.parametrize("policy", list(WritePolicy))
@pytest.mark.parametrize("wanted", [None, "", "High", 5, 5.0, True, 1])
def test_planning_a_stored_field_decides_as_the_policy_says(
    policy: WritePolicy, wanted: Any
) -> None:
    """Planning takes a shortcut for fields the CRM holds as written; what it plans must be
    what `decide` says for every stored state, the shortcut's own cases among them."""
    rule = TargetField(field="F", policy=policy)
    for written, crm, seen in _STORED:
        planned = compare_chunk(
            _OneRule(policy),  # type: ignore[arg-type]
            "Deals",
            ["D1"],
            {"D1": {"F": wanted}},
            {"D1": {"F": [written, crm, seen]}},
            None,
        )
        outcome = "write" if planned.writes else "conflict" if planned.conflicts else "same or keep"
        expected = decide(rule, state(written, crm, seen), wanted)
        assert outcome == {"same": "same or keep", "keep": "same or keep"}.get(
            expected, expected
        ), (written, crm, seen)
