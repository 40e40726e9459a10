"""Sync cursors: where the next incremental read of a stream starts."""

from __future__ import annotations

from datetime import datetime

from connector.base import RecordPage
from jobs.store import Store


def advance(
    store: Store, stream: str, page: RecordPage, cursor: datetime | None, now: datetime
) -> datetime | None:
    """Move ``stream``'s cursor past ``page`` (already stored); return the cursor now.

    The cursor only moves forward: to where the client says the next read may resume
    (``RecordPage.resume_from``, on a read's last page), else to the page's newest record,
    whose instant is then read again.
    """
    target = page.resume_from or page.newest_modified
    if target is not None and (cursor is None or target > cursor):
        store.set_cursor(stream, target, now)
        return target
    return cursor
