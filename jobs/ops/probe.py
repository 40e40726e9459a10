"""Ask a running daemon whether it is healthy: ``GET /healthz`` at ``[daemon] metrics_address``.

For a container's ``HEALTHCHECK`` and a monitor without curl (python:3.11-slim has none): the
address is the daemon's own setting, read from the same config and ``ENGAGE_*`` variables, so
the check follows the daemon wherever the operator moves it. An address that listens on every
interface (``0.0.0.0``, ``::``) is asked on loopback, where it answers too.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from jobs.ops.server import split_address

#: Listening on every interface: the probe asks loopback of the same family.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def healthz_url(metrics_address: str) -> str:
    """``http://host:port/healthz`` for a ``[daemon] metrics_address``; raises ValueError."""
    host, port = split_address(metrics_address)
    host = _WILDCARDS.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


@dataclass(frozen=True)
class ProbeResult:
    #: 200 (ok or degraded) or 503 (unhealthy); None when nothing answered.
    status: int | None
    #: The JSON body, or why nothing answered.
    text: str

    @property
    def healthy(self) -> bool:
        return self.status == 200


def probe(url: str, timeout_seconds: float) -> ProbeResult:
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as answer:
            return ProbeResult(answer.status, answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return ProbeResult(exc.code, exc.read().decode("utf-8", "replace"))
    except OSError as exc:  # refused, timed out, no route: the daemon is not serving
        reason = getattr(exc, "reason", exc)
        return ProbeResult(None, f"no answer from {url}: {reason}")
