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

The login and its model calls live in session.py, follow-up tasks in tasks.py, a mapping's
module names and the sizes of reads and writes in modules.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from connector.base import (
    DeletedRecord,
    FieldCreateOutcome,
    FieldMeta,
    NewField,
    RecordPage,
    StageOutcome,
    WriteOutcome,
    WriteStatus,
)
from connector.errors import (
    AuthenticationError,
    ConnectorError,
    RecordError,
    RetryLaterError,
    UnknownFieldError,
)
from connector.odoo.modules import (
    ID_SCAN_PAGE,
    LOAD_CONTEXT,
    READ_CONTEXT,
    WRITE_BATCH_SIZE,
    _after,
    _description,
    _is_many2one,
    _load_cell,
    _newest,
    field_name_for,
    parse_module,
)
from connector.odoo.tasks import TaskWrites
from connector.odoo.values import (
    DATA_TYPES,
    ODOO_TTYPES,
    FieldTypes,
    format_odoo_datetime,
    normalize_record,
    plan_writes,
    to_odoo,
    value_problem,
)

log = logging.getLogger(__name__)


class OdooClient(TaskWrites):
    """One Odoo database as one login. Thread-safe: push may write from several threads."""

    max_write_batch = WRITE_BATCH_SIZE

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
