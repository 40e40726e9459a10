"""The Odoo sandbox's model layer: domains, search/read/write/create/unlink and Odoo's errors.

Transport-free: ``OdooModels.call`` takes a model, a method, ids and named arguments and either
returns what Odoo would or raises ``Fault`` with the exception class Odoo raises for the same
mistake (research/odoo.md §1, §2, §4, §5, §7). The HTTP layer dresses a ``Fault`` in the
JSON-2 or JSON-RPC error shape.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .seed import MODELS, OdooPortfolio, model_fields, odoo_stamp

#: Exception class -> JSON-2 HTTP status (odoo/exceptions.py ``http_status``, §2; UNCONFIRMED
#: per release). Anything else is a 500.
HTTP_STATUS = {
    "odoo.exceptions.UserError": 422,
    "odoo.exceptions.ValidationError": 422,
    "odoo.exceptions.AccessError": 403,
    "odoo.exceptions.AccessDenied": 403,
    "odoo.exceptions.MissingError": 404,
    "odoo.exceptions.LockError": 409,
    "werkzeug.exceptions.NotFound": 404,
    "werkzeug.exceptions.Unauthorized": 401,
    "werkzeug.exceptions.UnprocessableEntity": 422,
}


@dataclass
class Fault(Exception):
    name: str
    message: str

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.name, 500)


def _validation(message: str) -> Fault:
    return Fault("odoo.exceptions.ValidationError", message)


_ORDER_TERM = re.compile(r"^\s*(\w+)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MethodSpec:
    """How Odoo's ``call_kw`` binds a method: ``api`` is ``model`` (no ids), ``model_create``
    (``create``, no ids) or ``multi`` (``args[0]`` is the ids), and the Python signature the
    remaining arguments are bound to, positional or named (odoo/api.py ``call_kw``)."""

    api: Literal["model", "model_create", "multi"]
    signature: inspect.Signature


def _sig(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def method_specs(version: int) -> dict[str, MethodSpec]:
    """The signatures of ``odoo/models.py`` (BaseModel) for the release ``version``.

    Read in odoo/odoo sources (research/odoo.md §1, §3, §4, §6): ``search(domain, offset=0,
    limit=None, order=None)`` (16 adds ``count=False``, removed in 17); ``search_count(domain,
    limit=None)`` (``limit`` since 16); ``search_read(domain=None, fields=None, offset=0,
    limit=None, order=None, **read_kwargs)``; ``read(fields=None, load='_classic_read')``;
    ``write(vals)``; ``create(vals_list)`` (@api.model_create_multi: a dict or a list);
    ``unlink()``; ``fields_get(allfields=None, attributes=None)``; ``load(fields, data)``;
    ``name_search(name='', args=None, operator='ilike', limit=100)`` whose ``args`` became
    ``domain`` in 18 (UNCONFIRMED which minor release; the sandbox switches at 18).
    """

    def search(domain, offset=0, limit=None, order=None): ...

    def search_16(domain, offset=0, limit=None, order=None, count=False): ...

    def search_count(domain, limit=None): ...

    def search_read(domain=None, fields=None, offset=0, limit=None, order=None, **read_kwargs): ...

    def read(fields=None, load="_classic_read"): ...

    def write(vals): ...

    def create(vals_list): ...

    def unlink(): ...

    def fields_get(allfields=None, attributes=None): ...

    def load(fields, data): ...

    def name_search_17(name="", args=None, operator="ilike", limit=100): ...

    def name_search_18(name="", domain=None, operator="ilike", limit=100): ...

    def context_get(): ...

    return {
        "search": MethodSpec("model", _sig(search_16 if version <= 16 else search)),
        "search_count": MethodSpec("model", _sig(search_count)),
        "search_read": MethodSpec("model", _sig(search_read)),
        "fields_get": MethodSpec("model", _sig(fields_get)),
        "name_search": MethodSpec(
            "model", _sig(name_search_17 if version <= 17 else name_search_18)
        ),
        "load": MethodSpec("model", _sig(load)),
        "context_get": MethodSpec("model", _sig(context_get)),
        "create": MethodSpec("model_create", _sig(create)),
        "read": MethodSpec("multi", _sig(read)),
        "write": MethodSpec("multi", _sig(write)),
        "unlink": MethodSpec("multi", _sig(unlink)),
    }


class OdooModels:
    """Records, metadata and the methods the connector uses. One lock guards everything."""

    def __init__(
        self,
        portfolio: OdooPortfolio,
        *,
        clock: Callable[[], datetime],
        plugin_fields: bool,
        version: int = 19,
    ) -> None:
        self.records = portfolio.records
        self.fields = model_fields(plugin_fields)
        self.uid = portfolio.api_uid
        self.version = version
        self.specs = method_specs(version)
        self.crm_installed = True
        #: (model, field) the API user may not read or write (AccessError).
        self.restricted: set[tuple[str, str]] = set()
        #: model -> field -> (lowest, highest) a customisation's @api.constrains allows.
        self.bounds: dict[str, dict[str, tuple[float, float]]] = {
            "crm.lead": {"x_engagement_risk_score": (0, 100)}
        }
        #: Whether ``load`` is offered (False: a server where the import API is refused, as a
        #: customisation or a proxy could; the connector must fall back to ``write``).
        self.load_allowed = True
        #: (model, id) -> the message a customisation's constraint refuses any write with.
        self.refuse_writes: dict[tuple[str, int], str] = {}
        self._clock = clock
        self._next_id = {m: max(rows, default=0) + 1 for m, rows in self.records.items()}
        self.lock = threading.RLock()

    def now(self) -> str:
        return odoo_stamp(self._clock())

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

    def _access_error(self, model: str, name: str) -> Fault:
        label = self.fields[model][name]["string"]
        return Fault(
            "odoo.exceptions.AccessError",
            f'You do not have enough rights to access the field "{name}" on {label} '
            f"({model}). Please contact your system administrator.",
        )

    def _search(
        self,
        model: str,
        domain: list[Any],
        context: Mapping[str, Any],
        offset: int,
        limit: int | None,
        order: str | None,
    ) -> list[dict[str, Any]]:
        if not isinstance(domain, list):
            raise _validation(f"Invalid domain: {domain!r}")
        meta = self.fields[model]
        test = _compile(domain, meta)
        active_test = context.get("active_test", True) and "active" in meta
        mentions_active = any(isinstance(t, list) and t and t[0] == "active" for t in domain)
        rows = [
            r
            for r in self.records[model].values()
            if test(r) and not (active_test and not mentions_active and not r.get("active"))
        ]
        for name, descending in reversed(_order_terms(order or "id", meta)):
            rows.sort(key=_field_key(name), reverse=descending)
        # False is what clients send for "no limit" / "default order" (odoo-client-lib does).
        start = int(offset or 0)
        end = None if limit in (None, False) else start + int(limit)
        return rows[start:end]

    def _existing(self, model: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        table = self.records[model]
        missing = [i for i in ids if i not in table]
        if missing:
            raise Fault(
                "odoo.exceptions.MissingError",
                "Record does not exist or has been deleted.\n"
                f"(Record: {model}({', '.join(map(str, missing))},), User: {self.uid})",
            )
        return {i: table[i] for i in ids}

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

    def _prepare_create(self, model: str, vals: Any) -> dict[str, Any]:
        """A new record's values checked and completed with defaults, not yet stored."""
        if not isinstance(vals, dict):
            raise _validation(f"create takes dicts of values, not {vals!r}")
        special = getattr(self, "_create_" + model.replace(".", "_"), None)
        if special is not None:
            vals = special(vals)
        vals = {**_DEFAULTS.get(model, {}), **vals}
        # Keys starting with "_" are the sandbox's own bookkeeping, not fields.
        clean = {
            name: value if name.startswith("_") else self._coerce(model, name, value)
            for name, value in vals.items()
        }
        required = [
            n
            for n, m in self.fields[model].items()
            if m.get("required") and clean.get(n) in (None, False)
        ]
        if required:
            raise _validation(
                f"The operation cannot be completed: missing required field {required[0]}"
            )
        self._check_bounds(model, clean)
        return clean

    def _insert(self, model: str, prepared: Sequence[dict[str, Any]]) -> list[int]:
        stamp = self.now()
        new_ids = []
        for clean in prepared:
            record_id = self._next_id[model]
            self._next_id[model] += 1
            self.records[model][record_id] = {
                "id": record_id,
                "create_date": stamp,
                "write_date": stamp,
                **clean,
            }
            new_ids.append(record_id)
            after = getattr(self, "_created_" + model.replace(".", "_"), None)
            if after is not None:
                after(self.records[model][record_id])
        return new_ids

    def _check_row(self, model: str, row: Mapping[str, Any], clean: Mapping[str, Any]) -> None:
        """The constraints a write must pass (a customisation's @api.constrains)."""
        refused = self.refuse_writes.get((model, int(row["id"])))
        if refused is not None:
            raise _validation(refused)
        self._check_bounds(model, {**row, **clean})

    def _m_load(
        self, model: str, *, context: dict[str, Any], fields: list[str], data: list[list[Any]]
    ) -> dict[str, Any]:
        """The import API, as odoo/models.py ``BaseModel.load`` documents and does:

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

    def _coerce(self, model: str, name: str, value: Any) -> Any:
        meta = self.fields[model].get(name)
        if meta is None:
            raise Fault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        if (model, name) in self.restricted:
            raise self._access_error(model, name)
        if meta.get("readonly"):
            return value  # Odoo ignores writes to read-only (computed) fields without inverse
        kind = meta["type"]
        if value is False or value is None:
            return False
        wrong = f"Wrong value for {model}.{name}: {value!r}"
        if kind == "selection" and meta.get("selection") is not None:
            if value not in [key for key, _label in meta["selection"]] and name != "ttype":
                raise Fault("builtins.ValueError", wrong)
        elif kind == "integer" or kind == "many2one":
            if isinstance(value, bool) or not isinstance(value, int):
                raise Fault("builtins.ValueError", wrong)
            if kind == "many2one":
                comodel = meta["relation"]
                if comodel in self.records and value not in self.records[comodel]:
                    raise Fault(
                        "odoo.exceptions.MissingError",
                        f"Record does not exist or has been deleted.\n(Record: {comodel}({value},))",
                    )
        elif kind in ("float", "monetary"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Fault("builtins.ValueError", wrong)
            value = float(value)
        elif kind == "date":
            try:
                value = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise Fault("builtins.ValueError", f"{wrong} (expected YYYY-MM-DD)") from None
        elif kind == "datetime":
            try:
                value = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
            except ValueError:
                raise Fault(
                    "builtins.ValueError", f"{wrong} (expected YYYY-MM-DD HH:MM:SS)"
                ) from None
        elif kind in ("char", "text", "html") and not isinstance(value, str):
            value = str(value)
        return value

    def _check_bounds(self, model: str, row: Mapping[str, Any]) -> None:
        for name, (low, high) in self.bounds.get(model, {}).items():
            value = row.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not low <= value <= high:
                raise _validation(
                    f"{self.fields[model][name]['string']} must be between {low:g} and "
                    f"{high:g} (got {value:g})"
                )

    # ---- special models
    def _create_ir_model_fields(self, vals: dict[str, Any]) -> dict[str, Any]:
        """§5: custom fields must be manual and named x_…; selections come via selection_ids."""
        vals = dict(vals)
        # field_description is required but defaults to '' (ir_model.py), and Odoo's own
        # recipe (external_api.rst §ir.model.fields) creates fields without it.
        vals.setdefault("field_description", "")
        name = str(vals.get("name") or "")
        if vals.get("state") != "manual":
            raise _validation("Only custom fields (state 'manual') can be created")
        if not name.startswith("x_"):
            raise _validation("Custom fields must have a name that starts with 'x_' !")
        model_row = self.records["ir.model"].get(vals.get("model_id"))  # type: ignore[arg-type]
        if model_row is None:
            raise _validation("Model is required")
        model = model_row["model"]
        if name in self.fields.get(model, {}):
            raise _validation(f"Field names must be unique per model. ({model}.{name})")
        ttype = vals.get("ttype")
        if ttype not in {"char", "text", "html", "integer", "float", "date", "datetime",
                         "selection", "boolean", "monetary"}:  # fmt: skip
            raise _validation(f"Unsupported field type {ttype!r}")
        options = []
        for command in vals.pop("selection_ids", None) or []:
            if not (isinstance(command, list) and len(command) == 3 and command[0] == 0):
                raise _validation("selection_ids takes (0, 0, {value, name, sequence}) commands")
            options.append(command[2])
        if ttype == "selection" and not options:
            raise _validation("Selection field must have at least one option")
        vals["model"] = model
        vals["_selection"] = [
            [o["value"], o.get("name") or o["value"]]
            for o in sorted(options, key=lambda o: o.get("sequence", 0))
        ]
        return vals

    def _created_ir_model_fields(self, row: dict[str, Any]) -> None:
        model, name, ttype = row["model"], row["name"], row["ttype"]
        meta: dict[str, Any] = {
            "type": ttype,
            "string": row["field_description"],
            "readonly": False,
            "required": False,
            "manual": True,
        }
        if ttype == "selection":
            meta["selection"] = row.pop("_selection")
        else:
            row.pop("_selection", None)
        if row.get("size"):
            meta["size"] = row["size"]
        self.fields[model] = {**self.fields[model], name: meta}
        for record in self.records.get(model, {}).values():
            record.setdefault(name, False)

    def _create_mail_activity(self, vals: dict[str, Any]) -> dict[str, Any]:
        vals = dict(vals)
        model_row = self.records["ir.model"].get(vals.get("res_model_id"))  # type: ignore[arg-type]
        if model_row is None:
            raise _validation("Document Model is required")
        target = self.records.get(model_row["model"], {})
        if vals.get("res_id") not in target:
            raise Fault(
                "odoo.exceptions.MissingError",
                f"Record does not exist or has been deleted.\n"
                f"(Record: {model_row['model']}({vals.get('res_id')},), User: {self.uid})",
            )
        vals.setdefault("user_id", self.uid)
        vals["res_model"] = model_row["model"]
        return vals


#: Field defaults a ``create`` without them gets (the models' ``default=``): ``active`` is
#: True wherever it exists; a lead is an opportunity when leads are not enabled (crm_lead.py
#: ``_default_type`` without crm.group_use_lead).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "res.partner": {"active": True, "is_company": False},
    "crm.lead": {"active": True, "type": "opportunity", "probability": 10.0},
}


class _LoadError(Exception):
    """One cell or row ``load`` refuses, with the field its message names."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _as_ids(value: Any) -> list[int]:
    """``browse(ids)`` takes one id or a list of them."""
    items = value if isinstance(value, list | tuple) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise _validation(f"Invalid record ids: {value!r}")
    return list(items)


def _field_key(name: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda row: _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is False or value is None:
        return (0, 0)
    if isinstance(value, list):
        value = value[0]
    return (1, value)


def _order_terms(order: str, meta: Mapping[str, Any]) -> list[tuple[str, bool]]:
    terms = []
    for part in order.split(","):
        found = _ORDER_TERM.match(part)
        if not found or found.group(1) not in meta:
            raise Fault("builtins.ValueError", f'Invalid "order" specified ({order})')
        terms.append((found.group(1), (found.group(2) or "asc").lower() == "desc"))
    return terms


Test = Callable[[Mapping[str, Any]], bool]


def _compile(domain: list[Any], meta: Mapping[str, Any]) -> Test:
    """Odoo's prefix-notation domain: leaves and '&', '|', '!'; top level is implicitly AND."""
    items = list(domain)
    tests: list[Test] = []

    def parse() -> Test:
        if not items:
            raise _validation(f"Invalid domain {domain!r}")
        item = items.pop(0)
        if item == "!":
            inner = parse()
            return lambda r: not inner(r)
        if item in ("&", "|"):
            left, right = parse(), parse()
            if item == "&":
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        return _leaf(item, meta)

    while items:
        tests.append(parse())
    return lambda r: all(t(r) for t in tests)


def _leaf(term: Any, meta: Mapping[str, Any]) -> Test:
    if not (isinstance(term, list | tuple) and len(term) == 3):
        raise _validation(f"Invalid leaf {term!r}")
    name, op, value = term
    if name not in meta:
        raise Fault("builtins.ValueError", f"Invalid field {name!r} in leaf {term!r}")

    def get(r: Mapping[str, Any]) -> Any:
        v = r.get(name, False)
        return False if v is None else v

    if op == "=":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value
    if op in ("in", "not in"):
        allowed = list(value) if isinstance(value, list | tuple) else [value]
        return (lambda r: get(r) in allowed) if op == "in" else (lambda r: get(r) not in allowed)
    if op in (">", ">=", "<", "<="):

        def compare(r: Mapping[str, Any]) -> bool:
            v = get(r)
            if v is False or value is False:
                return False
            return bool(
                v > value
                if op == ">"
                else v >= value
                if op == ">="
                else v < value
                if op == "<"
                else v <= value
            )

        return compare
    if op in ("ilike", "like"):
        needle = str(value).lower() if op == "ilike" else str(value)
        return lambda r: needle in (str(get(r)).lower() if op == "ilike" else str(get(r)))
    raise _validation(f"Invalid operator {op!r} in leaf {term!r}")


def model_names() -> list[str]:
    return list(MODELS)
