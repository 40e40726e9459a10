"""PingCode (open API v1), read only: projects, versions (releases), work items with state and
priority (research/fxiaoke_and_tools.md Part B; PingCode's REST reference: overview, auth,
project).

- Auth: ``GET /v1/auth/token?grant_type=client_credentials&client_id=&client_secret=`` gives
  an "enterprise token", valid 30 days, with admin scope; sent as ``authorization: Bearer``.
  It is kept between processes (``connector/kept_tokens.py``, sealed), so a token is fetched
  about once a month, not per run.
- Lists page with ``page_size`` (at most 100) and ``page_index`` (0 first) and give ``total``
  and ``values``. Times are 10-digit seconds.
- 200 requests per minute per caller; over it, 429 with ``x-pc-retry-after`` (seconds). The
  client counts its own calls (a rolling minute) and waits before it would exceed its budget,
  so a long pull is never refused; a 429 still waits as told (the one retry policy).
- Incremental by ``updated_between=<cursor>,`` with ``include_deleted=true``: deleted items come
  back with ``is_deleted: 1`` and leave the store. The order of the list is not documented, so
  the cursor is handed over only with a read's last page.
- The open API has no state history for work items: first responses and waits on the client
  cannot be read from PingCode (resolution is ``completed_at``); see docs/delivery.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from pydantic import SecretStr

from connector.delivery.base import DeliveryProject, Release, Vocabulary, WorkItem, WorkItemPage
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    RecordError,
    UnavailableError,
    trim_body,
)
from connector.fxiaoke.limits import EndpointLimiter
from connector.http import HttpTransport
from connector.kept_tokens import KeptToken, TokenCache, TokenKeeper, TokenKey, TokenSlot

#: Items per page: PingCode's maximum.
PAGE_SIZE = 100
#: PingCode allows 200 calls a minute per caller; the client keeps under it by this much, for
#: the odd call of another process on the same app (`engage sources check` beside the daemon).
CALLS_PER_MINUTE = 190
#: Fetch a new token a day before the kept one expires (they last 30 days).
REFRESH_MARGIN = timedelta(days=1)
TOKEN_LIFETIME = timedelta(days=30)
RETRY_AFTER_HEADER = "x-pc-retry-after"
MAX_RETRY_AFTER_SECONDS = 60.0
_SEAL_CONTEXT = b"engage/pingcode-enterprise-token/v1"


@dataclass(frozen=True)
class PingCodeCredentials:
    client_id: str
    client_secret: SecretStr


@dataclass(frozen=True)
class PingCodeToken:
    value: str
    expires_at: datetime
    generation: int


def from_seconds(value: Any) -> datetime | None:
    """A 10-digit second timestamp as UTC (None for none or 0)."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def token_expiry(expires_in: Any, now: datetime) -> datetime:
    """When a token expires. UNCONFIRMED: the docs call ``expires_in`` a validity but show
    1577808000, a 10-digit timestamp; a value past 10^9 is read as the moment, a smaller one
    as seconds from now, and none as the documented 30 days."""
    try:
        number = int(expires_in)
    except (TypeError, ValueError):
        return now + TOKEN_LIFETIME
    if number > 1_000_000_000:
        return datetime.fromtimestamp(number, tz=UTC)
    return now + timedelta(seconds=number)


def describe_pingcode_error(response: requests.Response) -> str:
    """``{"code": "100038", "message": "..."}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    code, message = body.get("code"), body.get("message")
    return f"{message} [{code}]" if code else str(message or "")


class PingCodeTokens(TokenKeeper[PingCodeToken]):
    """The enterprise token, kept (sealed) between processes; one fetch per 30 days."""

    def __init__(
        self,
        base_url: str,
        credentials: PingCodeCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime],
        cache: TokenCache | None = None,
    ) -> None:
        secret = credentials.client_secret.get_secret_value()
        super().__init__(
            key=TokenKey(
                accounts_url=f"pingcode:{base_url}",
                client_id=credentials.client_id,
                fingerprint=hashlib.sha256(secret.encode()).hexdigest()[:32],
            ),
            cache=cache,
            clock=clock,
            refresh_margin=REFRESH_MARGIN,
            seal_context=_SEAL_CONTEXT,
            seal_key=secret,
            seal_secret=secret,
        )
        self.base_url = base_url
        self.credentials = credentials
        self.transport = transport
        self.clock = clock

    def _opened(self, opened: str, kept: KeptToken, generation: int) -> PingCodeToken | None:
        assert kept.expires_at is not None
        return PingCodeToken(opened, kept.expires_at, generation)

    def _obtain(
        self, kept: KeptToken, now: datetime, slot: TokenSlot
    ) -> tuple[PingCodeToken, KeptToken]:
        response = self.transport.request(
            "GET",
            f"{self.base_url}/v1/auth/token",
            idempotent=True,
            params={
                "grant_type": "client_credentials",
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret.get_secret_value(),
            },
        )
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            pass
        if (
            response.status_code >= 400
            or not isinstance(body, dict)
            or not body.get("access_token")
        ):
            said = describe_pingcode_error(response)
            raise AuthenticationError(
                "PingCode refused the client id and secret" + (f": {said}" if said else ""),
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        value = str(body["access_token"])
        token = PingCodeToken(
            value, token_expiry(body.get("expires_in"), now), self._next_generation()
        )
        entry = KeptToken(
            sealed=self._seal(value), expires_at=token.expires_at, worked_at=kept.worked_at or now
        )
        return token, entry


class PingCodeClient:
    """A PingCode enterprise, read through the open API v1 (implements `DeliverySource`)."""

    tool = "pingcode"

    def __init__(
        self,
        base_url: str,
        credentials: PingCodeCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        cache: TokenCache | None = None,
        calls_per_minute: int = CALLS_PER_MINUTE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.transport = transport
        transport.retry_after_header = RETRY_AFTER_HEADER
        # PingCode tells how long the minute has left (up to 60 s): wait that long, not the
        # policy's usual cap (a copy: the policy object may be shared).
        transport.policy = replace(
            transport.policy,
            max_delay_seconds=max(transport.policy.max_delay_seconds, MAX_RETRY_AFTER_SECONDS),
        )
        self.tokens = PingCodeTokens(
            self.base_url, credentials, transport, clock=self.clock, cache=cache
        )
        self.limiter = EndpointLimiter(
            clock=self.clock,
            sleep=sleep or transport.policy.sleep,
            calls_per_window=calls_per_minute,
            window=timedelta(minutes=1),
            tool="PingCode",
        )
        self._types: dict[str, dict[str, str]] = {}  # project id -> type id -> name

    # --- the request path ------------------------------------------------------------------------
    def _call(
        self, path: str, params: Mapping[str, Any] | None = None, field: str | None = None
    ) -> Any:
        token = self.tokens.valid_token()
        # One budget for every call of this client: PingCode counts per caller, not per path.
        self.limiter.wait("all")
        response = self.transport.request(
            "GET",
            f"{self.base_url}{path}",
            idempotent=True,
            headers=lambda: {"authorization": f"Bearer {token.value}"},
            params=params,
        )
        if response.status_code == 401:
            self.tokens.refused(token.generation)
            raise AuthenticationError(
                "PingCode refused the enterprise token (app deleted or its secret reset?)",
                http_status=401,
                body_excerpt=trim_body(response.content),
            )
        if response.status_code >= 400:
            said = describe_pingcode_error(response)
            error = ConfigurationError if response.status_code in (400, 403, 404) else RecordError
            raise error(
                f"GET {path} refused" + (f": {said}" if said else ""),
                field=field,
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        try:
            return response.json()
        except ValueError:
            raise UnavailableError(
                f"GET {path}: PingCode answered without JSON", http_status=response.status_code
            ) from None

    def _pages(
        self, path: str, params: Mapping[str, Any] | None = None, field: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """``page_index`` from 0 until ``total`` is reached (or a short page)."""
        index = 0
        seen = 0
        while True:
            body = self._call(
                path, {**(params or {}), "page_size": PAGE_SIZE, "page_index": index}, field
            )
            values = list(body.get("values") or [])
            yield values
            seen += len(values)
            index += 1
            if not values or seen >= int(body.get("total") or 0):
                return

    # --- DeliverySource --------------------------------------------------------------------------
    def check(self) -> None:
        self._call("/v1/project/projects", {"page_size": 1, "page_index": 0})

    def project(self, key: str) -> DeliveryProject:
        body = self._call("/v1/project/projects", {"identifier": key}, field=key)
        for value in body.get("values") or []:
            if value.get("identifier") == key:
                return DeliveryProject(
                    key=key, id=str(value["id"]), name=str(value.get("name") or key)
                )
        raise ConfigurationError(f"no project with the identifier {key}", field=key)

    def vocabulary(self, project: DeliveryProject) -> Vocabulary:
        types = self._type_names(project)
        priorities = {
            str(p.get("name"))
            for page in self._pages("/v1/project/work_item/priorities", {"project_id": project.id})
            for p in page
        }
        states = {
            str(s.get("name"))
            for type_id in types
            for page in self._pages(
                "/v1/project/work_item/states",
                {"project_id": project.id, "work_item_type_id": type_id},
            )
            for s in page
        }
        return Vocabulary(
            statuses=frozenset(states),
            priorities=frozenset(priorities),
            types=frozenset(types.values()) | frozenset(types),
        )

    def _type_names(self, project: DeliveryProject) -> dict[str, str]:
        if project.id not in self._types:
            self._types[project.id] = {
                str(t["id"]): str(t.get("name") or t["id"])
                for page in self._pages("/v1/project/work_item/types", {"project_id": project.id})
                for t in page
            }
        return self._types[project.id]

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        path = f"/v1/project/projects/{project.id}/versions"
        for page in self._pages(path, field=project.key):
            for v in page:
                stage = v.get("stage") or {}
                released = stage.get("type") in ("published", "completed")
                end = from_seconds(v.get("end_at"))
                progress = v.get("progress")
                yield Release(
                    project_key=project.key,
                    id=str(v["id"]),
                    name=str(v.get("name") or v["id"]),
                    due=end.date() if end else None,
                    released=released,
                    released_on=_published_on(v) if released else None,
                    percent_complete=_percent(progress),
                    stage=str(stage.get("name") or "") or None,
                )

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        names = self._type_names(project)
        params: dict[str, Any] = {"project_ids": project.id, "include_deleted": "true"}
        if cursor:
            # From the second before the cursor: whether the lower bound is inclusive is not
            # documented ("大于"), so the cursor's own second is read again either way.
            params["updated_between"] = f"{int(cursor) - 1},"
        newest = int(cursor) if cursor else 0
        pages = _with_last(self._pages("/v1/project/work_items", params, field=project.key))
        for last, page in pages:
            items, deleted = [], []
            for raw in page:
                newest = max(newest, int(raw.get("updated_at") or 0))
                if raw.get("is_deleted"):
                    deleted.append(str(raw.get("identifier") or raw["id"]))
                else:
                    items.append(_work_item(project, raw, names))
            yield WorkItemPage(
                tuple(items), str(newest) if last and newest else None, tuple(deleted)
            )

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        return None  # deletions come with the incremental read (include_deleted)


def _with_last(
    pages: Iterator[list[dict[str, Any]]],
) -> Iterator[tuple[bool, list[dict[str, Any]]]]:
    """Each page with whether it is the last (one page read ahead)."""
    previous: list[dict[str, Any]] | None = None
    for page in pages:
        if previous is not None:
            yield False, previous
        previous = page
    if previous is not None:
        yield True, previous


def _work_item(
    project: DeliveryProject, raw: Mapping[str, Any], names: Mapping[str, str]
) -> WorkItem:
    created = from_seconds(raw.get("created_at"))
    if created is None:
        raise RecordError(
            f"work item {raw.get('identifier')} has no created_at", field="created_at"
        )
    type_id = str(raw.get("type") or "")
    return WorkItem(
        project_key=project.key,
        id=str(raw["id"]),
        key=str(raw.get("identifier") or raw["id"]),
        type=names.get(type_id, type_id),
        status=str((raw.get("state") or {}).get("name") or ""),
        priority=(raw.get("priority") or {}).get("name"),
        created=created,
        updated=from_seconds(raw.get("updated_at")) or created,
        resolved=from_seconds(raw.get("completed_at")),
        release_ids=tuple(filter(None, [str((raw.get("version") or {}).get("id") or "")])),
        fields=dict(raw.get("properties") or {}),
    )


def _percent(progress: Any) -> float | None:
    """``progress``: UNCONFIRMED whether 0-1 or 0-100 (the docs show 0); a value of at most 1
    is read as a fraction."""
    if progress is None:
        return None
    value = float(progress)
    return value * 100 if value <= 1 else value


def _published_on(version: Mapping[str, Any]) -> date | None:
    """The day the version reached its last (published) stage, when its stages say; else its
    planned end."""
    stages = version.get("stages") or []
    when = from_seconds(stages[-1].get("operate_at")) if stages else None
    when = when or from_seconds(version.get("end_at"))
    return when.date() if when else None
