"""The words of the survey e-mails and pages, in English and Chinese: the ``survey.*``
messages of the catalogs (jobs/messages), each a ``str.format`` pattern filled in by the mail
and the page. A message missing from a language is the English one."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from jobs.messages.catalog import FALLBACK, Words, locale_of

#: The languages a survey can be in (an invitation's language, Accept-Language).
LANGUAGES = ("en", "zh")
_PREFIX = "survey."


def texts(language: str | None, words: Words | None = None) -> Mapping[str, str]:
    """key → pattern of the survey messages in `language` (English for an unknown one)."""
    words = words or Words.shipped()
    locale = locale_of(language if language in LANGUAGES else "en")
    return _survey_texts(words, locale)


@functools.lru_cache(maxsize=16)
def _survey_texts(words: Words, locale: str) -> dict[str, str]:
    keys = [k for k in words.messages[FALLBACK] if k.startswith(_PREFIX)]
    return {k.removeprefix(_PREFIX): str(words.message(k, locale)) for k in keys}


def from_accept_language(header: str | None, default: str) -> str:
    """The first supported language in an Accept-Language header, by q-value, else default."""
    if not header:
        return default
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else default
