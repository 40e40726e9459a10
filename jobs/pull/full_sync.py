"""Where a full sync stopped, so the next run continues it instead of starting over.

A full sync (the first one, one after a mapping change, ``sync --full``) reads every record of
every module. It used to be marked done only by the mapping fingerprint written at its very
end, so any stop (429s, the credit budget, the token quota) started it again from the first
page of the first module: under a budget smaller than one full sync, it never finished.

Now its progress is kept in ``store_meta`` (key ``full_sync``), per sync kind, as it goes:

- a kind whose full read (and its deletion check) completed is ``done``: a continued full sync
  reads it incrementally, from its cursor, like any other run;
- the kind being read has a **keyset**: the newest ``Modified_Time`` of its last stored page.
  Pages come sorted by ``Modified_Time`` (connector/zoho/client.py), so the rest of the
  module is exactly the records modified at or after it, which the next run reads with
  ``If-Modified-Since`` — a fresh query, no ``page_token`` (which expires after a day, §2)
  and no page number, which would shift as records change. The records of that one second are
  read again (storing is idempotent); a record changed meanwhile moves to the end and is read
  there.
- kinds not reached yet are read from the start.

The progress belongs to one mapping fingerprint: after a mapping change a new full sync
starts over (the old one read fields the new mapping may not have). An explicit ``--full``
while one is under way continues it: what was asked, every record read once, is what it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from connector.base import RecordPage
from jobs.store import Store

#: store_meta key of the full sync under way ("" once none is).
FULL_SYNC_KEY = "full_sync"


@dataclass
class FullSync:
    """The progress of one full sync, saved as it moves."""

    store: Store
    fingerprint: str
    done: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def under_way(cls, store: Store, fingerprint: str) -> FullSync | None:
        """The full sync a stopped run left for this mapping, if any."""
        text = store.meta(FULL_SYNC_KEY)
        if not text:
            return None
        try:
            saved = json.loads(text)
        except ValueError:
            return None
        if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
            return None
        done = [str(k) for k in saved.get("done") or []]
        keys = {str(k): str(v) for k, v in (saved.get("keys") or {}).items()}
        return cls(store, fingerprint, done, keys)

    @classmethod
    def begin(cls, store: Store, fingerprint: str) -> FullSync:
        started = cls(store, fingerprint)
        started._save()
        return started

    def reads_fully(self, kind: str) -> bool:
        """Whether ``kind`` is still to be read in full (not done in this full sync)."""
        return kind not in self.done

    def resume_from(self, kind: str) -> datetime | None:
        """Where the full read of ``kind`` continues (None: from its first record)."""
        key = self.keys.get(kind)
        return datetime.fromisoformat(key) if key else None

    def page_stored(self, kind: str, page: RecordPage) -> None:
        """Move ``kind``'s keyset past a stored page (only forward)."""
        newest = page.newest_modified
        if newest is None:
            return
        known = self.resume_from(kind)
        if known is not None and newest <= known:
            return
        self.keys[kind] = newest.isoformat()
        self._save()

    def kind_done(self, kind: str) -> None:
        if kind not in self.done:
            self.done.append(kind)
        self.keys.pop(kind, None)
        self._save()

    def finish(self) -> None:
        self.store.set_meta(FULL_SYNC_KEY, "")

    def _save(self) -> None:
        self.store.set_meta(
            FULL_SYNC_KEY,
            json.dumps({"fingerprint": self.fingerprint, "done": self.done, "keys": self.keys}),
        )
