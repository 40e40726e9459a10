"""The `[messages]` section: where a company's own wording is (docs/messages.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class MessagesSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A TOML file of messages that replace the shipped ones (`[en]`, `[zh_Hans]` tables of
    #: the same keys); relative to the config file. None: the shipped wording.
    override_file: Path | None = None
