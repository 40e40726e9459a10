"""Dependencies flow one way: connector <- mappings <- jobs, and health is pure computation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        pytest.param("connector", {"mappings", "jobs"}, id="connector-knows-no-domain"),
        pytest.param("mappings", {"connector", "jobs", "requests", "sqlalchemy"}, id="mappings"),
    ],
)
def test_packages_do_not_import_upwards(package: str, forbidden: set[str]) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_of(package)
        for name in imported_top_levels(path)
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []


@pytest.mark.parametrize("module", ["health/engagement.py", "health/risk.py"])
def test_health_computation_does_no_io(module: str) -> None:
    allowed_roots = {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",  # caching pure conversions (jobs/health/risk.py)
        "pydantic",
        "mappings",
        "jobs",
    }
    names = imported_top_levels(ROOT / "jobs" / module)
    assert {n.split(".")[0] for n in names} <= allowed_roots
    assert {n for n in names if n.startswith("jobs")} <= {"jobs.config", "jobs.health.risk"}


def test_public_connector_surface() -> None:
    from connector import (  # noqa: F401 - the import is the assertion
        AuthenticationError,
        ConfigurationError,
        ConnectorError,
        CRMClient,
        RetryLaterError,
    )
    from connector.errors import RateLimitedError, RecordError, UnavailableError

    for error in (RateLimitedError, UnavailableError):
        assert issubclass(error, RetryLaterError)
    for error in (AuthenticationError, ConfigurationError, RecordError, RetryLaterError):
        assert issubclass(error, ConnectorError)
