"""Write access to the store is not code execution in the daemon: nothing read is unpickled.

APScheduler's SQLAlchemy job store unpickled whatever its table held; a pickled command
written there ran inside the daemon. Here a pickle whose loading creates a marker file is
written into APScheduler's old table (as APScheduler itself lays it out) and into one extra
row of every table of the store, in every text, JSON and binary column; the daemon then runs
a whole run. The marker must not exist.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from jobs.store import Store
from tests.conftest import write_sandbox_config
from tests.daemon_process import daemon_until


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): the file appears if anything unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _value_for(column: sa.Column[Any], payload: bytes, n: int) -> Any:
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        return payload
    if isinstance(kind, sa.JSON):
        return {
            "job_state": base64.b64encode(payload).decode(),
            "raw": payload.decode("latin-1").replace("\x00", ""),
        }
    if isinstance(kind, sa.String):
        text = payload.decode("latin-1").replace("\x00", "")
        length = kind.length
        return f"x{n}" if column.primary_key else (text[:length] if length else text)
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 900_000 + n
    if isinstance(kind, sa.Numeric | sa.Float):
        return 0
    if isinstance(kind, sa.DateTime):
        return datetime(2020, 1, 1, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return datetime(2020, 1, 1).date()
    return None


def _write_everywhere(url: str, payload: bytes) -> list[str]:
    engine = sa.create_engine(url)
    written = []
    with engine.begin() as conn:
        old = sa.Table(  # APScheduler 3's layout (SQLAlchemyJobStore.__init__)
            "apscheduler_jobs",
            sa.MetaData(),
            sa.Column("id", sa.Unicode(191), primary_key=True),
            sa.Column("next_run_time", sa.Float(25), index=True),
            sa.Column("job_state", sa.LargeBinary, nullable=False),
        )
        old.create(conn)
        conn.execute(
            old.insert(),
            [{"id": i, "next_run_time": 0.0, "job_state": payload} for i in ("run", "nightly")],
        )
    metadata = sa.MetaData()
    metadata.reflect(engine)
    for n, table in enumerate(metadata.sorted_tables):
        if table.name in ("apscheduler_jobs", "alembic_version"):
            continue
        row = {c.name: _value_for(c, payload, n) for c in table.columns}
        row = {k: v for k, v in row.items() if v is not None}
        with engine.begin() as conn:
            conn.execute(table.insert().values(row))
        written.append(table.name)
    engine.dispose()
    return written


def test_a_pickle_written_into_every_table_is_never_run_by_the_daemon(
    sandbox: SandboxCRM, store_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesMarker(marker))
    assert not marker.exists()
    Store.open(store_url).close()  # the store as it is after any command
    written = _write_everywhere(store_url, payload)
    assert {"engagements", "runs", "store_meta", "job_locks", "write_ledger"} <= set(written)

    config = write_sandbox_config(sandbox, store_url, tmp_path)
    returncode, output = daemon_until(
        sandbox,
        config,
        store_url,
        # The daemon runs at once on start: a run of its own, finished (whatever its outcome).
        until=lambda store: any(
            r.started_at.year > 2020 and r.finished_at for r in store.runs(limit=50)
        ),
    )
    assert not marker.exists(), output
    assert returncode == 0, output
    # The payload is proven live: loading it does create the marker.
    pickle.loads(payload).close()
    assert marker.exists()
