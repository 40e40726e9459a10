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
        "typing",
        "pydantic",
        "mappings",
        "jobs",
    }
    names = imported_top_levels(ROOT / "jobs" / module)
    assert {n.split(".")[0] for n in names} <= allowed_roots
    assert {n for n in names if n.startswith("jobs")} <= {
        "jobs.config",
        "jobs.health.risk",
        MESSAGE_CATALOG,
    }


#: The drivers' words: rendering is pure; the only files it reads are the catalogs shipped in
#: the package (once), as Babel reads its CLDR data. A company's override file is read by
#: jobs/messages/overrides.py, which jobs/health does not import.
MESSAGE_CATALOG = "jobs.messages.catalog"


def test_the_message_catalog_reads_no_file_of_the_user() -> None:
    names = imported_top_levels(ROOT / "jobs" / "messages" / "catalog.py")
    assert {n for n in names if n.startswith(("jobs", "mappings", "connector"))} == set()
    assert "pathlib" not in {n.split(".")[0] for n in names}


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


# --- The rooms of jobs/ and connector/ (issue 19) ---------------------------------------------


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


def import_graph(package: str) -> dict[str, set[str]]:
    return {
        module_name(path): {
            name
            for name in import_time_imports(path)
            if name.split(".")[0] == package and name != module_name(path)
        }
        for path in modules_of(package)
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` as the list of its modules, or [] (a depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return []


@pytest.mark.parametrize("package", ["jobs", "connector", "mappings"])
def test_no_import_cycle(package: str) -> None:
    assert " -> ".join(find_cycle(import_graph(package))) == ""


def test_find_cycle_sees_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_push_does_not_import_pull() -> None:
    """Pull may tell push what changed (jobs.push.due, jobs.push.echo); never the reverse."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_of("jobs/push")
        for name in imported_top_levels(path)
        if name == "jobs.pull" or name.startswith("jobs.pull.")
    ]
    assert offenders == []


#: What pure computation may import: the standard library's pure parts, pydantic, the domain.
PURE_ROOTS = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",  # caching pure conversions (jobs/health/risk.py)
    "itertools",
    "math",
    "re",  # SLA policy: parsing durations such as "4h"
    "struct",  # SLA engine: packing frozen measures
    "zlib",  # SLA engine: a checksum of frozen measures
    "threading",  # SLA calendar: a lock around its memo of working days
    "types",  # MappingProxyType: read-only views
    "chinese_calendar",  # holiday tables shipped in the package (no network, no files)
    "holidays",  # public holiday tables of many countries, shipped in the package (no I/O)
    "typing",
    "zoneinfo",  # SLA calendars: time zones are data shipped with Python
    "pydantic",
    "mappings",
    "jobs",
}


def test_health_package_does_no_io() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_of("jobs/health")
        for name in imported_top_levels(path)
        if name.split(".")[0] not in PURE_ROOTS
        or (
            name.startswith("jobs")
            and not name.startswith("jobs.health")
            and name != "jobs.config"  # the settings' types (HealthSection, RiskWeights)
            and name != MESSAGE_CATALOG
        )
    ]
    assert offenders == []


#: Modules outside jobs/store that still run their own SQL, each with why. The list may only
#: shrink: moving a module's SQL into jobs/store removes its line (the test below says so).
SQL_OUTSIDE_STORE = {
    "jobs/config.py": "parses store_url with sqlalchemy.engine.make_url (no SQL)",
}


def uses_sql(path: Path) -> bool:
    return any(name.split(".")[0] == "sqlalchemy" for name in imported_top_levels(path))


def test_only_the_store_issues_sql() -> None:
    outside = {
        str(path.relative_to(ROOT))
        for path in modules_of("jobs")
        if uses_sql(path) and path.relative_to(ROOT).parts[1] != "store"
    }
    assert sorted(outside - SQL_OUTSIDE_STORE.keys()) == [], "new SQL outside jobs/store"
    assert sorted(SQL_OUTSIDE_STORE.keys() - outside) == [], "no SQL left: drop it from the list"


def test_no_test_imports_a_private_name() -> None:
    """Tests go through the public surface: a name a test needs is made public, or tested
    through the public function that uses it."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {node.module}.{alias.name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.split(".")[0] in {"jobs", "connector", "mappings"}
        for alias in node.names
        if alias.name.startswith("_") and alias.name != "__version__"
    ]
    assert offenders == []


def test_modules_and_functions_stay_small() -> None:
    """No module of jobs/ over 600 lines; no function over 80 unless its docstring says why
    ("Long because ..."). Migrations are history, not read as code."""
    too_long = []
    for path in modules_of("jobs"):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 600:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80 and "Long because" not in (ast.get_docstring(node) or ""):
                    too_long.append(f"{path.relative_to(ROOT)}: {node.name} is {length} lines")
    assert too_long == []


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
