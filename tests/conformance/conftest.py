"""Zoho's official Python SDK for the v8 API (``zohocrmsdk8-0`` from PyPI) against the sandbox.

The sandbox was shaped by the same hand as the connector's client; this suite holds it to an
independent party instead: what Zoho's own library sends, and what it can parse. The SDK is
pointed at the sandbox through its own ``DataCenter.Environment`` (API URL, accounts URL,
upload URL), which is how it names a data centre ([SDK] ``crm/api/dc/data_center.py``); its
token store, field-metadata cache and log file all live in the test's ``tmp_path``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig

from connector.sandbox import SandboxCRM
from jobs.messages.catalog import Words
from jobs.messages.fields import field_words
from mappings.engine import Mapper
from mappings.spec import default_mapping_path, load_mapping
from tests.conftest import FakeClock

#: More deals than Get Records' page/per_page reach (2,000, §2), so reading all of them needs
#: the page_token; 2,345 is the issue's figure.
MANY_DEALS = 2345


@dataclass
class SdkSession:
    """The sandbox, and the SDK initialised against it (module-level state of the SDK)."""

    crm: SandboxCRM
    token_file: Path
    log_file: Path


def start_sdk(crm: SandboxCRM, tmp_path: Path, *, auto_refresh_fields: bool = False) -> SdkSession:
    """Initialise the SDK as a user would, with the sandbox as its data centre."""
    environment = DataCenter.Environment(
        crm.url,
        f"{crm.url}/oauth/v2/token",
        crm.url,  # API domain, accounts URL, upload URL
    )
    token = OAuthToken(
        client_id=crm.client_id,
        client_secret=crm.client_secret,
        refresh_token=crm.refresh_token,
    )
    token_file = tmp_path / "sdk_tokens.csv"
    log_file = tmp_path / "sdk.log"
    resources = tmp_path / "sdk_resources"
    resources.mkdir()
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(str(token_file)),
        # Picklist validation on: the SDK checks written picklist values against the metadata
        # the sandbox serves, one more way for the two to disagree.
        sdk_config=SDKConfig(auto_refresh_fields=auto_refresh_fields, pick_list_validation=True),
        resource_path=str(resources),
        logger=Logger.get_instance(Logger.Levels.INFO, str(log_file)),
    )
    return SdkSession(crm=crm, token_file=token_file, log_file=log_file)


@pytest.fixture
def sdk(clock: FakeClock, tmp_path: Path) -> Iterator[SdkSession]:
    with SandboxCRM(deals=300, clock=clock) as crm:
        yield start_sdk(crm, tmp_path)
    close_sdk_log_handlers()


@pytest.fixture(scope="module")
def many_deals_crm() -> Iterator[SandboxCRM]:
    """One sandbox with 2,345 deals for the reading tests (building it costs seconds)."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC))
    with SandboxCRM(deals=MANY_DEALS, accounts=400, clock=clock) as crm:
        yield crm


@pytest.fixture
def many_deals_sdk(many_deals_crm: SandboxCRM, tmp_path: Path) -> Iterator[SdkSession]:
    many_deals_crm.reset_calls()
    yield start_sdk(many_deals_crm, tmp_path)
    close_sdk_log_handlers()


def close_sdk_log_handlers() -> None:
    # The SDK adds a file handler to the "SDKLogger" logger at every initialisation.
    logger = logging.getLogger("SDKLogger")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def default_mapping_fields(kind: str) -> list[str]:
    """The fields the connector's default Zoho mapping reads for ``kind``."""
    return Mapper(
        load_mapping(default_mapping_path("zoho")), field_words(Words.shipped())
    ).read_fields(kind)
