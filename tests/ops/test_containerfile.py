"""deploy/Containerfile, checked without a container runtime (there is none where the tests run,
so the image itself has never been built here): every COPY source exists, its install command
works in a fresh virtualenv, the container's settings load from its file and ENGAGE_*
variables, the HEALTHCHECK asks the daemon at the configured address, and the entry point is
the installed `engage daemon` (issue 20 item 7)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from prometheus_client.registry import CollectorRegistry

from jobs.config import load_settings
from jobs.ops.probe import healthz_url
from jobs.ops.server import OpsServer

ROOT = Path(__file__).parents[2]  # the build context: `podman build -f deploy/Containerfile .`
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
ENGAGE = str(Path(sys.executable).with_name("engage"))
#: What the container's operator sets by --env-file beside the secrets (docs/operations.md).
CRM_BY_ENV = {"ENGAGE_CRM_KIND": "zoho", "ENGAGE_CRM_ZOHO_ACCOUNTS_URL": "http://127.0.0.1:1"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    joined: list[str] = []
    pending = ""
    for line in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        joined.append(pending + line.strip())
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    return [(text.split(None, 1)[0], text.split(None, 1)[1]) for text in joined]


def arguments(name: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == name]


def env_of_image() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in arguments("ENV"):
        for pair in args.split():
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def copies() -> list[tuple[list[str], str, str]]:
    """(sources, destination, the WORKDIR in force) of each COPY."""
    found, workdir = [], "/"
    for instruction, args in instructions():
        if instruction == "WORKDIR":
            workdir = args
        elif instruction == "COPY":
            *sources, destination = args.split()
            found.append((sources, destination, workdir))
    return found


def in_image(destination: str, workdir: str) -> PurePosixPath:
    return PurePosixPath(workdir) / destination  # an absolute destination replaces the workdir


def container_config() -> Path:
    """The repository file the image holds at its ENGAGE_CONFIG."""
    (source,) = [
        ROOT / sources[0]
        for sources, destination, workdir in copies()
        if str(in_image(destination, workdir)) == env_of_image()["ENGAGE_CONFIG"]
    ]
    return source


def test_every_copy_source_exists_and_the_packages_the_project_ships_are_copied() -> None:
    sources = [source for found, _, _ in copies() for source in found]
    assert sources, "no COPY"
    assert [s for s in sources if not (ROOT / s).exists()] == []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in shipped}
    assert packages <= set(sources)
    assert {"pyproject.toml", project["project"]["readme"]} <= set(sources)


def test_it_runs_the_installed_engage_daemon_as_a_user_that_is_not_root() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert steps[-1] == ("CMD", '["engage", "daemon"]')
    (run,) = arguments("RUN")
    assert "useradd --system --uid 10001" in run and run.split()[-1] == "engage"
    names = [instruction for instruction, _ in steps]
    # The user exists before the image switches to it, and nothing after runs as root.
    assert arguments("USER") == ["engage"]
    assert names.index("RUN") < names.index("USER") < names.index("CMD")
    assert arguments("STOPSIGNAL") == ["SIGTERM"]
    # The port the container publishes is the one its config has the daemon listen on.
    config = tomllib.loads(container_config().read_text(encoding="utf-8"))
    assert config["daemon"]["metrics_address"] == "0.0.0.0:9465"
    assert arguments("EXPOSE") == ["9465"]
    assert "/var/lib/engage" in arguments("VOLUME")[0]
    assert config["store"]["url"] == "sqlite:////var/lib/engage/engage.db"  # in the volume


def test_the_container_s_settings_come_from_its_file_and_engage_variables() -> None:
    settings = load_settings(container_config(), env={**env_of_image(), **CRM_BY_ENV})
    config = settings.config
    assert config.crm.kind == "zoho"
    assert config.crm.zoho is not None and config.crm.zoho.accounts_url == "http://127.0.0.1:1"
    # (Settings.store_url would check that the folder exists: it does in the image.)
    assert config.store.url == "sqlite:////var/lib/engage/engage.db"
    assert config.daemon.metrics_address == "0.0.0.0:9465"
    assert config.log.format == "json"
    postgres = "postgresql+psycopg://engage@db:5432/engage"
    overridden = load_settings(container_config(), env={**CRM_BY_ENV, "ENGAGE_STORE_URL": postgres})
    assert overridden.config.store.url == postgres  # the variable wins over the image's file


def test_its_install_command_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The build context laid out as the COPY lines do, the RUN's install command run there
    with a fresh virtualenv's pip (this machine's package index, not PyPI), then the installed
    package on its own: the entry point, the packaged migrations, the container's config."""
    image = tmp_path / "image"
    for sources, destination, workdir in copies():
        target = image / str(in_image(destination, workdir)).lstrip("/")
        for source in sources:
            path = ROOT / source
            into = target / path.name if destination.endswith("/") else target
            if path.is_dir():
                shutil.copytree(path, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (run,) = arguments("RUN")
    install = run.split("&&")[0].strip()
    assert install == "pip install ."
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    built = subprocess.run(
        install,
        check=False,
        shell=True,
        cwd=image / "opt/engage",
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    shutil.rmtree(image / "opt/engage")  # as the RUN does: only the installed package is left

    command = json.loads(arguments("CMD")[0])
    entry = venv / "bin" / command[0]
    assert entry.exists()
    shown = run_in(tmp_path, env, str(entry), "--version")
    assert shown.stdout == f"engage, version {version('engagement-connector')}\n"
    where = run_in(
        tmp_path, env, str(venv / "bin/python"), "-c", "import jobs; print(jobs.__file__)"
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # not this checkout's
    assert run_in(tmp_path, env, str(entry), *command[1:], "--help").returncode == 0
    store = f"sqlite:///{tmp_path / 'engage.db'}"
    upgraded = run_in(
        tmp_path,
        {**env, **CRM_BY_ENV, "ENGAGE_CONFIG": str(container_config()), "ENGAGE_STORE_URL": store},
        str(entry),
        "db",
        "upgrade",
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert upgraded.stdout.startswith("store upgraded from none (a new store) to ")


def run_in(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True)


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, as the container runs it."""
    (check,) = arguments("HEALTHCHECK")
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command[:2] == ["engage", "healthcheck"]
    return subprocess.run(
        [ENGAGE, *command[1:]],
        check=False,
        env={**os.environ, **env_of_image(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_healthcheck_asks_the_daemon_at_the_container_s_address(tmp_path: Path) -> None:
    (check,) = arguments("HEALTHCHECK")
    assert check.startswith("--interval=30s --timeout=10s --start-period=120s --retries=3 CMD")
    answer: list[tuple[bool, dict[str, Any]]] = [(True, {"status": "ok"})]
    server = OpsServer("127.0.0.1:0", CollectorRegistry(), lambda: answer[0]).start()
    # The image's config listens on every interface, port 9465; the test cannot hold 9465, so
    # the variable moves the port, as an operator's would: the check follows it.
    moved = {
        **CRM_BY_ENV,
        "ENGAGE_CONFIG": str(container_config()),
        "ENGAGE_DAEMON_METRICS_ADDRESS": f"0.0.0.0:{server.port}",
    }
    try:
        healthy = healthcheck(moved)
        answer[0] = (True, {"status": "degraded", "calendar": "missing"})
        degraded = healthcheck(moved)
        answer[0] = (False, {"status": "unhealthy", "store": "unreachable: OperationalError"})
        unhealthy = healthcheck(moved)
    finally:
        server.stop()
    gone = healthcheck(moved)
    assert (healthy.returncode, healthy.stdout) == (0, '{"status": "ok"}\n')
    assert degraded.returncode == 0  # degraded is not a reason to restart the container
    assert unhealthy.returncode == 1
    assert unhealthy.stderr == (
        'error: unhealthy: 503: {"status": "unhealthy", "store": "unreachable: OperationalError"}\n'
    )
    assert gone.returncode == 1
    assert gone.stderr.startswith(
        f"error: unhealthy: no answer from http://127.0.0.1:{server.port}/healthz: "
    )


def test_a_healthcheck_that_cannot_read_the_config_exits_1_not_docker_s_reserved_2(
    tmp_path: Path,
) -> None:
    result = healthcheck({"ENGAGE_CONFIG": str(tmp_path / "missing.toml")})
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {tmp_path / 'missing.toml'}: file not found\n",
    )


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("0.0.0.0:9465", "http://127.0.0.1:9465/healthz"),
        ("[::]:9465", "http://[::1]:9465/healthz"),
        ("127.0.0.1:9465", "http://127.0.0.1:9465/healthz"),
        ("10.1.2.3:9000", "http://10.1.2.3:9000/healthz"),
        ("[::1]:9465", "http://[::1]:9465/healthz"),
    ],
)
def test_the_probe_asks_loopback_when_the_daemon_listens_on_every_interface(
    address: str, url: str
) -> None:
    assert healthz_url(address) == url
