"""The ``[cluster]`` section of a connection's config: how `engage worker` runs it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClusterSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The CRM org this connection belongs to: connections of one org share its credit budget
    #: and its concurrency cap. Default: the connection's own name (an org of its own).
    org: str | None = Field(default=None, min_length=1, max_length=64)
    #: Seconds between runs; default: [schedule] run_every_minutes.
    run_every_seconds: float | None = Field(default=None, gt=0)
    #: Jobs of the org talking to the CRM at once, over all workers (Zoho allows 10 concurrent
    #: calls per org on every edition; keep room for other integrations).
    org_concurrency: int = Field(default=2, ge=1, le=25)
    #: Credits all connections of the org may reserve per window; default: [crm]'s budget.
    org_credit_budget: int | None = Field(default=None, ge=1)
    #: The window the org budget counts over (a day).
    credit_window_seconds: float = Field(default=86_400, gt=0)
    #: Credits a job reserves at a time from the org's budget (at most this many are lost when
    #: a worker is killed outright, until the window ends).
    credit_block: int = Field(default=100, ge=1)
    #: Records due (engagements, and accounts beside them) one push chunk plans and writes: a
    #: small org's push is one chunk; 100,000 changed deals are 20 chunks, pushed in parallel
    #: by the workers within the org's concurrency slots.
    push_chunk_records: int = Field(default=5000, ge=1)
