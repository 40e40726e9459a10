"""`engage mappings check|init` and `engage fields ensure`: the admin commands (they print what jobs/admin returns)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from jobs.admin.fields import (
    check_finding_labels,
    ensure_fields,
    fetch_metadata,
    mapped_modules,
    rename_in_mapping,
)
from jobs.admin.starter import starter_mapping
from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.pull.source_probe import forget_probe
from mappings.spec import default_mapping_path, load_mapping


@click.group()
def mappings() -> None:
    """Check the mapping against the live CRM, or write a starter mapping."""


@mappings.command("check")
@click.option("--json", "as_json", is_flag=True, help="Problems as JSON.")
@click.pass_obj
def mappings_check(invocation: Invocation, as_json: bool) -> None:
    """List every problem of the mapping against the CRM's fields; exit 1 if any.

    Writes nothing, except where target fields are found by their label under other API names
    (Fxiaoke's field_xxxxx__c): then a copy of the mapping with those names."""
    with context.opened(invocation) as conn:
        found, by_label = check_finding_labels(conn.client, conn.mapper.spec)
        mapping_path = conn.settings.mapping_path
    if by_label:
        written = rename_in_mapping(mapping_path, by_label)
        for old, new in by_label.items():
            context.console.print(f"found by its label: {old} is {new} in the CRM", markup=False)
        context.console.print(
            f"{written} names them; point `mapping` under [crm] at it", markup=False
        )
    problems = [p for p in found if not p.warning]
    warnings = [p for p in found if p.warning]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "mapping": str(mapping_path),
                    "problems": [p.as_dict() for p in problems],
                    "warnings": [p.as_dict() for p in warnings],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for title, rows in (
            (f"{len(problems)} problem(s) in {mapping_path}", problems),
            (
                f"{len(warnings)} warning(s): optional sources the CRM lacks, fields to create",
                warnings,
            ),
        ):
            if not rows:
                continue
            table = Table(title=title)
            for column in ("problem", "mapping key", "CRM field", "detail"):
                table.add_column(column, overflow="fold")
            for p in rows:
                table.add_row(
                    p.kind.value,
                    p.where,
                    f"{p.module}.{p.field}" if p.field else p.module,
                    p.detail,
                )
            context.console.print(table)
        if not problems and warnings:
            context.console.print(f"{mapping_path}: no problems; {len(warnings)} warning(s) above")
        elif not problems:
            context.console.print(f"{mapping_path}: no problems; every field exists and fits")
    if problems:
        sys.exit(context.EXIT_FAILED)


@mappings.command("init")
@click.option("--crm", type=click.Choice(["zoho"]), default="zoho", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("mapping.toml"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def mappings_init(invocation: Invocation, crm: str, output: Path, force: bool) -> None:
    """Write a starter mapping from the CRM's field metadata, guessing the standard fields."""
    if output.exists() and not force:
        context.fail(f"{output} exists; pass --force to overwrite it")
    with context.opened(invocation) as conn:
        # Every module of the shipped mapping: the ones the CRM refuses are left out of the
        # starter (commented, with what they would add).
        modules = mapped_modules(load_mapping(default_mapping_path(crm)))
        metadata = fetch_metadata(conn.client, modules)
        settings = conn.settings
    output.write_text(starter_mapping(metadata), encoding="utf-8")
    if settings.config.crm.mapping is None and point_config_at(settings.path, output):
        context.console.print(
            f"wrote {output} and set `mapping` under [crm] in {settings.path} to it; "
            "review the lines marked `# guessed`"
        )
    else:
        context.console.print(
            f"wrote {output}; review the lines marked `# guessed`, then set `mapping` in the config"
        )


def point_config_at(config_path: Path, mapping: Path) -> bool:
    """Add `mapping = "…"` under [crm] of a config that names no mapping (it used the shipped
    default, which the starter replaces). False when the file has no plain [crm] line."""
    lines = config_path.read_text(encoding="utf-8").splitlines()
    if "[crm]" not in (line.strip() for line in lines):
        return False
    header = next(i for i, line in enumerate(lines) if line.strip() == "[crm]")
    target = mapping.resolve()
    try:
        shown = str(target.relative_to(config_path.resolve().parent))
    except ValueError:
        shown = str(target)
    lines.insert(header + 1, f"mapping = {json.dumps(shown)}")
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


@click.group()
def fields() -> None:
    """Manage the CRM custom fields the plugin writes."""


@fields.command("ensure")
@click.option("--dry-run", is_flag=True, help="Only list the fields that would be created.")
@click.option(
    "--sources",
    is_flag=True,
    help="Also create the recommended deal source fields the CRM lacks "
    "(contract end, engagement start, billing model, SLA tier).",
)
@click.pass_obj
def fields_ensure(invocation: Invocation, dry_run: bool, sources: bool) -> None:
    """Create the missing target custom fields (idempotent); record the CRM's API names."""
    with context.opened(invocation) as conn:
        result = ensure_fields(
            conn.client,
            conn.mapper.spec,
            conn.settings.mapping_path,
            dry_run=dry_run,
            sources=sources,
        )
        if any(a.created for a in result.actions if a.source):
            forget_probe(conn.store)  # the next sync reads the new source fields
    for a in result.missing_sources:
        context.console.print(
            f"source field {a.module}.{a.wanted_name} ({a.output}) does not exist and was not "
            "created: it is read as empty; `engage fields ensure --sources` creates it",
            markup=False,
        )
    if not result.actions:
        what = "every target field exists" if not sources else "every field exists"
        context.console.print(f"{what}; nothing to create")
        return
    kinds = "target and source fields " if sources else "target fields "
    table = Table(title=kinds + ("to create" if dry_run else "created"))
    for column in ("module", "field", "type", "result"):
        table.add_column(column, overflow="fold")
    for a in result.actions:
        outcome = (
            "would create"
            if dry_run
            else (f"created as {a.api_name}" if a.created else a.error or "")
        )
        table.add_row(
            a.module, a.wanted_name + (" (source)" if a.source else ""), a.data_type, outcome
        )
    context.console.print(table)
    if result.mapping_written is not None and not result.renamed:
        context.console.print(f"{result.mapping_written} now maps the new source fields")
    for old, new in result.renamed.items():
        context.console.print(f"the CRM named {old} {new}; {result.mapping_written} now says {new}")
    if result.mapping_written is not None and result.mapping_written != conn.settings.mapping_path:
        context.console.print(
            f'the shipped mapping is not edited: set `mapping = "{result.mapping_written}"` '
            "under [crm] in your config"
        )
    if any(a.error for a in result.actions):
        sys.exit(context.EXIT_FAILED)
