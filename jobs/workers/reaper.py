"""The reaper: what to do with the jobs of a worker that stopped beating (killed, host lost).

procrastinate leaves such a job ``doing``, holding its lock, until someone acts. Its documented
recipe (retry every stalled job) fails on a job that holds a queueing lock when the next one
already waits with the same lock: ``retry_job`` raises a unique violation, every pass, and the
connection never runs again (procrastinate issue #1446; research/scale-engine.md, experiment
1a). So a stalled job that holds a queueing lock, or is a push chunk, a survey or an alerts
step, is **failed**, never retried: the next tick's run starts over, and its push checks what a
dead push chunk landed (the journal); a row a dead survey or alerts step left ``sending`` is
never sent again.
Other stalled jobs (scoring chunks, the tick, the reaper) are retried: running them again
writes the same. The leases their runs held are released at once, so the connection is free
now rather than when the lease would have expired; a run whose push chunk died keeps its
lease while another of its chunks still waits or runs (the next run never starts beside it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from procrastinate.jobs import Status
from procrastinate.manager import JobManager

from jobs.workers.runtime import Runtime


@dataclass
class ReapReport:
    failed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    #: Connections whose run's lease was released.
    freed: list[str] = field(default_factory=list)


async def reap(manager: JobManager, rt: Runtime) -> ReapReport:
    """One pass: fail or retry every stalled job, release the leases they held, and keep the
    leases of runs whose next step waits in the queue."""
    from jobs.workers.tasks import NEVER_RETRIED, PUSH

    report = ReapReport()
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=rt.timings.stale_seconds)
    for job in stalled:
        assert job.id is not None
        if job.queueing_lock is not None or job.task_name in NEVER_RETRIED:
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            report.failed.append(job.id)
        else:
            await manager.retry_job(job)
            report.retried.append(job.id)
    holders = [f"job:{i}" for i in report.failed + report.retried]
    freed = await asyncio.to_thread(rt.connections.release_leases_held_by, holders)
    dead_pushes = [
        (str(job.task_kwargs["connection"]), int(job.task_kwargs["token"]))  # type: ignore[arg-type]
        for job in stalled
        if job.task_name == PUSH and job.id in report.failed
    ]
    freed += await asyncio.to_thread(rt.connections.release_leases_of_dead_pushes, dead_pushes)
    report.freed = sorted(set(freed))
    await asyncio.to_thread(
        rt.connections.keep_leases_of_waiting_steps, rt.clock(), rt.timings.lease
    )
    return report
