"""Which schema revision a store is at, against the newest this code knows: for `engage db`
and for the commands that only read (they never migrate, they refuse a store that is behind).

A store newer than the code (written by a later release) is one line naming both revisions,
never Alembic's traceback for a revision it cannot locate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa

from connector.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory


class SchemaState(StrEnum):
    NEW = "new"  # no tables yet
    BEHIND = "behind"  # an upgrade is due
    CURRENT = "current"
    AHEAD = "ahead"  # written by a newer release of the code


class StoreSchemaError(ConfigurationError):
    """A store whose schema this command cannot use as it is (exit 2): behind (run
    `engage db upgrade`) or newer than the code."""


@dataclass(frozen=True)
class Revisions:
    #: The store's revision; None for a store with no tables yet.
    store: str | None
    #: The newest revision of this code's migrations.
    code: str
    state: SchemaState

    def refusal(self) -> str | None:
        """The one line that refuses a command needing the newest schema, or None if usable."""
        if self.state is SchemaState.AHEAD:
            return ahead_message(self)
        if self.state is not SchemaState.CURRENT:
            return (
                f"the store is at schema revision {self.store or 'none (a new store)'}, this code "
                f"needs {self.code}: run `engage db upgrade`"
            )
        return None


def ahead_message(revisions: Revisions) -> str:
    return (
        f"the store is at schema revision {revisions.store}, newer than this code's newest "
        f"({revisions.code}): it was upgraded by a later release; run that release, or restore "
        "a backup taken before the upgrade"
    )


def _script() -> ScriptDirectory:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option(
        "script_location", str(resources.files("jobs.store").joinpath("migrations"))
    )
    return ScriptDirectory.from_config(cfg)


@functools.cache
def code_revisions() -> tuple[str, frozenset[str]]:
    """This code's newest revision and all it knows (read once per process: the migrations
    shipped with the code do not change while it runs, and loading their 20 files was 11 ms
    of the 16 ms of opening a store, which a worker does for every job)."""
    script = _script()
    head = script.get_current_head()
    assert head is not None  # the package ships its migrations
    return head, frozenset(r.revision for r in script.walk_revisions())


def store_revisions(connection: sa.Connection) -> Revisions:
    """Read the store's revision (without migrating) and compare it with the code's."""
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    head, known = code_revisions()
    if current is None:
        state = SchemaState.NEW
    elif current == head:
        state = SchemaState.CURRENT
    elif current in known:
        state = SchemaState.BEHIND
    else:
        state = SchemaState.AHEAD
    return Revisions(current, head, state)
