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


@pytest.mark.parametrize("module", ["health.py", "risk.py"])
def test_health_computation_does_no_io(module: str) -> None:
    allowed_roots = {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",  # caching pure conversions (jobs/risk.py)
        "pydantic",
        "mappings",
        "jobs",
    }
    names = imported_top_levels(ROOT / "jobs" / module)
    assert {n.split(".")[0] for n in names} <= allowed_roots
    assert {n for n in names if n.startswith("jobs")} <= {"jobs.config", "jobs.risk"}


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


# --- inside connector/ ----------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_time_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it is imported: relative imports resolved, ``from p import
    m`` naming submodule ``m`` when ``p/m`` exists; imports inside functions and under
    ``if TYPE_CHECKING:`` left out (they run later or never)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if _is_type_checking_block(node):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    as_path = ROOT.joinpath(*sub.split("."))
                    is_module = as_path.with_suffix(".py").exists() or as_path.is_dir()
                    found.add(sub if is_module else target)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def connector_import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in modules_of("connector")}
    return {
        name: {dep for dep in import_time_imports(path) if dep in modules and dep != name}
        for name, path in modules.items()
    }


def crm_client_packages() -> list[str]:
    """Every package under connector/ that holds a CRM client (zoho, odoo, any added later)."""
    return sorted(
        f"connector.{p.parent.name}"
        for p in (ROOT / "connector").glob("*/client.py")
        if p.parent.name != "sandbox"
    )


def test_the_sandbox_imports_no_crm_client() -> None:
    # A sandbox follows the vendor's documentation, not our client: sharing the client's code
    # would let the two agree on a mistake (the lesson of issue 17).
    clients = crm_client_packages()
    assert {"connector.zoho", "connector.odoo"} <= set(clients)
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_of("connector/sandbox")
        for name in import_time_imports(path) | imported_top_levels(path)
        if any(name == c or name.startswith(c + ".") for c in clients)
    ]
    assert offenders == []


def test_no_import_cycle_inside_connector() -> None:
    graph = connector_import_graph()
    assert "connector.sandbox.zoho.state" in graph["connector.sandbox.zoho.records"]
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                walk(dep, [*path, dep])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert cycles == []


#: Seeds are data more than code (issue 19: "the sandbox seeds aside").
_SIZE_EXEMPT = {"seed.py"}
MAX_MODULE_LINES = 650  # "about 600"
MAX_FUNCTION_LINES = 80


def test_connector_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules_of("connector")
        if path.name not in _SIZE_EXEMPT
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_long_connector_functions_say_why_in_their_docstring() -> None:
    undocumented = []
    for path in modules_of("connector"):
        if path.name in _SIZE_EXEMPT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not ast.get_docstring(node):
                undocumented.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert undocumented == []
