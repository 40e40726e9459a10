"""The alerts step of a connection on workers: after a run ended, plan and send its alerts.

Its own job with its own lock (``alerts:<connection>``, tasks.py), deferred by whichever step
ended the run (ok, failed or stopped): a push is never held up by a webhook, and two sends of one
connection never run at once. It reads how the run ended from the runs table, then does what
the CLI's hook does (`jobs.alerts.steps.after_run`, the one function both call). Each alert is
sent at most once whatever happens to the job: the outbox commits ``sending`` before the call
and never sends a row left ``sending`` again (it is "uncertain"; jobs/alerts/outbox.py).
"""

from __future__ import annotations

import logging

from jobs.alerts.steps import after_run
from jobs.workers.runtime import Runtime

log = logging.getLogger(__name__)


def send_alerts(rt: Runtime, name: str, run_id: int) -> int:
    """Plan and send the alerts of run ``run_id`` and of the runs that ended after it (at most
    one alerts job waits per connection, so a run that ended while one waited is reported by
    that one; a run seen twice alerts once, as its events are episodes). The runs reported."""
    row = rt.connections.get(name)
    with rt.opened(row) as (conn, _meter):
        runs = conn.store.ended_runs_since(run_id)
        for run in runs:
            after_run(
                conn.store,
                conn.settings,
                now=rt.clock(),
                status=run.status,
                message=run.message,
                quarantined=run.counts.get("push_quarantined", 0),
                connection=name,
                policy=conn.policy,
            )
    log.info("%s: alerts of run(s) %s", name, [r.id for r in runs])
    return len(runs)
