"""The words the mapping writes itself (`mappings.engine.FieldWords`), from the catalogs."""

from __future__ import annotations

from jobs.messages.catalog import Words
from mappings.engine import FieldWords


def field_words(words: Words) -> FieldWords:
    """`field.*` in English and Chinese, with the company's overrides in `words`."""
    return FieldWords(
        no_drivers=words.both("field.no_drivers"), deal_lost=words.both("field.deal_lost")
    )
