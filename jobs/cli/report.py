"""`engage report`: the portfolio report as one HTML file and PNG charts; `engage report link`
mints a signed link to `/report` in `engage serve` for one recipient."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from pathlib import Path

import click

from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.cli.messages import words_of
from jobs.config import load_settings
from jobs.report import links
from jobs.report.build import build_report, write_report
from jobs.store.report_view import PortfolioFilter
from jobs.surveys.tokens import MissingSecret, survey_secret

LANGUAGES = ("en", "zh")


@click.group("report", invoke_without_command=True)
@click.option("--owner", help="Only this account manager's engagements (owner id or name).")
@click.option("--account", help="Only this account's engagements (account id or name).")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First week drawn (UTC date); default 12 weeks ago.",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("portfolio-report.html"),
    show_default=True,
    help="The HTML file; each chart is written beside it as <name>.<chart>.png.",
)
@click.pass_context
def report_group(
    ctx: click.Context,
    owner: str | None,
    account: str | None,
    since: datetime | None,
    lang: str,
    out: Path,
) -> None:
    """Risk by level and its change, level changes with drivers, SLA by tier and account
    manager, NPS/CSAT, CPI/SPI outliers: from the score history in the store."""
    if ctx.invoked_subcommand is not None:
        return
    invocation: Invocation = ctx.obj
    now = invocation.clock()
    start = datetime.combine(since.date(), time(), UTC) if since is not None else None
    if start is not None and start >= now:
        context.fail(f"--since {start:%Y-%m-%d} is not before today")
    words = words_of(invocation)
    with context.opened_store(invocation, read_only=True) as store:
        rendered, count = build_report(
            store,
            PortfolioFilter(owner=owner, account=account),
            now=now,
            since=start,
            language=lang,
            words=words,
        )
    written = write_report(rendered, count, out)
    context.console.print(
        f"report of {count} engagements written to {written.html} "
        f"with {len(written.images)} charts as PNG beside it",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@report_group.command("link")
@click.option("--to", "address", required=True, help="The recipient's e-mail address.")
@click.option("--days", type=click.IntRange(1, 366), default=links.DEFAULT_DAYS, show_default=True)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.pass_obj
def link_command(invocation: Invocation, address: str, days: int, lang: str) -> None:
    """A link to /report in `engage serve` for one recipient, valid for --days days (signed
    with ENGAGE_SURVEY_SECRET, like the survey links; [surveys] base_url is its address)."""
    if "@" not in address:
        context.fail(f"--to {address!r} is not an e-mail address")
    try:
        secret = survey_secret(os.environ)
    except MissingSecret as exc:
        context.fail(str(exc))
    with context.refusing_setup_errors():
        base_url = load_settings(invocation.config_path).config.surveys.base_url
    expires = links.expiry(invocation.clock(), days)
    link = links.mint(base_url, address, secret, expires, lang)
    context.console.print(link, markup=False, highlight=False, soft_wrap=True)  # one line, whole
    context.err_line(f"valid until {expires:%Y-%m-%d %H:%M} UTC, for {address}")
