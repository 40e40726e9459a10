"""How a sandbox CRM (Zoho or Odoo) serves HTTP: on a daemon thread, keep-alive, quiet.

Both sandboxes subclass `ServedOnThread` and give it their request handler, a subclass of
`QuietHandler`; starting, stopping (idle keep-alive connections included) and the context
manager live here once.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        #: Open client connections, so stop() can close idle keep-alive ones.
        self.connections: set[Any] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping connections (timeouts, resets, stop()) are normal here; anything
        # else is a sandbox bug and is still reported.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, one segment per response, no access log; tracks its connection."""

    server: QuietServer
    protocol_version = "HTTP/1.1"  # keep-alive, so benchmarks measure the CRM, not TCP
    timeout = 60  # idle keep-alive connections are dropped after a minute
    # Headers and body leave in one segment: without these, Nagle + delayed ACK add ~40 ms
    # to every keep-alive response, which would dominate benchmarks.
    wbufsize = -1
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: tests and benchmarks read the sandbox's call log instead


class DispatchingHandler(QuietHandler):
    """A sandbox's handler: every method it serves goes to ``_dispatch(method)``, which reads
    the body with ``read_body``."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        raise NotImplementedError

    def read_body(self) -> bytes:
        """The request's body; a missing or unreadable Content-Length is an empty body."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""


class ServedOnThread:
    """Start and stop serving; subclasses say which handler answers requests."""

    #: The serving thread's name, as seen in thread dumps.
    thread_name = "sandbox"
    _server: QuietServer | None = None
    _thread: threading.Thread | None = None
    _url = ""

    def _handler(self) -> type[QuietHandler]:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a daemon thread; returns the base URL."""
        if self._server is not None:
            return self._url
        server = QuietServer((host, port), self._handler())
        url_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self._url = f"http://{url_host}:{server.server_port}"
        self._server = server
        self._thread = threading.Thread(
            # A short poll interval keeps stop() fast (shutdown waits for one poll).
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Close idle keep-alive connections so their handler threads exit promptly.
        with server.connections_lock:
            connections = list(server.connections)
        for conn in connections:
            try:
                conn.shutdown(2)  # socket.SHUT_RDWR
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._url
