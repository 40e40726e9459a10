"""Which page one Get Records read asks for next (research/zoho.md §2), without any HTTP.

Zoho pages a query with ``page`` (and ``per_page``) for its first 2,000 records only; past
them it wants the ``next_page_token`` of the last answer instead, and a query reaches 100,000
records at most. Past that the rest come sorted by Modified_Time from a new query starting at
the newest second read (that second's records are read twice: storing is idempotent).

``ZohoClient.iter_pages`` asks ``page_params()`` what to send, tells ``received()`` what came
back and calls ``advance()`` after each page it yields; the paginator says when it is
``finished`` and when the query starts again from a later ``modified_since``. It stops with a
``ConnectorError`` when Zoho's answers cannot be paged any further (no token past 2,000, a
token that repeats, more than 100,000 records in one second). Modelled on singer-sdk's
``BaseAPIPaginator`` (shared/STYLE.md §1, practice 6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.errors import ConnectorError

#: §2: per_page maximum.
PAGE_SIZE = 200
#: §2: page/per_page reach the first 2,000 records only; past them page_token is required.
DISCRETE_PAGE_LIMIT_RECORDS = 2000
#: §2: page_token reaches up to 100,000 records of one query.
PAGE_TOKEN_LIMIT_RECORDS = 100_000


class RecordsPaginator:
    """The paging state of one Get Records read of ``module`` (see the module docstring)."""

    def __init__(self, module: str, modified_since: datetime | None) -> None:
        self.module = module
        #: The lower bound of the current query: it moves to the newest second read when a
        #: query reaches the 100,000-record limit and a new query continues from there.
        self.modified_since = modified_since
        #: True once an answer said there are no more records.
        self.finished = False
        #: The newest Modified_Time of the records kept so far, across restarted queries.
        self.newest_seen: datetime | None = None
        self._page = 1
        self._token: str | None = None
        self._seen_tokens: set[str] = set()
        #: Records the current query returned so far (before any filtering by the caller).
        self._fetched = 0

    def page_params(self) -> dict[str, Any]:
        """The query parameter that picks the next page: ``page_token`` once given, else ``page``."""
        return {"page_token": self._token} if self._token else {"page": self._page}

    def received(self, records: int, newest_kept: datetime | None) -> None:
        """Count an answer's ``records`` and the newest Modified_Time among those kept."""
        self._fetched += records
        if newest_kept is not None and (self.newest_seen is None or newest_kept > self.newest_seen):
            self.newest_seen = newest_kept

    def advance(self, *, more_records: bool, next_page_token: str | None) -> bool:
        """Move past the answer just received; True when a new query starts from a later
        ``modified_since`` (the caller sends a new If-Modified-Since for it)."""
        if not more_records:
            self.finished = True
            return False
        if self._fetched >= PAGE_TOKEN_LIMIT_RECORDS:
            since = self.modified_since
            if self.newest_seen is None or (since is not None and self.newest_seen <= since):
                raise ConnectorError(
                    f"more than {PAGE_TOKEN_LIMIT_RECORDS} {self.module} records were modified "
                    "in the same second; Get Records cannot page past them"
                )
            self.modified_since = self.newest_seen
            self._page, self._token, self._fetched = 1, None, 0
            self._seen_tokens.clear()
            return True
        if self._page * PAGE_SIZE < DISCRETE_PAGE_LIMIT_RECORDS and not self._token:
            self._page += 1
            return False
        if not next_page_token:
            raise ConnectorError(
                f"Zoho reported more {self.module} records past 2,000 but gave no next_page_token"
            )
        if next_page_token in self._seen_tokens:
            raise ConnectorError(f"loop detected in {self.module} pagination (repeated page_token)")
        self._seen_tokens.add(next_page_token)
        self._token = next_page_token
        return False
