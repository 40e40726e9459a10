"""The Zoho sandbox's writes: record updates, follow-up tasks and field creation."""

from __future__ import annotations

import json
import math
from typing import Any

from .common import (
    _CREATABLE_TYPES,
    _DATE_RE,
    _MAX_CREATE_LENGTH,
    _MAX_DECIMAL_PLACES,
    _MAX_WRITE,
    _TRIGGERS,
    _error,
    _generated_api_name,
    _id_key,
    _invalid_module,
    _Reply,
)
from .seed import (
    CREATED_FIELD_ID_BASE,
    CREATED_PICKLIST_ID_BASE,
    expected_revenue,
    field_meta,
    iso,
)
from .state import ZohoState


class RecordWrites(ZohoState):
    """PUT /{module}[/{id}], POST /Tasks and POST /settings/fields (§4, §5, §7)."""

    # ---- POST /settings/fields (§5 "Create")

    def _create_fields(self, query: dict[str, str], raw: bytes) -> _Reply:
        module, refused = self._settings_module(query)
        if refused is not None:
            return refused
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        items = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            # UNCONFIRMED: exact body for a missing or empty "fields" array.
            return _Reply(
                400,
                _error("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "fields"}),
            )
        # UNCONFIRMED (§5 open items): the per-call maximum for create; none is enforced here.
        with self._lock:
            results = [self._create_one(module, item) for item in items]
        ok = sum(1 for r in results if r["status"] == "success")
        status = 201 if ok == len(results) else 207 if ok else 400  # §5 201/207; 400 as in §4
        return _Reply(status, {"fields": results})

    def _create_one(self, module: str, item: Any) -> dict[str, Any]:
        """Validate then add one field; a failing item changes nothing. Lock held.

        One function on purpose: Zoho checks a new field in a documented order (§5), the first
        failing check is the one it reports, and that order is easiest to see read top down.
        """

        def invalid(attribute: str) -> dict[str, Any]:
            return _error("INVALID_DATA", "invalid data", {"api_name": attribute})

        if not isinstance(item, dict):
            return invalid("fields")
        label = item.get("field_label")
        if not isinstance(label, str) or not label.strip():
            return invalid("field_label")
        label = label.strip()
        data_type = item.get("data_type")
        if data_type not in _CREATABLE_TYPES:
            return invalid("data_type")
        length = item.get("length")
        if length is not None and (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not 1 <= length <= _MAX_CREATE_LENGTH.get(data_type, length)
        ):
            return invalid("length")
        places = item.get("decimal_place")
        if places is not None and (
            isinstance(places, bool)
            or not isinstance(places, int)
            or not 0 <= places <= _MAX_DECIMAL_PLACES
        ):
            return invalid("decimal_place")
        values: list[str] = []
        if data_type == "picklist":
            raw_values = item.get("pick_list_values")
            if not isinstance(raw_values, list) or not raw_values:
                return invalid("pick_list_values")
            for raw_value in raw_values:
                value = raw_value.get("actual_value") if isinstance(raw_value, dict) else None
                if isinstance(raw_value, dict) and value is None:
                    value = raw_value.get("display_value")
                if not isinstance(value, str) or not value or value in values:
                    return invalid("pick_list_values")
                values.append(value)

        existing = self._fields[module]
        api_name = _generated_api_name(label, {f["api_name"] for f in existing})
        # UNCONFIRMED: whether Zoho compares labels and api_names case-insensitively; the
        # sandbox does, so "risk score" clashes with "Risk Score".
        clash = next(
            (
                f
                for f in existing
                if f["field_label"].casefold() == label.casefold()
                or f["api_name"].casefold() == api_name.casefold()
            ),
            None,
        )
        if clash is not None:
            return _error("DUPLICATE_DATA", "duplicate data", {"api_name": clash["api_name"]})

        self._created_fields += 1
        field_id = str(CREATED_FIELD_ID_BASE + self._created_fields)
        value_ids = []
        for value in values:
            self._created_values += 1
            value_ids.append((value, str(CREATED_PICKLIST_ID_BASE + self._created_values)))
        if data_type in _MAX_CREATE_LENGTH and length is None:
            length = _MAX_CREATE_LENGTH[data_type] if data_type == "text" else 2000
        meta = field_meta(
            field_id,
            api_name,
            label,
            data_type,
            length=length if data_type in _MAX_CREATE_LENGTH else None,
            custom=True,
            picklist=value_ids,
            decimal_place=places if data_type in ("double", "currency") else None,
        )
        self._fields[module] = [*existing, meta]
        self._field_index[module] = {**self._field_index[module], api_name: meta}
        for record in self._store[module].values():
            record[api_name] = None
        return {
            "code": "SUCCESS",
            "details": {"id": field_id},
            "message": "field created",
            "status": "success",
        }

    # ---- GET /{module} (§2)

    # ---- POST /Tasks (§7): a follow-up attached to a record through What_Id + $se_module

    def _create_tasks(self, raw: bytes) -> _Reply:
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        rows = len(data) if isinstance(data, list) and len(data) <= _MAX_WRITE else 0
        self._charge(max(1, math.ceil(rows / 10)))
        if not isinstance(data, list) or not data or len(data) > _MAX_WRITE:
            return _Reply(
                400, _error("INVALID_DATA", "data must hold 1 to 100 tasks", {"api_name": "data"})
            )
        results = []
        with self._lock:
            for i, item in enumerate(data):
                results.append(self._create_task(i, item))
        ok = sum(1 for r in results if r["status"] == "success")
        return _Reply(201 if ok == len(results) else 207 if ok else 400, {"data": results})

    def _create_task(self, i: int, item: Any) -> dict[str, Any]:
        """Validate and store one task. Lock held."""
        if not isinstance(item, dict):
            return _error("INVALID_DATA", "invalid data", {"json_path": f"$.data[{i}]"})
        if not isinstance(item.get("Subject"), str) or not item["Subject"].strip():
            return _error(
                "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "Subject"}
            )
        due = item.get("Due_Date")
        if due is not None and (not isinstance(due, str) or not _DATE_RE.match(due)):
            return _error("INVALID_DATA", "invalid data", {"api_name": "Due_Date"})
        what, module = item.get("What_Id"), item.get("$se_module")
        what_id = _id_key(what.get("id")) if isinstance(what, dict) else None
        if what is not None and (module not in self._store or what_id not in self._store[module]):
            return _error(
                "INVALID_DATA", "the related id given seems to be invalid", {"api_name": "What_Id"}
            )
        owner = item.get("Owner")
        owner_id = _id_key(owner.get("id")) if isinstance(owner, dict) else None
        users = {u["id"]: u for u in self.users}
        if owner is not None and owner_id not in users:
            return _error("INVALID_DATA", "invalid owner", {"api_name": "Owner"})
        task_id = str(9_000_000_000_000 + len(self._tasks) + 1)
        now = iso(self._now())
        self._tasks[task_id] = {
            **item,
            **({"What_Id": {**what, "id": what_id}} if isinstance(what, dict) else {}),
            "id": task_id,
            "Owner": users.get(owner_id or "", self.api_user),
            "Created_Time": now,
            "Modified_Time": now,
        }
        return {
            "code": "SUCCESS",
            "details": {"id": task_id, "Created_Time": now},
            "message": "record added",
            "status": "success",
        }

    # ---- PUT /{module} (§4)

    def _update(self, module: str, raw: bytes, path_id: str | None = None) -> _Reply:
        """PUT /{module} (each item names its id) or PUT /{module}/{id} (the path names it)."""
        if module not in self._store:
            self._charge(1)
            return _Reply(400, _invalid_module())
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not isinstance(body, dict):
            self._charge(1)
            # UNCONFIRMED: exact body for a malformed request body.
            return _Reply(
                400,
                _error("INVALID_DATA", "body is not a valid JSON object", {"expected": "json"}),
            )
        with self._lock:
            self.last_update_body = body
        data = body.get("data")
        # §6: 1 credit per 10 records, at least 1 per call. A call refused as a whole (no data,
        # more than 100 records) is charged 1: UNCONFIRMED.
        rows = len(data) if isinstance(data, list) and len(data) <= _MAX_WRITE else 0
        self._charge(max(1, math.ceil(rows / 10)))
        if not isinstance(data, list) or not data:
            return _Reply(
                400,
                _error("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"}),
            )
        if path_id is not None:
            if len(data) != 1:
                # UNCONFIRMED: Zoho's answer to more than one item on the single-record path.
                return _Reply(
                    400,
                    _error("INVALID_DATA", "only one record can be updated", {"api_name": "data"}),
                )
            if isinstance(data[0], dict):
                data = [{**data[0], "id": path_id}]
        if len(data) > _MAX_WRITE:
            return _Reply(
                400,
                _error(
                    "LIMIT_EXCEEDED",
                    "the number of records exceeds the maximum limit of 100",
                    {"limit": _MAX_WRITE},
                ),
            )
        trigger = body.get("trigger")
        if trigger is not None and (
            not isinstance(trigger, list) or any(t not in _TRIGGERS for t in trigger)
        ):
            return _Reply(
                400,
                _error("INVALID_DATA", "invalid data", {"api_name": "trigger"}),
            )
        results: list[dict[str, Any]] = []
        # One Modified_Time for the call's records (a second's resolution, as Zoho's): reading
        # the clock per record was a fifth of the sandbox's time in a push's benchmark.
        modified = iso(self._now())
        with self._lock:
            for i, item in enumerate(data):
                refused = self._injected_refusal(i, item)
                results.append(refused or self._update_one(module, i, item, modified))
        ok = sum(1 for r in results if r["status"] == "success")
        status = 200 if ok == len(results) else 207 if ok else 400  # §4
        return _Reply(status, {"data": results})

    def _update_one(self, module: str, i: int, item: Any, modified: str) -> dict[str, Any]:
        """Validate then apply one item, modified at ``modified``; a failing item changes
        nothing (§4). Lock held."""
        if not isinstance(item, dict):
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonobject", "json_path": f"$.data[{i}]"},
            )
        record_id = item.get("id")
        id_path = f"$.data[{i}].id"
        if record_id is None:
            return _error(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "id", "json_path": id_path},
            )
        # Zoho takes ids as strings or as numbers (the official SDK sends numbers: its Record
        # id is an int, [SDK] record/record.py); anything else names no record.
        key = _id_key(record_id)
        record = self._store[module].get(key) if key is not None else None
        if record is None:
            return _error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": "id", "json_path": id_path},
            )
        index = self._field_index[module]
        changes: dict[str, Any] = {}
        for name, value in item.items():
            if name == "id":
                continue
            path = f"$.data[{i}].{name}"
            meta = index.get(name)
            if meta is None:
                # UNCONFIRMED: Zoho may silently ignore unknown api_names; the sandbox is strict
                # so a misspelt target field surfaces in tests instead of vanishing.
                return _error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path})
            if meta["read_only"] or meta["formula"] or not meta["operation_type"]["api_update"]:
                # UNCONFIRMED: Zoho's code for writing a read-only/formula field. INVALID_DATA
                # keeps one code for all per-field rejections; the message says why.
                return _error(
                    "INVALID_DATA", "field is read-only", {"api_name": name, "json_path": path}
                )
            ok, stored, details = self._coerce(meta, value)
            if not ok:
                message = details.pop("message", "invalid data")
                base = {"api_name": name, "json_path": path}
                return _error("INVALID_DATA", message, {**base, **details})
            changes[name] = stored
        record.update(changes)
        record["Modified_Time"] = modified
        record["Modified_By"] = self.api_user
        if module == "Deals":
            record["Expected_Revenue"] = expected_revenue(record)
        creator = record.get("Created_By") or self.api_user
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": record["Modified_Time"],
                "Modified_By": {"name": self.api_user["name"], "id": self.api_user["id"]},
                "Created_Time": record.get("Created_Time"),
                "id": record["id"],
                "Created_By": {"name": creator["name"], "id": creator["id"]},
            },
            "message": "record updated",
            "status": "success",
        }
