"""Figures for `engage report` at scale (not a test).

Usage: .venv/bin/python benchmarks/report.py [--engagements N] [--weeks W] [--seed S] [--keep]

Builds a SQLite store in a temporary directory with N active engagements (default 10,000) over
40 account managers and three SLA tiers, each with W weekly scores (default 52: a year of
history; the score history gets one row a week, as a changing engagement would), 5 milestones
and 3 cost entries, drawn from ``random.Random(seed)``. Then it runs the real command,
``engage --config … report --out …``, in a child process and prints its wall-clock seconds and
its CPU seconds and peak RSS (``ru_maxrss`` of the child) and the machine's load average
(the development machine is shared: wall time says more about the neighbours then), with the size of the HTML file and of the PNGs.
Generating the data is reported separately and not counted. Nothing is asserted.

Target: under 10 s and 300 MB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from jobs.store import Store
from mappings.domain import (
    CostEntry,
    Driver,
    Engagement,
    EngagementHealth,
    EngagementStatus,
    Milestone,
    RiskLevel,
    SlaStatus,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TIERS = ("Gold", "Silver", "Bronze")
OWNERS = 40
LEVELS = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL)
BANDS = (30, 55, 75)


def level_of(score: int) -> RiskLevel:
    return LEVELS[sum(score >= b for b in BANDS)]


def engagements(count: int, rng: random.Random) -> list[Engagement]:
    return [
        Engagement(
            crm_id=f"E{i:06d}",
            name=f"Engagement {i}",
            account_id=f"A{i % 2000:05d}",
            account_name=f"Account {i % 2000}",
            owner_id=f"U{i % OWNERS:03d}",
            owner_name=f"Manager {i % OWNERS}",
            stage="Closed Won",
            status=EngagementStatus.ACTIVE,
            end_date=date(2027, 1, 1) + timedelta(days=rng.randrange(400)),
            sla_tier=TIERS[i % len(TIERS)],
        )
        for i in range(count)
    ]


def history(store: Store, deals: list[Engagement], weeks: int, rng: random.Random) -> None:
    """`weeks` weekly scores per engagement, a random walk, oldest first."""
    scores = {e.crm_id: rng.randrange(0, 60) for e in deals}
    for back in range(weeks - 1, -1, -1):
        at = NOW - timedelta(weeks=back)
        batch = []
        for e in deals:
            value = max(0, min(100, scores[e.crm_id] + rng.randrange(-6, 8)))
            scores[e.crm_id] = value
            batch.append(
                EngagementHealth(
                    engagement_id=e.crm_id,
                    risk_score=value,
                    risk_level=level_of(value),
                    drivers=(
                        Driver(code="spi", points=value // 3, en=f"SPI {value}", zh=f"SPI {value}"),
                    ),
                    sla_status=SlaStatus.COMPLIANT,
                    sla_compliance=float(rng.randrange(70, 101)),
                    nps=rng.randrange(-20, 80) if back % 4 == 0 else None,
                    csat=round(rng.uniform(2.5, 5.0), 1) if back % 4 == 0 else None,
                    updated_at=at,
                )
            )
        store.save_health(batch)


def facts(store: Store, deals: list[Engagement], rng: random.Random) -> None:
    milestones = [
        Milestone(
            external_id=f"{e.crm_id}-M{m}",
            engagement_id=e.crm_id,
            name=f"Milestone {m}",
            planned_date=NOW.date() + timedelta(days=60 * (m - 2)),
            planned_value=Decimal(10000),
            percent_complete=float(rng.choice((0, 25, 50, 80, 100))),
        )
        for e in deals
        for m in range(5)
    ]
    costs = [
        CostEntry(
            external_id=f"{e.crm_id}-C{c}",
            engagement_id=e.crm_id,
            spent_on=NOW.date() - timedelta(days=30 * c),
            amount=Decimal(rng.randrange(3000, 12000)),
        )
        for e in deals
        for c in range(3)
    ]
    store.save_facts("milestones", milestones, "bench", NOW)
    store.save_facts("costs", costs, "bench", NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engagements", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the directory and print it")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="engage-report-bench-"))
    db = folder / "engage.db"
    config = folder / "engage.toml"
    config.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1"\n'
        f'[store]\nurl = "sqlite:///{db}"\n',
        encoding="utf-8",
    )
    started = time.perf_counter()
    store = Store.open(f"sqlite:///{db}")
    deals = engagements(args.engagements, rng)
    store.save_engagements(deals, NOW)
    facts(store, deals, rng)
    history(store, deals, args.weeks, rng)
    store.close()
    print(
        f"data: {args.engagements:,} engagements × {args.weeks} weekly scores "
        f"({args.engagements * args.weeks:,} history rows) in {time.perf_counter() - started:.1f} s"
    )

    out = folder / "out" / "report.html"
    engage = Path(sys.executable).with_name("engage")
    env = {**os.environ, "ENGAGE_LOG_FORMAT": "text"}
    started = time.perf_counter()
    subprocess.run(
        [str(engage), "--config", str(config), "report", "--out", str(out)], check=True, env=env
    )
    seconds = time.perf_counter() - started
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = child.ru_maxrss / 1024
    pngs = sorted(out.parent.glob("report.*.png"))
    print(
        f"engage report: {seconds:.2f} s wall, {child.ru_utime + child.ru_stime:.2f} s CPU, "
        f"peak RSS {peak_mb:.0f} MB (target: 10 s, 300 MB); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"html {out.stat().st_size / 1024:.0f} KB, {len(pngs)} charts "
        f"{sum(p.stat().st_size for p in pngs) / 1024:.0f} KB"
    )
    if args.keep:
        print(f"kept: {folder}")
    else:
        for path in [*pngs, out, db, config]:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
