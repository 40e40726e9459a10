"""Score: recompute engagement health from the store — only where something changed.

For each engagement the inputs (the deal, the version of its delivery facts, its survey
results, the SLA policy, the weights and bands, and the day) are fingerprinted; an engagement
whose fingerprint equals the one its current health was computed from is not recomputed.
Engagements with open tickets also take the hour into the fingerprint, because an open ticket
moves towards its SLA goal by the minute (so "at risk" and "breached" are re-evaluated at most
an hour late).

Engagements are checked and scored in chunks of `CHUNK_SIZE`: a chunk's facts are loaded,
scored and its results saved (one transaction) independently of the others, so memory stays
flat whatever the portfolio's size. In a portfolio of `PARALLEL_FROM` engagements or more, once
a full chunk is due, chunks are scored by worker processes (one per CPU, at most `MAX_WORKERS`)
while this process goes on checking the rest and saves what the workers return; each worker
reads the store on its own connection, and only this process writes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobs import stopping
from jobs.config import HealthSection, RiskSection, SlaSection
from jobs.health.engagement import score_engagement
from jobs.health.risk import DEFAULT_REPORT_CADENCE_DAYS, DEFAULT_SLA_GOAL_PCT, DeliveryFacts
from jobs.health.sla import TicketMeasure, evaluate
from jobs.messages.catalog import Words
from jobs.store import Store, encode_measures
from jobs.store.store import (
    ChangeValue,
    CostAmount,
    MilestoneProgress,
    TicketTimes,
    TouchpointTime,
)
from jobs.surveys.feed import survey_scores
from jobs.surveys.results import SurveyScore
from mappings.domain import Engagement, EngagementHealth, SlaStatus, TouchpointKind

CHUNK_SIZE = 500
#: Below this many engagements, starting worker processes costs more than it saves.
PARALLEL_FROM = 2000
MAX_WORKERS = 4


@dataclass
class ScoreReport:
    scored: int = 0
    changed: int = 0
    #: Engagements whose inputs had not changed: not recomputed.
    skipped_unchanged: int = 0


@dataclass
class _Facts:
    """The delivery facts of a chunk of engagements, by engagement id."""

    milestones: Mapping[str, Sequence[MilestoneProgress]]
    #: Only tickets a current SLA window can measure (see `Store.tickets_since`).
    tickets: Mapping[str, Sequence[TicketTimes]]
    costs: Mapping[str, Sequence[CostAmount]]
    touchpoints: Mapping[str, Sequence[TouchpointTime]]
    change_requests: Mapping[str, Sequence[ChangeValue]]
    #: engagement -> the earliest opened_at of all its tickets, also of those not loaded; only
    #: for the engagements without a status report (the SLA report clock reads it for no other).
    first_ticket_opened: Mapping[str, datetime]

    @classmethod
    def load(cls, store: Store, ids: Sequence[str], tickets_finished_since: datetime) -> _Facts:
        touchpoints = store.scoring_touchpoints(ids)
        # Finding the first ticket reads every ticket of an engagement: done only where needed.
        unreported = [
            eid
            for eid in ids
            if not any(t.kind is TouchpointKind.STATUS_REPORT for t in touchpoints.get(eid, ()))
        ]
        return cls(
            store.scoring_milestones(ids),
            store.tickets_since(ids, tickets_finished_since),
            store.scoring_costs(ids),
            touchpoints,
            store.scoring_change_requests(ids),
            store.first_tickets_opened(unreported) if unreported else {},
        )


def score(
    store: Store,
    bands: HealthSection,
    *,
    clock: Callable[[], datetime],
    risk: RiskSection | None = None,
    sla: SlaSection | None = None,
    recompute: bool = False,
    survey_weights: Mapping[str, float] | None = None,
    workers: int | None = None,
    report: ScoreReport | None = None,
    words: Words | None = None,
    only: Sequence[str] | None = None,
    before_save: Callable[[], None] | None = None,
) -> ScoreReport:
    """Recompute what changed. ``recompute`` redoes everything and re-measures finished SLA
    items under the current policies (the explicit recompute of a new policy version).

    ``survey_weights``: weight of an answer by the contact's role in the NPS (docs/surveys.md).
    ``workers``: processes scoring chunks in parallel; by default one per CPU (at most
    `MAX_WORKERS`) from `PARALLEL_FROM` engagements on, else none (all in this process).
    ``report``, when given, is filled in as chunks are saved (a run stopped mid-way tells what
    it scored).
    ``words``: the message catalogs the drivers are written from (a change of wording, e.g. a
    company override, rescores every engagement, so the CRM gets it at the next push).
    ``only``: score these engagements only (a worker's chunk, jobs/workers/tasks.py).
    ``before_save``: called before each chunk's results are saved; raising stops the save (a
    worker's fencing check).
    """
    inputs = _Inputs(
        bands=bands,
        risk=risk or RiskSection(),
        sla=sla or SlaSection(),
        now=clock(),
        recompute=recompute,
        words=words or Words.shipped(),
    )
    if recompute:
        store.clear_measures()
    if only is None:  # not for a worker's chunk: its run did it once, after the sync
        store.refresh_statistics()
    ids = store.engagement_ids() if only is None else list(only)
    surveys = survey_scores(store.engine, survey_weights or {})
    report = report if report is not None else ScoreReport()

    def due_chunks() -> Iterator[_Chunk]:
        """Chunks of engagements whose inputs changed, each as soon as it is full: scoring
        starts while the rest are still being checked."""
        due: list[tuple[Engagement, str]] = []
        for start in range(0, len(ids), CHUNK_SIZE):
            batch = ids[start : start + CHUNK_SIZE]
            changed = _changed(store, batch, surveys, inputs)
            report.skipped_unchanged += len(batch) - len(changed)
            report.scored += len(batch) - len(changed)
            due += changed
            while len(due) >= CHUNK_SIZE or (due and start + CHUNK_SIZE >= len(ids)):
                part, due = due[:CHUNK_SIZE], due[CHUNK_SIZE:]
                yield _Chunk(
                    part, {e.crm_id: surveys[e.crm_id] for e, _ in part if e.crm_id in surveys}
                )

    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if len(ids) >= PARALLEL_FROM else 0
    with _no_cyclic_gc():
        for result in _scored_chunks(store, due_chunks(), inputs, workers):
            if before_save is not None:
                before_save()
            store.save_scores(result.changed, result.hashes, result.measures)
            report.scored += result.scored
            report.changed += len(result.changed)
            stopping.check("score")  # this chunk's scores are saved: a safe point
    return report


@dataclass(frozen=True)
class _Inputs:
    """Everything a chunk is scored with besides the store (sent to worker processes)."""

    bands: HealthSection
    risk: RiskSection
    sla: SlaSection
    now: datetime
    recompute: bool
    words: Words

    @property
    def settings_key(self) -> str:
        return json.dumps(
            [
                self.bands.model_dump(),
                self.risk.model_dump(mode="json"),
                self.sla.model_dump(mode="json"),
                self.words.digest,
            ],
            sort_keys=True,
        )


@dataclass(frozen=True)
class _Chunk:
    """Engagements to recompute, each with the fingerprint of its inputs."""

    due: list[tuple[Engagement, str]]
    #: The latest survey results of those engagements that have any.
    surveys: Mapping[str, SurveyScore]


@dataclass
class _ChunkResult:
    changed: list[EngagementHealth] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    #: engagement -> its finished measures, encoded by `encode_measures`.
    measures: dict[str, str] = field(default_factory=dict)
    scored: int = 0


def _scored_chunks(
    store: Store, chunks: Iterator[_Chunk], inputs: _Inputs, workers: int
) -> Iterator[_ChunkResult]:
    """Each chunk scored, here or (`workers` > 0) by worker processes. Workers are started as
    soon as a first full chunk is due (the rest are still being checked meanwhile); when only a
    partial chunk is due (most runs of a daemon), none are."""
    first = next(chunks, None)
    if first is None:
        return
    if workers <= 0 or len(first.due) < CHUNK_SIZE:
        yield _score_chunk(store, first, inputs)
        for chunk in chunks:
            yield _score_chunk(store, chunk, inputs)
        return
    url = store.engine.url.render_as_string(hide_password=False)
    context, ready = _worker_context()
    # While the fork server starts (it imports scoring, ¾ second), go on checking for changes.
    queued = [first]
    for chunk in chunks:
        queued.append(chunk)
        if ready.is_set():
            break
    ready.wait()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(url, inputs)
    ) as pool:
        pending = {pool.submit(_score_chunk_in_worker, chunk) for chunk in queued}
        for chunk in chunks:  # this process checks for changes while the workers score
            pending.add(pool.submit(_score_chunk_in_worker, chunk))
            done = {f for f in pending if f.done()}
            pending -= done
            for future in done:
                yield future.result()
        for future in as_completed(pending):
            yield future.result()


def _worker_context() -> tuple[multiprocessing.context.BaseContext, threading.Event]:
    """How to start workers, and an event set once that can be done without waiting.

    Workers are forked from a fork server: a fresh interpreter that has imported scoring once,
    so no database connection of this process is ever shared with a child (a forked copy of a
    PostgreSQL connection can end its session), and no worker spends its first ¾ second
    importing. The server is started in the background. Where there is no fork server
    (Windows), a fresh interpreter per worker."""
    ready = threading.Event()
    if "forkserver" not in multiprocessing.get_all_start_methods():
        ready.set()
        return multiprocessing.get_context("spawn"), ready
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])

    def start() -> None:
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            ready.set()  # on failure, the pool's own start raises the error where it is seen

    threading.Thread(target=start, name="fork-server-start", daemon=True).start()
    return context, ready


#: A worker process's own store connection and the run's inputs, sent once when it starts (not
#: with every chunk: unpickled anew, the SLA policies would rebuild their calendars each time).
_worker: tuple[Store, _Inputs] | None = None


def _start_worker(url: str, inputs: _Inputs) -> None:
    global _worker
    # The daemon decides when to stop (jobs/daemon.py): a Ctrl-C or a systemd stop reaches the
    # whole process group, and a worker killed by it would fail the run instead of letting it
    # stop at its safe point. A worker ends when its parent does (the pool's pipe closes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Not Store.open: the parent has migrated the schema, and workers migrating at once race.
    _worker = (Store.attach(url), inputs)


def _score_chunk_in_worker(chunk: _Chunk) -> _ChunkResult:
    assert _worker is not None, "the worker is set up by the pool initializer"
    store, inputs = _worker
    with _no_cyclic_gc():
        return _score_chunk(store, chunk, inputs)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: scoring allocates millions of small objects, which
    makes the collector rescan them again and again (a third of the run time) while finding
    next to nothing to free. Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _changed(
    store: Store, ids: list[str], surveys: Mapping[str, SurveyScore], inputs: _Inputs
) -> list[tuple[Engagement, str]]:
    """Those of the engagements `ids` whose inputs changed since their health was computed
    (or that have none yet), each with its new fingerprint. Reads no delivery fact."""
    previous = store.inputs_hashes(ids)
    versions = store.fact_versions(ids)
    open_tickets = store.with_open_tickets(ids)
    settings_key = inputs.settings_key.encode()
    # Contract and schedule factors count days; open tickets count minutes.
    day, hour = (inputs.now.strftime(f).encode() for f in ("%Y-%m-%d", "%Y-%m-%dT%H"))
    due = []
    for engagement in store.engagements(ids=ids):
        eid = engagement.crm_id
        fingerprint = _fingerprint(
            engagement,
            versions.get(eid, 0),
            surveys.get(eid),
            settings_key,
            hour if eid in open_tickets else day,
        )
        if inputs.recompute or previous.get(eid) != fingerprint:
            due.append((engagement, fingerprint))
    return due


def _score_chunk(store: Store, chunk: _Chunk, inputs: _Inputs) -> _ChunkResult:
    now, risk, sla, due = inputs.now, inputs.risk, inputs.sla, chunk.due
    due_ids = [engagement.crm_id for engagement, _ in due]
    previous = store.health(due_ids)
    # Tickets finished before the longest SLA window are never measured again: not read.
    longest_window = max((p.window_days for p in sla.tiers.values()), default=0)
    facts = _Facts.load(store, due_ids, now - timedelta(days=longest_window))
    frozen = {} if inputs.recompute else store.frozen_measures(due_ids)
    result = _ChunkResult()
    for engagement, fingerprint in due:
        eid = engagement.crm_id
        old = previous.get(eid)
        survey = chunk.surveys.get(eid)
        milestones, touchpoints = facts.milestones.get(eid, ()), facts.touchpoints.get(eid, ())
        policy = sla.tiers.get(engagement.sla_tier or "")
        sla_status, compliance, next_breach = SlaStatus.NOT_MEASURED, None, None
        factor_status, goal_pct = None, DEFAULT_SLA_GOAL_PCT
        if policy is not None:
            sla_result = evaluate(
                policy,
                facts.tickets.get(eid, ()),
                milestones,
                touchpoints,
                now,
                frozen=_frozen(frozen.get(eid, ())),
                first_ticket_opened_at=facts.first_ticket_opened.get(eid),
            )
            sla_status = sla_result.status
            compliance, next_breach = sla_result.compliance_pct, sla_result.next_breach_at
            factor_status = sla_result.factor_status
            goal_pct = policy.goals.tickets_met_pct or policy.goals.on_time_milestones_pct
            result.measures[eid] = encode_measures(_finished(sla_result.measures))
        delivery = DeliveryFacts(
            milestones=milestones,
            costs=facts.costs.get(eid, ()),
            touchpoints=touchpoints,
            change_requests=facts.change_requests.get(eid, ()),
            sla_status=sla_status,
            sla_compliance=compliance,
            sla_next_breach=next_breach,
            sla_factor_status=factor_status,
            sla_goal_pct=goal_pct,
            # The survey tables are the source; before any answer, what was last scored stays.
            nps=survey.nps if survey else (old.nps if old else None),
            previous_nps=old.nps if old and survey else None,
            csat=survey.csat if survey else (old.csat if old else None),
            report_cadence_days=(policy and policy.goals.status_report_every_days)
            or DEFAULT_REPORT_CADENCE_DAYS,
        )
        health = score_engagement(
            engagement,
            now=now,
            bands=inputs.bands,
            previous=old,
            facts=delivery,
            weights=risk.weights,
            words=inputs.words,
        )
        if health is None:
            continue
        result.scored += 1
        result.hashes[eid] = fingerprint
        if health is not old:
            result.changed.append(health)
    return result


def _fingerprint(
    engagement: Engagement,
    facts_version: int,
    survey: SurveyScore | None,
    settings_key: bytes,
    when: bytes,
) -> str:
    """What an engagement's health is computed from. Its delivery facts enter by their version
    (raised by the store whenever one of them changes), so no fact is read to tell that nothing
    changed; `when` is the day, or the hour for an engagement with open tickets."""
    digest = hashlib.sha256()
    # The serializer's bytes are model_dump_json() encoded, without its per-call overhead.
    digest.update(engagement.__pydantic_serializer__.to_json(engagement))
    digest.update(survey.model_dump_json().encode() if survey else b"-")
    digest.update(f"|facts {facts_version}|".encode())
    digest.update(settings_key)
    digest.update(when)
    return digest.hexdigest()


#: A frozen measure as stored: [ticket_id, metric, goal_minutes, used_minutes, met, version,
#: basis] (measures stored before the basis was recorded have six).


def _frozen(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], TicketMeasure]:
    measures = (TicketMeasure(*row) for row in rows)
    return {(m.ticket_id, m.metric): m for m in measures}


def _finished(measures: Sequence[TicketMeasure]) -> list[list[Any]]:
    return [
        [m.ticket_id, m.metric, m.goal_minutes, m.used_minutes, m.met, m.policy_version, m.basis]
        for m in measures
        if m.met is not None
    ]
