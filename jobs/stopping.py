"""A run asked to stop at its next safe point (SIGTERM/SIGINT in `engage daemon`).

The daemon's signal handler calls `request_stop`; the sync (after a page is stored and its
cursor moved), the scoring (after a chunk's scores are saved) and the push (before the next
chunk is journaled, once the calls in flight are stored) call `check`, which raises
`RunInterrupted` there. The runner records the run as "interrupted" with what it finished;
the next run resumes from the cursors and the push's journal.

One flag per process: a process runs one job at a time (the connection's lock).
"""

from __future__ import annotations

import threading

_requested = threading.Event()


class RunInterrupted(Exception):
    """The run stopped at a safe point because a stop was requested."""

    def __init__(self, step: str) -> None:
        super().__init__(f"stopped at a safe point during {step} (a stop was requested)")
        self.step = step


def request_stop() -> None:
    _requested.set()


def clear() -> None:
    """Forget an earlier request (a new daemon in the same process, tests)."""
    _requested.clear()


def stop_requested() -> bool:
    return _requested.is_set()


def check(step: str) -> None:
    """A safe point of ``step``: raise `RunInterrupted` if a stop was requested."""
    if _requested.is_set():
        raise RunInterrupted(step)
