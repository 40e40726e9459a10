"""`engage serve` on the open internet: uvicorn, plus a guard against slow and idle clients.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, and h11 bounds the
size of a request's headers (``h11_max_incomplete_event_size``), but nothing bounds the *time*
a client may take to send its headers or body, nor a connection that never sends a byte: 1,100
such connections made the page unreachable ("Too many open files"). The guard, a subclass of
uvicorn's h11 protocol, adds:

- **request timeout**: a request's headers and body must have arrived within
  ``request_timeout_seconds`` of its first byte (of the connection, for the first request);
  otherwise the connection is closed. The keep-alive wait between requests stays uvicorn's.
- **connection limit**: at ``max_connections`` open connections, a new one makes room by
  closing the connection that has waited longest without completing a request; only when every
  connection is busy with a request is the new one refused. A crowd of slow clients can then
  never lock out a respondent, and the process never runs out of file descriptors (the soft
  ``RLIMIT_NOFILE`` is raised to fit the limit where the hard limit allows).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from jobs.surveys.config import ServeSection

log = logging.getLogger(__name__)

#: File descriptors kept free beyond the connection limit (database, logs, the listener).
SPARE_DESCRIPTORS = 64
#: The limits of `engage serve`: ``[surveys.serve]`` in engage.toml (docs/surveys.md).
ServeLimits = ServeSection


def guarded_protocol(limits: ServeLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the request timeout and the connection limit of ``limits``.

    One class per server: its registry of waiting connections is shared by that server's
    connections only.
    """
    #: Connections waiting for (the rest of) a request, oldest first (dicts keep order).
    waiting: dict[GuardedProtocol, None] = {}

    class GuardedProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections and not self._make_room():
                log.warning("connection limit (%d) reached: refused", limits.max_connections)
                transport.abort()
                return
            self._wait_for_request(start_clock=True)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track(start_clock=True)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Idle between requests: uvicorn's keep-alive timeout runs, and the next request's
            # first byte starts ours (unless part of it is here already, pipelined).
            self._track(start_clock=bool(self.conn.trailing_data[0]))

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_clock()
            waiting.pop(self, None)
            super().connection_lost(exc)

        # --- the guard ---------------------------------------------------------------------
        def _receiving(self) -> bool:
            """Waiting for a request or for the rest of one (not being answered)."""
            cycle = self.cycle
            return cycle is None or cycle.response_complete or cycle.more_body

        def _track(self, *, start_clock: bool) -> None:
            if self.transport.is_closing():
                return
            if not self._receiving():
                self._stop_clock()
                waiting.pop(self, None)  # being answered: never evicted
                return
            self._wait_for_request(start_clock=start_clock)

        def _wait_for_request(self, *, start_clock: bool) -> None:
            waiting.setdefault(self, None)
            if start_clock and self._deadline is None:
                self._deadline = self.loop.call_later(
                    limits.request_timeout_seconds, self._request_timed_out
                )

        def _stop_clock(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _request_timed_out(self) -> None:
            self._deadline = None
            if self._receiving() and not self.transport.is_closing():
                self.transport.close()

        def _make_room(self) -> bool:
            for other in waiting:
                if other is not self:
                    waiting.pop(other)
                    other._stop_clock()
                    other.transport.close()
                    return True
            return False

    return GuardedProtocol


def raise_descriptor_limit(limits: ServeLimits) -> int:
    """Raise the soft RLIMIT_NOFILE so that ``max_connections`` fit; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def server_config(app: Callable[..., Any], limits: ServeLimits, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the survey page: the guard, keep-alive, header size, no banner."""
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        server_header=False,
        lifespan="off",
        log_level="warning",
        **options,
    )


def serve(
    app: Callable[..., Any],
    limits: ServeLimits,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    sock: socket.socket | None = None,
) -> None:
    """Serve until interrupted (on ``sock`` if given, e.g. one bound to port 0 by a test)."""
    soft = raise_descriptor_limit(limits)
    if soft < limits.max_connections + SPARE_DESCRIPTORS:
        log.warning(
            "only %d file descriptors: surveys.serve.max_connections=%d may not fit",
            soft,
            limits.max_connections,
        )
    if sock is not None:
        uvicorn.Server(server_config(app, limits)).run(sockets=[sock])
    else:
        uvicorn.Server(server_config(app, limits, host=host, port=port)).run()
