"""The Odoo sandbox's stored records: search, type coercion, constraints and defaults."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from .domains import (
    _compile,
    _field_key,
    _order_terms,
)
from .methods import (
    Fault,
    _validation,
    method_specs,
)
from .seed import OdooPortfolio, model_fields, odoo_stamp


class OdooRecords:
    """The stored records and their checks: search, coercion, bounds, defaults. One lock."""

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
