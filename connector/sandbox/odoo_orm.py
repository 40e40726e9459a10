"""The Odoo sandbox's model layer: domains, search/read/write/create/unlink and Odoo's errors.

Transport-free: ``OdooModels.call`` takes a model, a method, ids and named arguments and either
returns what Odoo would or raises ``Fault`` with the exception class Odoo raises for the same
mistake (research/odoo.md §1, §2, §4, §5, §7). The HTTP layer dresses a ``Fault`` in the
JSON-2 or JSON-RPC error shape.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .odoo_seed import MODELS, OdooPortfolio, model_fields, odoo_stamp

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
_MODEL_METHODS = {"search_read", "search", "search_count", "fields_get", "create", "context_get"}
_RECORD_METHODS = {"read", "write", "unlink"}


class OdooModels:
    """Records, metadata and the methods the connector uses. One lock guards everything."""

    def __init__(
        self, portfolio: OdooPortfolio, *, clock: Callable[[], datetime], plugin_fields: bool
    ) -> None:
        self.records = portfolio.records
        self.fields = model_fields(plugin_fields)
        self.uid = portfolio.api_uid
        self.crm_installed = True
        #: (model, field) the API user may not read or write (AccessError).
        self.restricted: set[tuple[str, str]] = set()
        #: model -> field -> (lowest, highest) a customisation's @api.constrains allows.
        self.bounds: dict[str, dict[str, tuple[float, float]]] = {
            "crm.lead": {"x_engagement_risk_score": (0, 100)}
        }
        self._clock = clock
        self._next_id = {m: max(rows, default=0) + 1 for m, rows in self.records.items()}
        self.lock = threading.RLock()

    def now(self) -> str:
        return odoo_stamp(self._clock())

    # ------------------------------------------------------------------ dispatch
    def call(self, model: str, method: str, ids: list[int] | None, kwargs: dict[str, Any]) -> Any:
        if model not in self.fields or (model.startswith("crm.") and not self.crm_installed):
            raise Fault("builtins.KeyError", repr(model))
        context = kwargs.pop("context", None) or {}
        if not isinstance(context, dict):
            raise _validation("context must be an object")
        if method in _MODEL_METHODS and ids:
            # JSON-2 refuses ids for @api.model methods (§2, 422).
            raise Fault("werkzeug.exceptions.UnprocessableEntity", f"{method} takes no ids")
        if method in _RECORD_METHODS and ids is None:
            ids = []
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise Fault(
                "builtins.AttributeError", f"The method '{method}' does not exist on '{model}'"
            )
        with self.lock:
            try:
                if method in _RECORD_METHODS:
                    return handler(model, ids, context=context, **kwargs)
                return handler(model, context=context, **kwargs)
            except TypeError as exc:  # an argument name Odoo would not bind (§2: 422)
                raise Fault("werkzeug.exceptions.UnprocessableEntity", str(exc)) from None

    # ------------------------------------------------------------------ reads
    def _m_fields_get(
        self,
        model: str,
        *,
        context: dict[str, Any],
        allfields: list[str] | None = None,
        attributes: list[str] | None = None,
    ) -> dict[str, Any]:
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
        domain: list[Any] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        return [r["id"] for r in self._search(model, domain or [], context, offset, limit, order)]

    def _m_search_count(
        self,
        model: str,
        *,
        context: dict[str, Any],
        domain: list[Any] | None = None,
        limit: int | None = None,
    ) -> int:
        return len(self._search(model, domain or [], context, 0, limit, None))

    def _m_search_read(
        self,
        model: str,
        *,
        context: dict[str, Any],
        domain: list[Any] | None = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        rows = self._search(model, domain or [], context, offset, limit, order)
        return [self._render(model, row, fields) for row in rows]

    def _m_read(
        self,
        model: str,
        ids: list[int],
        *,
        context: dict[str, Any],
        fields: list[str] | None = None,
        load: str | None = "_classic_read",
    ) -> list[dict[str, Any]]:
        return [self._render(model, self._existing(model, ids)[i], fields) for i in ids]

    def _m_context_get(self, model: str, *, context: dict[str, Any]) -> dict[str, Any]:
        return {"uid": self.uid, "lang": "en_US", "tz": "UTC"}

    def _render(
        self, model: str, row: dict[str, Any], fields: Sequence[str] | None
    ) -> dict[str, Any]:
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
            if meta[name]["type"] == "many2one" and value:
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
        end = None if limit is None else offset + int(limit)
        return rows[int(offset or 0) : end]

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
            self._check_bounds(model, {**row, **clean})
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
        special = getattr(self, "_create_" + model.replace(".", "_"), None)
        prepared = []
        for vals in vals_list:
            if special is not None:
                vals = special(vals)
            # Keys starting with "_" are the sandbox's own bookkeeping, not fields.
            clean = {
                name: value if name.startswith("_") else self._coerce(model, name, value)
                for name, value in vals.items()
            }
            required = [
                n for n, m in self.fields[model].items() if m.get("required") and not clean.get(n)
            ]
            if required:
                raise _validation(
                    f"The operation cannot be completed: missing required field {required[0]}"
                )
            self._check_bounds(model, clean)
            prepared.append(clean)
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
