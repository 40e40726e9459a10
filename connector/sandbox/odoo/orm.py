"""The Odoo sandbox's model layer: domains, search/read/write/create/unlink and Odoo's errors.

Transport-free: ``OdooModels.call`` takes a model, a method, ids and named arguments and either
returns what Odoo would or raises ``Fault`` with the exception class Odoo raises for the same
mistake (research/odoo.md §1, §2, §4, §5, §7). The HTTP layer dresses a ``Fault`` in the
JSON-2 or JSON-RPC error shape.


The stored records and their checks live in records.py; domains in domains.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .domains import (
    _as_ids,
)
from .methods import (
    Fault,
    MethodSpec,
    _validation,
)
from .records import OdooRecords
from .seed import MODELS


class OdooModels(OdooRecords):
    """Records, metadata and the methods the connector uses. One lock guards everything."""

    # ------------------------------------------------------------------ dispatch
    def _spec(self, model: str, method: str) -> MethodSpec:
        if model not in self.fields or (model.startswith("crm.") and not self.crm_installed):
            raise Fault("builtins.KeyError", repr(model))
        spec = self.specs.get(method)
        if spec is None or (method == "context_get" and model != "res.users"):
            raise Fault(
                "builtins.AttributeError", f"The method '{method}' does not exist on '{model}'"
            )
        if method == "load" and not self.load_allowed:
            raise Fault(
                "odoo.exceptions.AccessError",
                f"You are not allowed to import records of {model} (sandbox: load refused).",
            )
        return spec

    def call_kw(
        self, model: str, method: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        """``execute_kw`` / ``execute`` as odoo/api.py ``call_kw`` runs them: for a record
        method ``args[0]`` is the ids and the rest binds to the signature; ``@api.model``
        methods bind all of ``args``; ``context`` only ever comes from ``kwargs`` (§1).
        ``create`` answers one id for a dict and a list for a list, and reads ``args[0]``
        to decide, so a ``create`` with no positional argument fails with IndexError."""
        spec = self._spec(model, method)
        args = list(args)
        named = dict(kwargs or {})
        context = named.pop("context", None) or {}
        ids: list[int] | None = None
        if spec.api == "multi":
            if not args:
                raise Fault("builtins.IndexError", "list index out of range")
            ids = _as_ids(args.pop(0))
        try:
            bound = spec.signature.bind(*args, **named)
        except TypeError as exc:
            raise Fault("builtins.TypeError", f"{method}() {exc}") from None
        if spec.api == "model_create" and not args:
            # Odoo runs create, then `result.id if isinstance(args[0], Mapping) else
            # result.ids` raises IndexError and the transaction is rolled back: nothing stays.
            raise Fault("builtins.IndexError", "list index out of range")
        result = self._run(model, method, ids, bound, context)
        if spec.api == "model_create":
            return result[0] if isinstance(args[0], dict) else result
        return result

    def call_json2(self, model: str, method: str, ids: Any, kwargs: Mapping[str, Any]) -> Any:
        """JSON-2 (19+): named arguments only, ``ids`` beside them; ids on an ``@api.model``
        method and arguments the signature cannot bind are 422 (json2.py, §2)."""
        spec = self._spec(model, method)
        named = dict(kwargs)
        context = named.pop("context", None) or {}
        if spec.api != "multi" and ids:
            raise Fault("werkzeug.exceptions.UnprocessableEntity", f"{method} takes no ids")
        try:
            bound = spec.signature.bind(**named)
        except TypeError as exc:
            raise Fault("werkzeug.exceptions.UnprocessableEntity", f"{method}() {exc}") from None
        record_ids = _as_ids(ids or []) if spec.api == "multi" else None
        return self._run(model, method, record_ids, bound, context)

    def _run(
        self,
        model: str,
        method: str,
        ids: list[int] | None,
        bound: inspect.BoundArguments,
        context: Any,
    ) -> Any:
        if not isinstance(context, dict):
            raise _validation("context must be an object")
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.update(arguments.pop("read_kwargs", None) or {})
        handler = getattr(self, f"_m_{method}")
        with self.lock:
            if ids is not None:
                return handler(model, ids, context=context, **arguments)
            return handler(model, context=context, **arguments)

    # ------------------------------------------------------------------ reads
    def _m_fields_get(
        self,
        model: str,
        *,
        context: dict[str, Any],
        allfields: list[str] | None,
        attributes: list[str] | None,
    ) -> dict[str, Any]:
        """All fields (or ``allfields``), each with all attributes (or only ``attributes``)."""
        out = {}
        for name, meta in self.fields[model].items():
            if allfields and name not in allfields:
                continue
            if (model, name) in self.restricted:
                continue  # fields the user cannot read are left out of fields_get
            shown = {k: v for k, v in meta.items() if not attributes or k in attributes}
            out[name] = shown
        return out

    def _m_search(
        self,
        model: str,
        *,
        context: dict[str, Any],
        domain: list[Any],
        offset: Any,
        limit: Any,
        order: Any,
        count: bool = False,
    ) -> list[int] | int:
        rows = self._search(model, domain, context, offset, limit, order)
        if count:  # 16 only: search(..., count=True) is search_count
            return len(rows)
        return [r["id"] for r in rows]

    def _m_search_count(
        self, model: str, *, context: dict[str, Any], domain: list[Any], limit: Any
    ) -> int:
        return len(self._search(model, domain, context, 0, limit, None))

    def _m_search_read(
        self,
        model: str,
        *,
        context: dict[str, Any],
        domain: list[Any] | None,
        fields: list[str] | None,
        offset: Any,
        limit: Any,
        order: Any,
        load: Any = "_classic_read",
    ) -> list[dict[str, Any]]:
        rows = self._search(model, domain or [], context, offset, limit, order)
        return [self._render(model, row, fields, load) for row in rows]

    def _m_read(
        self,
        model: str,
        ids: list[int],
        *,
        context: dict[str, Any],
        fields: list[str] | None,
        load: Any,
    ) -> list[dict[str, Any]]:
        rows = self._existing(model, ids)
        return [self._render(model, rows[i], fields, load) for i in ids]

    def _m_name_search(
        self,
        model: str,
        *,
        context: dict[str, Any],
        name: str,
        operator: str,
        limit: Any,
        args: list[Any] | None = None,
        domain: list[Any] | None = None,
    ) -> list[list[Any]]:
        """``[[id, display_name], ...]`` of records whose name matches (§4 display_name)."""
        extra = list(domain or args or [])
        if name:
            extra.append(["name", operator or "ilike", name])
        rows = self._search(model, extra, context, 0, limit, None)
        return [[r["id"], r.get("name") or False] for r in rows]

    def _m_context_get(self, model: str, *, context: dict[str, Any]) -> dict[str, Any]:
        return {"uid": self.uid, "lang": "en_US", "tz": "UTC"}

    def _render(
        self,
        model: str,
        row: dict[str, Any],
        fields: Sequence[str] | None,
        load: Any = "_classic_read",
    ) -> dict[str, Any]:
        """One record as ``read`` returns it: a many2one is ``[id, name]`` with the default
        ``load='_classic_read'`` and the bare id with any other ``load`` (§4)."""
        meta = self.fields[model]
        names = list(fields) if fields else [n for n in meta if n in row or n == "display_name"]
        out: dict[str, Any] = {"id": row["id"]}
        for name in names:
            if name not in meta:
                raise Fault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
            if (model, name) in self.restricted:
                raise self._access_error(model, name)
            if name == "display_name":
                out[name] = row.get("name") or False
                continue
            value = row.get(name, False)
            if meta[name]["type"] == "many2one" and value and load == "_classic_read":
                comodel = meta[name]["relation"]
                target = self.records.get(comodel, {}).get(value)
                value = [value, (target or {}).get("name") or f"{comodel},{value}"]
            out[name] = value
        return out

    # ------------------------------------------------------------------ writes
    def _m_write(
        self, model: str, ids: list[int], *, context: dict[str, Any], vals: dict[str, Any]
    ) -> bool:
        if not isinstance(vals, dict):
            raise _validation("vals must be an object")
        rows = self._existing(model, ids)
        clean = {name: self._coerce(model, name, value) for name, value in vals.items()}
        for row in rows.values():
            self._check_row(model, row, clean)
        stamp = self.now()
        for row in rows.values():
            row.update(clean)
            row["write_date"] = stamp
        return True

    def _m_create(
        self, model: str, *, context: dict[str, Any], vals_list: list[dict[str, Any]]
    ) -> list[int]:
        if not isinstance(vals_list, list):
            vals_list = [vals_list]
        prepared = [self._prepare_create(model, vals) for vals in vals_list]
        return self._insert(model, prepared)

    def _m_load(
        self, model: str, *, context: dict[str, Any], fields: list[str], data: list[list[Any]]
    ) -> dict[str, Any]:
        """The import API, as odoo/models.py ``BaseModel.load`` documents and does (one function,
        as Odoo's is, so the two can be read side by side):

        - "Attempts to load the data matrix, and returns a list of ids (or ``False`` if there
          was an error and no id could be generated) and a list of messages" — returns
          ``{ids: list(int)|False, messages: [Message], nextrow}``.
        - It runs in a savepoint; rows are written in one batch, and if the batch fails they
          are retried one by one so that each failing row gets its own message
          (``{type: 'error', record: <row index>, rows: {from, to}, field?, message}``).
        - If any message is an error the savepoint is rolled back: NOTHING is written and
          ``ids`` is False. After 10 errors that are more than one in ten rows it stops.
        - A ``.id`` column names the database id of a row to update; an id the search does
          not find (``active_test`` applies, so archived rows need it off) is an error on
          ``.id`` ("Unknown database identifier"). Without ``.id`` a row is created.
        - Cells are text converted per field type (ir.fields.converter): an empty cell is
          False; integers/floats through int()/float(); selections by key or label; dates
          ``YYYY-MM-DD``; datetimes ``YYYY-MM-DD HH:MM:SS`` in the context's tz (the
          sandbox user's tz is UTC).
        """
        meta = self.fields[model]
        messages: list[dict[str, Any]] = []
        if not isinstance(fields, list) or not isinstance(data, list):
            raise _validation("load takes a list of field names and a list of rows")
        for path in fields:
            name = path.removesuffix("/.id")  # "partner_id/.id": a many2one by database id
            if path not in (".id", "id") and name not in meta:
                raise Fault("builtins.ValueError", f"Invalid field {path!r} on model {model!r}")
        table = self.records[model]
        planned: list[tuple[int | None, dict[str, Any], tuple[str, str] | None]] = []
        errors = 0
        for index, cells in enumerate(data):
            info = {"record": index, "rows": {"from": index, "to": index}}
            row = dict(zip(fields, cells, strict=False))
            dbid: int | None = None
            xid = self._xml_id(row.get("id"), context)
            try:
                if xid is not None:
                    # An external id: the record it names is updated, else one is created
                    # and the id recorded in ir.model.data (in the same transaction).
                    dbid = self._xml_record(model, xid)
                if row.get(".id") not in (None, "", False):
                    dbid = int(row[".id"])
                    # self.search([('id', '=', dbid)]): active_test hides archived rows.
                    found = table.get(dbid)
                    hidden = context.get("active_test", True) and "active" in meta
                    if found is None or (hidden and not found.get("active")):
                        raise _LoadError(".id", f"Unknown database identifier '{row['.id']}'")
                vals = {
                    name.removesuffix("/.id"): self._import_cell(model, name, cell, context)
                    for name, cell in row.items()
                    if name not in (".id", "id")
                }
                if dbid is not None:
                    self._check_row(model, table[dbid], vals)
                else:
                    vals = self._prepare_create(model, vals)
                planned.append((dbid, vals, xid))
            except _LoadError as exc:
                messages.append(
                    {**info, "type": "error", "field": exc.field, "message": exc.message}
                )
                errors += 1
            except Fault as fault:
                messages.append({**info, "type": "error", "message": fault.message})
                errors += 1
            if errors >= 10 and errors >= (index + 1) / 10:
                messages.append(
                    {
                        "type": "warning",
                        "message": "Found more than 10 errors and more than one error per 10 "
                        "records, interrupted to avoid showing too many errors.",
                    }
                )
                break
        if any(m["type"] == "error" for m in messages):
            return {"ids": False, "messages": messages, "nextrow": 0}  # savepoint rolled back
        stamp = self.now()
        ids: list[int] = []
        for dbid, vals, xid in planned:
            if dbid is None:
                [new_id] = self._insert(model, [vals])
                ids.append(new_id)
                if xid is not None:
                    self._insert(
                        "ir.model.data",
                        [{"module": xid[0], "name": xid[1], "model": model, "res_id": new_id}],
                    )
                continue
            table[dbid].update(vals)
            table[dbid]["write_date"] = stamp
            ids.append(dbid)
        return {"ids": ids, "messages": messages, "nextrow": 0}

    @staticmethod
    def _xml_id(cell: Any, context: Mapping[str, Any]) -> tuple[str, str] | None:
        """``module.name``; a bare name belongs to the context's ``module`` (``__import__``)."""
        if cell in (None, "", False):
            return None
        text = str(cell)
        if "." in text:
            module, _, name = text.partition(".")
            return module, name
        return str(context.get("module") or "__import__"), text

    def _xml_record(self, model: str, xid: tuple[str, str]) -> int | None:
        for data in self.records["ir.model.data"].values():
            if (data.get("module"), data.get("name")) == xid and data.get("model") == model:
                res_id = data.get("res_id")
                return res_id if res_id in self.records[model] else None
        return None

    def _import_cell(self, model: str, path: str, cell: Any, context: Mapping[str, Any]) -> Any:
        """One cell of ``load`` converted as ir.fields.converter does (see ``_m_load``)."""
        name = path.removesuffix("/.id")
        meta = self.fields[model][name]
        if cell in ("", None, False):
            return self._coerce(model, name, False)
        kind = meta["type"]
        text = str(cell)
        label = meta.get("string") or name
        try:
            if kind in ("integer", "many2one"):
                return self._coerce(model, name, int(text))
            if kind in ("float", "monetary"):
                return self._coerce(model, name, float(text))
            if kind == "boolean":
                return text.lower() in ("1", "true", "yes")
            if kind == "selection":
                for key, option in meta.get("selection") or []:
                    if text in (str(key), str(option)):
                        return key
                raise _LoadError(name, f"Value '{text}' not found in selection field '{label}'")
        except ValueError:
            raise _LoadError(
                name, f"'{text}' does not seem to be a number for field '{label}'"
            ) from None
        try:
            value = self._coerce(model, name, text)
        except Fault as fault:
            raise _LoadError(name, fault.message) from None
        zone = context.get("tz") or "UTC"  # the sandbox user's tz is UTC
        if kind == "datetime" and value and zone != "UTC":
            local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
            value = local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return value

    def _m_unlink(self, model: str, ids: list[int], *, context: dict[str, Any]) -> bool:
        for record_id in self._existing(model, ids):
            del self.records[model][record_id]
        return True


class _LoadError(Exception):
    """One cell or row ``load`` refuses, with the field its message names."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def model_names() -> list[str]:
    return list(MODELS)
