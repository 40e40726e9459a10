"""Deletions in the CRM since the last look, applied to the store once, cursor after."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

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
) -> int:
    """Give `apply` the ids of ``module``'s records deleted since the cursor ``stream``; the
    cursor moves to the newest deletion only after `apply` has stored its effect. Returns what
    `apply` returns (how many stored things the deletions removed)."""
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
    return removed
