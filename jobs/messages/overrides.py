"""A company's own wording: a TOML file of messages laid over the shipped catalogs.

The file has one table per locale (``[en]``, ``[zh_Hans]``), nested like the shipped catalogs
or with quoted dotted keys (``"step.report_overdue" = "…"``). Every key must be one the shipped
English catalog has, and a message may use only the fields the English one uses (a field the
code does not pass would fail at render time, deep in a run): either mistake is refused when
the config is loaded, naming the file and the key.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path

from jobs.messages.catalog import LOCALES, Message, Words, flatten, is_plural, shipped_messages
from jobs.messages.config import MessagesSection
from mappings.tomlfile import ConfigFileError, read_toml


def load_words(section: MessagesSection, config_path: Path) -> Words:
    """The shipped catalogs with the override file of `section` (relative to the config
    file) laid over them; the shipped ones alone when it names none."""
    if section.override_file is None:
        return Words.shipped()
    path = (config_path.parent / section.override_file).resolve()
    overrides = read_overrides(path)
    shipped = shipped_messages()
    return Words({loc: {**shipped[loc], **overrides.get(loc, {})} for loc in LOCALES})


def read_overrides(path: Path) -> dict[str, dict[str, Message]]:
    data = read_toml(path)
    english = shipped_messages()["en"]
    found: dict[str, dict[str, Message]] = {}
    for locale, table in data.items():
        if locale not in LOCALES:
            raise ConfigFileError(path, locale, f"unknown locale; known: {', '.join(LOCALES)}")
        if not isinstance(table, Mapping):
            raise ConfigFileError(path, locale, "must be a table of messages")
        for key, message in flatten(table):
            where = f"{locale}.{key}"
            if key not in english:
                raise ConfigFileError(path, where, "no such message (engage messages list)")
            _check_message(path, where, message, english[key])
            found.setdefault(locale, {})[key] = message
    return found


def fields_of(message: Message) -> set[str]:
    """The named fields a message (each plural form of it) uses."""
    texts = [message] if isinstance(message, str) else list(message.values())
    return {
        name.split(".")[0].split("[")[0]
        for text in texts
        for _, name, _, _ in string.Formatter().parse(text)
        if name
    }


def _check_message(path: Path, where: str, message: object, english: Message) -> None:
    if isinstance(english, str) and not isinstance(message, str):
        raise ConfigFileError(path, where, "must be a string")
    if not isinstance(english, str) and not (isinstance(message, str) or is_plural(message)):
        raise ConfigFileError(path, where, "must be a string or a table of plural forms")
    try:
        extra = fields_of(message) - fields_of(english)  # type: ignore[arg-type]
    except ValueError as exc:  # an unbalanced brace
        raise ConfigFileError(path, where, f"not a message pattern: {exc}") from None
    if extra:
        known = ", ".join(f"{{{f}}}" for f in sorted(fields_of(english))) or "none"
        raise ConfigFileError(
            path, where, f"unknown field {', '.join(sorted(extra))}; this message has {known}"
        )
