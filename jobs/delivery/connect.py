"""Build the configured delivery sources: client (by ``kind``), mapping, transport.

The one place that knows which client goes with which tool (as ``jobs/runner.py`` `connect`
does for CRMs): a new tool adds its factory to ``FACTORIES`` and its secrets to
``jobs/delivery/config.py`` ``SECRETS_BY_TOOL``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from connector.delivery.base import DeliverySource
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from jobs.delivery.config import DeliverySourceSection, source_secret
from jobs.delivery.pull import ConfiguredSource
from jobs.store import Store
from mappings.delivery import load_delivery_mapping
from mappings.tomlfile import ConfigFileError


@dataclass
class CallCount:
    """HTTP requests a source sent, by (method, path): `engage sources check`, tests."""

    calls: dict[tuple[str, str], int] = field(default_factory=dict)

    def __call__(self, method: str, url: str, status: int | None) -> None:
        path = "/" + url.split("://", 1)[-1].split("/", 1)[-1]
        self.calls[(method, path)] = self.calls.get((method, path), 0) + 1

    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class SourceContext:
    """What a client factory gets to build one source's client."""

    name: str
    section: DeliverySourceSection
    config_path: Path
    env: Mapping[str, str]
    transport: HttpTransport
    #: For tokens kept between processes (PingCode's 30-day token); None: kept in memory.
    store: Store | None
    clock: Callable[[], datetime]

    def secret(self, secret: str) -> str:
        return source_secret(
            self.config_path, self.name, self.section, secret, self.env
        ).get_secret_value()


SourceFactory = Callable[[SourceContext], DeliverySource]


def _jira(context: SourceContext) -> DeliverySource:
    from jobs.delivery.tools import jira_source

    return jira_source(context)


def _pingcode(context: SourceContext) -> DeliverySource:
    from jobs.delivery.tools import pingcode_source

    return pingcode_source(context)


def _boards(kind: str) -> SourceFactory:
    def build(context: SourceContext) -> DeliverySource:
        from jobs.delivery import boards

        return boards.FACTORIES[kind](context)

    return build


#: kind -> how its client is built.
FACTORIES: dict[str, SourceFactory] = {
    "jira": _jira,
    "pingcode": _pingcode,
    **{kind: _boards(kind) for kind in ("trello", "worktile", "planner")},
}


@dataclass
class OpenedSource:
    configured: ConfiguredSource
    counter: CallCount
    transport: HttpTransport


def open_sources(
    sections: Mapping[str, DeliverySourceSection],
    config_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
    policy: RetryPolicy | None = None,
    session: requests.Session | None = None,
    only_enabled: bool = True,
) -> list[OpenedSource]:
    """Every configured (enabled) source, ready to pull. A bad mapping or a missing secret
    raises ``ConfigFileError`` naming the file or variable and the key."""
    env = os.environ if env is None else env
    clock = clock or (lambda: datetime.now(UTC))
    opened: list[OpenedSource] = []
    for name, section in sections.items():
        if only_enabled and not section.enabled:
            continue
        mapping = load_delivery_mapping((config_path.parent / section.mapping).resolve())
        if mapping.tool != section.kind:
            raise ConfigFileError(
                config_path,
                f"sources.delivery.{name}.mapping",
                f"{section.mapping} is written for {mapping.tool}, not {section.kind}",
            )
        counter = CallCount()
        transport = HttpTransport(session=session, policy=policy or RetryPolicy(), observer=counter)
        context = SourceContext(name, section, config_path, env, transport, store, clock)
        client = FACTORIES[section.kind](context)
        opened.append(
            OpenedSource(
                ConfiguredSource(name, client, mapping, section.deletions), counter, transport
            )
        )
    return opened
