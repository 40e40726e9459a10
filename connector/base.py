"""What every CRM client offers, and the typed results it returns.

CRM differences (Zoho's page tokens and 207s, Odoo's errors inside HTTP 200) stay inside each
client; callers only ever see these types and the errors of ``connector.errors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class RecordPage:
    """One page of raw records, as the CRM returned them (values untouched)."""

    module: str
    records: list[dict[str, Any]]
    more_records: bool
    #: The latest modification time on this page (the sync cursor advances to it once stored).
    newest_modified: datetime | None = None
    #: On a read's last page, where the next incremental read may start instead of
    #: ``newest_modified``, when the client can tell that no record of that instant can still
    #: appear (Zoho: one second later, once that second had long passed when the read began).
    #: None: start at ``newest_modified`` again, re-reading the records of that instant.
    resume_from: datetime | None = None


@dataclass(frozen=True)
class DeletedRecord:
    module: str
    record_id: str
    deleted_at: datetime | None


class StageOutcome(StrEnum):
    """What a deal stage means, as the CRM itself says (Zoho: the stage's forecast type;
    Odoo: the stage's ``is_won``)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class FieldMeta:
    """The parts of a CRM field's metadata that mapping checks and writes rely on."""

    api_name: str
    label: str
    data_type: str
    length: int | None = None
    read_only: bool = False
    custom: bool = False
    picklist_values: tuple[str, ...] = ()
    #: (picklist value, outcome) for the values whose metadata says whether a deal in it is
    #: open, won or lost (Zoho's Stage picklist); empty for other fields.
    outcomes: tuple[tuple[str, StageOutcome], ...] = ()


@dataclass(frozen=True)
class NewField:
    """A custom field to create. ``data_type`` uses the CRM's own type names (Zoho: "text",
    "textarea", "integer", "double", "currency", "date", "datetime", "picklist", "boolean")."""

    label: str
    data_type: str
    length: int | None = None
    decimal_place: int | None = None
    picklist_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldCreateOutcome:
    """The CRM's verdict on one requested field, in input order.

    ``api_name`` is what the CRM generated from the label when ``created``; when the CRM
    refused because the field already exists it names the existing field (``crm_code`` says so).
    """

    label: str
    created: bool
    field_id: str | None
    api_name: str | None
    crm_code: str | None = None
    message: str = ""


@dataclass(frozen=True)
class NewTask:
    """A follow-up for a person, attached to a CRM record (Zoho: a Task; Odoo: a mail.activity).

    ``module`` and ``record_id`` name the record in the CRM's own vocabulary (Zoho "Deals",
    Odoo "crm.lead"). ``key`` is the caller's idempotency key: clients put it where a later
    run can look it up, so that a retry after a crash finds the task instead of adding a second.
    """

    module: str
    record_id: str
    subject: str
    description: str
    due: date
    key: str
    owner_id: str | None = None


class WriteStatus(StrEnum):
    WRITTEN = "written"
    INVALID = "invalid"  # the CRM refused this row's values: fix the data or the mapping
    FAILED = "failed"  # refused for another reason (locked, not found, …): may succeed later


@dataclass(frozen=True)
class WriteOutcome:
    """The CRM's verdict on one row of a write call, in input order."""

    record_id: str
    status: WriteStatus
    crm_code: str | None = None
    field: str | None = None
    message: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


class CRMClient(Protocol):
    """The operations the jobs need from any CRM."""

    #: Most rows one write call takes; callers persist outcomes after each call of this size.
    max_write_batch: int

    def iter_pages(
        self, module: str, fields: Sequence[str], *, modified_since: datetime | None = None
    ) -> Iterator[RecordPage]:
        """Yield pages of records modified at or after ``modified_since`` (all when None)."""
        ...

    def iter_deleted(
        self, module: str, *, deleted_since: datetime | None = None
    ) -> Iterator[DeletedRecord]:
        """Yield records deleted at or after ``deleted_since``."""
        ...

    def get_fields(self, module: str) -> list[FieldMeta]:
        """Return the module's field metadata."""
        ...

    def update_records(self, module: str, rows: Sequence[dict[str, Any]]) -> list[WriteOutcome]:
        """Update records by id; return one outcome per row, in input order."""
        ...

    def write_cost(self, records: int) -> tuple[int, int]:
        """(calls, credits) that updating ``records`` rows costs, in the CRM's own quota unit.

        Lets a dry run say what a push would spend before it spends it.
        """
        ...

    def create_tasks(self, tasks: Sequence[NewTask]) -> list[WriteOutcome]:
        """Create follow-up tasks; one outcome per task, in input order.

        A written outcome's ``record_id`` is the new task's id in the CRM.
        """
        ...

    def create_fields(self, module: str, fields: Sequence[NewField]) -> list[FieldCreateOutcome]:
        """Create custom fields; return one outcome per requested field, in input order.

        Not idempotent: after an error that leaves the outcome unknown, read the metadata again
        (or call again and accept "already exists" outcomes) rather than assume nothing happened.
        """
        ...


@runtime_checkable
class ScansForDeletions(Protocol):
    """A CRM that keeps no record of deletions (Odoo): the sync lists every id now and then and
    treats the ids it holds but the CRM no longer has as deleted."""

    #: How often the full id listing is worth its cost.
    id_scan_interval: timedelta

    def live_ids(self, module: str) -> set[str]:
        """Every id of ``module`` that exists now (archived ones included)."""
        ...


@runtime_checkable
class KnowsStageOutcomes(Protocol):
    """A CRM whose stages are records rather than picklist values (Odoo's ``crm.stage``):
    it says which stage names mean won (Zoho says it in the Stage field's metadata instead,
    ``FieldMeta.outcomes``)."""

    def stage_outcomes(self, module: str, path: str) -> dict[str, StageOutcome]:
        """Stage value (as read at ``path`` of ``module``'s records) -> what it means."""
        ...


@runtime_checkable
class PricesRows(Protocol):
    """A CRM whose write cost depends on the values, not just the count (Odoo groups rows by
    value): it prices the actual rows, so a dry run shows the calls the push will make."""

    def write_cost_of(self, module: str, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """(calls, credits) ``update_records`` would spend on ``rows`` if none is refused."""
        ...


@runtime_checkable
class SkipsOwnWrites(Protocol):
    """A CRM that can leave out of an incremental read the records whose last change was made
    by a given user (Zoho: COQL on ``Modified_By``), so that the read after a push does not
    re-read every record the push wrote (whose modification time the write moved)."""

    def iter_changed_by_others(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime,
        own_user_id: str,
        also_ids: Sequence[str] = (),
    ) -> Iterator[RecordPage]:
        """Pages of the records modified at or after ``modified_since`` whose last change was
        not made by ``own_user_id``, plus those of ``also_ids`` (rows written without an answer)
        that ``own_user_id`` did modify since: the writes that may have landed.
        A client that finds the filter refused by the CRM reads as ``iter_pages`` does."""
        ...
