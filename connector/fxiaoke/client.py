"""Fxiaoke (纷享销客 / ShareCRM) OpenAPI client behind the connector's protocol.

Written against research/fxiaoke_and_tools.md Part A (cited by section below), not against our
sandbox. What Fxiaoke does differently, kept here:

- every call is ``POST`` + JSON and every error comes back in HTTP 200 with ``errorCode`` (A6);
- two token styles (connector/fxiaoke/auth.py); 20016 → one refresh and the call again;
- the acting user: ``currentOpenUserId`` in the body (legacy) or ``x-fs-userid`` (oauth2),
  from the config or looked up once by the admin's mobile number (A2);
- preset objects on ``/cgi/crm/v2/…``, custom (``__c``) objects on ``/cgi/crm/custom/v2/…``;
  the path follows the object, not the field (A3);
- ``limit`` ≤ 100 and no ``offset`` past 10,000: full reads page by ``_id GT <last>`` with
  ``offset`` 0, incremental reads by a keyset on (``last_modified_time``, ``_id``) (A5);
- one record per update call, ``triggerWorkFlow``/``triggerApprovalFlow`` false (A3), at most
  100 calls per 20 s per endpoint (A7), counted here before the call rather than refused after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connector.base import (
    DeletedRecord,
    FieldCreateOutcome,
    FieldMeta,
    NewField,
    NewTask,
    RecordPage,
    WriteOutcome,
    WriteStatus,
)
from connector.errors import (
    ConfigurationError,
    ConnectionSetupError,
    ConnectorError,
    RecordError,
    RetryLaterError,
    UnavailableError,
    UnknownFieldError,
    trim_body,
)
from connector.http import HttpTransport

from .admin_steps import admin_steps
from .auth import FxiaokeToken, FxiaokeTokenManager
from .errors import (
    SECTION,
    TOKEN_EXPIRED,
    TOO_FAST,
    call_error,
    error_code,
)
from .limits import EndpointLimiter
from .values import (
    FxField,
    ValueRefused,
    as_dict,
    epoch_ms,
    from_epoch_ms,
    is_name_of_lookup,
    normalize_record,
    parse_describe,
    to_fxiaoke,
)

log = logging.getLogger(__name__)

#: The most ``search_query_info.limit`` takes (A5).
PAGE_LIMIT = 100
#: The mapping's name for "whichever opportunity object this tenant uses" (A4).
OPPORTUNITY = "opportunity"
OPPORTUNITY_OBJECTS = ("NewOpportunityObj", "OpportunityObj")
#: Follow-ups are written as 跟进记录 (sales records): the object data API is what the research
#: found documented for every object; no task API was found (A3). UNCONFIRMED field names.
FOLLOW_UP_OBJECT = "ActiveRecordObj"
#: Update calls in flight at once (one record each), within the per-endpoint limit.
WRITE_CONCURRENCY = 5
MODIFIED = "last_modified_time"
#: 作废 (invalidated) records: ``life_status`` "invalid". Whether a query leaves them out by
#: default is UNCONFIRMED: every read says so itself, so both readings give the same rows.
NOT_INVALID = {"field_name": "life_status", "operator": "N", "field_values": ["invalid"]}


def _fixed(headers: dict[str, str]) -> Callable[[], dict[str, str]]:
    """The same headers on every attempt: a retry carries the same trace id and token."""
    return lambda: headers


class FxiaokeClient:
    """The connector's CRM protocol over Fxiaoke's OpenAPI."""

    #: Rows one ``update_records`` call takes; each row is its own update call (A3).
    max_write_batch = 100

    def __init__(
        self,
        tokens: FxiaokeTokenManager,
        transport: HttpTransport,
        *,
        open_user_id: str | None = None,
        admin_mobile: str | None = None,
        opportunity_object: str = "auto",
        id_scan_interval: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_LIMIT,
    ) -> None:
        self.tokens = tokens
        self.transport = transport
        self.base_url = tokens.credentials.base_url.rstrip("/")
        self.style = tokens.credentials.style
        self._user = open_user_id
        self._mobile = admin_mobile
        self._opportunity = None if opportunity_object == "auto" else opportunity_object
        self.id_scan_interval = id_scan_interval
        self.page_size = min(page_size, PAGE_LIMIT)
        self._limiter = EndpointLimiter(clock, sleep)
        self._describes: dict[str, dict[str, FxField]] = {}
        # Re-entrant: detecting the opportunity object makes a call, which needs the user.
        self._lock = threading.RLock()

    # --- the acting user and the one call path ------------------------------------------------
    def user_id(self) -> str:
        """The user every call acts as: the config's, or the admin's found by mobile once."""
        with self._lock:
            if self._user is None:
                self._user = self._user_by_mobile()
            return self._user

    def _user_by_mobile(self) -> str:
        if not self._mobile:
            if self.style == "oauth2":
                token = self.tokens.current()
                if token.open_user_id:
                    return token.open_user_id
            raise ConfigurationError(
                f"set {SECTION}.open_user_id (the CRM admin's openUserId, FSUID_…) or "
                f"{SECTION}.admin_mobile (looked up once with /cgi/user/getByMobile)"
            )
        payload = self._post("/cgi/user/getByMobile", {"mobile": self._mobile}, as_user=False)
        people = payload.get("empList") or []
        first = people[0] if people and isinstance(people[0], dict) else {}
        # Legacy calls take the openUserId (A2). The oauth2 header wants the CRM employee id
        # ("e.g. 1000", A1); which key of empList carries it is UNCONFIRMED: try the likely ones.
        keys = ("openUserId",) if self.style == "legacy" else ("userId", "employeeId", "openUserId")
        found = next((str(first[k]) for k in keys if first.get(k)), None)
        if found is None:
            raise ConfigurationError(
                f"no Fxiaoke employee has the mobile number in {SECTION}.admin_mobile; set "
                f"{SECTION}.open_user_id instead"
            )
        return found

    def _post(
        self,
        path: str,
        data: dict[str, Any] | None,
        *,
        top: dict[str, Any] | None = None,
        as_user: bool = True,
        idempotent: bool = True,
        what: str | None = None,
    ) -> dict[str, Any]:
        """One call; returns the body of an ``errorCode`` 0 answer or raises a typed error."""
        what = what or path
        refreshed = False
        slow_attempts = 0
        while True:
            token = self.tokens.current()
            user = self.user_id() if as_user else None
            body: dict[str, Any] = dict(top or {})
            if data is not None and path != "/cgi/user/getByMobile":
                body["data"] = data
            elif data is not None:
                body.update(data)
            headers: dict[str, str] | None = None
            params: dict[str, str] | None = None
            if self.style == "legacy":
                body.update(corpAccessToken=token.value, corpId=token.corp_id)
                if user is not None:
                    body["currentOpenUserId"] = user
            else:
                headers = self._bearer(token, user)
                params = {"thirdTraceId": self.tokens.trace_id()}  # fresh per request (A1)
            self._limiter.wait(path)
            response = self.transport.request(
                "POST",
                self.base_url + path,
                idempotent=idempotent,
                headers=_fixed(headers) if headers else None,
                params=params,
                json=body,
            )
            payload = self._json(response, what)
            code = error_code(payload)
            if code == 0:
                return payload
            if code == TOKEN_EXPIRED and not refreshed:
                refreshed = True
                self.tokens.refused(token.generation)
                continue
            if (
                code == TOO_FAST
                and slow_attempts + 1 < self.transport.policy.max_rate_limited_attempts
            ):
                slow_attempts += 1
                self.transport.policy.wait(slow_attempts)
                continue
            raise call_error(payload, what, user or "(app)")

    @staticmethod
    def _bearer(token: FxiaokeToken, user: str | None) -> dict[str, str]:
        headers = {"authorization": f"Bearer {token.value}", "x-fs-ea": token.corp_id}
        if user is not None:
            headers["x-fs-userid"] = user
        return headers

    @staticmethod
    def _json(response: requests.Response, what: str) -> dict[str, Any]:
        try:
            payload = response.json()
        except requests.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or error_code(payload) is None:
            raise UnavailableError(
                f"{what}: Fxiaoke answered HTTP {response.status_code} without an errorCode",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        return payload

    # --- objects and their metadata ------------------------------------------------------------
    def object_api_name(self, module: str) -> str:
        """``module`` as Fxiaoke names it: "opportunity" is the tenant's opportunity object."""
        if module != OPPORTUNITY:
            return module
        with self._lock:
            if self._opportunity is None:
                self._opportunity = self._detect_opportunity()
            return self._opportunity

    def _detect_opportunity(self) -> str:
        # Which of the two a tenant uses is not documented; object/list with isActive is the
        # research's best guess (A4, UNCONFIRMED); set crm.fxiaoke.opportunity_object to force.
        payload = self._post("/cgi/crm/v2/object/list", {}, what="object/list")
        data = payload.get("data")
        listed = data if isinstance(data, list) else []
        if isinstance(data, dict):
            listed = data.get("objects") or data.get("dataList") or []
        active: set[str] = set()
        for entry in listed:
            if not isinstance(entry, dict):
                continue
            name = entry.get("describeApiName") or entry.get("api_name") or entry.get("apiName")
            is_active = entry.get("isActive", entry.get("is_active", True))
            if name and is_active:
                active.add(str(name))
        for name in OPPORTUNITY_OBJECTS:  # 商机2.0 first: a tenant that turned it on uses it
            if name in active:
                return name
        raise ConfigurationError(
            "object/list names no active opportunity object (NewOpportunityObj, OpportunityObj); "
            f"set {SECTION}.opportunity_object"
        )

    @staticmethod
    def _prefix(api_name: str) -> str:
        return "/cgi/crm/custom/v2" if api_name.endswith("__c") else "/cgi/crm/v2"

    def describe(self, module: str, *, fresh: bool = False) -> dict[str, FxField]:
        api = self.object_api_name(module)
        with self._lock:
            cached = self._describes.get(api)
        if cached is not None and not fresh:
            return cached
        payload = self._post(
            f"{self._prefix(api)}/object/describe",
            {"apiName": api, "includeDetail": True},
            what=f"describe {api}",
        )
        fields = parse_describe(payload)
        with self._lock:
            self._describes[api] = fields
        return fields

    def get_fields(self, module: str) -> list[FieldMeta]:
        return [f.meta() for f in self.describe(module, fresh=True).values()]

    def _known_fields(self, module: str, names: Sequence[str]) -> dict[str, FxField]:
        fields = self.describe(module)
        for name in names:
            if name not in fields and name != "id":
                raise UnknownFieldError(
                    f"{self.object_api_name(module)} has no field {name} (not in describe): "
                    "run `engage mappings check` to find the field's API name by its label",
                    field=name,
                )
        return fields

    # --- reading -------------------------------------------------------------------------------
    def _query(
        self,
        api: str,
        filters: list[dict[str, Any]],
        orders: list[dict[str, Any]],
        projection: list[str],
        *,
        count: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        payload = self._post(
            f"{self._prefix(api)}/data/query",
            {
                "dataObjectApiName": api,
                "find_explicit_total_num": count,
                "search_query_info": {
                    "limit": self.page_size,
                    "offset": 0,  # always: deep paging moves the filter, never the offset (A5)
                    "filters": filters,
                    "orders": orders,
                    "fieldProjection": projection,
                },
            },
            what=f"query {api}",
        )
        data = as_dict(payload.get("data"))
        rows = [r for r in data.get("dataList") or [] if isinstance(r, dict)]
        try:
            total = int(data.get("total") or 0)
        except (TypeError, ValueError):
            total = 0
        return rows, total

    def iter_pages(
        self, module: str, fields: Sequence[str], *, modified_since: datetime | None = None
    ) -> Iterator[RecordPage]:
        api = self.object_api_name(module)
        described = self._known_fields(module, fields)
        # `<lookup>__r` comes with its lookup: ask for the lookup.
        asked = {f.removesuffix("__r") if is_name_of_lookup(f) else f for f in fields}
        projection = sorted({*asked, "_id", MODIFIED} - {"id"})
        if modified_since is None:
            yield from self._by_id(module, api, described, projection)
        else:
            yield from self._by_modified(module, api, described, projection, modified_since)

    def _page(
        self, module: str, rows: list[dict[str, Any]], fields: dict[str, FxField], more: bool
    ) -> RecordPage:
        times = [t for t in (from_epoch_ms(r.get(MODIFIED)) for r in rows) if t is not None]
        return RecordPage(
            module=module,
            records=[normalize_record(r, fields) for r in rows],
            more_records=more,
            newest_modified=max(times) if times else None,
        )

    def _by_id(
        self, module: str, api: str, fields: dict[str, FxField], projection: list[str]
    ) -> Iterator[RecordPage]:
        """Every record, ``_id`` ascending, the next page after ``_id GT <last>`` (A5)."""
        last: str | None = None
        total = seen = 0
        while True:
            filters = [NOT_INVALID]
            if last is not None:
                filters.append({"field_name": "_id", "operator": "GT", "field_values": [last]})
            # The first page asks for the total, so the last page is known without an empty call.
            rows, count = self._query(
                api, filters, [{"fieldName": "_id", "isAsc": True}], projection, count=last is None
            )
            total = count if last is None else total
            seen += len(rows)
            more = len(rows) == self.page_size and (total <= 0 or seen < total)
            yield self._page(module, rows, fields, more)
            if not more or not rows:
                return
            last = str(rows[-1]["_id"])

    def _by_modified(
        self,
        module: str,
        api: str,
        fields: dict[str, FxField],
        projection: list[str],
        since: datetime,
    ) -> Iterator[RecordPage]:
        """Records with ``last_modified_time`` ≥ ``since``, by the keyset (time, ``_id``).

        Filters are AND-ed only, so the keyset is walked as: time GTE t (skipping the rows of
        instant t already read), and when a whole page holds only instant t, that instant by
        ``_id GT`` until it ends, then time GT t.
        """
        t, last_id, strict = epoch_ms(since), None, False
        orders = [{"fieldName": MODIFIED, "isAsc": True}, {"fieldName": "_id", "isAsc": True}]
        while True:
            op = "GT" if strict else "GTE"
            filters = [
                NOT_INVALID,
                {"field_name": MODIFIED, "operator": op, "field_values": [str(t)]},
            ]
            rows, _ = self._query(api, filters, orders, projection)
            full = len(rows) == self.page_size
            new = [r for r in rows if not self._seen(r, t, last_id)]
            if full and not new:
                yield from self._one_instant(module, api, fields, projection, t, last_id)
                strict, last_id = True, None
                continue
            yield self._page(module, new, fields, full)
            if not full:
                return
            last = rows[-1]
            t, last_id, strict = int(last[MODIFIED]), str(last["_id"]), False

    @staticmethod
    def _seen(row: dict[str, Any], t: int, last_id: str | None) -> bool:
        return (
            last_id is not None and int(row.get(MODIFIED) or 0) == t and str(row["_id"]) <= last_id
        )

    def _one_instant(
        self,
        module: str,
        api: str,
        fields: dict[str, FxField],
        projection: list[str],
        t: int,
        last_id: str | None,
    ) -> Iterator[RecordPage]:
        while True:
            filters = [
                NOT_INVALID,
                {"field_name": MODIFIED, "operator": "EQ", "field_values": [str(t)]},
            ]
            if last_id is not None:
                filters.append({"field_name": "_id", "operator": "GT", "field_values": [last_id]})
            rows, _ = self._query(api, filters, [{"fieldName": "_id", "isAsc": True}], projection)
            yield self._page(module, rows, fields, True)
            if len(rows) < self.page_size:
                return
            last_id = str(rows[-1]["_id"])

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        """Records invalidated (作废) since then. Hard deletes leave no trace to ask about; the
        id scan (``live_ids``) notices both, which is what the sync uses."""
        api = self.object_api_name(module)
        last: str | None = None
        while True:
            filters: list[dict[str, Any]] = [
                {"field_name": "life_status", "operator": "EQ", "field_values": ["invalid"]}
            ]
            if deleted_since is not None:
                since = str(epoch_ms(deleted_since))
                filters.append({"field_name": MODIFIED, "operator": "GTE", "field_values": [since]})
            if last is not None:
                filters.append({"field_name": "_id", "operator": "GT", "field_values": [last]})
            rows, _ = self._query(
                api, filters, [{"fieldName": "_id", "isAsc": True}], ["_id", MODIFIED]
            )
            for row in rows:
                yield DeletedRecord(module, str(row["_id"]), from_epoch_ms(row.get(MODIFIED)))
            if len(rows) < self.page_size:
                return
            last = str(rows[-1]["_id"])

    def live_ids(self, module: str) -> set[str]:
        """Every id not invalidated: the ids held but missing here were deleted or 作废."""
        api = self.object_api_name(module)
        self.describe(module)
        ids: set[str] = set()
        for page in self._by_id(module, api, {}, ["_id"]):
            ids.update(str(r["_id"]) for r in page.records)
        return ids

    # --- writing -------------------------------------------------------------------------------
    def update_records(self, module: str, rows: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        api = self.object_api_name(module)
        fields = self._known_fields(module, sorted({k for r in rows for k in r} - {"id"}))
        if len(rows) <= 1:
            return [self._update_one(api, fields, row) for row in rows]
        with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(rows))) as pool:
            return list(pool.map(lambda row: self._update_one(api, fields, row), rows))

    def _update_one(
        self, api: str, fields: dict[str, FxField], row: dict[str, Any]
    ) -> WriteOutcome:
        record_id = str(row["id"])
        values: dict[str, Any] = {"_id": record_id, "dataObjectApiName": api}
        for name, value in row.items():
            if name == "id":
                continue
            try:
                values[name] = to_fxiaoke(fields[name], value)
            except ValueRefused as exc:
                return WriteOutcome(record_id, WriteStatus.INVALID, "INVALID_DATA", name, str(exc))
        try:
            self._post(
                f"{self._prefix(api)}/data/update",
                {"object_data": values},
                # Score write-backs must not start approvals or workflows: both default to true.
                top={"triggerWorkFlow": False, "triggerApprovalFlow": False},
                what=f"update {api} {record_id}",
            )
        except RetryLaterError:
            raise  # quota or limit: the job stops and the next run resumes
        except ConnectionSetupError:
            raise  # no quota bought, a user without data permission: nothing can be written
        except ConfigurationError as exc:
            return WriteOutcome(
                record_id,
                WriteStatus.INVALID,
                exc.crm_code,
                self._field_named(exc, row),
                exc.message,
            )
        except ConnectorError as exc:
            return WriteOutcome(record_id, WriteStatus.FAILED, exc.crm_code, None, exc.message)
        return WriteOutcome(record_id, WriteStatus.WRITTEN)

    @staticmethod
    def _field_named(exc: ConnectorError, row: dict[str, Any]) -> str | None:
        return next((name for name in row if name != "id" and name in exc.message), None)

    def write_cost(self, records: int) -> tuple[int, int]:
        return records, records  # one call per record; every call counts against the quota

    def create_tasks(self, tasks: Sequence[NewTask]) -> list[WriteOutcome]:
        """Each follow-up as a 跟进记录 on its record, found again by its key after a crash."""
        return [self._create_one_task(task) for task in tasks]

    def _create_one_task(self, task: NewTask) -> WriteOutcome:
        api = self.object_api_name(task.module)
        marker = f"[engage:{task.key}]"
        content = f"{task.subject}\n{task.description}\n{marker}".strip()
        try:
            existing, _ = self._query(
                FOLLOW_UP_OBJECT,
                [
                    {
                        "field_name": "active_record_content",
                        "operator": "LIKE",
                        "field_values": [marker],
                    }
                ],
                [{"fieldName": "_id", "isAsc": True}],
                ["_id"],
            )
            if existing:
                return WriteOutcome(str(existing[0]["_id"]), WriteStatus.WRITTEN)
            record: dict[str, Any] = {
                "dataObjectApiName": FOLLOW_UP_OBJECT,
                "active_record_content": content,
                # UNCONFIRMED shape: the record the follow-up is about, by object and id.
                "related_object_data": [{"describe_api_name": api, "id": task.record_id}],
            }
            if task.owner_id:
                record["owner"] = [task.owner_id]
            payload = self._post(
                "/cgi/crm/v2/data/create",
                {"object_data": record},
                top={"triggerWorkFlow": False, "triggerApprovalFlow": False},
                idempotent=False,
                what=f"create {FOLLOW_UP_OBJECT}",
            )
        except RetryLaterError:
            raise
        except ConnectionSetupError:
            raise
        except (ConfigurationError, RecordError) as exc:
            return WriteOutcome(
                task.record_id, WriteStatus.INVALID, exc.crm_code, None, exc.message
            )
        data = as_dict(payload.get("data"))
        new_id = payload.get("dataId") or data.get("dataId") or data.get("_id")
        return WriteOutcome(str(new_id), WriteStatus.WRITTEN)

    def create_fields(self, module: str, fields: Sequence[NewField]) -> list[FieldCreateOutcome]:
        """Fxiaoke documents no API to create fields (A4, UNCONFIRMED): each missing field is
        looked for again by its label (an admin may have made it since) and otherwise answered
        with the steps an admin takes in the web console."""
        api = self.object_api_name(module)
        by_label = {f.label: f for f in self.describe(module, fresh=True).values()}
        outcomes = []
        for wanted in fields:
            found = by_label.get(wanted.label)
            if found is not None:
                outcomes.append(FieldCreateOutcome(wanted.label, True, None, found.api_name))
                continue
            outcomes.append(
                FieldCreateOutcome(
                    wanted.label,
                    False,
                    None,
                    None,
                    crm_code="CREATE_IN_CONSOLE",
                    message=admin_steps(api, wanted),
                )
            )
        return outcomes
