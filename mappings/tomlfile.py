"""Load a TOML file into a pydantic model, with errors that name the file and the key."""

from __future__ import annotations

import codecs
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(Exception):
    """A configuration or mapping file is missing, unparsable or invalid. Fix the file."""

    def __init__(self, path: Path | str, key: str | None, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + message)


def load_toml_model(path: Path | str, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``; the first problem is reported by key."""
    return validate_model(path, read_toml(path), model)


def read_toml(path: Path | str) -> dict[str, object]:
    """The parsed file. TOML is UTF-8; a UTF-8 byte order mark (Windows Notepad writes one)
    is accepted, any other encoding is refused in one line that says so."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigFileError(path, None, "file not found") from None
    except OSError as exc:
        raise ConfigFileError(path, None, exc.strerror or str(exc)) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigFileError(path, None, "saved as UTF-16; TOML files are UTF-8, save it so")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigFileError(
            path, None, f"not UTF-8 text (line {line}); TOML files are UTF-8, save it so"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(path, None, f"not valid TOML ({exc})") from None


def validate_model(path: Path | str, data: object, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        raise ConfigFileError(path, key, _plain(first)) from None


def _plain(error: object) -> str:
    """pydantic's message, without echoing the offending value (it could be a pasted secret)."""
    kind = getattr(error, "get", lambda _k: None)("type")
    message = str(getattr(error, "get", lambda _k: "")("msg"))
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling)"
    message = message.removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else "invalid value"
