"""PostgreSQL's table statistics, brought up to date after a sync changed much of a table.

The planner picks its plans from the statistics ANALYZE gathers. Autovacuum gathers them a
while after a table changed (its naptime, a minute by default) or never (it can be turned off,
as on some managed and CI databases). A first sync fills the fact tables with millions of rows
and the scoring reads them moments later: on tables never analyzed PostgreSQL guesses that few
rows match `resolved_at IS NULL`, and read all 5 million tickets (a parallel scan) for every
chunk of 500 engagements; scoring 100,000 engagements took 270 s, most of it in PostgreSQL,
against 26 s for 20,000 (benchmarks/workers.py). So before scoring, the tables that grew as
much as autovacuum waits for are analyzed at once; SQLite plans from its indexes alone and has
nothing to do here.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

log = logging.getLogger(__name__)

#: A table is analyzed when it grew by this share of its size at its last analysis (autovacuum's
#: `autovacuum_analyze_scale_factor`), and by `GROWN_PAGES` at least: a small table is read fast
#: whatever the plan, and analyzing the store's small busy tables (runs, the ledger) at every
#: run would be work for nothing.
GROWN_SHARE = 0.1
#: 8 kB pages; a page holds some 50-100 of the store's rows, so about 1,000-2,000 rows.
GROWN_PAGES = 20

# Growth is read from the table's size on disk against the size ANALYZE recorded (relpages):
# exact at once. The changed-rows counters autovacuum reads (pg_stat_user_tables) reach it up
# to seconds late from other sessions, so a table just analyzed could look changed again.
# A table never analyzed has relpages 0: it is analyzed once it holds GROWN_PAGES.
_GROWN = sa.text(
    """
    SELECT c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind = 'r'
      AND pg_relation_size(c.oid) / 8192 - greatest(c.relpages, 0)
        > greatest(:pages, :share * greatest(c.relpages, 0))
    ORDER BY c.relname
    """
)


def refresh_statistics(engine: sa.Engine) -> list[str]:
    """Analyze the tables of the store's schema that grew enough since they were last analyzed
    (`GROWN_SHARE`, `GROWN_PAGES`), or were never analyzed and hold data; their names. Nothing
    on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        stale = list(conn.execute(_GROWN, {"pages": GROWN_PAGES, "share": GROWN_SHARE}).scalars())
        for name in stale:
            conn.execute(sa.text(f"ANALYZE {preparer.quote(name)}"))
    if stale:
        log.info("statistics gathered before scoring: %s", ", ".join(stale))
    return stale
