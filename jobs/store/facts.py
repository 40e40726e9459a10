"""Delivery facts: milestones, tickets, costs, touchpoints and change requests, keyed by
(source, external_id), and what scoring reads of them."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from jobs.store import schema as t
from jobs.store.base import StoreBase, list_validator, where_among
from jobs.store.bulk import among, insert_rows
from mappings.domain import (
    ChangeRequest,
    ChangeStatus,
    CostEntry,
    Milestone,
    Ticket,
    TicketPriority,
    Touchpoint,
    TouchpointKind,
)

#: The source of `engage import`'s facts (jobs/facts_import.py ``SOURCE``).
FILE_SOURCE = "file"


class TicketTimes(NamedTuple):
    """A stored ticket as scoring reads it: what the SLA engine measures, no more."""

    external_id: str
    priority: TicketPriority
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    waiting_on_client: tuple[tuple[datetime, datetime], ...]


# What scoring reads of the other facts, as plain tuples (see `Store.scoring_milestones`...).
# Each starts with the engagement id, as the domain models have it.


class MilestoneProgress(NamedTuple):
    """A stored milestone as scoring reads it: what the risk model and SLA engine read."""

    engagement_id: str
    name: str  # named by the schedule driver
    planned_date: date
    planned_value: Decimal
    percent_complete: float
    delivered_date: date | None
    rejected_count: int


class CostAmount(NamedTuple):
    """A stored cost entry as scoring reads it."""

    engagement_id: str
    amount: Decimal


class TouchpointTime(NamedTuple):
    """A stored touchpoint as scoring reads it."""

    engagement_id: str
    kind: TouchpointKind
    at: datetime


class ChangeValue(NamedTuple):
    """A stored change request as scoring reads it."""

    engagement_id: str
    value: Decimal
    status: ChangeStatus


class FactTables(StoreBase):
    """The fact tables (``schema.FACT_TABLES``) and their versions: written here only."""

    # --- delivery facts ------------------------------------------------------------------------
    # Milestones, tickets, costs, touchpoints and change requests, keyed by (source, external_id).

    def fact_model(self, kind: str) -> type[BaseModel]:
        """The domain model of a kind of fact ("milestones", "tickets", "costs"...)."""
        models: dict[str, type[BaseModel]] = {
            "milestones": Milestone,
            "tickets": Ticket,
            "costs": CostEntry,
            "touchpoints": Touchpoint,
            "change_requests": ChangeRequest,
        }
        if kind not in models:
            raise ValueError(f"unknown kind of fact {kind!r}; one of {', '.join(models)}")
        return models[kind]

    def save_facts(
        self,
        kind: str,
        facts: Sequence[BaseModel],
        source: str,
        at: datetime,
        *,
        adopt_from: str | None = None,
    ) -> int:
        """Insert or update facts by (source, external_id); returns how many rows were new or
        changed. A fact whose values are already stored is left alone (its ``imported_at`` too),
        so saving the same facts again returns 0. The last of two facts with one id wins.
        ``adopt_from``: see `fact_writer`.
        """
        with self.fact_writer(kind, source, at, adopt_from=adopt_from) as writer:
            writer.add(facts)
        return writer.changed

    @contextmanager
    def fact_writer(
        self, kind: str, source: str, at: datetime, *, adopt_from: str | None = None
    ) -> Iterator[FactWriter]:
        """Facts of one kind added in batches, all in one transaction: a file import stores
        every row or (an exception) none.

        ``adopt_from`` (a delivery source's pull: "file"): a fact stored under that source with
        the same external id is the same fact, and passes to ``source`` (one row, not two). The engagements' fact versions are raised once, at
        the end: raising them per batch updated the same rows again and again inside one
        transaction, and on PostgreSQL each lookup then walked every dead version of its row
        (100,000 rows took 151 s against SQLite's 6.5 s)."""
        with self.engine.begin() as conn:
            writer = FactWriter(self, conn, kind, source, at, adopt_from=adopt_from)
            yield writer
            self._raise_fact_versions(conn, writer.touched)

    def fact_versions(self, ids: Collection[str] | None = None) -> dict[str, int]:
        """engagement -> a number raised whenever one of its delivery facts changes."""
        table = t.fact_versions
        query = where_among(sa.select(table.c.engagement_id, table.c.version), table, ids)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def fact_ids(self, kind: str, source: str) -> set[str]:
        """The external ids of every fact of a kind stored under ``source``."""
        table = t.FACT_TABLES[kind]
        query = sa.select(table.c.external_id).where(table.c.source == source)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars().all())

    def fact_sources(self, kind: str, external_ids: Collection[str]) -> dict[str, str]:
        """external id -> the source it is stored under, for those of ``external_ids`` stored
        under any source other than "file" (what a file import must leave to its tool)."""
        table = t.FACT_TABLES[kind]
        query = sa.select(table.c.external_id, table.c.source).where(
            table.c.source != "file", among(table.c.external_id, list(external_ids))
        )
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def with_open_tickets(self, ids: Collection[str]) -> set[str]:
        """Those of the engagements `ids` that have a ticket not resolved yet."""
        table = t.FACT_TABLES["tickets"]
        query = where_among(
            sa.select(table.c.engagement_id).where(table.c.resolved_at.is_(None)).distinct(),
            table,
            ids,
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars().all())

    def _raise_fact_versions(self, conn: sa.Connection, engagement_ids: Iterable[str]) -> None:
        ids = sorted(set(engagement_ids))  # sorted: concurrent writers lock rows in one order
        if not ids:
            return
        table = t.fact_versions
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["engagement_id"], set_={"version": table.c.version + 1}
        )
        conn.execute(stmt, [{"engagement_id": e, "version": 1} for e in ids])

    def milestones(self, ids: Collection[str] | None = None) -> dict[str, list[Milestone]]:
        return self._facts_by_engagement("milestones", ids)

    def tickets(self, ids: Collection[str] | None = None) -> dict[str, list[Ticket]]:
        return self._facts_by_engagement("tickets", ids)

    def tickets_since(
        self, ids: Collection[str], finished_since: datetime
    ) -> dict[str, list[TicketTimes]]:
        """For scoring: the tickets of the engagements `ids` that are open or had a first
        response or were resolved at or after `finished_since` (what an SLA window starting then
        measures), in order of opening. Tickets finished earlier are most of a long engagement's,
        and are not read (`first_tickets_opened` tells when the first of them was opened)."""
        table = t.FACT_TABLES["tickets"]
        query = (
            where_among(
                sa.select(
                    table.c.engagement_id,
                    table.c.external_id,
                    table.c.priority,
                    table.c.opened_at,
                    table.c.first_response_at,
                    table.c.resolved_at,
                    table.c.waiting_on_client,
                ),
                table,
                ids,
            )
            .where(
                sa.or_(
                    table.c.resolved_at.is_(None),
                    table.c.resolved_at >= finished_since,
                    table.c.first_response_at >= finished_since,
                )
            )
            .order_by(table.c.engagement_id, table.c.opened_at, table.c.source, table.c.external_id)
        )
        grouped: dict[str, list[TicketTimes]] = {}
        priorities = {p.value: p for p in TicketPriority}
        with self.engine.connect() as conn:
            # Plain tuples, not validated models: every ticket was validated when it was
            # stored, and this reads tens of thousands per chunk of engagements.
            for eid, xid, priority, opened, first, resolved, pauses in conn.execute(query).all():
                grouped.setdefault(eid, []).append(
                    TicketTimes(xid, priorities[priority], opened, first, resolved, pauses or ())
                )
        return grouped

    def first_tickets_opened(self, ids: Collection[str]) -> dict[str, datetime]:
        """engagement -> the earliest `opened_at` of all its tickets (the SLA engine's "first
        recorded activity" when there has been no status report), for those of `ids` with any."""
        table = t.FACT_TABLES["tickets"]
        query = where_among(
            sa.select(table.c.engagement_id, sa.func.min(table.c.opened_at)), table, ids
        ).group_by(table.c.engagement_id)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    # Scoring reads the other facts as plain tuples of the columns it uses, not validated
    # models: every fact was validated when it was stored, and reading them as models again
    # (with the columns nothing reads) was a sixth of a scoring worker's time.

    def scoring_milestones(self, ids: Collection[str]) -> dict[str, list[MilestoneProgress]]:
        """For scoring: `milestones`, as much of each as the risk model and SLA engine read."""
        rows = self._fact_columns("milestones", MilestoneProgress._fields, ids)
        return _by_engagement(map(MilestoneProgress._make, rows))

    def scoring_costs(self, ids: Collection[str]) -> dict[str, list[CostAmount]]:
        """For scoring: `cost_entries`, their amounts."""
        return _by_engagement(
            map(CostAmount._make, self._fact_columns("costs", CostAmount._fields, ids))
        )

    def scoring_touchpoints(self, ids: Collection[str]) -> dict[str, list[TouchpointTime]]:
        """For scoring: `touchpoints`, their kinds and times."""
        kinds = {k.value: k for k in TouchpointKind}
        rows = self._fact_columns("touchpoints", TouchpointTime._fields, ids)
        return _by_engagement(TouchpointTime(eid, kinds[kind], at) for eid, kind, at in rows)

    def scoring_change_requests(self, ids: Collection[str]) -> dict[str, list[ChangeValue]]:
        """For scoring: `change_requests`, their values and statuses."""
        statuses = {s.value: s for s in ChangeStatus}
        rows = self._fact_columns("change_requests", ChangeValue._fields, ids)
        return _by_engagement(ChangeValue(eid, value, statuses[s]) for eid, value, s in rows)

    def _fact_columns(
        self, kind: str, names: Sequence[str], ids: Collection[str]
    ) -> Sequence[Sequence[Any]]:
        """The columns `names` of the facts of a kind of the engagements `ids`, in the order of
        `_facts_by_engagement` (the first name must be "engagement_id")."""
        with self.engine.connect() as conn:
            return conn.execute(_facts_in_order(kind, names, ids)).tuples().all()

    def cost_entries(self, ids: Collection[str] | None = None) -> dict[str, list[CostEntry]]:
        return self._facts_by_engagement("costs", ids)

    def touchpoints(self, ids: Collection[str] | None = None) -> dict[str, list[Touchpoint]]:
        return self._facts_by_engagement("touchpoints", ids)

    def change_requests(self, ids: Collection[str] | None = None) -> dict[str, list[ChangeRequest]]:
        return self._facts_by_engagement("change_requests", ids)

    def delete_facts_of(self, kind: str, source: str, external_ids: Sequence[str]) -> int:
        """Delete facts of ``source`` whose external id is one of ``external_ids`` or starts with
        one of them followed by "@" (one CRM record fanned out to several engagements)."""
        table = t.FACT_TABLES[kind]
        removed = 0
        with self.engine.begin() as conn:
            for start in range(0, len(external_ids), 500):
                batch = external_ids[start : start + 500]
                matches = [table.c.external_id.in_(batch)] + [
                    table.c.external_id.startswith(f"{x}@", autoescape=True) for x in batch
                ]
                gone = conn.execute(
                    table.delete()
                    .where(table.c.source == source, sa.or_(*matches))
                    .returning(table.c.engagement_id)
                ).all()
                removed += len(gone)
                self._raise_fact_versions(conn, {eid for (eid,) in gone})
        return removed

    def _facts_by_engagement(
        self, kind: str, ids: Collection[str] | None = None
    ) -> dict[str, list[Any]]:
        """Every stored fact of a kind (of the engagements `ids`, when given), by engagement id,
        each list in date order."""
        model, table = self.fact_model(kind), t.FACT_TABLES[kind]
        # Only the model's columns, read as plain tuples: this runs over every fact in the store.
        names = [c.name for c in table.columns if c.name in model.model_fields]
        query = _facts_in_order(kind, names, ids)
        validate = list_validator(model)
        grouped: dict[str, list[Any]] = {}
        with self.engine.connect() as conn:
            for rows in conn.execute(query).partitions(5000):
                # One validation call per partition: per-row calls cost a third more.
                facts = validate(
                    [
                        {k: v for k, v in zip(names, row, strict=True) if v is not None}
                        for row in rows
                    ]
                )
                for fact in facts:
                    grouped.setdefault(fact.engagement_id, []).append(fact)
        return grouped


class FactWriter:
    """`Store.fact_writer`: adds facts of one kind inside the writer's transaction."""

    def __init__(
        self,
        store: FactTables,
        conn: sa.Connection,
        kind: str,
        source: str,
        at: datetime,
        *,
        adopt_from: str | None = None,
    ) -> None:
        self._store, self._conn, self._kind = store, conn, kind
        self._source, self._at, self._adopt_from = source, at, adopt_from
        self._model, self._table = store.fact_model(kind), t.FACT_TABLES[kind]
        #: Rows new or changed so far; the engagements whose facts changed.
        self.changed = 0
        self.touched: set[str] = set()

    def add(self, facts: Sequence[BaseModel]) -> None:
        table, source = self._table, self._source
        by_id: dict[str, dict[str, Any]] = {}
        for fact in facts:
            if not isinstance(fact, self._model):
                raise TypeError(
                    f"{self._kind} takes {self._model.__name__}, not {type(fact).__name__}"
                )
            values = {
                # Enums are stored as their values (a StrEnum's str() is its value).
                k: str(v) if isinstance(v, str) else v
                for k, v in fact.model_dump().items()
            }
            by_id[values["external_id"]] = {**values, "source": source, "imported_at": self._at}
        if not by_id:
            return
        rows = list(by_id.values())
        keys = ["source", "external_id"]
        stmt, self._params = insert_rows(self._conn.dialect, table, list(rows[0]))
        compared = [c for c in rows[0] if c not in (*keys, "imported_at")]
        self._insert_new = stmt.on_conflict_do_nothing(index_elements=keys).returning(
            table.c.external_id, table.c.engagement_id
        )
        self._upsert = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c: stmt.excluded[c] for c in rows[0] if c not in keys},
            # Only rows whose values differ are updated, and only those come back from RETURNING.
            where=sa.or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in compared)),
        ).returning(table.c.external_id, table.c.engagement_id)
        for start in range(0, len(rows), 1000):
            batch = rows[start : start + 1000]
            if self._adopt_from is not None:
                self._adopt([r["external_id"] for r in batch])
            if source == FILE_SOURCE:
                self._defer_to_tools(batch)
            self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """New facts first (inserted, nothing to compare); then the others, updated where their
        values differ. A first sync's facts are all new and skip the look-up of the stored ones:
        on a table too young for PostgreSQL's statistics (one transaction, not yet analyzed)
        that look-up was planned as a read of every row of the source, each batch (quadratic:
        0.26 s a batch at 2 million tickets)."""
        table, source = self._table, self._source
        added = dict(self._conn.execute(self._insert_new, self._params(batch)).tuples().all())
        self.changed += len(added)
        self.touched |= set(added.values())
        rest = [r for r in batch if r["external_id"] not in added]
        if not rest:
            return
        # A fact moved to another engagement changes the one it left too.
        held = sa.select(table.c.external_id, table.c.engagement_id).where(
            table.c.source == source,
            among(table.c.external_id, [r["external_id"] for r in rest]),
        )
        before: dict[str, str] = {row[0]: row[1] for row in self._conn.execute(held)}
        touched = self._conn.execute(self._upsert, self._params(rest)).all()
        self.changed += len(touched)
        self.touched |= {eid for _, eid in touched} | {before[x] for x, _ in touched if x in before}

    def _defer_to_tools(self, batch: list[dict[str, Any]]) -> None:
        """A file row whose external id a delivery tool's pull already stores is that fact:
        it updates the tool's row (the next pull sets the tool's values again), never a twin."""
        table = self._table
        query = sa.select(table.c.external_id, table.c.source).where(
            table.c.source != FILE_SOURCE,
            among(table.c.external_id, [r["external_id"] for r in batch]),
        )
        owners = {str(xid): str(owner) for xid, owner in self._conn.execute(query)}
        for row in batch:
            row["source"] = owners.get(row["external_id"], row["source"])

    def _adopt(self, external_ids: list[str]) -> None:
        """Facts of `_adopt_from` with these ids pass to this writer's source (where it holds
        none of them yet; a leftover twin is dropped), so the upsert updates one row."""
        table, source, other = self._table, self._source, self._adopt_from
        held = sa.select(table.c.external_id).where(
            table.c.source == source, among(table.c.external_id, external_ids)
        )
        self._conn.execute(
            table.update()
            .where(
                table.c.source == other,
                among(table.c.external_id, external_ids),
                table.c.external_id.not_in(held.scalar_subquery()),
            )
            .values(source=source)
        )
        gone = self._conn.execute(
            table.delete()
            .where(table.c.source == other, among(table.c.external_id, external_ids))
            .returning(table.c.engagement_id)
        ).all()
        self.touched |= {eid for (eid,) in gone}


_F = TypeVar("_F", bound=tuple[Any, ...])


def _by_engagement(facts: Iterable[_F]) -> dict[str, list[_F]]:
    """Facts (tuples starting with the engagement id, in engagement order) by engagement id."""
    return {eid: list(group) for eid, group in itertools.groupby(facts, itemgetter(0))}


def _facts_in_order(kind: str, names: Sequence[str], ids: Collection[str] | None) -> Any:
    """The columns `names` of the facts of a kind (of the engagements `ids`, when given), by
    engagement, each engagement's in date order (then source and external id: a stable order)."""
    table = t.FACT_TABLES[kind]
    return where_among(sa.select(*(table.c[n] for n in names)), table, ids).order_by(
        table.c.engagement_id,
        table.c[t.FACT_DATE_COLUMNS[kind]],
        table.c.source,
        table.c.external_id,
    )


def column_misfits(kind: str, fact: BaseModel) -> list[tuple[str, str]]:
    """(field, why) for each value of ``fact`` its column of the ``kind``'s table cannot hold
    exactly: too long, too big, too many decimals (checked before a batch is written, so one
    bad row is skipped with its reason rather than failing the batch)."""
    table = t.FACT_TABLES[kind]
    misfits = []
    for name, value in fact.model_dump().items():
        column_type = table.c[name].type
        if isinstance(value, str) and isinstance(column_type, sa.String):
            length = column_type.length
            if length is not None and len(value) > length:
                misfits.append((name, f"longer than {length} characters"))
        elif isinstance(value, Decimal) and isinstance(column_type, sa.Numeric):
            precision, scale = column_type.precision or 18, column_type.scale or 0
            if abs(value) >= Decimal(10) ** (precision - scale):
                misfits.append((name, "too large"))
            elif value != value.quantize(Decimal(10) ** -scale):
                misfits.append((name, f"more than {scale} decimal places"))
        elif isinstance(value, int) and isinstance(column_type, sa.Integer) and value >= 2**31:
            misfits.append((name, "too large"))
    return misfits
