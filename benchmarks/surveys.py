"""Figures for the survey steps on a synced sandbox portfolio (not a test).

Usage: .venv/bin/python benchmarks/surveys.py [DEALS ...]   (default: 5000)

Prints, per size: how long planning takes (first plan, and a re-plan that adds nothing), how
many invitations and suppressions (by rule) it produced, how long sending them takes through an
in-memory channel (the outbox's own cost: two committed state changes per invitation, no SMTP),
and how long `score` takes with survey answers for every sent invitation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from jobs.store.surveys import Invitation, SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.steps import plan_step, send_step

SECRET = "benchmark-secret-0123456789"


class _Discard:
    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        pass


def measure(deals: int) -> None:
    accounts = max(120, deals // 20)
    with tempfile.TemporaryDirectory() as tmp, SandboxCRM(deals=deals, accounts=accounts) as crm:
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        conn = connect(sandbox_settings(crm, store_url, Path(tmp) / "engage.toml"))
        run_job(conn, Job.SYNC)
        cfg = SurveysSection()
        now = conn.clock()
        started = time.perf_counter()
        plan, added = plan_step(conn.store, cfg, now=now)
        first = time.perf_counter() - started
        started = time.perf_counter()
        _again, added_again = plan_step(conn.store, cfg, now=now)
        second = time.perf_counter() - started
        rules = Counter(s.rule for s in plan.suppressions)
        started = time.perf_counter()
        report = send_step(conn.store, cfg, _Discard(), secret=SECRET, now=now)
        sending = time.perf_counter() - started
        surveys = SurveyStore(conn.store.engine)
        for n, invitation in enumerate(surveys.invitations("sent")):
            surveys.save_response(invitation, nps=n % 11, csat=1 + n % 5, comment=None, now=now)
        started = time.perf_counter()
        run_job(conn, Job.SCORE)
        scoring = time.perf_counter() - started
        print(f"\n{deals} deals, {accounts} accounts, {len(crm.records('Contacts'))} contacts")
        print(f"  plan: {added} invitations, held back {dict(sorted(rules.items()))}")
        print(f"  first plan {first:.2f} s; re-plan {second:.2f} s (added {added_again})")
        print(f"  send {report.sent} through the outbox: {sending:.2f} s")
        print(f"  score with {report.sent} answers: {scoring:.2f} s")
        conn.close()


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [5000]:
        measure(size)
