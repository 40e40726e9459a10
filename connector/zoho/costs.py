"""What each Zoho call costs in API credits (research/zoho.md §6), and the write batch size."""

from __future__ import annotations

import math
from typing import Literal

#: Insert/update/upsert take at most 100 records per call.
WRITE_BATCH_SIZE = 100
#: §6: insert/update/upsert cost 1 credit per 10 records (so at most 10 per call of 100).
RECORDS_PER_WRITE_CREDIT = 10

CreditKind = Literal["read_page", "deleted_page", "fields", "update", "coql"]


def zoho_credits(kind: CreditKind, records: int = 0) -> int:
    """API credits one call costs (research/zoho.md §6 "Cost per call"; v8 UNCONFIRMED).

    ``read_page``: Get Records without ``cvid``, 1. ``deleted_page``: Get deleted records, 2.
    ``fields``: any field-metadata call (read one, read all, create), 1 by default.
    ``update``: 1 per 10 records, at least 1, for one call of at most 100 records.
    The sandbox CRM charges by the same table, so tests can check estimates against it.
    """
    if records < 0:
        raise ValueError("records must not be negative")
    if kind == "update":
        if records > WRITE_BATCH_SIZE:
            raise ValueError(f"one update call takes at most {WRITE_BATCH_SIZE} records")
        return max(1, math.ceil(records / RECORDS_PER_WRITE_CREDIT))
    if kind == "deleted_page":
        return 2
    if kind == "coql":  # §3: by LIMIT, 1-200 rows 1, 201-1000 2, 1001-2000 3
        return 1 if records <= 200 else 2 if records <= 1000 else 3
    return 1
