"""The operator's HTTP endpoint of the daemon: ``GET /healthz`` and ``GET /metrics``.

A standard-library threading HTTP server on its own thread, bound to ``[daemon]
metrics_address`` (loopback by default: the figures name the CRM and its volumes, so exposing
them is the operator's choice). Default port 9465, apart from `engage serve` (8765) and
`engage sandbox` (8766).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

HealthFn = Callable[[], tuple[bool, dict[str, Any]]]


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9465`` for IPv6) as (host, port); raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{address!r} is not host:port (e.g. 127.0.0.1:9465)")
    return host.strip("[]"), int(port)


class OpsServer:
    """Serves until `stop`; `port` is the one bound (useful with port 0)."""

    def __init__(self, address: str, registry: CollectorRegistry, health: HealthFn) -> None:
        host, port = split_address(address)
        handler = _handler(registry, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="engage-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(registry: CollectorRegistry, health: HealthFn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                healthy, body = health()
                self._send(200 if healthy else 503, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: /healthz, /metrics\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every 15 s is not worth a log line

    return Handler
