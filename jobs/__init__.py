"""Where the pieces meet: configuration, the store, the sync/score/push jobs, scheduler and CLI."""

from __future__ import annotations
