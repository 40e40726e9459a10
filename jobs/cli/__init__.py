"""`engage`: run any step once, show status, run the daemon, try the sandbox and the demo.

Exit codes: 0 done; 1 the run failed (see the message); 2 bad configuration or usage;
75 the CRM asked us to come back later (rate limit, outage): the next run resumes.
"""

from __future__ import annotations

import click

from jobs.cli import context
from jobs.cli.admin import fields, mappings
from jobs.cli.alerts import alerts_group
from jobs.cli.context import EXIT_CONFIG, EXIT_FAILED, EXIT_RETRY_LATER, Invocation
from jobs.cli.db import db_group
from jobs.cli.facts import import_command
from jobs.cli.messages import messages_group
from jobs.cli.ops import healthcheck
from jobs.cli.report import report_group
from jobs.cli.run import (
    daemon,
    plan_command,
    print_result,
    push,
    retry,
    run,
    score,
    status,
    sync,
    trend,
)
from jobs.cli.sandbox import SANDBOX_PORT, demo, sandbox
from jobs.cli.sources import sources_group
from jobs.cli.surveys import serve_command, surveys_group
from jobs.cli.workers import cluster_group, connections_group, worker_command

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_RETRY_LATER",
    "SANDBOX_PORT",
    "Invocation",
    "main",
    "print_result",
]


@click.group()
@click.option(
    "--config",
    "config_path",
    envvar="ENGAGE_CONFIG",
    default="engage.toml",
    show_default=True,
    help="Configuration file (TOML). Secrets come from ENGAGE_ZOHO_* environment variables.",
)
@click.version_option(package_name="engagement-connector", prog_name="engage")
@click.option("-v", "--verbose", is_flag=True, help="Log each step (secrets are masked).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="ENGAGE_LOG_FORMAT",
    default=None,
    help="Log lines as text (UTC timestamp first) or one JSON object a line; "
    "default: [log] format in the config, else text.",
)
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: bool, log_format: str | None) -> None:
    """Engagement health for outsourcing providers, kept current in your CRM."""
    context.fresh_consoles()
    context.setup_logging(verbose, log_format)
    # Looked up now, not at import: tests put their clock in jobs.cli.context.system_clock.
    ctx.obj = context.Invocation(config_path, context.system_clock)


for _command in (
    sync,
    score,
    push,
    plan_command,
    run,
    status,
    retry,
    trend,
    mappings,
    fields,
    daemon,
    sandbox,
    demo,
    import_command,
    surveys_group,
    serve_command,
    db_group,
    healthcheck,
    alerts_group,
    sources_group,
    messages_group,
    report_group,
    connections_group,
    worker_command,
    cluster_group,
):
    main.add_command(_command)
