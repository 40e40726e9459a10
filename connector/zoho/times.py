"""Zoho datetimes, and what a read learns of its org's clock (research/zoho.md §2).

``IfModifiedSinceReading`` holds how the org reads the header's second; ``resume_after`` says
when a read may resume one second past its newest record (see connector/zoho/client.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

#: How long after a second a read must begin for no record of that second to be still in
#: flight (a write call of 100 records with workflows takes seconds; a minute is generous).
SETTLED_AFTER = timedelta(seconds=60)


def parse_zoho_datetime(value: str) -> datetime:
    """Zoho datetimes carry an offset (``2026-01-02T10:00:00+05:30``); some tools send ``Z``."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_zoho_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


class IfModifiedSinceReading:
    """What a client has learnt about how its org's ``If-Modified-Since`` reads its second.

    Unknown until an answer holds a record modified at exactly the header's second: then the
    org reads it inclusively and the header is sent as asked. Until then (and for ever under an
    exclusive reading, where no such record can come back) it is sent one second early, so a
    record modified at the wanted second is never left out. One per client (one org); a
    daemon's client learns it once. Thread-safe.
    """

    def __init__(self) -> None:
        self._inclusive = False
        self._lock = threading.Lock()

    def header(self, since: datetime) -> datetime:
        """The instant to send for records modified at or after ``since``."""
        with self._lock:
            known = self._inclusive
        return since if known else since - timedelta(seconds=1)

    def observe(self, sent: datetime, records: Sequence[Mapping[str, Any]]) -> None:
        """Learn from an answer to header ``sent``: a record at that second means inclusive."""
        for record in records:
            value = record.get("Modified_Time")
            try:
                at = parse_zoho_datetime(value) if isinstance(value, str) else None
            except ValueError:
                at = None
            if at is not None and at.replace(microsecond=0) == sent.replace(microsecond=0):
                with self._lock:
                    self._inclusive = True
                return


def modified_at_or_after(record: Mapping[str, Any], since: datetime) -> bool:
    value = record.get("Modified_Time")
    if not isinstance(value, str):
        return True  # cannot tell; keep it rather than lose it
    try:
        return parse_zoho_datetime(value) >= since
    except ValueError:
        return True


def server_time(response: requests.Response) -> datetime | None:
    """The ``Date`` header: Zoho's clock, the one ``Modified_Time`` is written by."""
    text = response.headers.get("Date")
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resume_after(newest: datetime | None, began: datetime | None) -> datetime | None:
    """One second after ``newest`` if the read began long enough after it, else None."""
    if newest is None or began is None or began - newest < SETTLED_AFTER:
        return None
    return newest + timedelta(seconds=1)


def newest_modified(records: Sequence[Mapping[str, Any]]) -> datetime | None:
    newest = None
    for record in records:
        value = record.get("Modified_Time")
        if not isinstance(value, str):
            continue
        try:
            parsed = parse_zoho_datetime(value)
        except ValueError:
            continue
        if newest is None or parsed > newest:
            newest = parsed
    return newest
