"""What `engage messages check` reports: messages a locale lacks (shown in English) and
messages whose fields differ from the English ones."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.messages.catalog import FALLBACK, LOCALES, Words
from jobs.messages.overrides import fields_of


@dataclass(frozen=True)
class Problem:
    locale: str
    key: str
    what: str  # "missing": shown in English; "fields": uses other fields than the English

    def line(self, words: Words) -> str:
        english = words.messages[FALLBACK][self.key]
        if self.what == "missing":
            return f"{self.locale}: {self.key}: missing, shown in English: {english!r}"
        return f"{self.locale}: {self.key}: uses other fields than the English {english!r}"


def problems(words: Words) -> list[Problem]:
    english = words.messages[FALLBACK]
    found: list[Problem] = []
    for locale in LOCALES:
        if locale == FALLBACK:
            continue
        messages = words.messages[locale]
        for key in sorted(english):
            if key not in messages:
                found.append(Problem(locale, key, "missing"))
            elif not fields_of(messages[key]) <= fields_of(english[key]):
                found.append(Problem(locale, key, "fields"))
    return found
