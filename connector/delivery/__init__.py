"""Clients of delivery tools (Jira Cloud, PingCode...), behind `base.DeliverySource`."""

from connector.delivery.base import (
    DeliveryProject,
    DeliverySource,
    Release,
    StatusChange,
    TimeLog,
    Vocabulary,
    WorkItem,
    WorkItemPage,
)

__all__ = [
    "DeliveryProject",
    "DeliverySource",
    "Release",
    "StatusChange",
    "TimeLog",
    "Vocabulary",
    "WorkItem",
    "WorkItemPage",
]
