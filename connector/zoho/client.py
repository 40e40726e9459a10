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
(``_ImsReading``).

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
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Literal

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
from connector.credits import CreditMeter
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    CreditsExhaustedError,
    RateLimitedError,
    RetryLaterError,
    describe_crm_error,
    trim_body,
)
from connector.http import HttpTransport, safe_url
from connector.zoho.auth import ZohoTokenManager
from connector.zoho.stages import stage_outcomes

log = logging.getLogger(__name__)

API_PATH = "/crm/v8"
#: Zoho's page-size maximum for Get Records and deleted records.
PAGE_SIZE = 200
#: ``page`` reaches only the first 2,000 records; past that ``page_token`` is required.
DISCRETE_PAGE_LIMIT_RECORDS = 2000
#: ``page_token`` reaches only the first 100,000 records of a query (§2).
PAGE_TOKEN_LIMIT_RECORDS = 100_000
#: Zoho accepts at most 50 field API names in ``fields``.
MAX_FIELDS_PER_CALL = 50
#: Insert/update/upsert take at most 100 records per call.
WRITE_BATCH_SIZE = 100
#: Fields per create call. The create maximum is UNCONFIRMED (research/zoho.md §5 open items);
#: 5 is the documented maximum for *updating* custom fields, the closest documented figure.
FIELD_CREATE_BATCH_SIZE = 5
#: §6: insert/update/upsert cost 1 credit per 10 records (so at most 10 per call of 100).
RECORDS_PER_WRITE_CREDIT = 10
#: How long after a second a read must begin for no record of that second to be still in
#: flight (a write call of 100 records with workflows takes seconds; a minute is generous).
SETTLED_AFTER = timedelta(seconds=60)
#: §6: the org's credits left in its rolling 24 hours, sent once half are used.
CREDITS_REMAINING_HEADER = "X-API-CREDITS-REMAINING"
#: §3: rows per COQL call at most; the first call of a read asks for 200 (1 credit), enough
#: when nobody else changed much, and the next ones for 2,000 (3 credits).
COQL_MAX_LIMIT = 2000
COQL_FIRST_LIMIT = 200
#: Record ids one Get Records call takes in ``ids`` (UNCONFIRMED for v8: the SDK sends the
#: parameter; the older getRecordById documented at most 100).
MAX_IDS_PER_CALL = 100
#: 401 codes that mean "this access token is no longer good" (AUTHENTICATION_FAILURE is also
#: returned for expired tokens in the wild: rikas/zoho_hub#34).
TOKEN_REFUSED_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE"})


def parse_zoho_datetime(value: str) -> datetime:
    """Zoho datetimes carry an offset (``2026-01-02T10:00:00+05:30``); some tools send ``Z``."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_zoho_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


class _ImsReading:
    """What a client has learnt about how its org's ``If-Modified-Since`` reads its second.

    Unknown until an answer holds a record modified at exactly the header's second: then the
    org reads it inclusively and the header is sent as asked. Until then (and for ever under an
    exclusive reading, where no such record can come back) it is sent one second early, so a
    record modified at the wanted second is never left out. One per client (one org); a
    daemon's client learns it once. Thread-safe.
    """

    def __init__(self) -> None:
        self._inclusive = False
        self._lock = threading.Lock()

    def header(self, since: datetime) -> datetime:
        """The instant to send for records modified at or after ``since``."""
        with self._lock:
            known = self._inclusive
        return since if known else since - timedelta(seconds=1)

    def observe(self, sent: datetime, records: Sequence[Mapping[str, Any]]) -> None:
        """Learn from an answer to header ``sent``: a record at that second means inclusive."""
        for record in records:
            value = record.get("Modified_Time")
            try:
                at = parse_zoho_datetime(value) if isinstance(value, str) else None
            except ValueError:
                at = None
            if at is not None and at.replace(microsecond=0) == sent.replace(microsecond=0):
                with self._lock:
                    self._inclusive = True
                return


CreditKind = Literal["read_page", "deleted_page", "fields", "update", "coql"]


def zoho_credits(kind: CreditKind, records: int = 0) -> int:
    """API credits one call costs (research/zoho.md §6 "Cost per call"; v8 UNCONFIRMED).

    ``read_page``: Get Records without ``cvid``, 1. ``deleted_page``: Get deleted records, 2.
    ``fields``: any field-metadata call (read one, read all, create), 1 by default.
    ``update``: 1 per 10 records, at least 1, for one call of at most 100 records.
    The sandbox CRM charges by the same table, so tests can check estimates against it.
    """
    if records < 0:
        raise ValueError("records must not be negative")
    if kind == "update":
        if records > WRITE_BATCH_SIZE:
            raise ValueError(f"one update call takes at most {WRITE_BATCH_SIZE} records")
        return max(1, math.ceil(records / RECORDS_PER_WRITE_CREDIT))
    if kind == "deleted_page":
        return 2
    if kind == "coql":  # §3: by LIMIT, 1-200 rows 1, 201-1000 2, 1001-2000 3
        return 1 if records <= 200 else 2 if records <= 1000 else 3
    return 1


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
        self._ims = _ImsReading()
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
        sent = self._ims.header(modified_since) if modified_since else None
        headers = {"If-Modified-Since": format_zoho_datetime(sent)} if sent else {}
        page = 1
        page_token: str | None = None
        seen_tokens: set[str] = set()
        #: Zoho's clock when the read began, and the newest modification seen so far.
        began: datetime | None = None
        newest_seen: datetime | None = None
        #: Records this query returned so far (a query reaches 100,000 at most).
        fetched = 0
        while True:
            params = dict(base_params)
            if page_token:
                params["page_token"] = page_token
            else:
                params["page"] = page
            response = self._call("GET", f"/{module}", params=params, extra_headers=headers)
            if began is None:
                began = _server_time(response)
            if response.status_code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                return
            payload = self._json(response)
            records = payload.get("data") or []
            info = payload.get("info") or {}
            fetched += len(records)
            if modified_since is not None:
                if sent is not None and sent < modified_since:
                    self._ims.observe(sent, records)
                # Records before the wanted instant: the early header's extra second, or a
                # Zoho that ignores the header (see the module docstring).
                records = [r for r in records if _modified_at_or_after(r, modified_since)]
            more = bool(info.get("more_records"))
            newest = _newest_modified(records)
            if newest is not None and (newest_seen is None or newest > newest_seen):
                newest_seen = newest
            yield RecordPage(
                module=module,
                records=records,
                more_records=more,
                newest_modified=newest,
                resume_from=None if more else _resume_after(newest_seen, began),
            )
            if not more:
                return
            if fetched >= PAGE_TOKEN_LIMIT_RECORDS:
                # §2: page_token reaches the first 100,000 records only. The rest come sorted
                # by Modified_Time from a new query starting at the newest second read (that
                # second's records are read twice: storing is idempotent).
                if newest_seen is None or (
                    modified_since is not None and newest_seen <= modified_since
                ):
                    raise ConnectorError(
                        f"more than {PAGE_TOKEN_LIMIT_RECORDS} {module} records were modified "
                        "in the same second; Get Records cannot page past them"
                    )
                modified_since = newest_seen
                sent = self._ims.header(modified_since)
                headers = {"If-Modified-Since": format_zoho_datetime(sent)}
                page, page_token, fetched = 1, None, 0
                seen_tokens.clear()
                continue
            next_token = info.get("next_page_token")
            if page * PAGE_SIZE < DISCRETE_PAGE_LIMIT_RECORDS and not page_token:
                page += 1
                continue
            if not next_token:
                raise ConnectorError(
                    f"Zoho reported more {module} records past 2,000 but gave no next_page_token"
                )
            if next_token in seen_tokens:
                raise ConnectorError(f"loop detected in {module} pagination (repeated page_token)")
            seen_tokens.add(next_token)
            page_token = next_token

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
        the read after a push, without the push's echo.

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
            found, began = self._modified_ids(module, modified_since, own_user_id, others=True)
            landed: dict[str, datetime] = {}
            if also_ids:
                # Rows the caller sent without learning the outcome: only those the CRM shows
                # written by us since then may have landed; the rest were never applied.
                mine, _ = self._modified_ids(module, modified_since, own_user_id, others=False)
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
        resume = _resume_after(newest_others, began)
        settled = began - SETTLED_AFTER if began is not None else None
        if settled is not None and (resume is None or settled > resume):
            resume = settled
        if resume is not None and resume > modified_since:
            yield RecordPage(module=module, records=[], more_records=False, resume_from=resume)

    def _modified_ids(
        self, module: str, since: datetime, own_user_id: str, *, others: bool
    ) -> tuple[dict[str, datetime], datetime | None]:
        """COQL keyset over ``(Modified_Time, id)``: {id: Modified_Time} of the records last
        modified at or after ``since`` by others (``others``) or by ``own_user_id``, oldest
        first, and Zoho's clock when the query began."""
        user = _coql_literal(own_user_id)
        by = f"Modified_By {'not in' if others else 'in'} ({user})"
        found: dict[str, datetime] = {}
        began: datetime | None = None
        where = f"(Modified_Time >= '{format_zoho_datetime(since)}' and {by})"
        limit = COQL_FIRST_LIMIT
        while True:
            query = (
                f"select id, Modified_Time from {module} where {where} "
                f"order by Modified_Time asc, id asc limit {limit}"
            )
            response = self._call(
                "POST",
                "/coql",
                json={"select_query": query},
                credits=zoho_credits("coql", limit),
            )
            if began is None:
                began = _server_time(response)
            if response.status_code == HTTPStatus.NO_CONTENT:
                break
            payload = self._json(response)
            rows = payload.get("data") or []
            last_id, last_time = None, None
            for row in rows:
                if not isinstance(row, dict) or row.get("id") is None:
                    continue
                value = row.get("Modified_Time")
                try:
                    when = parse_zoho_datetime(value) if isinstance(value, str) else since
                except ValueError:
                    when = since
                last_id, last_time = str(row["id"]), when
                found[last_id] = when
            if not (payload.get("info") or {}).get("more_records") or last_id is None:
                break
            stamp = format_zoho_datetime(last_time or since)
            # §3: more than two criteria must be grouped; the keyset avoids OFFSET's ceiling.
            where = (
                f"((Modified_Time > '{stamp}' or (Modified_Time = '{stamp}' and id > "
                f"{_coql_literal(last_id)})) and {by})"
            )
            limit = COQL_MAX_LIMIT
        return found, began

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        # Sent a second early, as for records (see _ImsReading): a deletion at the boundary
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
                json={"data": [_new_task_body(task) for task in batch], "trigger": []},
                idempotent=False,
                results_key="data",
                credits=zoho_credits("update", len(batch)),
            )
            items = self._result_items(response, "data", "task creation")
            for task, item in zip(batch, items, strict=False):
                details = item.get("details") if isinstance(item, dict) else None
                new_id = details.get("id") if isinstance(details, dict) else None
                if isinstance(item, dict) and item.get("status") == "success" and new_id:
                    outcomes.append(WriteOutcome(record_id=str(new_id), status=WriteStatus.WRITTEN))
                    continue
                code, field, message = describe_crm_error(item)
                status = WriteStatus.INVALID if code in _INVALID_CODES else WriteStatus.FAILED
                outcomes.append(
                    WriteOutcome(
                        record_id=task.record_id,
                        status=status,
                        crm_code=code,
                        field=field,
                        message=message,
                    )
                )
            outcomes.extend(
                WriteOutcome(
                    record_id=task.record_id,
                    status=WriteStatus.FAILED,
                    message="Zoho returned no result for this task",
                )
                for task in batch[len(items) :]
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
                json={"fields": [_new_field_body(f) for f in batch]},
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
        outcomes = []
        for new, item in zip(batch, items, strict=False):
            code, attribute, message = describe_crm_error(item)
            details = item.get("details") if isinstance(item, dict) else None
            details = details if isinstance(details, dict) else {}
            field_id = details.get("id")
            if isinstance(item, dict) and item.get("status") == "success" and field_id:
                # §5: the create response carries only the id; the api_name Zoho generated
                # from the label (not always the label with underscores) needs one more GET.
                api_name = self._created_api_name(module, str(field_id))
                outcomes.append(
                    FieldCreateOutcome(
                        label=new.label,
                        created=True,
                        field_id=str(field_id),
                        api_name=api_name,
                        crm_code=code,
                        message=message if api_name else "created, but Zoho sent no api_name",
                    )
                )
                continue
            if code == "DUPLICATE_DATA":
                # details.api_name names the field that already exists (the caller can use it).
                outcomes.append(
                    FieldCreateOutcome(
                        label=new.label,
                        created=False,
                        field_id=None,
                        api_name=attribute,
                        crm_code=code,
                        message=message or "a field with this label or api_name already exists",
                    )
                )
                continue
            # Other errors name the offending request attribute (field_label, data_type, ...).
            outcomes.append(
                FieldCreateOutcome(
                    label=new.label,
                    created=False,
                    field_id=None,
                    api_name=None,
                    crm_code=code,
                    message=f"{message} ({attribute})" if attribute else message,
                )
            )
        outcomes.extend(
            FieldCreateOutcome(
                label=new.label,
                created=False,
                field_id=None,
                api_name=None,
                message="Zoho returned no result for this field",
            )
            for new in batch[len(items) :]
        )
        return outcomes

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
        payload = self._json(response)
        items = payload.get(key)
        if not isinstance(items, list):
            code, field, message = describe_crm_error(payload)
            raise ConfigurationError(
                f"Zoho refused the whole {what}: {message}",
                crm_code=code,
                field=field,
                http_status=response.status_code,
            )
        return items

    def _write_outcomes(
        self, batch: list[dict[str, Any]], response: requests.Response
    ) -> list[WriteOutcome]:
        items = self._result_items(response, "data", "update")
        outcomes = []
        for row, item in zip(batch, items, strict=False):
            record_id = str(row.get("id"))
            if isinstance(item, dict) and item.get("status") == "success":
                # details carry Modified_Time and Modified_By (§4): the push keeps them to know
                # its own writes when it next reads (jobs/push/echo.py).
                done = item.get("details")
                outcomes.append(
                    WriteOutcome(
                        record_id=record_id,
                        status=WriteStatus.WRITTEN,
                        details=done if isinstance(done, dict) else {},
                    )
                )
                continue
            code, field, message = describe_crm_error(item)
            status = WriteStatus.INVALID if code in _INVALID_CODES else WriteStatus.FAILED
            details = item.get("details") if isinstance(item, dict) else None
            outcomes.append(
                WriteOutcome(
                    record_id=record_id,
                    status=status,
                    crm_code=code,
                    field=field,
                    message=message,
                    details=details if isinstance(details, dict) else {},
                )
            )
        outcomes.extend(
            WriteOutcome(
                record_id=str(row.get("id")),
                status=WriteStatus.FAILED,
                message="Zoho returned no result for this row",
            )
            for row in batch[len(items) :]
        )
        return outcomes

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
        code, field, message = describe_crm_error(_safe_json(response))
        return ConfigurationError(
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


_INVALID_CODES = frozenset(
    {
        "INVALID_DATA",
        "MANDATORY_NOT_FOUND",
        "DEPENDENT_FIELD_MISSING",
        "DEPENDENT_MISMATCH",
        "DUPLICATE_DATA",
        "NOT_ALLOWED",
    }
)


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


def task_key_marker(key: str) -> str:
    """How a task's idempotency key is written in its Description, to be searched for."""
    return f"[engage:{key}]"


def _new_task_body(task: NewTask) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Subject": task.subject[:255],
        "Due_Date": task.due.isoformat(),
        "Status": "Not Started",
        "Priority": "High",
        "What_Id": {"id": task.record_id},
        "$se_module": task.module,
        "Description": f"{task.description}\n\n{task_key_marker(task.key)}",
    }
    if task.owner_id:
        body["Owner"] = {"id": task.owner_id}
    return body


def _new_field_body(new: NewField) -> dict[str, Any]:
    """§5 create body for one field; optional keys are sent only when set."""
    body: dict[str, Any] = {"field_label": new.label, "data_type": new.data_type}
    if new.length is not None:
        body["length"] = new.length
    if new.decimal_place is not None:
        body["decimal_place"] = new.decimal_place
    if new.picklist_values:
        body["pick_list_values"] = [
            {"display_value": value, "actual_value": value} for value in new.picklist_values
        ]
    return body


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


def _coql_literal(value: str) -> str:
    """A quoted COQL string literal (ids are digits; quotes escaped all the same)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _modified_at_or_after(record: Mapping[str, Any], since: datetime) -> bool:
    value = record.get("Modified_Time")
    if not isinstance(value, str):
        return True  # cannot tell; keep it rather than lose it
    try:
        return parse_zoho_datetime(value) >= since
    except ValueError:
        return True


def _server_time(response: requests.Response) -> datetime | None:
    """The ``Date`` header: Zoho's clock, the one ``Modified_Time`` is written by."""
    text = response.headers.get("Date")
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _resume_after(newest: datetime | None, began: datetime | None) -> datetime | None:
    """One second after ``newest`` if the read began long enough after it, else None."""
    if newest is None or began is None or began - newest < SETTLED_AFTER:
        return None
    return newest + timedelta(seconds=1)


def _newest_modified(records: Sequence[Mapping[str, Any]]) -> datetime | None:
    newest = None
    for record in records:
        value = record.get("Modified_Time")
        if not isinstance(value, str):
            continue
        try:
            parsed = parse_zoho_datetime(value)
        except ValueError:
            continue
        if newest is None or parsed > newest:
            newest = parsed
    return newest
