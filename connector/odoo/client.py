"""Odoo (16–19+) as a CRM: companies, their contacts and opportunities; custom fields; activities.

A mapping names an Odoo *model*, optionally followed by a domain in Odoo's own syntax that
selects the records of that kind, e.g. ``res.partner [["is_company", "=", true]]``. The domain
is applied by Odoo (so only those records travel); writes and metadata use the bare model.

Reads page by key on ``(write_date, id)`` rather than by offset (§3), with ``active_test``
off so archived rows (lost opportunities) are seen. ``write_date`` is the *transaction start*
time, so a long transaction can commit rows stamped before our last cursor: every incremental
read starts ``overlap`` earlier than asked and re-reads those rows (upserts make that harmless).

Odoo keeps no record of hard deletes: ``live_ids`` lists every id, and the sync diffs it with
the ids it holds (``iter_deleted`` yields nothing).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from connector.base import (
    DeletedRecord,
    FieldCreateOutcome,
    FieldMeta,
    NewField,
    NewTask,
    RecordPage,
    StageOutcome,
    WriteOutcome,
    WriteStatus,
)
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    RecordError,
    RetryLaterError,
    UnknownFieldError,
)
from connector.http import HttpTransport
from connector.odoo.errors import CallContext, OdooFault, to_connector_error, unknown_model
from connector.odoo.rpc import (
    Json2Rpc,
    JsonRpc,
    LegacyApiGone,
    OdooRpc,
    OdooSite,
    XmlRpc,
    detect_api,
)
from connector.odoo.values import (
    DATA_TYPES,
    ODOO_TTYPES,
    FieldTypes,
    format_odoo_datetime,
    normalize_record,
    parse_odoo_datetime,
    plan_writes,
    to_odoo,
    value_problem,
)

log = logging.getLogger(__name__)

ApiChoice = Literal["auto", "json2", "jsonrpc", "xmlrpc"]

#: Rows per search_read: §3 advises 200–2000; big reads hit worker memory and time limits.
PAGE_SIZE = 500
#: Ids per page of the deletion scan (ids only, so pages can be large).
ID_SCAN_PAGE = 50_000
#: Rows per update_records call. Odoo has no per-call row limit; grouping needs many rows at
#: once to pay off, and outcomes are stored after each call of this size.
WRITE_BATCH_SIZE = 1000
#: Re-read window before the cursor (write_date is the transaction start time, §3).
DEFAULT_OVERLAP = timedelta(minutes=10)
DEFAULT_ID_SCAN_INTERVAL = timedelta(hours=6)
#: Archived (lost) opportunities must be read too (§3 "Archiving").
READ_CONTEXT = {"active_test": False}
#: Context of ``load``: archived (lost) opportunities must be found by their ``.id`` (its
#: search applies active_test), and datetime cells are read in the context's tz (the
#: converter's ``_input_tz``), so naive UTC text needs tz UTC.
LOAD_CONTEXT = {"active_test": False, "tz": "UTC"}
#: ``load`` columns of the activity's many2one values, given by database id.
_ACTIVITY_COLUMNS = {
    "res_model_id": "res_model_id/.id",
    "activity_type_id": "activity_type_id/.id",
    "user_id": "user_id/.id",
}
#: XML id of the activity type follow-ups get (addons/mail/data/mail_activity_data.xml, §7).
ACTIVITY_TYPE_XMLID = "mail.mail_activity_data_todo"
#: ir.model.data module under which a task's idempotency key is kept as an external id.
TASK_KEY_MODULE = "engagement_connector"
_FIELDS_GET_ATTRIBUTES = [
    "type",
    "string",
    "readonly",
    "selection",
    "size",
    "manual",
    "required",
    "relation",
]
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ModelView:
    """A model, and the domain that selects one kind of record in it."""

    model: str
    domain: list[Any]


def parse_module(module: str) -> ModelView:
    """``"res.partner [[\"is_company\", \"=\", true]]"`` -> model and domain (may be empty)."""
    model, _, rest = module.strip().partition(" ")
    if not rest.strip():
        return ModelView(model, [])
    try:
        domain = json.loads(rest)
    except ValueError:
        raise ConfigurationError(
            f"module {module!r}: the text after the model name must be an Odoo domain in "
            'JSON, e.g. [["is_company", "=", true]]'
        ) from None
    if not isinstance(domain, list):
        raise ConfigurationError(f"module {module!r}: the domain must be a list")
    return ModelView(model, domain)


def field_name_for(label: str) -> str:
    """Custom fields created over the API must be named ``x_…`` (a DB constraint, §5)."""
    slug = _NON_WORD.sub("_", label.lower()).strip("_")
    return slug if slug.startswith("x_") else f"x_{slug}"


def _description(label: str) -> str:
    """A readable field label: "x engagement risk level" -> "Engagement risk level"."""
    text = re.sub(r"^x[ _]", "", label).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else label


class OdooClient:
    """One Odoo database as one login. Thread-safe: push may write from several threads."""

    max_write_batch = WRITE_BATCH_SIZE

    def __init__(
        self,
        site: OdooSite,
        transport: HttpTransport,
        *,
        api: ApiChoice = "auto",
        page_size: int = PAGE_SIZE,
        overlap: timedelta = DEFAULT_OVERLAP,
        id_scan_interval: timedelta = DEFAULT_ID_SCAN_INTERVAL,
    ) -> None:
        self._site = OdooSite(site.url.rstrip("/"), site.database, site.login, site.api_key)
        self._transport = transport
        self._api: ApiChoice = api
        self._rpc: OdooRpc | None = None
        self.server_version: str | None = None
        self.page_size = page_size
        self.overlap = overlap
        #: How often the sync lists every id to notice hard deletes.
        self.id_scan_interval = id_scan_interval
        self._types: dict[str, dict[str, dict[str, Any]]] = {}
        self._model_ids: dict[str, int] = {}
        self._activity_type: int | None = None
        self._key_worked = False
        self._refused: AuthenticationError | None = None
        #: ``load`` was refused once: this server gets grouped ``write`` from then on.
        self._load_refused = False
        # Guards the lazy parts (server detection, metadata caches) so threads share one call.
        self._lock = threading.RLock()

    # --- transport -----------------------------------------------------------------------------
    @property
    def api_kind(self) -> str:
        """ "json2" or "jsonrpc" once known (detects the server on first use)."""
        return self._connect().kind

    def _connect(self) -> OdooRpc:
        with self._lock:
            return self._connect_locked()

    def _connect_locked(self) -> OdooRpc:
        if self._rpc is None:
            api = self._api
            if api == "auto":
                detected = detect_api(self._site, self._transport)
                api, self.server_version = detected.api, detected.version
                log.info("Odoo %s at %s: using %s", detected.version, self._site.url, api)
            kinds: dict[str, type[Json2Rpc | JsonRpc | XmlRpc]] = {
                "json2": Json2Rpc,
                "jsonrpc": JsonRpc,
                "xmlrpc": XmlRpc,
            }
            self._rpc = kinds[api](self._site, self._transport)
        return self._rpc

    def _execute(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        context: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One model call with Odoo's errors mapped; a refused key stops every later call."""
        if self._refused is not None:
            raise self._refused  # no second attempt: 10 failures lock the login (§6)
        rpc = self._connect()
        call = CallContext(
            self._site.url, self._site.database, self._site.login, model, method, self._key_worked
        )
        try:
            try:
                result = rpc.execute(
                    model, method, ids=ids, context=context, idempotent=idempotent, **kwargs
                )
            except LegacyApiGone:
                if self._api != "auto":
                    raise ConfigurationError(
                        f"Odoo at {self._site.url} has the legacy /{rpc.kind} API switched off: "
                        'set crm.odoo.api = "json2" (or "auto")',
                        http_status=404,
                    ) from None
                log.info("Odoo /%s answered 404; switching to JSON-2", rpc.kind)
                rpc = self._rpc = Json2Rpc(self._site, self._transport)
                result = rpc.execute(
                    model, method, ids=ids, context=context, idempotent=idempotent, **kwargs
                )
        except OdooFault as fault:
            error = to_connector_error(fault, call)
            if isinstance(error, AuthenticationError):
                self._refused = error
            raise error from None
        self._key_worked = True
        return result

    def _field_types(self, model: str) -> dict[str, dict[str, Any]]:
        """``fields_get`` once per model per client: types drive value shapes both ways."""
        with self._lock:
            if model not in self._types:
                raw = self._execute(model, "fields_get", attributes=_FIELDS_GET_ATTRIBUTES)
                if not isinstance(raw, dict):
                    raise ConnectorError(f"Odoo {model}.fields_get returned no field list")
                self._types[model] = {k: v for k, v in raw.items() if isinstance(v, dict)}
            return self._types[model]

    # --- reads ---------------------------------------------------------------------------------
    def iter_pages(
        self, module: str, fields: Sequence[str], *, modified_since: datetime | None = None
    ) -> Iterator[RecordPage]:
        """Pages of records ordered by (write_date, id), archived ones included."""
        view = parse_module(module)
        types = self._field_types(view.model)
        wanted = sorted(set(fields) | {"write_date"})
        unknown = [name for name in wanted if name not in types]
        if unknown:
            raise UnknownFieldError(
                f"Odoo model {view.model} has no field {unknown[0]!r}: fix the mapping or run "
                "`engage mappings check`",
                field=unknown[0],
            )
        domain = list(view.domain)
        if modified_since is not None:
            since = format_odoo_datetime(modified_since - self.overlap)
            domain.append(["write_date", ">=", since])
        last: tuple[str, int] | None = None
        while True:
            page_domain = domain if last is None else [*domain, *_after(last)]
            rows = self._execute(
                view.model,
                "search_read",
                domain=page_domain,
                fields=wanted,
                limit=self.page_size,
                order="write_date asc, id asc",
                context=READ_CONTEXT,
            )
            if not isinstance(rows, list):
                raise ConnectorError(f"Odoo {view.model}.search_read returned no list")
            records = [normalize_record(row, types) for row in rows if isinstance(row, dict)]
            more = len(rows) >= self.page_size
            yield RecordPage(
                module=module,
                records=records,
                more_records=more,
                newest_modified=_newest(rows),
            )
            if not more:
                return
            tail = rows[-1]
            key = (str(tail.get("write_date")), int(tail["id"]))
            if key == last:
                raise ConnectorError(f"loop detected in {view.model} paging at {key}")
            last = key

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        """Nothing: Odoo keeps no tombstones (§3). Deletions are found with ``live_ids``."""
        return iter(())

    def live_ids(self, module: str) -> set[str]:
        """Every id of ``module`` that exists now, archived ones included (the deletion scan)."""
        view = parse_module(module)
        found: set[str] = set()
        last = 0
        while True:
            ids = self._execute(
                view.model,
                "search",
                domain=[*view.domain, ["id", ">", last]],
                limit=ID_SCAN_PAGE,
                order="id asc",
                context=READ_CONTEXT,
            )
            if not isinstance(ids, list):
                raise ConnectorError(f"Odoo {view.model}.search returned no list")
            found.update(str(i) for i in ids)
            if len(ids) < ID_SCAN_PAGE:
                return found
            last = int(ids[-1])

    def get_fields(self, module: str) -> list[FieldMeta]:
        types = self._field_types(parse_module(module).model)
        return [
            FieldMeta(
                api_name=name,
                label=str(meta.get("string") or name),
                data_type=DATA_TYPES.get(str(meta.get("type")), str(meta.get("type"))),
                length=meta.get("size") if isinstance(meta.get("size"), int) else None,
                read_only=bool(meta.get("readonly")),
                custom=bool(meta.get("manual")) or name.startswith("x_"),
                picklist_values=tuple(str(item[0]) for item in meta.get("selection") or [] if item),
            )
            for name, meta in types.items()
        ]

    def stage_outcomes(self, module: str, path: str) -> dict[str, StageOutcome]:
        """Stage name -> won or open, from the stage records' ``is_won`` (one search_read).

        Odoo marks won stages only (research/odoo.md §3): "lost" is no stage but an archived
        opportunity (``active = false``), which the mapping's ``status_by_field`` reads. Only
        a ``<many2one>.name`` path on a field related to ``crm.stage`` is answered; for any
        other path the stages' meaning is unknown (empty)."""
        field_name, _, attribute = path.partition(".")
        types = self._field_types(parse_module(module).model)
        meta = types.get(field_name) or {}
        relation = meta.get("relation")
        if meta.get("type") != "many2one" or attribute not in ("name", "display_name"):
            return {}
        if not isinstance(relation, str) or "is_won" not in self._field_types(relation):
            return {}
        rows = self._execute(
            relation, "search_read", domain=[], fields=["name", "is_won"], context=READ_CONTEXT
        )
        return {
            str(row["name"]): StageOutcome.WON if row.get("is_won") else StageOutcome.OPEN
            for row in rows or []
            if isinstance(row, dict) and row.get("name")
        }

    # --- writes --------------------------------------------------------------------------------
    def write_cost(self, records: int) -> tuple[int, int]:
        """At most one ``write`` per record (fewer when values repeat); Odoo has no credits.

        The count alone cannot say more; ``write_cost_of`` prices actual rows.
        """
        if records < 0:
            raise ValueError("records must not be negative")
        return records, 0

    def write_cost_of(self, module: str, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """The calls ``update_records`` makes for ``rows`` when none is refused — ``load``
        or ``write`` per batch of ``max_write_batch``, whichever it would choose. No call."""
        calls = 0
        for start in range(0, len(rows), self.max_write_batch):
            batch = rows[start : start + self.max_write_batch]
            prepared = [
                (index, {k: v for k, v in row.items() if k != "id"})
                for index, row in enumerate(batch)
            ]
            calls += len(self._choose_plan(prepared)[1])
        return calls, 0

    def _choose_plan(
        self, prepared: Sequence[tuple[int, dict[str, Any]]]
    ) -> tuple[Literal["load", "write"], list[Any]]:
        """``write`` per value group (``plan_writes``) or ``load`` per set of columns,
        whichever takes fewer calls; ``write`` on a tie and where ``load`` was refused.

        ``write(ids, vals)`` gives every id the same values (§6), so text unique per record
        costs one call per record; ``load`` takes a different row per record but no "leave
        this field alone" cell, so rows with different columns need separate calls."""
        groups = plan_writes(list(prepared))
        if self._load_refused:
            return "write", groups
        columns: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
        for record_id, values in prepared:
            if values:
                columns.setdefault(tuple(sorted(values)), []).append((record_id, values))
        # A load that refuses a row costs a second load (and a write for the refused row):
        # prefer it only when it saves more than that.
        if len(columns) + 1 < len(groups):
            return "load", list(columns.values())
        return "write", groups

    def update_records(self, module: str, rows: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        """Write rows with as few calls as ``_choose_plan`` finds; one outcome per row.

        ``write`` is all-or-nothing, so a refused group is split in halves until the refused
        record is alone: one bad row costs about log2(group) extra calls, the rest is written.
        ``load`` is all-or-nothing too but names the refused rows; they are written alone with
        ``write`` (so their outcome and reason are exactly the write path's) and the rest is
        loaded again. A value Odoo would refuse with a ValueError is caught before any call.
        """
        if not rows:
            return []
        model = parse_module(module).model
        types = self._field_types(model)
        refused: dict[str, WriteOutcome] = {}
        prepared: list[tuple[int, dict[str, Any]]] = []
        for row in rows:
            record_id = str(row.get("id"))
            outcome = self._prepare_row(record_id, row, types, prepared)
            if outcome is not None:
                refused[record_id] = outcome
        how, plan = self._choose_plan(prepared)
        if how == "load":
            for same_columns in plan:
                self._load_rows(model, same_columns, types, refused)
        else:
            for ids, vals in plan:
                self._write_group(model, ids, vals, refused)
        return [
            refused.get(str(row.get("id")))
            or WriteOutcome(record_id=str(row.get("id")), status=WriteStatus.WRITTEN)
            for row in rows
        ]

    def _load_rows(
        self,
        model: str,
        rows: list[tuple[int, dict[str, Any]]],
        types: FieldTypes,
        refused: dict[str, WriteOutcome],
    ) -> None:
        """Update ``rows`` (same columns) with ``model.load(fields, data)`` and a ``.id``
        column — Odoo's import API (odoo/models.py ``BaseModel.load``):

        - it returns ``{ids, messages}``; it runs in a savepoint and, if any message is an
          error, rolls it back: nothing is written and ``ids`` is False;
        - each refused row has a message with its index (``record``), the ``field`` where
          known and Odoo's reason; after 10 errors (and one in ten rows) it stops checking.

        So: load; on refusal the rows named are written alone (their outcome is then the
        ``write`` path's, reason included) and the rest is loaded again, until a load passes.
        Messages naming no row (UNCONFIRMED whether Odoo sends an error without ``record``)
        and a ``load`` refused as a whole (an AccessError, a server without it) fall back to
        grouped ``write`` for what is left; a refused ``load`` is not tried again.
        """
        if self._load_refused:  # refused for an earlier group of this call
            for ids, vals in plan_writes(rows):
                self._write_group(model, ids, vals, refused)
            return
        names = list(rows[0][1])
        fields = [".id", *[f"{n}/.id" if _is_many2one(types, n) else n for n in names]]
        pending = list(rows)
        while pending:
            data = [[str(rid), *[_load_cell(v[n], types, n) for n in names]] for rid, v in pending]
            try:
                result = self._execute(
                    model, "load", fields=fields, data=data, context=LOAD_CONTEXT
                )
            except (AuthenticationError, RetryLaterError):
                raise
            except ConnectorError as exc:
                log.info("Odoo %s.load refused (%s); writing with write()", model, exc)
                self._load_refused = True
                for ids, vals in plan_writes(pending):
                    self._write_group(model, ids, vals, refused)
                return
            if not isinstance(result, dict):
                raise ConnectorError(f"Odoo {model}.load returned no result")
            if result.get("ids") is not False:
                return  # every row written
            named = {
                int(m["record"])
                for m in result.get("messages") or []
                if isinstance(m, dict)
                and m.get("type") == "error"
                and isinstance(m.get("record"), int)
                and 0 <= m["record"] < len(pending)
            }
            if not named:
                for ids, vals in plan_writes(pending):
                    self._write_group(model, ids, vals, refused)
                return
            for index in sorted(named):
                record_id, values = pending[index]
                self._write_group(model, [record_id], values, refused)
            pending = [row for index, row in enumerate(pending) if index not in named]

    @staticmethod
    def _prepare_row(
        record_id: str,
        row: Mapping[str, Any],
        types: FieldTypes,
        prepared: list[tuple[int, dict[str, Any]]],
    ) -> WriteOutcome | None:
        if not record_id.isdigit():
            return WriteOutcome(
                record_id, WriteStatus.INVALID, "INVALID_DATA", "id", "not an Odoo record id"
            )
        values = {k: v for k, v in row.items() if k != "id"}
        for name, value in values.items():
            problem = value_problem(name, value, types)
            if problem is not None:
                gone = name not in types
                return WriteOutcome(
                    record_id,
                    WriteStatus.FAILED if gone else WriteStatus.INVALID,
                    "INVALID_DATA",
                    name,
                    problem,
                )
        prepared.append((int(record_id), {k: to_odoo(k, v, types) for k, v in values.items()}))
        return None

    def _write_group(
        self, model: str, ids: list[int], vals: dict[str, Any], refused: dict[str, WriteOutcome]
    ) -> None:
        try:
            self._execute(model, "write", ids=ids, vals=vals)
        except RecordError as exc:
            if len(ids) > 1:
                middle = len(ids) // 2
                self._write_group(model, ids[:middle], vals, refused)
                self._write_group(model, ids[middle:], vals, refused)
                return
            record_id = str(ids[0])
            if record_id in refused:
                return  # an earlier field of this row was refused already
            refused[record_id] = WriteOutcome(
                record_id=record_id,
                # A record deleted since the sync may be gone for good, but that is the
                # deletion scan's finding to make; a refused value needs a person.
                status=WriteStatus.FAILED
                if exc.crm_code == "MissingError"
                else WriteStatus.INVALID,
                crm_code=exc.crm_code,
                field=exc.field or (next(iter(vals)) if len(vals) == 1 else None),
                message=exc.message,
            )

    # --- activities (§7) -----------------------------------------------------------------------
    def create_tasks(self, tasks: Sequence[NewTask]) -> list[WriteOutcome]:
        """Create ``mail.activity`` records; each task's ``key`` is kept as an external id.

        Before creating, the keys are looked up in ``ir.model.data``: a task created by an
        earlier attempt is returned as it is (a person may have edited it), not made again.
        The new ones are created with their keys in ONE ``mail.activity.load`` (an ``id``
        column), so a lost answer cannot separate a task from its key, and the retry policy
        may resend it: the resent rows find their external ids and update, not add.

        Where ``load`` is refused, ``create`` and an ``ir.model.data`` create follow (JSON-2
        has no multi-call transaction, §2): ``create`` is not resent by the retry policy, and
        a crash between the two calls leaves tasks without keys that a retry would create
        again — a window of one call, on such servers only.
        """
        if not tasks:
            return []
        names = {task.key: _task_xml_name(task.key) for task in tasks}
        existing = self._execute(
            "ir.model.data",
            "search_read",
            domain=[["module", "=", TASK_KEY_MODULE], ["name", "in", sorted(set(names.values()))]],
            fields=["name", "res_id"],
        )
        found = {row["name"]: str(row["res_id"]) for row in existing or []}
        outcomes: dict[int, WriteOutcome] = {}
        todo: list[tuple[int, NewTask, dict[str, Any]]] = []
        activity_type = (
            self._activity_type_id() if any(names[t.key] not in found for t in tasks) else 0
        )
        first_of: dict[str, int] = {}
        repeats: dict[int, int] = {}
        for index, task in enumerate(tasks):
            if task.key in first_of:  # the same follow-up twice in one call: one task
                repeats[index] = first_of[task.key]
                continue
            first_of[task.key] = index
            if names[task.key] in found:
                outcomes[index] = WriteOutcome(found[names[task.key]], WriteStatus.WRITTEN)
                continue
            if not task.record_id.isdigit():
                outcomes[index] = WriteOutcome(
                    task.record_id, WriteStatus.INVALID, "INVALID_DATA", "res_id", "not an id"
                )
                continue
            vals: dict[str, Any] = {
                "res_model_id": self._model_id(parse_module(task.module).model),
                "res_id": int(task.record_id),
                "activity_type_id": activity_type,
                "summary": task.subject,
                "note": f"<p>{html.escape(task.description)}</p>",
                "date_deadline": task.due.isoformat(),
            }
            if task.owner_id and task.owner_id.isdigit():
                vals["user_id"] = int(task.owner_id)
            todo.append((index, task, vals))
        leftover = self._load_activities(todo, names, outcomes)
        created = self._create_activities(leftover, outcomes)
        if created:
            self._execute(
                "ir.model.data",
                "create",
                idempotent=False,
                vals_list=[
                    {
                        "module": TASK_KEY_MODULE,
                        "name": names[task.key],
                        "model": "mail.activity",
                        "res_id": activity_id,
                    }
                    for task, activity_id in created
                ],
            )
        outcomes.update({index: outcomes[first] for index, first in repeats.items()})
        return [outcomes[i] for i in range(len(tasks))]

    def _load_activities(
        self,
        todo: list[tuple[int, NewTask, dict[str, Any]]],
        names: Mapping[str, str],
        outcomes: dict[int, WriteOutcome],
    ) -> list[tuple[int, NewTask, dict[str, Any]]]:
        """Create the activities AND their external ids in one ``mail.activity.load`` (an
        ``id`` column of ``engagement_connector.task_…``): one transaction, so an answer lost
        after Odoo ran it cannot leave a task without its key — and the call can be resent,
        because a row whose external id exists updates that record instead of adding one
        (BaseModel.load / ``_load_records``). Returns what is left for ``create`` when
        ``load`` is refused (then it is not tried again on this server).

        Refused rows (``ids`` False, messages naming the rows) are refused with Odoo's reason
        and the rest is loaded again, as for field writes (``_load_rows``).
        """
        if self._load_refused or not todo:
            return todo
        groups: dict[tuple[str, ...], list[tuple[int, NewTask, dict[str, Any]]]] = {}
        for item in todo:
            groups.setdefault(tuple(item[2]), []).append(item)
        leftover: list[tuple[int, NewTask, dict[str, Any]]] = []
        for columns, items in groups.items():
            fields = ["id", *[_ACTIVITY_COLUMNS.get(c, c) for c in columns]]
            pending = list(items)
            while pending:
                data = [
                    [
                        f"{TASK_KEY_MODULE}.{names[task.key]}",
                        *[_load_cell(v[c], {}, c) for c in columns],
                    ]
                    for _, task, v in pending
                ]
                try:
                    result = self._execute(
                        "mail.activity", "load", fields=fields, data=data, context=LOAD_CONTEXT
                    )
                except (AuthenticationError, RetryLaterError):
                    raise
                except ConnectorError as exc:
                    log.info("Odoo mail.activity.load refused (%s); using create", exc)
                    self._load_refused = True
                    leftover.extend(pending)
                    break
                ids = result.get("ids") if isinstance(result, dict) else None
                if isinstance(ids, list) and len(ids) == len(pending):
                    for (index, _task, _vals), activity_id in zip(pending, ids, strict=True):
                        outcomes[index] = WriteOutcome(str(activity_id), WriteStatus.WRITTEN)
                    break
                messages = result.get("messages") if isinstance(result, dict) else None
                named = {
                    int(m["record"]): str(m.get("message") or "Odoo refused the activity")
                    for m in messages or []
                    if isinstance(m, dict)
                    and m.get("type") == "error"
                    and isinstance(m.get("record"), int)
                    and 0 <= m["record"] < len(pending)
                }
                if not named:
                    leftover.extend(pending)  # nothing to go on: one create per task
                    break
                for position, message in named.items():
                    index, task, _ = pending[position]
                    outcomes[index] = WriteOutcome(
                        task.record_id, WriteStatus.INVALID, "ValidationError", None, message
                    )
                pending = [item for i, item in enumerate(pending) if i not in named]
        return leftover

    def _create_activities(
        self,
        todo: list[tuple[int, NewTask, dict[str, Any]]],
        outcomes: dict[int, WriteOutcome],
    ) -> list[tuple[NewTask, int]]:
        """One ``create`` for all; if Odoo refuses it, one per task to find the refused one."""
        if not todo:
            return []
        try:
            ids = self._execute(
                "mail.activity", "create", idempotent=False, vals_list=[v for _, _, v in todo]
            )
            batches = [(todo, ids)]
        except RecordError:
            if len(todo) == 1:
                batches = []
                self._refuse_task(todo[0], outcomes)
            else:
                batches = []
                for item in todo:
                    try:
                        one = self._execute(
                            "mail.activity", "create", idempotent=False, vals_list=[item[2]]
                        )
                    except RecordError as exc:
                        self._refuse_task(item, outcomes, exc)
                        continue
                    batches.append(([item], one))
        created: list[tuple[NewTask, int]] = []
        for items, new_ids in batches:
            for (index, task, _vals), activity_id in zip(items, new_ids or [], strict=False):
                outcomes[index] = WriteOutcome(str(activity_id), WriteStatus.WRITTEN)
                created.append((task, int(activity_id)))
        return created

    @staticmethod
    def _refuse_task(
        item: tuple[int, NewTask, dict[str, Any]],
        outcomes: dict[int, WriteOutcome],
        exc: RecordError | None = None,
    ) -> None:
        index, task, _ = item
        outcomes[index] = WriteOutcome(
            task.record_id,
            WriteStatus.INVALID,
            exc.crm_code if exc else None,
            exc.field if exc else None,
            exc.message if exc else "Odoo refused the activity",
        )

    def _activity_type_id(self) -> int:
        if self._activity_type is None:
            module, _, name = ACTIVITY_TYPE_XMLID.partition(".")
            rows = self._execute(
                "ir.model.data",
                "search_read",
                domain=[["module", "=", module], ["name", "=", name]],
                fields=["res_id"],
            )
            if not rows:
                raise ConfigurationError(
                    f"Odoo has no activity type {ACTIVITY_TYPE_XMLID}: is the Discuss (mail) "
                    "app installed?"
                )
            self._activity_type = int(rows[0]["res_id"])
        return self._activity_type

    def _model_id(self, model: str) -> int:
        if model not in self._model_ids:
            rows = self._execute(
                "ir.model", "search_read", domain=[["model", "=", model]], fields=["id"]
            )
            if not rows:
                call = CallContext(
                    self._site.url, self._site.database, self._site.login, model, "read"
                )
                raise unknown_model(call, None)
            self._model_ids[model] = int(rows[0]["id"])
        return self._model_ids[model]

    # --- custom fields (§5) --------------------------------------------------------------------
    def create_fields(self, module: str, fields: Sequence[NewField]) -> list[FieldCreateOutcome]:
        """Create ``x_`` fields as ``ir.model.fields`` (state manual, selections via
        ``selection_ids``). Existing names are reported, not created again (idempotent)."""
        model = parse_module(module).model
        names = [field_name_for(new.label) for new in fields]
        existing_rows = self._execute(
            "ir.model.fields",
            "search_read",
            domain=[["model", "=", model], ["name", "in", names]],
            fields=["name"],
        )
        existing = {row["name"]: str(row["id"]) for row in existing_rows or []}
        outcomes: dict[int, FieldCreateOutcome] = {}
        todo: list[tuple[int, dict[str, Any]]] = []
        model_id = self._model_id(model) if any(n not in existing for n in names) else 0
        for index, (new, name) in enumerate(zip(fields, names, strict=True)):
            if name in existing:
                outcomes[index] = FieldCreateOutcome(
                    new.label, False, existing[name], name, "already_exists", "already exists"
                )
                continue
            ttype = ODOO_TTYPES.get(new.data_type)
            if ttype is None:
                outcomes[index] = FieldCreateOutcome(
                    new.label,
                    False,
                    None,
                    None,
                    "INVALID_DATA",
                    f"no Odoo type for {new.data_type}",
                )
                continue
            vals: dict[str, Any] = {
                "model_id": model_id,
                "name": name,
                "field_description": _description(new.label),
                "ttype": ttype,
                "state": "manual",
            }
            if ttype == "char" and new.length:
                vals["size"] = new.length
            if ttype == "selection":
                vals["selection_ids"] = [
                    [0, 0, {"value": value, "name": _description(value), "sequence": seq}]
                    for seq, value in enumerate(new.picklist_values, start=1)
                ]
            todo.append((index, vals))
        for index, vals in todo:
            # One call per field: a refused one (say, a name clash) must not sink the others.
            try:
                created = self._execute(
                    "ir.model.fields", "create", idempotent=False, vals_list=[vals]
                )
            except RecordError as exc:
                outcomes[index] = FieldCreateOutcome(
                    fields[index].label, False, None, None, exc.crm_code, exc.message
                )
                continue
            field_id = str(created[0]) if isinstance(created, list) and created else None
            outcomes[index] = FieldCreateOutcome(fields[index].label, True, field_id, vals["name"])
        self._types.pop(model, None)  # the new fields must show in the next metadata read
        return [outcomes[i] for i in range(len(fields))]


def _is_many2one(types: FieldTypes, name: str) -> bool:
    return (types.get(name) or {}).get("type") == "many2one"


def _load_cell(value: Any, types: FieldTypes, name: str) -> str:
    """A value as ``load`` reads it: text converted per field type (ir.fields.converter);
    an empty cell is False (cleared); booleans 1/0; selections by key."""
    if value is None or value is False:
        return "" if (types.get(name) or {}).get("type") != "boolean" else "0"
    if value is True:
        return "1"
    return str(value)


def _after(last: tuple[str, int]) -> list[Any]:
    """Keyset condition: rows after (write_date, id) in (write_date asc, id asc) order."""
    stamp, record_id = last
    return [
        "|",
        ["write_date", ">", stamp],
        "&",
        ["write_date", "=", stamp],
        ["id", ">", record_id],
    ]


def _newest(rows: Sequence[Any]) -> datetime | None:
    newest = None
    for row in rows:
        value = row.get("write_date") if isinstance(row, dict) else None
        if not isinstance(value, str):
            continue
        try:
            parsed = parse_odoo_datetime(value)
        except ValueError:
            continue
        if newest is None or parsed > newest:
            newest = parsed
    return newest


def _task_xml_name(key: str) -> str:
    """External ids allow only some characters; a digest of the key is safe and stable."""
    return "task_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
