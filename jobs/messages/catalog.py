"""Message catalogs: TOML files per locale, CLDR plural rules, numbers and dates by Babel.

A catalog is a TOML file per locale (``catalogs/en.toml``, ``catalogs/zh_Hans.toml``) of nested
tables; a message's key is its dotted path (``driver.report_overdue.weekly``). A message is a
``str.format`` pattern with named fields, or a table of CLDR plural forms (``one``, ``other``…)
for the units that are counted (``unit.days``). A field's format spec says how its value is
written in the locale: ``{late:days}`` is ``late`` through the plural message ``unit.days``
("1 day", "2 days"; "1 天"), ``{spi:dec2}`` a decimal with two places, ``{share:pct}`` a
percentage (the value in 0..100), ``{planned:date}`` a date in the locale's medium form (``{d:day}``: month and day); a
plain number is grouped as the locale groups it. A message missing from a locale falls back to
English (``engage messages check`` lists them).

Pure apart from reading the package's own catalog files (once, like Babel's CLDR data).
"""

from __future__ import annotations

import functools
import hashlib
import json
import string
import tomllib
from collections.abc import Iterator, Mapping
from datetime import date
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent

#: The locales shipped, English first: the fallback of every other.
LOCALES = ("en", "zh_Hans")
FALLBACK = "en"
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})
#: The language codes used elsewhere (a survey's language, ``--lang``) → catalog locale.
LANGUAGE_LOCALES = {"en": "en", "zh": "zh_Hans", "zh_Hans": "zh_Hans", "zh-CN": "zh_Hans"}

Message = str | Mapping[str, str]


def locale_of(language: str | None) -> str:
    """The catalog locale of a language code (``zh`` → ``zh_Hans``); English if unknown."""
    return LANGUAGE_LOCALES.get(language or "", FALLBACK)


def flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted key → message: nested tables are opened, a table of plural forms is a message."""
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and not is_plural(value):
            yield from flatten(value, f"{key}.")
        else:
            yield key, value


def is_plural(value: Any) -> bool:
    return isinstance(value, Mapping) and "other" in value and set(value) <= PLURAL_FORMS


@functools.cache
def shipped_messages() -> Mapping[str, Mapping[str, Message]]:
    """The catalogs shipped in the package, per locale (read once)."""
    folder = resources.files("jobs.messages") / "catalogs"
    return {
        locale: dict(flatten(tomllib.loads((folder / f"{locale}.toml").read_text("utf-8"))))
        for locale in LOCALES
    }


@functools.cache
def _plural_rule(locale: str) -> Any:
    return Locale.parse(locale).plural_form


@functools.lru_cache(maxsize=8192)
def _number(locale: str, spec: str, value: float) -> str:
    if spec == "pct":
        return format_percent(value / 100, "#,##0%", locale=locale)
    if spec == "dec1":
        return format_decimal(value, "#,##0.0", locale=locale)
    if spec == "dec2":
        return format_decimal(value, "#,##0.00", locale=locale)
    return format_decimal(value, locale=locale)


@functools.lru_cache(maxsize=4096)
def _date(locale: str, value: date, spec: str = "date") -> str:
    if spec == "day":  # month and day, as the locale writes them ("Nov 20", "11月20日")
        return format_skeleton("MMMd", value, locale=locale)
    return format_date(value, "medium", locale=locale)


@functools.lru_cache(maxsize=1024)
def _parts(pattern: str) -> tuple[tuple[str, str | None, str], ...]:
    """A pattern, parsed once: (literal text, field name or None, format spec) in order."""
    return tuple(
        (literal, name, spec or "") for literal, name, spec, _ in string.Formatter().parse(pattern)
    )


class _LocaleFormatter(string.Formatter):
    def __init__(self, words: Words, locale: str) -> None:
        self.words = words
        self.locale = locale

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec in ("date", "day") and isinstance(value, date):
            return _date(self.locale, value, format_spec)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value) if not format_spec else format(value, format_spec)
        if format_spec in ("", "pct", "dec1", "dec2"):
            return _number(self.locale, format_spec, value)
        # A unit: the plural message unit.<spec>, its form chosen by CLDR's rule for the value.
        return self.words.count(format_spec, value, self.locale)


class Words:
    """The messages of every locale (shipped, with a company's overrides merged over them)."""

    def __init__(self, messages: Mapping[str, Mapping[str, Message]]) -> None:
        self.messages = {locale: dict(messages.get(locale, {})) for locale in LOCALES}
        self._formatters = {locale: _LocaleFormatter(self, locale) for locale in LOCALES}
        self.digest = hashlib.sha256(
            json.dumps(self.messages, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()

    @classmethod
    def shipped(cls) -> Words:
        return _shipped_words()

    def __reduce__(self) -> tuple[Any, ...]:  # sent to scoring worker processes
        return (Words, (self.messages,))

    def message(self, key: str, locale: str) -> Message:
        """The message of `key` in `locale`, else the English one (KeyError if neither)."""
        found = self.messages.get(locale, {}).get(key)
        if found is None:
            found = self.messages[FALLBACK][key]
        return found

    def text(self, key: str, locale: str, **params: Any) -> str:
        message = self.message(key, locale)
        if not isinstance(message, str):
            raise TypeError(f"message {key} has plural forms: use count()")
        formatter = self._formatters.get(locale, self._formatters[FALLBACK])
        return "".join(
            literal + (formatter.format_field(params[name], spec) if name is not None else "")
            for literal, name, spec in _parts(message)
        )

    def count(self, unit: str, value: float, locale: str) -> str:
        """``unit.<unit>`` for `value`: the CLDR plural form of the locale ("1 day", "2 天")."""
        forms = self.message(f"unit.{unit}", locale)
        if isinstance(forms, str):
            forms = {"other": forms}
        form = _plural_rule(locale)(abs(value))
        pattern = forms.get(form, forms["other"])
        return pattern.format(n=_number(locale, "", value))

    def format(self, locale: str, value: Any, spec: str = "") -> str:
        """One value as a message field with format `spec` is written in `locale`."""
        return self._formatters.get(locale, self._formatters[FALLBACK]).format_field(value, spec)

    def both(self, key: str, **params: Any) -> tuple[str, str]:
        """The English and Chinese text of one message: what a driver or a roll-up carries."""
        return self.text(key, "en", **params), self.text(key, "zh_Hans", **params)


@functools.cache
def _shipped_words() -> Words:
    return Words(shipped_messages())
