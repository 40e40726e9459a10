"""The configuration file (TOML) and the secrets (environment only).

Secrets never live in the TOML file: a key that looks like one is refused with a message that
says which environment variable to use instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connector.credits import Edition, daily_credit_allowance
from jobs import config_env
from jobs.alerts.config import AlertsSection
from jobs.delivery.config import DeliverySection
from jobs.health.risk import RiskWeights
from jobs.health.sla import SlaPolicy
from jobs.messages.catalog import Words
from jobs.messages.config import MessagesSection
from jobs.messages.overrides import load_words
from jobs.surveys.config import SurveysSection
from jobs.workers.config import ClusterSection
from mappings.spec import default_mapping_path
from mappings.tomlfile import ConfigFileError, read_toml, validate_model

SECRET_ENV = {
    "client_id": "ENGAGE_ZOHO_CLIENT_ID",
    "client_secret": "ENGAGE_ZOHO_CLIENT_SECRET",
    "refresh_token": "ENGAGE_ZOHO_REFRESH_TOKEN",
    "api_key": "ENGAGE_ODOO_API_KEY",
    "app_secret": "ENGAGE_FXIAOKE_APP_SECRET",
    "permanent_code": "ENGAGE_FXIAOKE_PERMANENT_CODE",
}
_SECRET_KEYS = frozenset(
    {
        "client_secret",
        "refresh_token",
        "access_token",
        "password",
        "token",
        "api_key",
        "app_secret",
        "permanent_code",
        "corp_access_token",
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZohoSection(_Section):
    #: The data centre's accounts server, e.g. https://accounts.zoho.com.cn for China.
    accounts_url: str = Field(pattern=r"^https?://")
    #: Normally taken from the token response; set it for sandbox/developer orgs or tests.
    api_domain: str | None = Field(default=None, pattern=r"^https?://")
    #: Hours between two looks for deleted records (2 credits per module each; 0: every sync).
    #: A record deleted in Zoho leaves the store within this time; a full sync always looks.
    deleted_check_every_hours: float = Field(default=1, ge=0)

    @field_validator("accounts_url", "api_domain")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class OdooSection(_Section):
    """An Odoo database; the API key comes from ENGAGE_ODOO_API_KEY (docs/odoo.md)."""

    url: str = Field(pattern=r"^https?://")
    database: str = Field(min_length=1)
    #: The login of the (preferably dedicated) API user the key belongs to.
    login: str = Field(min_length=1)
    #: "auto" asks the server: JSON-2 on 19+, JSON-RPC on 16–18.
    #: "xmlrpc" only where a proxy blocks /jsonrpc: it serves the same servers.
    api: Literal["auto", "json2", "jsonrpc", "xmlrpc"] = "auto"
    #: Hours between two scans of every id, which is how hard deletes are noticed in Odoo.
    id_scan_every_hours: float = Field(default=6, gt=0)

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class FxiaokeSection(_Section):
    """A Fxiaoke (纷享销客) tenant's self-built app (docs/fxiaoke.md). The appSecret and the
    permanentCode come from ENGAGE_FXIAOKE_APP_SECRET and ENGAGE_FXIAOKE_PERMANENT_CODE."""

    #: The OpenAPI gateway of the tenant's cloud (not www.fxiaoke.com).
    base_url: str = Field(default="https://open.fxiaoke.com", pattern=r"^https?://")
    app_id: str = Field(min_length=1)
    #: "legacy": corpAccessToken; "oauth2": /oauth2.0/token with bearer headers.
    auth: Literal["legacy", "oauth2"] = "legacy"
    #: The user calls act as: openUserId (FSUID_…, legacy) or employee id (oauth2). Or give
    #: the admin's mobile number and it is looked up once.
    open_user_id: str | None = None
    admin_mobile: str | None = None
    #: "auto": whichever of NewOpportunityObj / OpportunityObj object/list says is active.
    opportunity_object: Literal["auto", "NewOpportunityObj", "OpportunityObj"] = "auto"
    #: Hours between two scans of every id (how hard deletes and 作废 records are noticed).
    id_scan_every_hours: float = Field(default=6, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class CrmSection(_Section):
    kind: Literal["zoho", "odoo", "fxiaoke"]
    #: Mapping file; relative paths are relative to the config file. Default: the shipped one.
    mapping: str | None = None
    zoho: ZohoSection | None = None
    odoo: OdooSection | None = None
    fxiaoke: FxiaokeSection | None = None
    #: The org's Zoho edition and user licences set the default daily credit budget (§6).
    edition: Edition = "standard"
    licensed_users: int = Field(default=1, ge=1)
    #: Credits per rolling 24 hours that all jobs of this connection may spend together.
    #: Default: the edition's whole allowance (other integrations of the org share it: set less).
    daily_credit_budget: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _section_for_kind(self) -> CrmSection:
        if getattr(self, self.kind) is None:
            raise ValueError(f'kind = "{self.kind}" needs a [crm.{self.kind}] section')
        return self

    def credit_budget(self) -> int:
        if self.daily_credit_budget is not None:
            return self.daily_credit_budget
        return daily_credit_allowance(self.edition, self.licensed_users)


class PushSection(_Section):
    #: Write calls in flight at once; Zoho allows 10 concurrent writes per org on every edition.
    write_concurrency: int = Field(default=5, ge=1, le=10)
    #: Refusals of one row (same values) before it is quarantined until `engage retry`.
    quarantine_after: int = Field(default=5, ge=1)


class StoreSection(_Section):
    #: SQLAlchemy URL; relative SQLite paths are relative to the config file.
    url: str = "sqlite:///engage.db"

    @field_validator("url")
    @classmethod
    def _a_database_the_store_supports(cls, url: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "not a database URL; write e.g. sqlite:///engage.db or "
                "postgresql+psycopg://user@host:5432/database"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"the store supports sqlite and postgresql, not {backend}")
        return url


class HealthSection(_Section):
    #: Lowest score of each level; scores below `medium` are low.
    medium: int = Field(default=30, ge=1, le=100)
    high: int = Field(default=55, ge=1, le=100)
    critical: int = Field(default=75, ge=1, le=100)

    @model_validator(mode="after")
    def _increasing(self) -> HealthSection:
        if not self.medium < self.high < self.critical:
            raise ValueError(
                f"bands must increase: medium {self.medium} < high {self.high} "
                f"< critical {self.critical}"
            )
        return self


class RiskSection(_Section):
    #: Percent per factor; must sum to 100 (see jobs/health/risk.py for each formula).
    weights: RiskWeights = RiskWeights()


def _default_tiers() -> dict[str, SlaPolicy]:
    """Gold, Silver and Bronze: business-minute goals by priority, on a Mon–Fri UTC calendar."""
    base = {"P1": 30, "P2": 60, "P3": 240, "P4": 480}
    resolve = {"P1": 240, "P2": 480, "P3": 1440, "P4": 2880}
    tiers = {}
    for name, factor, on_time, cadence in (
        ("Gold", 1, 95, 7),
        ("Silver", 2, 90, 7),
        ("Bronze", 4, 85, 14),
    ):
        tiers[name] = SlaPolicy.model_validate(
            {
                "tier": name,
                "calendar": {"timezone": "UTC"},
                "goals": {
                    "first_response_minutes": {p: m * factor for p, m in base.items()},
                    "resolution_minutes": {p: m * factor for p, m in resolve.items()},
                    "on_time_milestones_pct": on_time,
                    "status_report_every_days": cadence,
                },
            }
        )
    return tiers


class SlaSection(_Section):
    #: Policy per SLA tier, keyed by the tier's value in the CRM (the deal's SLA tier field).
    #: Raise `version` when goals change: finished tickets keep the goal they were measured by.
    tiers: dict[str, SlaPolicy] = Field(default_factory=_default_tiers)

    @field_validator("tiers", mode="before")
    @classmethod
    def _tier_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                name: {"tier": name, **policy} if isinstance(policy, dict) else policy
                for name, policy in value.items()
            }
        return value


class ScheduleSection(_Section):
    #: Minutes between runs of the full job (sync, score, push) in `engage daemon`.
    run_every_minutes: int = Field(default=15, ge=1)


class LogSection(_Section):
    #: "text" (a UTC timestamp first) or "json" (one object a line); `--log-format` and
    #: ENGAGE_LOG_FORMAT win over it.
    format: Literal["text", "json"] = "text"


class DaemonSection(_Section):
    #: Where `engage daemon` serves GET /healthz and /metrics (jobs/ops/server.py): host:port,
    #: loopback by default; port 9465, apart from `engage serve` (8765) and `engage sandbox`
    #: (8766). An empty string turns the endpoint off.
    metrics_address: str = "127.0.0.1:9465"
    #: Seconds the daemon waits, after SIGTERM/SIGINT, for the run in progress to reach a safe
    #: point (a page stored, a batch journaled) before it stops at once. Below `docker stop`'s
    #: 10 s and systemd's 90 s, so the daemon records the run before it is killed.
    stop_grace_seconds: float = Field(default=8, gt=0)

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, address: str) -> str:
        host, sep, port = address.rpartition(":")
        if address and (not sep or not host or not port.isdigit() or int(port) > 65535):
            raise ValueError(f"{address!r} is not host:port (e.g. 127.0.0.1:9465), nor empty")
        return address


class Config(_Section):
    crm: CrmSection
    store: StoreSection = StoreSection()
    health: HealthSection = HealthSection()
    risk: RiskSection = RiskSection()
    sla: SlaSection = SlaSection()
    schedule: ScheduleSection = ScheduleSection()
    daemon: DaemonSection = DaemonSection()
    log: LogSection = LogSection()
    surveys: SurveysSection = SurveysSection()
    push: PushSection = PushSection()
    alerts: AlertsSection = AlertsSection()
    sources: DeliverySection = DeliverySection()
    messages: MessagesSection = MessagesSection()
    cluster: ClusterSection = ClusterSection()


class Settings:
    """A validated config file plus the secrets from the environment."""

    def __init__(self, config: Config, path: Path, env: Mapping[str, str]) -> None:
        self.config = config
        self.path = path
        self._env = env

    @functools.cached_property
    def words(self) -> Words:
        """The message catalogs, with the company's override file (`[messages]`) over them."""
        return load_words(self.config.messages, self.path)

    @property
    def env(self) -> Mapping[str, str]:
        """The environment the secrets come from (delivery sources read theirs from it)."""
        return self._env

    @property
    def mapping_path(self) -> Path:
        if self.config.crm.mapping is None:
            return default_mapping_path(self.config.crm.kind)
        return (self.path.parent / self.config.crm.mapping).resolve()

    @property
    def store_url(self) -> str:
        url = self.config.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            url = prefix + str((self.path.parent / url[len(prefix) :]).resolve())
        if url.startswith(prefix + "/"):
            folder = Path(url[len(prefix) :].split("?")[0]).parent
            if not folder.is_dir():
                raise ConfigFileError(
                    self.path, "store.url", f"the folder {folder} does not exist; create it first"
                )
        return url

    def secret(self, name: str) -> SecretStr:
        variable = SECRET_ENV[name]
        value = self._env.get(variable)
        if not value:
            raise ConfigFileError(
                self.path,
                f"crm.{self.config.crm.kind}.{name}",
                f"set the environment variable {variable}",
            )
        return SecretStr(value)


def load_settings(path: Path | str, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file; ``ConfigFileError`` names the file and the key."""
    path = Path(path)
    env = os.environ if env is None else env
    data = read_toml(path)
    refuse_secrets_in_file(path, data)
    refuse_removed_keys(path, data)
    # ENGAGE_<SECTION>_<KEY> variables override the file (jobs/config_env.py).
    came_from = config_env.apply(Config, data, env)
    try:
        config = validate_model(path, data, Config)
    except ConfigFileError as exc:
        variable = config_env.source_of(exc.key, came_from)
        if variable is None:
            raise
        raise ConfigFileError(f"environment variable {variable}", exc.key, exc.message) from None
    settings = Settings(config, path, env)
    settings.words  # noqa: B018 - a bad override file is refused now, naming its file and key
    return settings


#: Keys a file may still have from an older version: (section, key) -> what to write instead.
REMOVED_KEYS = {
    ("risk", "report_cadence_days"): (
        "removed: the status-report cadence is set once, per SLA tier, as "
        "status_report_every_days in [sla.tiers.NAME.goals] (the communication factor of the "
        "risk score reads it too); delete this line"
    ),
}


def refuse_removed_keys(path: Path, data: Mapping[str, object]) -> None:
    """Raise, naming the key, if the file sets a key that was removed (not a generic
    "unknown key": the message says where the setting went)."""
    for (section, key), message in REMOVED_KEYS.items():
        values = data.get(section)
        if isinstance(values, Mapping) and key in values:
            raise ConfigFileError(path, f"{section}.{key}", message)


def refuse_secrets_in_file(path: Path, data: Mapping[str, object], prefix: str = "") -> None:
    """Raise if any key in the parsed TOML looks like a secret."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key in _SECRET_KEYS:
            hint = SECRET_ENV.get(key, "an environment variable")
            raise ConfigFileError(path, dotted, f"secrets do not belong in the file; use {hint}")
        if isinstance(value, Mapping):
            refuse_secrets_in_file(path, value, dotted + ".")
