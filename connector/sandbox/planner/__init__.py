"""Sandbox Microsoft Graph (Planner) and Entra ID token endpoint, for demos and tests."""

from __future__ import annotations

from .seed import seed_planner_plans
from .server import PLANNER_SANDBOX_BANNER, PlannerSandbox

__all__ = ["PLANNER_SANDBOX_BANNER", "PlannerSandbox", "seed_planner_plans"]
