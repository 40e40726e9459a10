"""Notice hard deletes in a CRM that keeps no record of them (Odoo): list every id, diff.

The listing costs one call per 50,000 ids, so it runs every ``client.id_scan_interval`` (and on
a full sync), not on every incremental sync; a deletion is noticed within that interval.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connector.base import ScansForDeletions
from jobs.store import Store


def scan_for_deletions(
    client: ScansForDeletions,
    store: Store,
    kind: str,
    module: str,
    *,
    clock: Callable[[], datetime],
    force: bool = False,
) -> int:
    """Mark deleted the held records of ``kind`` the CRM no longer lists; return how many."""
    stream = f"{kind}:id_scan"
    now = clock()
    last = store.cursor(stream)
    if not force and last is not None and now - last < client.id_scan_interval:
        return 0
    live = client.live_ids(module)
    gone = store.live_crm_ids(kind) - live
    count = store.mark_deleted(kind, sorted(gone), now)
    store.set_cursor(stream, now, now)
    return count
