"""Records due for planning (`DueRecords`): what changed since the last push, so that a push
plans those records and no others.

Planning a record means computing the values the plugin wants in the CRM and comparing them
with what was written and what the CRM holds: at 100,000 deals that is seconds of work, while a
push after a quiet sync has nothing to do, and one after 10% of the health changed has 10% of
it. A record is planned again when:

- its engagement's health or roll-up columns (account, status, name) differ from the basis the
  push last planned it from (table ``push_basis``, compared in SQL, row by row);
- the sync saw its CRM values change, saved its account again, or one of the engagements of its
  account changed or left the working set (table ``push_dirty``, a mark per record);
- its row in the write ledger is not settled (pending, refused, conflicting, quarantined);
- or the mapping, or the words it writes itself (`field.*` messages), changed since the last
  complete push (everything is planned, as it is the first time).

A push refreshes the basis of the engagements it planned and clears their marks in the
transaction that journals their writes (their `pending` ledger rows keep them planned until the
CRM's answer is stored), so a push that stops mid-way leaves what it did not reach to the next.
The mapping's fingerprint is recorded once a push has planned everything it had to: a first
push that stops is done in full again, and one that found a target field missing makes the
next plan everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from jobs.store import Connection, Store, push_state
from jobs.store import outcomes as stored_outcomes
from jobs.store.push_state import copied_health_columns
from jobs.store.records import RecordKind, delete_meta_in, live_ids_in, meta_in
from mappings.engine import Mapper

__all__ = [
    "DueRecords",
    "complete",
    "copied_health_columns",
    "detect",
    "for_push",
    "forget",
    "mark",
    "planned",
    "settle",
    "waiting",
]

#: store_meta key: the mapping's push fingerprint (its meaning and its own words,
#: `Mapper.push_fingerprint`) of the last push that planned everything it had to.
PUSH_FINGERPRINT = "push_fingerprint"


@dataclass
class DueRecords:
    """Records to plan: engagement ids and account ids, each sorted."""

    engagements: list[str]
    accounts: list[str]
    #: Everything is planned (first push, or the mapping changed).
    full: bool


def mark(conn: Connection, module: str, record_ids: Iterable[str]) -> None:
    """Have the next push plan these records of ``module`` again."""
    push_state.mark(conn, module, record_ids)


def detect(store: Store, mapper: Mapper) -> DueRecords:
    """The records the next push has to plan (see the module docstring).

    Engagements that left the working set (deleted, or filtered out) since they were planned
    have their basis removed and their account marked, in one transaction, so that the account
    is planned even if this push stops early.
    """
    engagement_module = mapper.spec.targets.engagements.module
    account_target = mapper.spec.targets.accounts
    account_module = account_target.module if account_target is not None else None
    with store.engine.begin() as conn:
        fingerprint = meta_in(conn, PUSH_FINGERPRINT)
        if fingerprint != mapper.push_fingerprint():
            live = live_ids_in(conn, RecordKind.ENGAGEMENTS)
            every = live_ids_in(conn, RecordKind.ACCOUNTS) if account_module is not None else []
            return DueRecords(live, every, full=True)
        changed: set[str] = set()
        account_ids: set[str] = set()
        for crm_id, account_id, before in push_state.differing(conn):
            changed.add(crm_id)
            account_ids.add(account_id)
            if before is not None:
                account_ids.add(before)
        account_ids |= push_state.drop_gone(conn)
        if account_module is not None:
            push_state.mark(conn, account_module, account_ids)
        changed |= push_state.marked_or_unsettled(conn, engagement_module, RecordKind.ENGAGEMENTS)
        accounts: list[str] = []
        if account_module is not None:
            accounts = sorted(
                push_state.marked_or_unsettled(conn, account_module, RecordKind.ACCOUNTS)
            )
    return DueRecords(sorted(changed), accounts, full=False)


def waiting(store: Store) -> tuple[int, Any]:
    """What the next push has to write, read only (for the metrics): how many records, and the
    health time of the oldest engagement among them (None if none). A record waits when its
    engagement differs from the basis of the last push, is marked, or has an open ledger row;
    an account waits with its marks and open rows only (its time is its engagements')."""
    with store.engine.connect() as conn:
        return push_state.waiting(conn)


def planned(conn: Connection, mapper: Mapper, module: str, record_ids: Collection[str]) -> None:
    """Record that ``record_ids`` of ``module`` were planned: clear their marks and, for
    engagements, copy what they were planned from into the basis. Call inside the transaction
    that journals their writes."""
    engagements = module == mapper.spec.targets.engagements.module
    push_state.planned(conn, module, record_ids, engagements=engagements)


def complete(store: Store, mapper: Mapper) -> None:
    """A push planned everything it had to under this mapping: later pushes may plan only
    what changed."""
    store.set_meta(PUSH_FINGERPRINT, mapper.push_fingerprint())


def forget(store: Store) -> None:
    """The next push plans everything again (say, a target field went missing mid-push)."""
    with store.engine.begin() as conn:
        delete_meta_in(conn, PUSH_FINGERPRINT)


def for_push(store: Store, mapper: Mapper) -> DueRecords:
    """The records a push plans now (`detect`); on a full push, the conflicts listed before
    are cleared first (those still standing are listed again as their records are planned).
    Called once per push: by `push`, or when a worker plans a run's push chunks."""
    todo = detect(store, mapper)
    if todo.full:
        with store.engine.begin() as conn:
            for module in mapper.target_modules():
                stored_outcomes.clear_conflicts(conn, module)
    return todo


def settle(store: Store, mapper: Mapper, *, planned_all: bool, fields_missing: bool) -> None:
    """After every record due was pushed: later pushes may plan only what changes (when the
    push ``planned_all`` it had to), or the next one plans everything (a target field went
    missing)."""
    if fields_missing:
        forget(store)
    elif planned_all:
        complete(store, mapper)
