"""Bodies of Zoho writes and the one reading of their per-item results (research/zoho.md §4, §5, §7).

Update, task insert and field creation answer 200/201, 207 or 400 with one result per item,
in input order; an item is ``"status": "success"`` or carries ``code``, ``message`` and
``details`` (``api_name`` names the field). ``per_item`` pairs each input with its result, read
once, so the three writes differ only in what a result means for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from connector.base import FieldCreateOutcome, NewField, NewTask, WriteOutcome, WriteStatus
from connector.errors import ConfigurationError, describe_crm_error

#: Item codes that mean the row's values are refused as they are (§4): sending the same values
#: again cannot succeed, so the outcome is INVALID rather than FAILED.
INVALID_CODES = frozenset(
    {
        "INVALID_DATA",
        "MANDATORY_NOT_FOUND",
        "DEPENDENT_FIELD_MISSING",
        "DEPENDENT_MISMATCH",
        "DUPLICATE_DATA",
        "NOT_ALLOWED",
    }
)

Item = TypeVar("Item")


@dataclass(frozen=True)
class ItemResult:
    """Zoho's verdict on one item of a write, read once."""

    succeeded: bool
    code: str | None
    #: ``details.api_name`` (or ``param_name``): the field or request attribute concerned.
    field: str | None
    message: str
    details: dict[str, Any]

    @classmethod
    def read(cls, item: Any) -> ItemResult:
        code, named, message = describe_crm_error(item)
        details = item.get("details") if isinstance(item, dict) else None
        return cls(
            succeeded=isinstance(item, dict) and item.get("status") == "success",
            code=code,
            field=named,
            message=message,
            details=details if isinstance(details, dict) else {},
        )


def result_items(payload: dict[str, Any], key: str, what: str, http_status: int) -> list[Any]:
    """The per-item results under ``key``; a top-level error (e.g. LIMIT_EXCEEDED) instead
    means the whole call was refused."""
    items = payload.get(key)
    if not isinstance(items, list):
        code, named, message = describe_crm_error(payload)
        raise ConfigurationError(
            f"Zoho refused the whole {what}: {message}",
            crm_code=code,
            field=named,
            http_status=http_status,
        )
    return items


def per_item(
    batch: Sequence[Item], items: Sequence[Any]
) -> Iterator[tuple[Item, ItemResult | None]]:
    """Each input with its result, in input order; None where Zoho returned none for it."""
    for i, entry in enumerate(batch):
        yield entry, ItemResult.read(items[i]) if i < len(items) else None


def write_outcome(
    record_id: str, result: ItemResult | None, *, what: str, inserted: bool = False
) -> WriteOutcome:
    """The outcome of one row of an update (``inserted=False``) or a task insert.

    An update's success keeps ``details`` (Modified_Time, Modified_By: the push knows its own
    writes by them, jobs/push/echo.py). An insert's success names the new record instead, and
    counts only with an id; its outcomes carry no details.
    """
    if result is None:
        return WriteOutcome(
            record_id=record_id,
            status=WriteStatus.FAILED,
            message=f"Zoho returned no result for this {what}",
        )
    if result.succeeded and not inserted:
        return WriteOutcome(record_id=record_id, status=WriteStatus.WRITTEN, details=result.details)
    new_id = result.details.get("id")
    if result.succeeded and new_id:
        return WriteOutcome(record_id=str(new_id), status=WriteStatus.WRITTEN)
    return WriteOutcome(
        record_id=record_id,
        status=WriteStatus.INVALID if result.code in INVALID_CODES else WriteStatus.FAILED,
        crm_code=result.code,
        field=result.field,
        message=result.message,
        details={} if inserted else result.details,
    )


def field_outcome(
    new: NewField, result: ItemResult | None, api_name_of: Callable[[str], str | None]
) -> FieldCreateOutcome:
    """The outcome of creating one field; ``api_name_of(field_id)`` asks Zoho for the
    api_name of a created field (§5: the create answer carries only its id)."""
    if result is None:
        return FieldCreateOutcome(
            label=new.label,
            created=False,
            field_id=None,
            api_name=None,
            message="Zoho returned no result for this field",
        )
    field_id = result.details.get("id")
    if result.succeeded and field_id:
        # The api_name Zoho generated from the label is not always the label with underscores.
        api_name = api_name_of(str(field_id))
        return FieldCreateOutcome(
            label=new.label,
            created=True,
            field_id=str(field_id),
            api_name=api_name,
            crm_code=result.code,
            message=result.message if api_name else "created, but Zoho sent no api_name",
        )
    if result.code == "DUPLICATE_DATA":
        # details.api_name names the field that already exists (the caller can use it).
        return FieldCreateOutcome(
            label=new.label,
            created=False,
            field_id=None,
            api_name=result.field,
            crm_code=result.code,
            message=result.message or "a field with this label or api_name already exists",
        )
    # Other errors name the offending request attribute (field_label, data_type, ...).
    attribute = result.field
    return FieldCreateOutcome(
        label=new.label,
        created=False,
        field_id=None,
        api_name=None,
        crm_code=result.code,
        message=f"{result.message} ({attribute})" if attribute else result.message,
    )


def task_key_marker(key: str) -> str:
    """How a task's idempotency key is written in its Description, to be searched for."""
    return f"[engage:{key}]"


def new_task_body(task: NewTask) -> dict[str, Any]:
    """§7 insert body for one follow-up task attached to its record (What_Id + $se_module)."""
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


def new_field_body(new: NewField) -> dict[str, Any]:
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
