"""The words the mapping writes itself (`mappings.engine.FieldWords`), from the catalogs."""

from __future__ import annotations

import json
from typing import Any

from jobs.health.engagement import account_summary
from jobs.messages.catalog import LOCALES, Words
from mappings.engine import FieldWords


def field_words(words: Words) -> FieldWords:
    """`field.*` and the account roll-up's `account.*` in English and Chinese, with the
    company's overrides in `words`."""

    def summary(active: int, riskiest: Any) -> tuple[str, str]:
        return account_summary(active, riskiest, words)

    behind = {
        locale: {
            key: message
            for key, message in sorted(words.messages[locale].items())
            if key.startswith(("account.", "level."))
        }
        for locale in LOCALES
    }
    return FieldWords(
        no_drivers=words.both("field.no_drivers"),
        deal_lost=words.both("field.deal_lost"),
        account_summary=summary,
        account_messages=json.dumps(behind, ensure_ascii=False, sort_keys=True),
    )
