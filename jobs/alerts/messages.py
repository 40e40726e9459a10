"""Every sentence an alert, a summary or a digest shows: the ``alert.*`` messages of the
catalogs (jobs/messages, docs/messages.md), in the route's language, with a company's override
file laid over them when the caller passes its words.

Values are text as the alert stored them (names from the CRM, scores) and are written as given,
never formatted into the patterns themselves.
"""

from __future__ import annotations

from jobs.messages.catalog import FALLBACK, Words, locale_of

#: Which catalog table an event's from/to codes are read in (the levels are the catalogs'
#: ``level.*``, as the drivers and the report name them).
VALUE_TABLE = {"risk_level": "level", "sla_status": "alert.sla_status", "job": "alert.job"}


class Wording:
    """The alert sentences in one language (``en``, ``zh``; English for another), from
    ``words`` (the catalogs with the company's overrides; the shipped ones when None)."""

    def __init__(self, language: str, words: Words | None = None) -> None:
        self.words = words or Words.shipped()
        self.locale = locale_of(language)

    def say(self, key: str, **values: object) -> str:
        """The sentence ``alert.<key>`` with ``values`` written as text."""
        text = {name: str(v) for name, v in values.items()}
        return self.words.text(f"alert.{key}", self.locale, **text)

    def value(self, event: str, code: str | None) -> str:
        """A from/to code (a level, an SLA status, a job outcome) as the reader's word; a code
        without one as it is."""
        if code is None:
            return self.say("label.unknown")
        table = VALUE_TABLE.get(event)
        key = f"{table}.{code}" if table else ""
        if key in self.words.messages[FALLBACK]:
            return self.words.text(key, self.locale)
        return code
