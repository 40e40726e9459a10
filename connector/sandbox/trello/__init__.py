"""Sandbox Trello: a local imitation of Trello's REST API v1 for demos and tests."""

from __future__ import annotations

from .seed import seed_trello_boards
from .server import TRELLO_SANDBOX_BANNER, TrelloSandbox

__all__ = ["TRELLO_SANDBOX_BANNER", "TrelloSandbox", "seed_trello_boards"]
