"""What every `engage` command shares: the invocation, the consoles, one-line failures and
the documented exit codes, and the config/connection/store opened with them.

Exit codes: 0 done; 1 the run failed (see the message); 2 bad configuration or usage;
75 the CRM asked us to come back later (rate limit, outage): the next run resumes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from rich.console import Console

from connector.errors import ConnectionSetupError, ConnectorError, RetryLaterError
from connector.redact import RedactingFilter
from jobs import log_context
from jobs.config import Settings, load_settings
from jobs.outside_text import for_terminal
from jobs.runner import (
    Connection,
    connect,
)
from jobs.store import Store
from jobs.store.revisions import StoreSchemaError
from mappings.tomlfile import ConfigFileError

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_RETRY_LATER = 75  # EX_TEMPFAIL

console = Console()
err_console = Console(stderr=True)


log = logging.getLogger("engage")

#: The log format in force, and whether `--log-format`/ENGAGE_LOG_FORMAT chose it (then the
#: config's [log] format does not override it).
_log_format = "text"
_log_format_chosen = False


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    # The message may quote a CRM's answer or a file's content: no escape sequence of theirs
    # reaches the operator's terminal (jobs/outside_text.py).
    err_line(f"error: {for_terminal(message)}", logging.ERROR)
    sys.exit(code)


def err_line(text: str, level: int = logging.WARNING) -> None:
    """A line for stderr: printed as it is, or with --log-format json, a JSON log line (so
    that every line on stderr parses)."""
    if _log_format == "json":
        log.log(level, text)
    else:
        err_console.print(text, markup=False, highlight=False, soft_wrap=True)


def setup_logging(verbose: bool, log_format: str | None = None) -> None:
    """Log to stderr, secrets masked, each line with its run (jobs/log_context.py)."""
    global _log_format, _log_format_chosen
    _log_format_chosen = log_format is not None
    _log_format = log_format or "text"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_context.formatter(_log_format))
    handler.addFilter(RedactingFilter())
    handler.addFilter(log_context.RunContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # APScheduler's per-run INFO lines add nothing to ours.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_format_from(settings: Settings) -> None:
    """The config's [log] format, unless the command line or the environment chose one."""
    global _log_format
    wanted = settings.config.log.format
    if _log_format_chosen or wanted == _log_format:
        return
    _log_format = wanted
    for handler in logging.getLogger().handlers:
        handler.setFormatter(log_context.formatter(wanted))


@dataclass(frozen=True)
class Invocation:
    """What every command gets: the config file and the clock (tests put in their own clock)."""

    config_path: str
    clock: Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@contextmanager
def refusing_setup_errors() -> Iterator[None]:
    """A bad config file or a store at the wrong schema is one line, exit 2; a store that is
    down or refuses connections is one line, exit 75 (the commands' one mapping of them)."""
    try:
        yield
    except (ConfigFileError, StoreSchemaError) as exc:
        fail(str(exc))
    except RetryLaterError as exc:  # the store's database is down or refuses connections
        fail(f"{exc} (try again later)", EXIT_RETRY_LATER)


@contextmanager
def opened(invocation: Invocation, *, read_only: bool = False) -> Iterator[Connection]:
    """Load the config and connect; any configuration problem exits 2 with one line.
    `read_only`: the store is not migrated (see `opened_store`)."""
    with refusing_setup_errors():
        settings = load_settings(invocation.config_path)
        log_format_from(settings)
        conn = connect(settings, clock=invocation.clock, upgrade=not read_only)
    try:
        yield conn
    except RetryLaterError as exc:
        fail(f"{exc} (try again later)", EXIT_RETRY_LATER)
    except ConnectionSetupError as exc:
        fail(str(exc), EXIT_CONFIG)
    except ConnectorError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        conn.close()


@contextmanager
def opened_store(invocation: Invocation, *, read_only: bool = False) -> Iterator[Store]:
    """Only the store: for commands that need no CRM access (and so no CRM secrets).
    `read_only`: a command that only reads never migrates; a store not at the newest schema is
    one line ("run `engage db upgrade`"), exit 2."""
    with refusing_setup_errors():
        settings = load_settings(invocation.config_path)
        log_format_from(settings)
        store = Store.open(settings.store_url, upgrade=not read_only)
    try:
        yield store
    finally:
        store.close()


def fresh_consoles() -> None:
    """Made per invocation so that COLUMNS and the terminal in force now decide the width."""
    global console, err_console
    console, err_console = Console(), Console(stderr=True)
