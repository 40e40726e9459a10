"""The plugin's own writes, remembered so that the read after a push does not read them back.

Zoho moves a record's ``Modified_Time`` on every write, the plugin's included (and sets
``Modified_By`` to the API user), so the incremental read after a push used to fetch every
record the push wrote: ceil(written / 200) calls a module for values the store already holds
(the push keeps what it wrote, jobs/store/field_states.py).

Chosen: leave the API user's modifications out of that read, on the CRM's side (a COQL keyset,
connector/zoho/client.py ``iter_changed_by_others``), rather than read them and compare
``Modified_By``/``Modified_Time`` with what the push recorded — a comparison still pays the calls
it is meant to save. The push records here, from Zoho's per-row write results (§4 ``details``):

- who it writes as (``Modified_By.id``): ``crm_api_user``;
- per module, the newest ``Modified_Time`` Zoho gave its writes: ``echo_until:<module>``.

A read whose cursor is at or before ``echo_until`` may meet the echo, and asks the CRM for what
others changed, plus the rows a stopped push left ``pending`` (their write may have landed
without an answer: the ledger settles them from that read, without a second write). Once the
cursor is past ``echo_until`` reads are plain again. When Zoho's results carry no
``Modified_Time``/``Modified_By`` (a reading of §4 that is not the documented one), nothing
is recorded and reads stay plain: the echo costs calls, nothing is missed.

Known limit: a person's edit made between this run's read and its write of the same record
is masked by the write (``Modified_By`` becomes the API user) and is seen at the next full
sync, or the next edit of that record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.base import WriteOutcome, WriteStatus
from jobs.store import Connection, Store
from jobs.store.ledger import pending_ids
from jobs.store.records import meta_in, set_meta_in

#: store_meta key: the CRM user id the plugin's writes are made as.
API_USER_KEY = "crm_api_user"
#: store_meta key prefix: per module, the newest modification time of the plugin's writes.
ECHO_UNTIL_PREFIX = "echo_until:"


@dataclass(frozen=True)
class OwnWrites:
    """What a read may leave out (``user_id``'s changes) and must read anyway (``pending``)."""

    user_id: str
    pending: list[str]


def note_written(conn: Connection, module: str, outcomes: Iterable[WriteOutcome]) -> None:
    """Remember, in the caller's transaction, who wrote and when, from written outcomes."""
    newest: datetime | None = None
    user: str | None = None
    for outcome in outcomes:
        if outcome.status is not WriteStatus.WRITTEN:
            continue
        when = _parse(outcome.details.get("Modified_Time"))
        if when is not None and (newest is None or when > newest):
            newest = when
        by = outcome.details.get("Modified_By")
        if isinstance(by, dict) and by.get("id") is not None:
            user = str(by["id"])
    if newest is None or user is None:
        return
    key = ECHO_UNTIL_PREFIX + module
    known = _parse(meta_in(conn, key))
    values = {API_USER_KEY: user}
    if known is None or newest > known:
        values[key] = newest.isoformat()
    set_meta_in(conn, values)


def own_writes(store: Store, module: str, cursor: datetime | None) -> OwnWrites | None:
    """What the read of ``module`` from ``cursor`` may leave out, or None to read plainly."""
    if cursor is None:
        return None
    user = store.meta(API_USER_KEY)
    until = _parse(store.meta(ECHO_UNTIL_PREFIX + module))
    if user is None or until is None or until < _aware(cursor):
        return None
    with store.engine.connect() as conn:
        return OwnWrites(user_id=user, pending=pending_ids(conn, module))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None
