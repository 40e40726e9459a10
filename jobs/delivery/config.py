"""``[sources.delivery.NAME]``: one section per connection to a delivery tool.

Secrets never live in the file: each source's token comes from the environment variable
``ENGAGE_DELIVERY_<NAME>_<SECRET>`` (NAME upper-cased, ``-`` as ``_``), for example
``ENGAGE_DELIVERY_JIRA_TOKEN`` for ``[sources.delivery.jira]``. Which secrets a tool needs is
in ``SECRETS_BY_TOOL``; docs/delivery.md says how to create them with the least privilege.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mappings.tomlfile import ConfigFileError

#: A source's name: it keys its facts, cursors and skips in the store (short, plain).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")

#: The secrets each tool's sources read from the environment, by auth.
SECRETS_BY_TOOL: dict[str, dict[str, tuple[str, ...]]] = {
    "jira": {"basic": ("token",), "oauth": ("access_token",)},
    "pingcode": {"client_credentials": ("client_secret",)},
    "trello": {"token": ("token",)},
    "worktile": {"client_credentials": ("client_secret",)},
    "planner": {"client_credentials": ("client_secret",)},
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeliverySourceSection(_Section):
    """One delivery source. ``kind`` picks the client; the other keys are the tool's."""

    kind: str
    #: The delivery mapping (TOML), relative to the config file.
    mapping: str
    #: The tool's address: Jira ``https://your-site.atlassian.net``; PingCode
    #: ``https://open.pingcode.com``. Jira with OAuth: ``https://api.atlassian.com/ex/jira/<cloudId>``.
    base_url: str
    #: How to authenticate: Jira "basic" (e-mail + API token) or "oauth" (a 3LO bearer);
    #: PingCode "client_credentials". Empty: the tool's first.
    auth: str | None = None
    #: Jira basic: the Atlassian account's e-mail (not a secret; the token is).
    email: str | None = None
    #: PingCode, Worktile, Planner: the app's client id (its secret comes from the environment).
    client_id: str | None = None
    #: Trello: the API key of the Power-Up (not a secret: it is public in every call; the
    #: member's token is). Not named api_key: that name is kept for secrets, refused here.
    app_key: str | None = None
    #: Planner: the Entra ID tenant (directory) id, and where its token endpoint is (default
    #: ``https://login.microsoftonline.com``; base_url is Graph, ``https://graph.microsoft.com``).
    tenant: str | None = None
    login_url: str | None = None
    enabled: bool = True
    #: Notice deleted work items (one listing of the keys per project and run).
    deletions: bool = True

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _known_kind_and_auth(self) -> DeliverySourceSection:
        auths = SECRETS_BY_TOOL.get(self.kind)
        if auths is None:
            raise ValueError(
                f"unknown kind {self.kind!r}; one of {', '.join(sorted(SECRETS_BY_TOOL))}"
            )
        if self.auth is not None and self.auth not in auths:
            raise ValueError(f"auth {self.auth!r} is not one of {', '.join(auths)} for {self.kind}")
        if self.kind == "jira" and self.chosen_auth == "basic" and not self.email:
            raise ValueError("Jira basic auth needs email (the account the API token belongs to)")
        if self.kind == "pingcode" and not self.client_id:
            raise ValueError(
                "PingCode needs client_id (the app's; its secret is in the environment)"
            )
        _check_part_two(self)
        return self

    @property
    def chosen_auth(self) -> str:
        return self.auth or next(iter(SECRETS_BY_TOOL[self.kind]))


def _check_part_two(section: DeliverySourceSection) -> None:
    """What Trello, Worktile and Planner sections need beside their secret."""
    if section.kind == "trello" and not section.app_key:
        raise ValueError(
            "Trello needs app_key (the API key of its Power-Up; the token is in the environment)"
        )
    if section.kind in ("worktile", "planner") and not section.client_id:
        raise ValueError(
            f"{section.kind} needs client_id (the app's; its secret is in the environment)"
        )
    if section.kind == "planner" and not section.tenant:
        raise ValueError("Planner needs tenant (the Entra ID directory id of the app)")


class DeliverySection(_Section):
    """``[sources.delivery.*]``: the delivery sources by name."""

    delivery: dict[str, DeliverySourceSection] = Field(default_factory=dict)

    @field_validator("delivery")
    @classmethod
    def _plain_names(
        cls, value: dict[str, DeliverySourceSection]
    ) -> dict[str, DeliverySourceSection]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(
                    f"source name {name!r}: lower-case letters, digits, - and _, at most 16"
                )
        return value


def secret_variable(name: str, secret: str) -> str:
    """The environment variable holding a source's secret."""
    return f"ENGAGE_DELIVERY_{name.upper().replace('-', '_')}_{secret.upper()}"


def source_secret(
    config_path: Path,
    name: str,
    section: DeliverySourceSection,
    secret: str,
    env: Mapping[str, str],
) -> SecretStr:
    """A source's secret from the environment; a missing one names the variable to set."""
    variable = secret_variable(name, secret)
    value = env.get(variable)
    if not value:
        raise ConfigFileError(
            config_path,
            f"sources.delivery.{name}",
            f"set the environment variable {variable} ({section.kind} {section.chosen_auth})",
        )
    return SecretStr(value)
