"""`engage import KIND FILE`: load delivery facts from a CSV or JSON file into the store.

Exit codes: 0 every row loaded; 1 some rows failed (the good ones are loaded); 2 the file as a
whole is wrong (nothing loaded) or bad configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from jobs.cli import context
from jobs.facts_import import KINDS, ImportFileError, ImportReport, import_file

if TYPE_CHECKING:
    from jobs.cli.context import Invocation

#: Kinds renamed, old name -> new: "changes" meant three things (issue 19). A script that still
#: says the old name imports as the new, with a one-line warning, rather than break at upgrade.
RENAMED_KINDS = {"changes": "change_requests"}


class _KindChoice(click.Choice[str]):
    """`KINDS`, plus the old names of renamed kinds (not listed in --help)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        new = RENAMED_KINDS.get(value)
        if new is None:
            return str(super().convert(value, param, ctx))
        click.echo(
            f"warning: KIND {value!r} is now {new!r}; importing as {new} "
            f"(write {new} where you call `engage import`)",
            err=True,
        )
        return new


@click.command("import")
@click.argument("kind", type=_KindChoice(KINDS))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    metavar="NAME",
    help="The file's encoding, e.g. gbk or utf-16 (default: UTF-8, or UTF-16 by its BOM).",
)
@click.pass_obj
def import_command(invocation: Invocation, kind: str, file: Path, encoding: str | None) -> None:
    """Load delivery facts (KIND) from FILE, a .csv or .json file; see docs/import.md.

    Rows are matched by external_id: importing a file again updates, never duplicates.
    Needs no CRM access.
    """
    # Imported here: jobs.cli registers this command at its end, so it is loaded by then.

    with context.opened_store(invocation) as store:
        try:
            report = import_file(store, kind, file, at=invocation.clock(), encoding=encoding)
        except ImportFileError as exc:
            context.fail(f"{file}: {exc}", context.EXIT_CONFIG)
    print_report(report)
    if report.failed:
        sys.exit(context.EXIT_FAILED)


def print_report(report: ImportReport, *, limit: int = 200) -> None:

    console = context.console
    if report.errors:
        table = Table(title=f"{report.failed} row(s) not loaded")
        for column in ("row", "field", "problem"):
            table.add_column(column, overflow="fold")
        for error in report.errors[:limit]:
            # Text, not markup: messages quote the file's values, which may hold [brackets].
            table.add_row(str(error.row), Text(error.field or "—"), Text(error.message))
        console.print(table)
        if report.error_count > limit:
            console.print(f"… and {report.error_count - limit} more problems", markup=False)
    # The same warning for many rows (e.g. one engagement not synced yet) is printed once.
    rows_by_warning: dict[str, list[int]] = {}
    for warning in report.warnings:
        rows_by_warning.setdefault(warning.message, []).append(warning.row)
    for message, rows in rows_by_warning.items():
        console.print(f"warning: {message} ({_row_list(rows)})", markup=False, highlight=False)
    console.print(
        f"{report.path}: {report.total} {report.kind} row(s), {report.loaded} loaded "
        f"({report.changed} new or changed), {report.failed} failed",
        markup=False,
        highlight=False,
    )


def _row_list(rows: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return ("row " if len(rows) == 1 else "rows ") + shown + (", …" if len(rows) > limit else "")
