"""Pull: CRM records -> domain objects -> store, incrementally, page by page.

A page is stored before the cursor moves past it, so a crash mid-pull re-reads at most one page
and loses nothing. A record that cannot be mapped is skipped with its reason kept; the rest of
the page proceeds. After a read's last page the cursor moves where the client says the next
read may resume (jobs/pull/cursors.py); deleted records are looked for on a schedule
(jobs/pull/deletions.py). CRM values of the plugin's fields are stored only when they changed, and
the records whose values changed are marked for the next push to plan (jobs/push/due.py). The
read after a push leaves the push's own writes out where the CRM allows (jobs/push/echo.py), and a
full sync keeps its progress so a stopped one continues (jobs/pull/full_sync.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.base import CRMClient, RecordPage, ScansForDeletions, SkipsOwnWrites
from connector.errors import ConfigurationError, UnknownFieldError
from jobs import stopping
from jobs.pull.activities import activity_kinds, sync_activities
from jobs.pull.cursors import advance
from jobs.pull.deletions import pull_deletions
from jobs.pull.full_sync import FullSync
from jobs.pull.id_scan import scan_for_deletions
from jobs.pull.read_ahead import read_ahead
from jobs.pull.source_probe import MODULE_MISSING_CODES, cached_probe, forget_probe, probe_sources
from jobs.push import due, echo
from jobs.store import Store
from jobs.store.field_states import save_crm_values
from jobs.store.records import RecordKind
from mappings.engine import Mapper, RecordRejected

log = logging.getLogger(__name__)

#: Kinds in the order they are pulled (accounts first so deals find their account).
SYNC_KINDS: tuple[str, ...] = (RecordKind.ACCOUNTS, RecordKind.CONTACTS, RecordKind.ENGAGEMENTS)

#: Told what is happening now, in words for a progress line.
ProgressFn = Callable[[str], None]

#: store_meta key: the fingerprint of the mapping the last complete sync used.
MAPPING_FINGERPRINT = "mapping_fingerprint"


@dataclass
class KindCounts:
    read: int = 0
    stored: int = 0
    skipped: int = 0
    deleted: int = 0
    #: Records the mapping's `where` filter leaves out (they leave the working set if present).
    filtered: int = 0
    #: Why this optional source was not read at all (the CRM lacks it), or None.
    not_read: str | None = None


@dataclass
class SyncReport:
    kinds: dict[str, KindCounts] = field(default_factory=dict)
    #: (module, field) target fields the CRM no longer has: read without them, not written.
    missing_target_fields: set[tuple[str, str]] = field(default_factory=set)
    #: Whether every record was read (first sync, changed mapping, or asked for).
    full: bool = False
    #: Optional sources the CRM lacks, one line each (jobs/pull/source_probe.py): read without.
    warnings: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "read": sum(k.read for k in self.kinds.values()),
            "stored": sum(k.stored for k in self.kinds.values()),
            "skipped": sum(k.skipped for k in self.kinds.values()),
            "deleted": sum(k.deleted for k in self.kinds.values()),
            "filtered": sum(k.filtered for k in self.kinds.values()),
        }


def sync(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    progress: ProgressFn | None = None,
    full: bool = False,
    deletions_every: timedelta = timedelta(0),
) -> SyncReport:
    """Pull every mapped module. A changed mapping, or ``full``, re-reads everything, so records
    skipped under the old mapping get another chance and new fields are filled in. A full sync
    that a stopped run left is continued, not started over (jobs/pull/full_sync.py).

    ``deletions_every``: how often to look for records deleted in the CRM (jobs/pull/deletions.py;
    every sync by default, and on every full one).

    Long because it is the order of a sync in one place (probe, kinds, activities, deletions,
    the full sync's bookkeeping); each step is a call to its own module."""
    report = SyncReport()
    fingerprint = mapper.fingerprint()
    # A full sync a stopped run left continues where it was (jobs/pull/full_sync.py).
    under_way = FullSync.under_way(store, fingerprint)
    report.full = full or store.meta(MAPPING_FINGERPRINT) != fingerprint or under_way is not None
    # Which optional sources exist and what the stages mean (cached; jobs/pull/source_probe.py). A
    # full sync that continues does not look again: the look it began with still holds.
    previous = cached_probe(store)
    probe = probe_sources(
        client, mapper, store, clock=clock, force=report.full and under_way is None
    )
    mapper.use_stage_outcomes(probe.stage_outcomes)
    if previous is not None and previous.stage_outcomes != probe.stage_outcomes:
        report.full = True  # a stage's meaning changed in the CRM: every deal's status may
    report.warnings = probe.warnings(mapper)
    for line in report.warnings:
        log.warning("%s", line)
    whole = (under_way or FullSync.begin(store, fingerprint)) if report.full else None
    for kind in SYNC_KINDS:
        source = getattr(mapper.spec.sources, kind)
        if source is None:
            continue
        if whole is not None and not whole.reads_fully(kind):
            # Read in full by an earlier run of this full sync: not again (not even its
            # deletions) until the full sync is through, so that every run under a small
            # budget moves it on; what changed meanwhile is read after, from the cursor.
            report.kinds[kind] = KindCounts()
            continue
        report.kinds[kind] = _sync_kind(
            client,
            mapper,
            store,
            kind,
            source.module,
            clock=clock,
            run_id=run_id,
            progress=progress,
            missing=report.missing_target_fields,
            whole=whole,
            deletions_every=deletions_every,
            leave_out=probe.missing_fields.get(kind, []),
        )
    # Activities last: they attach to the accounts and deals stored above.
    for kind in activity_kinds(mapper):
        module = probe.missing_modules.get(kind)
        if module is not None:  # known missing: no call spent on it until the next look
            report.kinds[kind] = KindCounts(not_read=f"the CRM has no module {module}")
            continue
        if progress:
            progress(f"syncing {kind}")
        if whole is not None and not whole.reads_fully(kind):
            report.kinds[kind] = KindCounts()  # done earlier in this full sync (see above)
            continue
        fully = whole is not None
        try:
            report.kinds[kind] = KindCounts(
                *sync_activities(
                    client,
                    mapper,
                    store,
                    kind,
                    clock=clock,
                    run_id=run_id,
                    full=fully,
                    resume=whole.resume_from(kind) if whole is not None and fully else None,
                    on_page=_keyset_mover(whole, kind) if fully else None,
                    deletions_every=deletions_every,
                    leave_out=probe.missing_fields.get(kind, []),
                )
            )
        except ConfigurationError as exc:
            source = mapper.spec.sources.activities[kind.partition(".")[2]]
            if not source.optional or exc.crm_code not in MODULE_MISSING_CODES:
                raise
            # Gone since the last look: skip it now, and have the next sync look again.
            forget_probe(store)
            line = f"sources.{kind}: the CRM has no module {source.module}; skipped (optional)"
            log.warning("%s", line)
            report.warnings.append(line)
            report.kinds[kind] = KindCounts(not_read=f"the CRM has no module {source.module}")
        if whole is not None:
            whole.kind_done(kind)
    store.set_meta(MAPPING_FINGERPRINT, fingerprint)
    if whole is not None:
        whole.finish()
    return report


def _keyset_mover(whole: FullSync | None, kind: str) -> Callable[[RecordPage], None] | None:
    """What moves the full sync's keyset of ``kind`` once a page of it is stored."""
    if whole is None:
        return None
    return lambda page: whole.page_stored(kind, page)


def _sync_kind(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    kind: str,
    module: str,
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
    progress: ProgressFn | None,
    missing: set[tuple[str, str]],
    whole: FullSync | None,
    deletions_every: timedelta,
    leave_out: Sequence[str] = (),
) -> KindCounts:
    """Pull one kind: in full (from the full sync's keyset, if it stopped in this kind) while
    ``whole`` has it still to read, else incrementally from its cursor."""
    counts = KindCounts()
    full = whole is not None and whole.reads_fully(kind)
    on_page = _keyset_mover(whole, kind) if full else None
    fields = [f for f in mapper.read_fields(kind) if f not in leave_out]
    # Target fields are read only to see what the CRM holds; if one was deleted in the CRM,
    # read without it (and push will not write it) rather than stop the whole sync. The same
    # for a source field marked optional that was deleted since the last look.
    optional = set(mapper.target_fields(kind)) | optional_source_fields(mapper, kind)
    while True:
        try:
            resume = whole.resume_from(kind) if whole is not None and full else None
            _read_pages(
                client,
                mapper,
                store,
                kind,
                module,
                fields,
                counts,
                clock,
                run_id,
                progress,
                full,
                resume,
                on_page,
            )
            break
        except UnknownFieldError as exc:
            if exc.field not in optional or exc.field not in fields:
                raise
            log.error("%s.%s no longer exists in the CRM; reading without it", module, exc.field)
            if exc.field in mapper.target_fields(kind):
                missing.add((module, exc.field))
            else:
                forget_probe(store)
            fields = [f for f in fields if f != exc.field]
    if isinstance(client, ScansForDeletions):
        counts.deleted = scan_for_deletions(client, store, kind, module, clock=clock, force=full)
    else:
        counts.deleted = pull_deletions(
            client,
            store,
            module,
            f"{kind}:deleted",
            lambda ids: store.mark_deleted(kind, ids, clock()),
            clock=clock,
            every=deletions_every,
            force=full,
        )
    if whole is not None and full:
        whole.kind_done(kind)
    return counts


def _read_pages(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    kind: str,
    module: str,
    fields: list[str],
    counts: KindCounts,
    clock: Callable[[], datetime],
    run_id: int | None,
    progress: ProgressFn | None,
    full: bool,
    resume: datetime | None,
    on_page: Callable[[RecordPage], None] | None,
) -> None:
    """``full``: read every record, from ``resume`` (a full sync's keyset) when given."""
    build, save = _reader_and_writer(mapper, store, kind)
    target = _target_module(mapper, kind)
    cursor = store.cursor(kind)
    since = resume if full else cursor
    # The next page is fetched while this one is stored (jobs/pull/read_ahead.py).
    for page in read_ahead(_pages(client, store, module, fields, since, full)):
        now = clock()
        good = []
        current: dict[str, dict[str, Any]] = {}
        left_out = []
        for raw in page.records:
            counts.read += 1
            if not mapper.selects(kind, raw):
                left_out.append(str(raw.get("id")))
                continue
            try:
                item = build(raw)
            except RecordRejected as rejected:
                counts.skipped += 1
                record_id = rejected.record_id or "(no id)"
                log.info("skipped %s %s: %s", kind, record_id, rejected.reason)
                store.record_skip(kind, record_id, rejected.reason, rejected.field, run_id, now)
                continue
            good.append(item)
            current[item.crm_id] = mapper.current_values(kind, raw)
        save(good, now)
        if left_out:
            # A deal whose type or pipeline no longer matches stops being an engagement.
            counts.filtered += len(left_out)
            store.mark_deleted(kind, left_out, now)
            store.clear_skips(kind, left_out)
        store.clear_skips(kind, [item.crm_id for item in good])
        with store.engine.begin() as conn:
            changed = save_crm_values(conn, module, {r: v for r, v in current.items() if v}, now)
            if target is not None:
                # The push plans again what the CRM changed, and accounts it may now know.
                due.mark(
                    conn,
                    target,
                    [i.crm_id for i in good] if kind == RecordKind.ACCOUNTS else changed,
                )
        counts.stored += len(good)
        # The cursor moves only once the page is stored: a crash here re-reads, never loses.
        cursor = advance(store, kind, page, cursor, now)
        if on_page is not None:
            on_page(page)
        if progress:
            progress(f"syncing {kind}: {counts.read} records read")
        stopping.check("sync")  # the page is stored and the cursor moved: a safe point


def optional_source_fields(mapper: Mapper, kind: str) -> set[str]:
    """Top-level CRM fields of the source fields of ``kind`` marked optional."""
    source = mapper.source(kind)
    return {r.path.split(".")[0] for r in source.fields.values() if r.optional and r.path}


def _pages(
    client: CRMClient,
    store: Store,
    module: str,
    fields: list[str],
    since: datetime | None,
    full: bool,
) -> Iterator[RecordPage]:
    """The read of ``module`` from ``since``: without the plugin's own writes when a push
    wrote after the cursor and the CRM can leave them out (jobs/push/echo.py); a full read reads
    every record, echo or not."""
    own = (
        echo.own_writes(store, module, since)
        if isinstance(client, SkipsOwnWrites) and not full
        else None
    )
    if own is None or since is None or not isinstance(client, SkipsOwnWrites):
        return client.iter_pages(module, fields, modified_since=since)
    return client.iter_changed_by_others(
        module, fields, modified_since=since, own_user_id=own.user_id, also_ids=own.pending
    )


def _target_module(mapper: Mapper, kind: str) -> str | None:
    """The module the push writes for records of ``kind``, if it writes them."""
    targets = mapper.spec.targets
    target = {
        RecordKind.ENGAGEMENTS: targets.engagements,
        RecordKind.ACCOUNTS: targets.accounts,
    }.get(RecordKind(kind))
    return target.module if target is not None else None


def _reader_and_writer(
    mapper: Mapper, store: Store, kind: str
) -> tuple[Callable[[Mapping[str, Any]], Any], Callable[[Sequence[Any], datetime], None]]:
    """How records of ``kind`` become domain objects, and where they are stored."""
    if kind == RecordKind.ACCOUNTS:
        return mapper.to_account, store.save_accounts
    if kind == RecordKind.CONTACTS:
        return mapper.to_contact, store.save_contacts
    return mapper.to_engagement, store.save_engagements
