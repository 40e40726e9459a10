"""What every log line of a run carries: its run id, its connection and its step.

The runner sets the run (`begin`, `step`, `end`); `RunContextFilter`, on the log handler, puts
the three on every record, and the formatters here print them: one line of text with a UTC
timestamp, or one JSON object per line (``--log-format json``) for a log collector.

Process-wide rather than a contextvar: the push's write calls log from threads of their own,
which a contextvar would not reach, and a process runs one job at a time (the connection's
lock). A record that already carries a run id (``extra=``, the daemon's summary) keeps it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from connector.redact import redact

LOG_FORMATS = ("text", "json")
#: The fields of a run every line carries (None outside a run).
FIELDS = ("run_id", "connection", "step")


@dataclass(frozen=True)
class RunContext:
    run_id: int
    connection: str
    step: str


_current: RunContext | None = None
_lock = threading.Lock()


def begin(run_id: int, connection: str, step: str) -> None:
    global _current
    with _lock:
        _current = RunContext(run_id, connection, step)


def step(name: str) -> None:
    """The run's current step (sync, score, push)."""
    global _current
    with _lock:
        if _current is not None:
            _current = replace(_current, step=name)


def end() -> None:
    global _current
    with _lock:
        _current = None


def current() -> RunContext | None:
    with _lock:
        return _current


class RunContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        now = current()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, getattr(now, name) if now is not None else None)
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-02T01:20:03Z WARNING [run 12 zoho:engage.toml push] jobs.x: message``."""

    converter = staticmethod(time.gmtime)  # UTC, as the Z says

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(run)s%(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ"
        )

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None)
        record.run = (
            f"[run {run_id} {getattr(record, 'connection', '-')} {getattr(record, 'step', '-')}] "
            if run_id is not None
            else ""
        )
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The whole line is passed through the redaction once more:
    the RedactingFilter cleans the message and the traceback, this covers every other field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            line[name] = getattr(record, name, None)
        if record.exc_info:
            line["traceback"] = record.exc_text or self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()
