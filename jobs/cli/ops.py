"""`engage healthcheck`: is the daemon of this config healthy? (a container's HEALTHCHECK)."""

from __future__ import annotations

import click

from jobs.cli import context
from jobs.cli.context import EXIT_FAILED, Invocation
from jobs.config import ConfigFileError, load_settings
from jobs.ops.probe import healthz_url, probe


@click.command("healthcheck")
@click.option("--timeout", "timeout_seconds", default=5.0, show_default=True, type=float)
@click.pass_obj
def healthcheck(invocation: Invocation, timeout_seconds: float) -> None:
    """Ask the running daemon's GET /healthz at [daemon] metrics_address: exit 0 if healthy
    (ok or degraded), 1 if unhealthy, not answering, or the config cannot be read.

    Never 2, which Docker reserves in a HEALTHCHECK; it opens no store and no CRM."""
    try:
        address = load_settings(invocation.config_path).config.daemon.metrics_address
    except ConfigFileError as exc:
        context.fail(str(exc), EXIT_FAILED)
    if not address:
        context.fail(
            '[daemon] metrics_address is "": the daemon serves no /healthz to ask', EXIT_FAILED
        )
    result = probe(healthz_url(address), timeout_seconds)
    if not result.healthy:
        prefix = "" if result.status is None else f"{result.status}: "
        context.fail(f"unhealthy: {prefix}{result.text.strip()}", EXIT_FAILED)
    click.echo(result.text.strip())
