"""Planning and results are pure computations: they import no database, mail or web code."""

from __future__ import annotations

import pytest

from tests.test_architecture import ROOT, imported_top_levels

PURE = ["triggers", "recipients", "fatigue", "planner", "results", "records", "tokens", "i18n"]
IO_ROOTS = {"sqlalchemy", "smtplib", "starlette", "uvicorn", "requests", "socket", "connector"}


@pytest.mark.parametrize("module", PURE)
def test_survey_computation_does_no_io(module: str) -> None:
    names = imported_top_levels(ROOT / "jobs" / "surveys" / f"{module}.py")
    assert {n.split(".")[0] for n in names} & IO_ROOTS == set()
    # Within the package, only other pure modules and the config.
    inside = {n.removeprefix("jobs.surveys.") for n in names if n.startswith("jobs.surveys.")}
    assert inside <= {*PURE, "config"}
