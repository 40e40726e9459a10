"""Sandbox Worktile: a local imitation of Worktile's current open API for demos and tests."""

from __future__ import annotations

from .seed import seed_worktile_projects
from .server import WORKTILE_SANDBOX_BANNER, WorktileSandbox

__all__ = ["WORKTILE_SANDBOX_BANNER", "WorktileSandbox", "seed_worktile_projects"]
