"""Figures for `engage serve` under slow clients (not a test).

Usage: .venv/bin/python benchmarks/serve_slow_clients.py [--clients N] [--timeout S]
       [--max-connections M]

Serves the survey page (uvicorn with the guard of jobs/surveys/serving.py) on a loopback port
chosen by the kernel, opens N connections (default 1,200) that never finish their request (a
third send headers that never end, a third a body that stalls, a third nothing), then prints:

  answer     seconds for a normal GET /healthz while they are all open (5 requests: median, max)
  closed     how many partial requests the server closed, and when (seconds after opening:
             the first, the median and the last), evictions (closed before the timeout, to stay
             within max-connections) counted apart.

Acceptance (issue 18): the answer within 2 s; every partial request closed within the timeout.
"""

from __future__ import annotations

import argparse
import http.client
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn

from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import ServeSection, SurveysSection
from jobs.surveys.serving import raise_descriptor_limit, server_config
from jobs.surveys.web import create_app
from tests.surveys.test_serve_limits import wait_until_closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1200)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-connections", type=int, default=1000)
    args = parser.parse_args()
    limits = ServeSection(
        request_timeout_seconds=args.timeout, max_connections=args.max_connections
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 3 * args.clients + 512), hard))
    raise_descriptor_limit(limits)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'engage.db'}")
        app = create_app(
            SurveyStore(store.engine),
            SurveysSection(),
            secret="benchmark-secret-0123456789",
            clock=lambda: datetime.now(UTC),
        )
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        host, port = listener.getsockname()
        server = uvicorn.Server(server_config(app, limits))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        slow: list[socket.socket] = []
        opened: dict[socket.socket, float] = {}
        for n in range(args.clients):
            s = socket.create_connection((host, port))
            if n % 3 == 0:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: survey\r\nX-Slow: ")
            elif n % 3 == 1:
                s.sendall(b"POST /s/x HTTP/1.1\r\nHost: survey\r\nContent-Length: 100\r\n\r\nn")
            opened[s] = time.monotonic()
            slow.append(s)
        answers = []
        for _ in range(5):
            started = time.monotonic()
            normal = http.client.HTTPConnection(host, port, timeout=30)
            normal.request("GET", "/healthz")
            normal.getresponse().read()
            normal.close()
            answers.append(time.monotonic() - started)
        closed = wait_until_closed(slow, args.timeout + 30)
        waited = sorted(closed[s] - opened[s] for s in closed)
        evicted = [w for w in waited if w < args.timeout]
        timed_out = [w for w in waited if w >= args.timeout]
        print(f"clients {args.clients}, timeout {args.timeout:g} s, max {args.max_connections}")
        print(f"answer   median {statistics.median(answers):.3f} s, max {max(answers):.3f} s")
        print(
            f"closed   {len(closed)} of {args.clients}: evicted {len(evicted)}, timed out ", end=""
        )
        if timed_out:
            print(
                f"{len(timed_out)} after {timed_out[0]:.2f} / "
                f"{statistics.median(timed_out):.2f} / {timed_out[-1]:.2f} s"
            )
        else:
            print("0")
        for s in slow:
            s.close()
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        store.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


if __name__ == "__main__":
    main()
