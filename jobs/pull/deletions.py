"""Deletions in the CRM since the last look, applied to the store once, cursor after.

Looking costs a call per module (Zoho: 2 credits each, whether anything was deleted or not),
so it can be spaced out: with ``every``, a module's deletions are looked for only when the last
look is that old (and always on a full sync). A record deleted in the CRM then leaves the store
up to ``every`` later; until then it may be scored, and a write to it is refused and retried
like any refused row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connector.base import CRMClient
from jobs.store import Store


def pull_deletions(
    client: CRMClient,
    store: Store,
    module: str,
    stream: str,
    apply: Callable[[list[str]], int],
    *,
    clock: Callable[[], datetime],
    every: timedelta = timedelta(0),
    force: bool = False,
) -> int:
    """Give `apply` the ids of ``module``'s records deleted since the cursor ``stream``; the
    cursor moves to the newest deletion only after `apply` has stored its effect. Returns what
    `apply` returns (how many stored things the deletions removed), 0 when not looked for:
    the last look is younger than ``every`` and not ``force``."""
    checked = f"{stream}:checked"
    now = clock()
    if every > timedelta(0) and not force:
        last = store.cursor(checked)
        if last is not None and now - last < every:
            return 0
    since = store.cursor(stream)
    ids: list[str] = []
    newest = since
    for deleted in client.iter_deleted(module, deleted_since=since):
        ids.append(deleted.record_id)
        if deleted.deleted_at and (newest is None or deleted.deleted_at > newest):
            newest = deleted.deleted_at
    removed = apply(ids)
    if newest is not None and newest != since:
        store.set_cursor(stream, newest, clock())
    if every > timedelta(0):
        store.set_cursor(checked, now, now)
    return removed
