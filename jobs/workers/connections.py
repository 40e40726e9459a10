"""A connection as data: read from its config file for `engage connections add`, and turned
back into `Settings` by a worker on any machine.

The row holds the config file's text and its mapping's text, so a worker needs neither file.
Secrets are never stored: the row names, per secret, the environment variable that holds it
(by default ``ENGAGE_<NAME>_<VARIABLE>``, e.g. ``ENGAGE_ACME_ZOHO_CLIENT_ID`` for the
connection ``acme``), and each worker's environment provides them.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.config import SECRET_ENV, Settings, load_settings
from jobs.store.connections import ConnectionRow, ConnectionTables
from jobs.store.org_limits import OrgLimitTables
from mappings.tomlfile import ConfigFileError

#: The secrets each CRM kind needs (names of jobs/config.py SECRET_ENV).
SECRETS_OF_KIND = {
    "zoho": ("client_id", "client_secret", "refresh_token"),
    "odoo": ("api_key",),
    "fxiaoke": ("app_secret", "permanent_code"),
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConnectionDefinitionError(ValueError):
    """A connection that cannot be added (bad name, bad file): one line for the operator."""


def default_secret_env(name: str, kind: str) -> dict[str, str]:
    """``ENGAGE_<NAME>_<rest of the usual variable>`` for each secret of the kind."""
    prefix = "ENGAGE_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"
    return {
        secret: prefix + SECRET_ENV[secret].removeprefix("ENGAGE_")
        for secret in SECRETS_OF_KIND[kind]
    }


@dataclass(frozen=True)
class Definition:
    """What `connections add` stores, read from the config file (validated as any config)."""

    name: str
    settings: Settings
    config_toml: str
    mapping_toml: str
    secret_env: dict[str, str]

    @property
    def org(self) -> str:
        return self.settings.config.cluster.org or self.name


def read_definition(name: str, path: Path, secret_env: Mapping[str, str]) -> Definition:
    """Read and validate the connection's config file (no secret needed).

    Raises:
        ConnectionDefinitionError: a bad name or a store that workers cannot share.
        ConfigFileError: the file is invalid (names the file and the key).
    """
    if not _NAME.match(name):
        raise ConnectionDefinitionError(
            f"{name!r} is not a connection name: use lower-case letters, digits, - and _ "
            "(at most 64, starting with a letter or digit)"
        )
    settings = load_settings(path, env={})
    kind = settings.config.crm.kind
    if not settings.config.store.url.startswith("postgresql"):
        raise ConnectionDefinitionError(
            f"{path}: store.url must be a PostgreSQL URL for a connection run by workers "
            "(a worker on another machine cannot reach an SQLite file)"
        )
    unknown = sorted(set(secret_env) - set(SECRETS_OF_KIND[kind]))
    if unknown:
        raise ConnectionDefinitionError(
            f"--secret-env {unknown[0]}: a {kind} connection has no such secret "
            f"(its secrets: {', '.join(SECRETS_OF_KIND[kind])})"
        )
    variables = default_secret_env(name, kind) | dict(secret_env)
    return Definition(
        name=name,
        settings=settings,
        config_toml=path.read_text(encoding="utf-8"),
        mapping_toml=settings.mapping_path.read_text(encoding="utf-8"),
        secret_env=variables,
    )


def save_definition(
    connections: ConnectionTables, limits: OrgLimitTables, d: Definition, now: datetime
) -> bool:
    """Store the connection and its org's limits; True if the connection is new."""
    config = d.settings.config
    every = config.cluster.run_every_seconds or config.schedule.run_every_minutes * 60.0
    limits.set_limits(
        d.org,
        budget=config.cluster.org_credit_budget or config.crm.credit_budget(),
        concurrency=config.cluster.org_concurrency,
        window_seconds=config.cluster.credit_window_seconds,
    )
    return connections.add(
        name=d.name,
        org=d.org,
        kind=config.crm.kind,
        config_toml=d.config_toml,
        mapping_toml=d.mapping_toml,
        secret_env=d.secret_env,
        every_seconds=every,
        now=now,
    )


def settings_of(row: ConnectionRow, env: Mapping[str, str] | None = None) -> Settings:
    """The connection's settings, from its row: the config and mapping written to a private
    folder of this process, the secrets read from the variables the row names.

    Raises:
        ConfigFileError: a secret's variable is not set (named), or the stored file is invalid.
    """
    env = os.environ if env is None else env
    folder = Path(tempfile.gettempdir()) / f"engage-worker-{os.getpid()}" / row.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    mapping = folder / "mapping.toml"
    _write_whole(mapping, row.mapping_toml)
    data = tomllib.loads(row.config_toml)
    path = folder / "engage.toml"
    _write_whole(path, _with_mapping(row.config_toml, data, mapping))
    secrets: dict[str, str] = {}
    for secret, variable in row.secret_env.items():
        value = env.get(variable)
        if not value:
            raise ConfigFileError(
                f"connection {row.name}",
                f"crm.{row.kind}.{secret}",
                f"set the environment variable {variable} on this worker",
            )
        secrets[SECRET_ENV[secret]] = value
    # Other settings may still come from ENGAGE_<SECTION>_<KEY> variables, as for any config.
    passed = {k: v for k, v in env.items() if k not in SECRET_ENV.values()}
    return load_settings(path, env=passed | secrets)


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` so that a reader (another job of the connection, on another thread) sees
    the old file or the new one, never half of one: a file of its own, then renamed."""
    part = path.with_name(f"{path.name}.{threading.get_ident()}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _with_mapping(text: str, data: Mapping[str, object], mapping: Path) -> str:
    """The config text with [crm] mapping pointing at the mapping written beside it."""
    crm = data.get("crm")
    line = f'mapping = "{mapping.as_posix()}"'
    if isinstance(crm, Mapping) and "mapping" in crm:
        return re.sub(r"(?m)^\s*mapping\s*=.*$", line, text, count=1)
    return re.sub(r"(?m)^\[crm\]\s*$", "[crm]\n" + line, text, count=1)
