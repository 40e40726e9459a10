"""Zoho CRM v8 REST client: Get Records, deleted records, field metadata and creation, updates.

Incremental reads use Get Records with ``If-Modified-Since`` sorted by ``Modified_Time`` rather
than COQL keyset paging: it costs 1 credit per 200 rows, needs no ``ZohoCRM.coql.READ`` scope,
returns lookups in the same shape as every other endpoint, and answers 304 in one call when
nothing changed. Its known weakness (offset pages can shift if a record changes mid-pull) is
bounded by re-reading from the last ``Modified_Time`` seen, inclusive.

Whether v8 still honours ``If-Modified-Since`` is UNCONFIRMED (research/zoho.md §2): the 2025
OAS lists it, the 2026 generated docs omit it. Both readings are handled: records older than
the requested instant are dropped here, so an ignored header costs reads but never correctness.

Whether the header is inclusive (records modified AT that second come back) is not documented
(UNCONFIRMED, research/zoho.md §2; Airbyte filters inclusively). Both readings are handled: until
an answer shows a record modified at exactly the header's second (so the org reads it
inclusively), the header is sent one second before the wanted instant and the records of that
earlier second are dropped here. Under an exclusive reading nothing is lost; under an inclusive
one a client's first incremental reads re-read one second's records until it learns
(``IfModifiedSinceReading``).

Taken as inclusive, ``Modified_Time`` has whole seconds, so resuming from the newest time seen
re-reads that second's records: one page for a few edits, many after a push that wrote thousands of records in one second. A read whose
first answer came ``SETTLED_AFTER`` or more after its newest record's second (by Zoho's own
``Date`` header, not this machine's clock) cannot have missed a record of that second still
being written; its last page then says to resume one second later (``RecordPage.resume_from``),
as Airbyte's connector does unconditionally (research/zoho.md §2).

Every answer may carry ``X-API-CREDITS-REMAINING`` (sent once half the org's daily credits are
used, §6): it is handed to the credit meter, which trusts it over its own count when it is
lower (other integrations of the org spend the same credits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
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
)
from connector.credits import CreditMeter
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    CreditsExhaustedError,
    RateLimitedError,
    RetryLaterError,
    UnknownFieldError,
    describe_crm_error,
    trim_body,
)
from connector.http import HttpTransport, safe_url
from connector.zoho.auth import ZohoTokenManager
from connector.zoho.coql import modified_ids
from connector.zoho.costs import WRITE_BATCH_SIZE, zoho_credits
from connector.zoho.paging import PAGE_SIZE, RecordsPaginator
from connector.zoho.stages import stage_outcomes
from connector.zoho.times import (
    SETTLED_AFTER,
    IfModifiedSinceReading,
    format_zoho_datetime,
    modified_at_or_after,
    newest_modified,
    parse_zoho_datetime,
    resume_after,
    server_time,
)
from connector.zoho.writes import (
    field_outcome,
    new_field_body,
    new_task_body,
    per_item,
    result_items,
    write_outcome,
)

log = logging.getLogger(__name__)

API_PATH = "/crm/v8"
#: Zoho accepts at most 50 field API names in ``fields``.
MAX_FIELDS_PER_CALL = 50
#: Fields per create call. The create maximum is UNCONFIRMED (research/zoho.md §5 open items);
#: 5 is the documented maximum for *updating* custom fields, the closest documented figure.
FIELD_CREATE_BATCH_SIZE = 5
#: §6: the org's credits left in its rolling 24 hours, sent once half are used.
CREDITS_REMAINING_HEADER = "X-API-CREDITS-REMAINING"
#: Record ids one Get Records call takes in ``ids`` (UNCONFIRMED for v8: the SDK sends the
#: parameter; the older getRecordById documented at most 100).
MAX_IDS_PER_CALL = 100
#: 401 codes that mean "this access token is no longer good" (AUTHENTICATION_FAILURE is also
#: returned for expired tokens in the wild: rikas/zoho_hub#34).
TOKEN_REFUSED_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE"})


class ZohoClient:
    """One Zoho org. Thread-safe: the token manager is shared and the session is pooled."""

    max_write_batch = WRITE_BATCH_SIZE

    def __init__(
        self,
        tokens: ZohoTokenManager,
        transport: HttpTransport,
        *,
        api_domain: str | None = None,
        meter: CreditMeter | None = None,
    ) -> None:
        self._tokens = tokens
        self._transport = transport
        #: Charged with each call's credits before it is sent (the connection's daily budget).
        self._meter = meter
        self._api_domain_override = api_domain.rstrip("/") if api_domain else None
        self._ims = IfModifiedSinceReading()
        #: Set once Zoho refused the COQL query of ``iter_changed_by_others`` (scope, syntax).
        self._coql_refused = False

    # --- reads ---------------------------------------------------------------------------------
    def iter_pages(
        self, module: str, fields: Sequence[str], *, modified_since: datetime | None = None
    ) -> Iterator[RecordPage]:
        """Yield pages of up to 200 records sorted by Modified_Time, oldest first."""
        wanted = _wanted_fields(module, fields)
        if modified_since is not None and modified_since.tzinfo is None:
            modified_since = modified_since.replace(tzinfo=UTC)  # naive means UTC, as stored
        base_params: dict[str, Any] = {
            "fields": ",".join(wanted),
            "per_page": PAGE_SIZE,
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        }
        paging = RecordsPaginator(module, modified_since)
        sent = self._ims.header(modified_since) if modified_since else None
        #: Zoho's clock when the read began.
        began: datetime | None = None
        while not paging.finished:
            headers = {"If-Modified-Since": format_zoho_datetime(sent)} if sent else {}
            response = self._call(
                "GET",
                f"/{module}",
                params={**base_params, **paging.page_params()},
                extra_headers=headers,
            )
            if began is None:
                began = server_time(response)
            if response.status_code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                return
            payload = self._json(response)
            records = payload.get("data") or []
            info = payload.get("info") or {}
            received = len(records)
            since = paging.modified_since
            if since is not None:
                if sent is not None and sent < since:
                    self._ims.observe(sent, records)
                # Records before the wanted instant: the early header's extra second, or a
                # Zoho that ignores the header (see the module docstring).
                records = [r for r in records if modified_at_or_after(r, since)]
            more = bool(info.get("more_records"))
            newest = newest_modified(records)
            paging.received(received, newest)
            yield RecordPage(
                module=module,
                records=records,
                more_records=more,
                newest_modified=newest,
                resume_from=None if more else resume_after(paging.newest_seen, began),
            )
            restarted = paging.advance(
                more_records=more, next_page_token=info.get("next_page_token")
            )
            if restarted and paging.modified_since is not None:  # always set after a restart
                sent = self._ims.header(paging.modified_since)

    def iter_changed_by_others(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime,
        own_user_id: str,
        also_ids: Sequence[str] = (),
    ) -> Iterator[RecordPage]:
        """The records modified since ``modified_since`` by anyone but ``own_user_id``, and
        those of ``also_ids`` (rows sent without an answer) that ``own_user_id`` modified since:
        the read after a push, without the push's echo. (Most of its length is this docstring.)

        Zoho moves ``Modified_Time`` (and sets ``Modified_By`` to the API user) on the plugin's
        own writes, so the Get Records read after a push returns every record it wrote,
        ceil(written / 200) calls for nothing. Get Records cannot filter on who modified; COQL
        can (research/zoho.md §3): one query keyed on ``(Modified_Time, id)``, as Estuary's
        connector pages, lists the ids others changed — one call (1 credit) when nobody did,
        answered 204. Those records are then read by Get Records ``ids=`` (100 a call), so
        lookups come back in the shape every other read has (COQL gives a lookup's id only).

        UNCONFIRMED and handled both ways: whether COQL takes ``Modified_By`` (a user lookup)
        in a criterion, and with which operator — ``not in ('<id>')`` is used, as ``!=`` is
        missing from the older comparator lists; and whether the token has the
        ``ZohoCRM.coql.READ`` scope. If Zoho refuses the query this read falls back to
        ``iter_pages`` for good in this process: the echo costs reads again, nothing is missed.
        """
        wanted = _wanted_fields(module, fields)
        if modified_since.tzinfo is None:
            modified_since = modified_since.replace(tzinfo=UTC)
        if self._coql_refused:
            yield from self.iter_pages(module, fields, modified_since=modified_since)
            return
        try:
            found, began = modified_ids(
                self._ask_coql, module, modified_since, own_user_id, others=True
            )
            landed: dict[str, datetime] = {}
            if also_ids:
                # Rows the caller sent without learning the outcome: only those the CRM shows
                # written by us since then may have landed; the rest were never applied.
                mine, _ = modified_ids(
                    self._ask_coql, module, modified_since, own_user_id, others=False
                )
                landed = {i: mine[i] for i in dict.fromkeys(also_ids) if i in mine}
        except (ConfigurationError, AuthenticationError) as exc:
            if isinstance(exc, AuthenticationError) and exc.crm_code != "OAUTH_SCOPE_MISMATCH":
                raise
            log.warning(
                "Zoho refused the COQL query that leaves out the plugin's own writes (%s); "
                "reading every changed %s record instead",
                exc.crm_code or exc,
                module,
            )
            self._coql_refused = True
            yield from self.iter_pages(module, fields, modified_since=modified_since)
            return
        order = list(found) + [i for i in landed if i not in found]
        newest_others = max(found.values(), default=None)
        for start in range(0, len(order), MAX_IDS_PER_CALL):
            chunk = order[start : start + MAX_IDS_PER_CALL]
            response = self._call(
                "GET", f"/{module}", params={"fields": ",".join(wanted), "ids": ",".join(chunk)}
            )
            records: list[dict[str, Any]] = []
            if response.status_code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                records = self._json(response).get("data") or []
            # The cursor moves by what others changed (in Modified_Time order, as listed), never
            # by the plugin's own writes fetched through ``also_ids``.
            stamps = [found[i] for i in chunk if i in found]
            yield RecordPage(
                module=module,
                records=records,
                more_records=start + MAX_IDS_PER_CALL < len(order),
                newest_modified=max(stamps, default=None),
            )
        # Every change by others older than a minute before the query began was listed: the
        # next read may start there (or after the newest listed, once settled), past the echo.
        resume = resume_after(newest_others, began)
        settled = began - SETTLED_AFTER if began is not None else None
        if settled is not None and (resume is None or settled > resume):
            resume = settled
        if resume is not None and resume > modified_since:
            yield RecordPage(module=module, records=[], more_records=False, resume_from=resume)

    def _ask_coql(self, query: str, limit: int) -> tuple[dict[str, Any] | None, datetime | None]:
        """Send one COQL query (charged by its LIMIT, §3): its answer (None: 204), Zoho's time."""
        response = self._call(
            "POST",
            "/coql",
            json={"select_query": query},
            credits=zoho_credits("coql", limit),
        )
        began = server_time(response)
        if response.status_code == HTTPStatus.NO_CONTENT:
            return None, began
        return self._json(response), began

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        # Sent a second early, as for records (see IfModifiedSinceReading): a deletion at the boundary
        # second is read under either reading of the header; reading one twice is harmless.
        headers = (
            {"If-Modified-Since": format_zoho_datetime(deleted_since - timedelta(seconds=1))}
            if deleted_since
            else {}
        )
        page = 1
        while True:
            response = self._call(
                "GET",
                f"/{module}/deleted",
                params={"type": "all", "page": page, "per_page": PAGE_SIZE},
                extra_headers=headers,
                credits=zoho_credits("deleted_page"),
            )
            if response.status_code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                return
            payload = self._json(response)
            for item in payload.get("data") or []:
                when = item.get("deleted_time")
                yield DeletedRecord(
                    module=module,
                    record_id=str(item.get("id")),
                    deleted_at=parse_zoho_datetime(when) if isinstance(when, str) else None,
                )
            if not (payload.get("info") or {}).get("more_records"):
                return
            page += 1

    def get_fields(self, module: str) -> list[FieldMeta]:
        response = self._call("GET", "/settings/fields", params={"module": module})
        if response.status_code == HTTPStatus.NO_CONTENT:
            return []
        fields = []
        for raw in self._json(response).get("fields") or []:
            if not isinstance(raw, dict) or not isinstance(raw.get("api_name"), str):
                log.warning("ignoring a %s field entry without api_name", module)
                continue
            formula = raw.get("formula") or {}
            fields.append(
                FieldMeta(
                    api_name=raw["api_name"],
                    label=raw.get("field_label") or raw.get("display_label") or raw["api_name"],
                    data_type=raw.get("data_type") or "unknown",
                    length=raw.get("length"),
                    read_only=bool(
                        raw.get("read_only")
                        or raw.get("field_read_only")
                        or formula.get("return_type")
                        or (raw.get("operation_type") or {}).get("api_update") is False
                    ),
                    custom=bool(raw.get("custom_field")),
                    picklist_values=tuple(
                        str(v.get("actual_value")) for v in raw.get("pick_list_values") or []
                    ),
                    outcomes=stage_outcomes(raw.get("pick_list_values") or []),
                )
            )
        return fields

    # --- field creation (§5) ------------------------------------------------------------------
    def create_tasks(self, tasks: Sequence[NewTask]) -> list[WriteOutcome]:
        """POST /Tasks in calls of 100 (research/zoho.md §7), with ``trigger: []``.

        An insert is not idempotent, so it is never resent by the retry policy; the caller
        records the task before calling and looks for ``[engage:<key>]`` in the Description
        after a crash. A written outcome's ``record_id`` is the new task's id.
        """
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(tasks), WRITE_BATCH_SIZE):
            batch = list(tasks[start : start + WRITE_BATCH_SIZE])
            response = self._call(
                "POST",
                "/Tasks",
                json={"data": [new_task_body(task) for task in batch], "trigger": []},
                idempotent=False,
                results_key="data",
                credits=zoho_credits("update", len(batch)),
            )
            items = self._result_items(response, "data", "task creation")
            outcomes.extend(
                write_outcome(task.record_id, result, what="task", inserted=True)
                for task, result in per_item(batch, items)
            )
        return outcomes

    def create_fields(self, module: str, fields: Sequence[NewField]) -> list[FieldCreateOutcome]:
        """POST fields in calls of 5, then GET each created field to learn its api_name.

        Creation is not idempotent, so a 5xx or dropped connection is not retried (a resent
        create could make "Risk Score" twice, or fail as a duplicate of itself); the error
        propagates instead. Calling again afterwards is safe: fields that were created come back
        as ``DUPLICATE_DATA`` outcomes naming the existing api_name.
        """
        outcomes: list[FieldCreateOutcome] = []
        for start in range(0, len(fields), FIELD_CREATE_BATCH_SIZE):
            batch = list(fields[start : start + FIELD_CREATE_BATCH_SIZE])
            response = self._call(
                "POST",
                "/settings/fields",
                params={"module": module},
                json={"fields": [new_field_body(f) for f in batch]},
                idempotent=False,
                results_key="fields",
            )
            outcomes.extend(self._field_outcomes(module, batch, response))
        return outcomes

    def _field_outcomes(
        self, module: str, batch: list[NewField], response: requests.Response
    ) -> list[FieldCreateOutcome]:
        """Per-item results of a 201, 207 or 400 (all failed) create response, in input order."""
        items = self._result_items(response, "fields", f"field creation for {module}")
        return [
            field_outcome(new, result, lambda field_id: self._created_api_name(module, field_id))
            for new, result in per_item(batch, items)
        ]

    def _created_api_name(self, module: str, field_id: str) -> str | None:
        response = self._call("GET", f"/settings/fields/{field_id}", params={"module": module})
        if response.status_code == HTTPStatus.NO_CONTENT:
            return None
        found = self._json(response).get("fields")
        if isinstance(found, list) and found and isinstance(found[0], dict):
            api_name = found[0].get("api_name")
            return api_name if isinstance(api_name, str) else None
        return None

    # --- writes --------------------------------------------------------------------------------
    def write_cost(self, records: int) -> tuple[int, int]:
        """(calls, credits) for updating ``records`` rows: calls of 100, each ceil(rows/10)."""
        if records < 0:
            raise ValueError("records must not be negative")
        sizes = [
            min(WRITE_BATCH_SIZE, records - start) for start in range(0, records, WRITE_BATCH_SIZE)
        ]
        return len(sizes), sum(zoho_credits("update", size) for size in sizes)

    def update_records(self, module: str, rows: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        """PUT rows by id in calls of 100, with ``trigger: []`` so workflows do not fire on scores.

        An update by id is idempotent, so the retry policy may resend it. Returns one outcome per
        row, in input order, from Zoho's per-record results (200, 207 or 400).
        """
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(rows), WRITE_BATCH_SIZE):
            batch = list(rows[start : start + WRITE_BATCH_SIZE])
            response = self._call(
                "PUT",
                f"/{module}",
                json={"data": batch, "trigger": []},
                idempotent=True,
                results_key="data",
                credits=zoho_credits("update", len(batch)),
            )
            outcomes.extend(self._write_outcomes(batch, response))
        return outcomes

    def _result_items(self, response: requests.Response, key: str, what: str) -> list[Any]:
        """The per-record results under ``key``; a top-level error (e.g. LIMIT_EXCEEDED) means
        the whole call was refused."""
        return result_items(self._json(response), key, what, response.status_code)

    def _write_outcomes(
        self, batch: list[dict[str, Any]], response: requests.Response
    ) -> list[WriteOutcome]:
        items = self._result_items(response, "data", "update")
        return [
            write_outcome(str(row.get("id")), result, what="row")
            for row, result in per_item(batch, items)
        ]

    # --- plumbing ------------------------------------------------------------------------------
    def _base_url(self) -> str:
        if self._api_domain_override:
            return self._api_domain_override + API_PATH
        domain = self._tokens.api_domain
        if not domain:
            self._tokens.current()
            domain = self._tokens.api_domain
        if not domain:
            raise ConfigurationError("no api_domain configured and none in the token response")
        return domain.rstrip("/") + API_PATH

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        extra_headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        results_key: str | None = None,
        credits: int = 1,
    ) -> requests.Response:
        """One API call; on a refused token, refresh once (single-flight) and resend once.

        ``results_key``: for calls with per-item results, a 400 whose body holds a list under
        this key means "every item failed" and is returned for the caller to read, not raised.
        ``credits``: what the call costs (§6), charged once to the meter before it is sent.
        """
        if self._meter is not None:
            self._meter.charge(credits)
        for attempt in (1, 2):
            token, generation = self._tokens.current()

            def headers(token: str = token) -> dict[str, str]:
                return {"Authorization": f"Zoho-oauthtoken {token}", **(extra_headers or {})}

            url = self._base_url() + path
            try:
                response = self._transport.request(
                    method, url, idempotent=idempotent, headers=headers, params=params, json=json
                )
            except (RateLimitedError, CreditsExhaustedError) as exc:
                # Refused before it ran: not charged by the CRM, so not counted here either.
                if self._meter is not None:
                    self._meter.refund(credits)
                    if isinstance(exc, CreditsExhaustedError):
                        self._meter.crm_remaining(0)
                raise
            self._note_credits(response)
            if response.status_code != HTTPStatus.UNAUTHORIZED:
                break
            code, _, message = describe_crm_error(_safe_json(response))
            if code in TOKEN_REFUSED_CODES and attempt == 1:
                log.info("Zoho refused the access token (%s); refreshing once", code)
                self._tokens.refused(generation)
                continue
            if self._meter is not None:
                self._meter.refund(credits)
            raise AuthenticationError(
                f"Zoho refused the request to {safe_url(url)}: {message or 'unauthorised'}",
                crm_code=code,
                http_status=response.status_code,
            )
        if response.status_code >= 400 and not _is_item_results(response, results_key):
            raise self._error_for(response, method, path)
        return response

    def _note_credits(self, response: requests.Response) -> None:
        """Hand Zoho's count of the org's remaining credits to the meter, when it sent one."""
        if self._meter is None:
            return
        text = response.headers.get(CREDITS_REMAINING_HEADER)
        if text is None:
            return
        try:
            remaining = int(text.strip())
        except ValueError:
            log.warning("ignoring %s: %r is not a number", CREDITS_REMAINING_HEADER, text[:40])
            return
        self._meter.crm_remaining(remaining)

    @staticmethod
    def _error_for(response: requests.Response, method: str, path: str) -> ConnectorError:
        """A refused call (4xx other than 401/429): the request itself is wrong for this org.

        Missing scope, unknown module or field, bad parameters, page limits: retrying cannot
        help, so the run stops with a message for the person who configures it. (429 and 5xx
        never reach here: the transport retries them and raises ``RetryLaterError``.)
        """
        payload = _safe_json(response)
        code, field, message = describe_crm_error(payload)
        # §4/§2: INVALID_DATA whose details name an ``api_name`` is Zoho saying that field is
        # not in the module (a ``param_name`` instead is a bad parameter, not a missing field).
        names_field = isinstance(payload, dict) and isinstance(payload.get("details"), dict)
        unknown_field = names_field and code == "INVALID_DATA" and "api_name" in payload["details"]
        error = UnknownFieldError if unknown_field else ConfigurationError
        return error(
            f"Zoho {method} {API_PATH}{path} failed: {message or 'error'}",
            crm_code=code,
            field=field,
            http_status=response.status_code,
            body_excerpt=trim_body(response.content),
        )

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        payload = _safe_json(response)
        if not isinstance(payload, dict):
            raise RetryLaterError(
                "Zoho returned a body that is not a JSON object",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        return payload


def _safe_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_item_results(response: requests.Response, results_key: str | None) -> bool:
    """A 400 from a write may still be per-item results (all items failed, §4/§5): keep it."""
    if results_key is None or response.status_code != HTTPStatus.BAD_REQUEST:
        return False
    payload = _safe_json(response)
    return isinstance(payload, dict) and isinstance(payload.get(results_key), list)


def _wanted_fields(module: str, fields: Sequence[str]) -> list[str]:
    """The ``fields`` of a Get Records call: the mapping's, with Modified_Time (it moves the
    cursor, so it counts against Zoho's 50)."""
    if not fields:
        raise ConfigurationError(f"no fields requested for {module}; Zoho requires `fields`")
    wanted = sorted(set(fields) | {"Modified_Time"})
    if len(wanted) > MAX_FIELDS_PER_CALL:
        raise ConfigurationError(
            f"{len(wanted)} fields requested for {module} (Modified_Time included); Zoho "
            f"accepts at most {MAX_FIELDS_PER_CALL} per call"
        )
    return wanted
