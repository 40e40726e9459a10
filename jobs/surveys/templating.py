"""One Jinja2 environment for the e-mails and the page: HTML autoescaped, plain text not."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every value a respondent or the CRM supplies is escaped in HTML ("<script>" shows as
        # text); .txt templates are plain text and must not be escaped.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
