"""`engage messages`: the message catalogs (shipped, plus the company's override file)."""

from __future__ import annotations

from pathlib import Path

import click

from jobs.cli import context
from jobs.cli.context import Invocation
from jobs.config import load_settings
from jobs.messages.catalog import FALLBACK, LOCALES, Words
from jobs.messages.check import problems


def words_of(invocation: Invocation) -> Words:
    """The config's catalogs (its `[messages] override_file` laid over the shipped ones); the
    shipped ones when there is no config file (checking a clone needs none)."""
    if not Path(invocation.config_path).exists():
        return Words.shipped()
    with context.refusing_setup_errors():
        return load_settings(invocation.config_path).words


@click.group("messages")
def messages_group() -> None:
    """The words users read (drivers, next steps, roll-ups, surveys, the report), per language."""


@messages_group.command("check")
@click.pass_obj
def check_command(invocation: Invocation) -> None:
    """List the messages a language lacks (they are shown in English); exit 1 if any."""
    words = words_of(invocation)
    found = problems(words)
    for problem in found:
        context.console.print(problem.line(words), markup=False, highlight=False, soft_wrap=True)
    english = len(words.messages[FALLBACK])
    if found:
        context.fail(f"{len(found)} of {english} messages need a translation", context.EXIT_FAILED)
    context.console.print(f"all {english} messages translated in {', '.join(LOCALES)}")


@messages_group.command("list")
@click.option("--lang", type=click.Choice(LOCALES), default=FALLBACK, show_default=True)
@click.pass_obj
def list_command(invocation: Invocation, lang: str) -> None:
    """Every message key with its text (what an override file may set)."""
    words = words_of(invocation)
    for key in sorted(words.messages[FALLBACK]):
        shown = words.message(key, lang)
        context.console.print(f"{key} = {shown!r}", markup=False, highlight=False, soft_wrap=True)
