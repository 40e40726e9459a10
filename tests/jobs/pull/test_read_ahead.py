"""Reading one page ahead: the next page is fetched while the caller stores this one, never
more than one ahead, errors arrive in order, and a caller that stops early stops the reading."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from jobs.pull.read_ahead import read_ahead

#: How long a test waits for the reading thread before it fails (a guard, not a pause).
GUARD_SECONDS = 10


class Pages:
    """Pages 1..n; records which were asked for, and can hold page k until released."""

    def __init__(self, n: int, *, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.asked: list[int] = []
        self.fetching = {k: threading.Event() for k in range(1, n + 2)}
        self.closed = False

    def __iter__(self) -> Iterator[int]:
        try:
            for k in range(1, self.n + 1):
                self.asked.append(k)
                self.fetching[k].set()
                if k == self.fail_at:
                    raise RuntimeError(f"page {k} refused")
                yield k
        finally:
            self.closed = True


def test_every_page_arrives_in_order() -> None:
    assert list(read_ahead(iter(Pages(5)))) == [1, 2, 3, 4, 5]


def test_the_next_page_is_fetched_while_the_caller_works_on_this_one() -> None:
    pages = Pages(3)
    reading = read_ahead(iter(pages))
    assert next(reading) == 1
    # Still holding page 1: page 2 is asked for without the caller asking.
    assert pages.fetching[2].wait(GUARD_SECONDS)
    assert next(reading) == 2
    assert pages.fetching[3].wait(GUARD_SECONDS)
    assert list(reading) == [3]


def test_an_error_arrives_after_the_pages_before_it() -> None:
    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 3 refused"):
        got.extend(read_ahead(iter(Pages(5, fail_at=3))))
    assert got == [1, 2]


def test_a_caller_that_stops_early_stops_the_reading() -> None:
    pages = Pages(10)
    for page in read_ahead(iter(pages)):
        if page == 2:
            break
    # One page fetched ahead at most (never two), then the source is closed and the thread
    # has ended.
    assert pages.asked in ([1, 2], [1, 2, 3])
    assert pages.closed
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_an_error_while_storing_stops_the_reading() -> None:
    pages = Pages(10)
    with pytest.raises(ValueError, match="store refused"):
        for page in read_ahead(iter(pages)):
            if page == 1:
                raise ValueError("store refused")
    assert pages.asked in ([1], [1, 2])
    assert pages.closed
