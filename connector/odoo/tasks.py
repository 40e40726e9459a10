"""Odoo follow-up tasks: ``mail.activity`` rows loaded in batches or created one by one."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from connector.base import (
    NewTask,
    WriteOutcome,
    WriteStatus,
)
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    RecordError,
    RetryLaterError,
)
from connector.odoo.modules import (
    _ACTIVITY_COLUMNS,
    ACTIVITY_TYPE_XMLID,
    LOAD_CONTEXT,
    TASK_KEY_MODULE,
    _load_cell,
    _task_xml_name,
    parse_module,
)
from connector.odoo.session import OdooSession

log = logging.getLogger(__name__)


class TaskWrites(OdooSession):
    """Follow-up tasks as ``mail.activity`` rows on their records (research/odoo.md §7)."""

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
