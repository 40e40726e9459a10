"""Pull CRM activities (calls, meetings, tasks, notes) as touchpoints of engagements.

Each activity module the mapping lists under ``[sources.activities.<name>]`` is read
incrementally like the other sources (the cursor moves once a page is stored). An activity
attached to a deal becomes a touchpoint of that engagement; one attached to an account becomes
a touchpoint of every active engagement of that account (the client was spoken to, whatever the
project), and one attached to anything else (a lead, a contact) is left out.

An activity on a deal the store does not hold — the deal was skipped for a bad value, or was
created after the deals were read — is parked (table ``parked_activities``) rather than
dropped: the activity's own ``Modified_Time`` does not move when its deal is fixed, so no
incremental read would bring it back. Every sync first turns the parked activities of deals
now stored into their touchpoints, so a deal fixed in the CRM gets its earlier calls and
meetings at the next incremental run, without a full sync and without a call. Touchpoints from
the CRM are stored with source ``crm`` and external id ``<module>:<activity id>`` (suffixed with
``@<engagement>`` when an account's activity fans out), so re-reading an activity updates it and
an activity deleted in the CRM takes its touchpoints away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from connector.base import CRMClient, RecordPage
from jobs.pull.cursors import advance
from jobs.pull.deletions import pull_deletions
from jobs.pull.read_ahead import read_ahead
from jobs.store import Store
from jobs.store.activities import parked_on_stored_deals, replace_parked
from jobs.store.records import live_engagement_accounts_in
from mappings.domain import Activity, EngagementStatus, Touchpoint
from mappings.engine import Mapper, RecordRejected

log = logging.getLogger(__name__)

#: The store's source name for touchpoints read from the CRM (imports use their own).
CRM_SOURCE = "crm"


def activity_kinds(mapper: Mapper) -> list[str]:
    """Sync kinds of the mapped activity modules: "activities.<name>"."""
    return [f"activities.{name}" for name in mapper.spec.sources.activities]


def sync_activities(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    kind: str,
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
    full: bool,
    resume: datetime | None = None,
    on_page: Callable[[RecordPage], None] | None = None,
    deletions_every: timedelta = timedelta(0),
    leave_out: Sequence[str] = (),
) -> tuple[int, int, int, int, int]:
    """Pull one activity module; returns (read, stored, skipped, deleted, filtered).

    ``stored`` counts activities that became touchpoints; ``filtered`` those attached to a
    record that is neither a deal nor an account, or to one the store does not know.

    Long because reading, parking the activities whose deal is not stored yet and healing them
    share one page loop and its cursor; split, each part would need the loop's state.
    """
    module = mapper.spec.sources.activities[kind.partition(".")[2]].module
    deals = mapper.spec.sources.engagements.module
    accounts = mapper.spec.sources.accounts.module
    known: set[str] = set()
    by_account: dict[str, list[str]] = {}
    read = stored = skipped = filtered = 0
    stored += _unpark(store, kind, module, clock())
    cursor = store.cursor(kind)
    fields = [f for f in mapper.read_fields(kind) if f not in leave_out]  # optional, missing
    # A full read starts at ``resume``, where a stopped full sync left it (jobs/pull/full_sync.py).
    pages = client.iter_pages(module, fields, modified_since=resume if full else cursor)
    for page in read_ahead(pages):  # the next page is fetched while this one is stored
        if not read and page.records:
            # Read only when there is something to attach (a quiet sync reads nothing).
            known, by_account = _engagements_by_account(store)
        now = clock()
        touchpoints: list[Touchpoint] = []
        readable: list[str] = []
        parked: list[Activity] = []
        for raw in page.records:
            read += 1
            if not mapper.selects(kind, raw):
                filtered += 1
                readable.append(str(raw.get("id")))
                continue
            try:
                activity = mapper.to_activity(kind, raw)
            except RecordRejected as rejected:
                skipped += 1
                record_id = rejected.record_id or "(no id)"
                store.record_skip(kind, record_id, rejected.reason, rejected.field, run_id, now)
                continue
            readable.append(activity.crm_id)
            if activity.related_module == deals and activity.related_id in known:
                touchpoints.append(_touchpoint(module, activity, activity.related_id, False))
            elif activity.related_module == accounts and activity.related_id in by_account:
                touchpoints += [
                    _touchpoint(module, activity, engagement_id, True)
                    for engagement_id in by_account[activity.related_id]
                ]
            elif activity.related_module == deals and activity.related_id:
                parked.append(activity)  # its deal is not stored (yet): wait for it
                filtered += 1
                continue
            else:
                filtered += 1
                continue
            stored += 1
        store.save_facts("touchpoints", touchpoints, CRM_SOURCE, now)
        _park(store, kind, readable, parked, now)
        store.clear_skips(kind, readable)
        cursor = advance(store, kind, page, cursor, now)
        if on_page is not None:
            on_page(page)
    deleted = pull_deletions(
        client,
        store,
        module,
        f"{kind}:deleted",
        lambda ids: _forget(store, kind, module, ids),
        clock=clock,
        every=deletions_every,
        force=full,
    )
    return read, stored, skipped, deleted, filtered


def _forget(store: Store, kind: str, module: str, ids: list[str]) -> int:
    """Activities deleted in the CRM: their touchpoints go, and so do they if parked."""
    _park(store, kind, ids, [], None)
    return store.delete_facts_of("touchpoints", CRM_SOURCE, _prefixes(module, ids))


def _park(
    store: Store, kind: str, read: list[str], parked: list[Activity], now: datetime | None
) -> None:
    """Replace the parked rows of the activities ``read`` by those of ``parked``."""
    with store.engine.begin() as conn:
        replace_parked(conn, kind, read, parked, now)


def _unpark(store: Store, kind: str, module: str, now: datetime) -> int:
    """Touchpoints for the parked activities whose deal is now stored; returns how many."""
    with store.engine.connect() as conn:
        rows = parked_on_stored_deals(conn, kind)
    if not rows:
        return 0
    touchpoints = [
        Touchpoint(
            external_id=f"{module}:{activity_id}", engagement_id=deal_id, kind=kind_value, at=at
        )
        for activity_id, deal_id, kind_value, at in rows
    ]
    store.save_facts("touchpoints", touchpoints, CRM_SOURCE, now)
    _park(store, kind, [row[0] for row in rows], [], None)
    log.info("%s: %d parked activities joined their deal", kind, len(rows))
    return len(rows)


def _touchpoint(module: str, activity: Activity, engagement_id: str, fanned: bool) -> Touchpoint:
    external_id = f"{module}:{activity.crm_id}" + (f"@{engagement_id}" if fanned else "")
    return Touchpoint(
        external_id=external_id, engagement_id=engagement_id, kind=activity.kind, at=activity.at
    )


def _engagements_by_account(store: Store) -> tuple[set[str], dict[str, list[str]]]:
    """The ids of the live engagements, and the active ones by account: a call with the client
    concerns the work under way, not a deal still in the pipeline (whose status-report clock
    would otherwise start). Plain columns, not 100,000 validated engagements."""
    known: set[str] = set()
    grouped: dict[str, list[str]] = {}
    active = EngagementStatus.ACTIVE.value
    with store.engine.connect() as conn:
        rows = live_engagement_accounts_in(conn)
    for crm_id, account_id, status in rows:
        known.add(crm_id)
        if status == active:
            grouped.setdefault(account_id, []).append(crm_id)
    return known, grouped


def _prefixes(module: str, ids: Iterable[str]) -> list[str]:
    return [f"{module}:{record_id}" for record_id in ids]
