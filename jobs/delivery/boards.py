"""Trello, Worktile and Planner clients, built from their config section and mapping
(jobs/delivery/connect.py `FACTORIES`).

These tools have no releases: the mapping's ``milestones.item_types`` / ``item_statuses`` say
which of their items are milestones, and the client reads those as releases. Trello and
Worktile sessions are paced under the tools' rates (connector/delivery/pacing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from connector.delivery import planner, trello, worktile
from connector.delivery.base import DeliverySource
from connector.delivery.pacing import CallPacer, PacedSession
from mappings.delivery import DeliveryMapping, load_delivery_mapping

if TYPE_CHECKING:
    from jobs.delivery.connect import SourceContext

#: Worktile publishes no rate (UNCONFIRMED): a pace that stays well clear of any plausible one.
WORKTILE_CALLS_PER_MINUTE = 200


def _mapping(context: SourceContext) -> DeliveryMapping:
    return load_delivery_mapping((context.config_path.parent / context.section.mapping).resolve())


def _pace(context: SourceContext, limit: int, window: timedelta) -> None:
    """Send the source's requests through a session paced at ``limit`` per ``window``."""
    pacer = CallPacer(limit, window, clock=context.clock, tool=context.section.kind)
    context.transport.session = PacedSession(pacer)


def trello_source(context: SourceContext) -> DeliverySource:
    mapping = _mapping(context)
    _pace(context, trello.TOKEN_LIMIT, trello.LIMIT_WINDOW)
    return trello.TrelloClient(
        context.section.app_key or "",
        context.secret("token"),
        context.transport,
        base_url=context.section.base_url,
        milestone_labels=tuple(mapping.milestones.item_types),
        milestone_lists=tuple(mapping.milestones.item_statuses),
        clock=context.clock,
    )


def worktile_source(context: SourceContext) -> DeliverySource:
    mapping = _mapping(context)
    _pace(context, WORKTILE_CALLS_PER_MINUTE, timedelta(minutes=1))
    return worktile.WorktileClient(
        context.section.base_url,
        context.section.client_id or "",
        context.secret("client_secret"),
        context.transport,
        milestone_types=tuple(mapping.milestones.item_types),
        clock=context.clock,
    )


def planner_source(context: SourceContext) -> DeliverySource:
    mapping = _mapping(context)
    return planner.PlannerClient(
        context.section.tenant or "",
        context.section.client_id or "",
        context.secret("client_secret"),
        context.transport,
        graph_url=context.section.base_url,
        login_url=context.section.login_url or planner.LOGIN_URL,
        milestone_buckets=tuple(mapping.milestones.item_statuses),
        clock=context.clock,
    )


FACTORIES: dict[str, Callable[[SourceContext], DeliverySource]] = {
    "trello": trello_source,
    "worktile": worktile_source,
    "planner": planner_source,
}
