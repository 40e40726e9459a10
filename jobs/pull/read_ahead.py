"""Fetch the next page while the caller stores this one.

A sync reads pages one after another (each needs the previous page's token) and stores each
before moving its cursor. Done in turn, a page's API call waits for the storing of the page
before it, and the other way round: at 100,000 deals a full pull spent as long storing as
waiting for the CRM. `read_ahead` runs the page iterator on a thread of its own, one page
ahead: while the caller stores page N, page N+1 is being fetched. Never more than one page
ahead, so memory holds two pages at most and a caller that stops early costs at most the one
call already in flight. The cursor still moves only after a page is stored: that is the
caller's doing, unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


class _Handed(Enum):
    ITEM = "item"
    DONE = "done"
    FAILED = "failed"


def read_ahead(items: Iterator[T], *, name: str = "read-ahead") -> Iterator[T]:
    """Yield what ``items`` yields, in order, fetching the next one on a thread while the
    caller works on the current one. An error raised by ``items`` is raised here, after the
    items that came before it. When the caller stops early, the fetch in flight (if any) is
    waited for and ``items`` is closed."""
    asked = threading.Semaphore(0)
    handed: queue.Queue[tuple[_Handed, Any]] = queue.Queue()
    stopping = threading.Event()

    def fetch() -> None:
        while True:
            asked.acquire()
            if stopping.is_set():
                return
            try:
                item = next(items)
            except StopIteration:
                handed.put((_Handed.DONE, None))
                return
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                handed.put((_Handed.FAILED, exc))
                return
            handed.put((_Handed.ITEM, item))

    thread = threading.Thread(target=fetch, name=name, daemon=True)
    thread.start()
    try:
        asked.release()
        while True:
            kind, value = handed.get()
            if kind is _Handed.DONE:
                return
            if kind is _Handed.FAILED:
                raise value
            asked.release()  # the next one is fetched while the caller works on this one
            yield value
    finally:
        stopping.set()
        asked.release()
        thread.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
