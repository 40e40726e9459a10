"""The daemon's operator endpoint for one connection: its store's figures and health."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from jobs.ops.health import HealthCheck
from jobs.ops.metrics import StoreCollector, store_registry
from jobs.ops.server import OpsServer
from jobs.runner import Connection

log = logging.getLogger(__name__)


def start_ops_server(
    conn: Connection, scheduler_alive: Callable[[], bool], address: str | None = None
) -> OpsServer | None:
    """Serve ``/healthz`` and ``/metrics`` on ``[daemon] metrics_address`` (None if it is
    empty: the operator turned the endpoint off)."""
    config = conn.settings.config
    address = config.daemon.metrics_address if address is None else address
    if not address:
        return None
    budget = config.crm.credit_budget() if config.crm.kind == "zoho" else None
    collector = StoreCollector(conn.store, config.crm.kind, budget, conn.clock, config.sla.tiers)
    health = HealthCheck(
        store=conn.store,
        scheduler_alive=scheduler_alive,
        clock=conn.clock,
        started_at=conn.clock(),
        stale_after=timedelta(minutes=3 * config.schedule.run_every_minutes),
        tiers=config.sla.tiers,
    )
    try:
        server = OpsServer(address, store_registry(collector), health)
    except OSError as exc:
        # The runs matter more than their figures: run on, and say how to fix it once.
        log.warning(
            "no /healthz or /metrics: cannot listen on %s (%s); set [daemon] metrics_address "
            'in the config to a free host:port, or to "" to turn the endpoint off',
            address,
            exc.strerror or exc,
        )
        return None
    log.info("serving /healthz and /metrics on %s:%d", address.rpartition(":")[0], server.port)
    return server.start()
