"""Settings from the environment: every key of the config file can be set by an environment
variable, the file still the default (a container deployment sets the store URL and the
schedule that way).

The name is ``ENGAGE_`` and the key's dotted path in capitals with ``_`` between the parts:
``store.url`` → ``ENGAGE_STORE_URL``, ``schedule.run_every_minutes`` →
``ENGAGE_SCHEDULE_RUN_EVERY_MINUTES``, ``crm.zoho.accounts_url`` →
``ENGAGE_CRM_ZOHO_ACCOUNTS_URL``. ``ENGAGE_DAEMON_RUN_EVERY_MINUTES`` is accepted for the
daemon's schedule too (the name the operations guide uses). Tables keyed by a name of the
operator's choosing (``sla.tiers.NAME``) come from the file only. Secrets keep their own
variables (`jobs.config.SECRET_ENV`).

A value is read as text (pydantic turns ``"15"`` into 15 and ``"true"`` into True); one that
starts with ``[`` or ``{`` is read as a TOML value (``["a", "b"]``). An invalid value is refused
naming the variable, not the file.
"""

from __future__ import annotations

import functools
import tomllib
import types
import typing
from collections.abc import Mapping, MutableMapping
from typing import Any

from pydantic import BaseModel

PREFIX = "ENGAGE_"
#: Other names for a key, kept because operators know them.
ALIASES = {"ENGAGE_DAEMON_RUN_EVERY_MINUTES": ("schedule", "run_every_minutes")}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds (`X`, `X | None`), or None for a leaf."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _leaves(model: type[BaseModel], path: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    names: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        here = (*path, name)
        inner = _model_in(info.annotation)
        if inner is not None:
            names.update(_leaves(inner, here))
        elif typing.get_origin(info.annotation) is not dict:
            names.setdefault(PREFIX + "_".join(here).upper(), here)
    return names


@functools.cache
def variables(model: type[BaseModel]) -> Mapping[str, tuple[str, ...]]:
    """Every variable name and the key path it sets."""
    return types.MappingProxyType({**_leaves(model, ()), **ALIASES})


def _value(text: str) -> object:
    if text.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            return text  # refused by validation, naming the variable
    return text


def apply(
    model: type[BaseModel], data: MutableMapping[str, Any], env: Mapping[str, str]
) -> dict[str, str]:
    """Set in `data` (the parsed file) every key whose variable is set; returns the dotted
    keys set this way and their variable, for the error that names where a value came from."""
    came_from: dict[str, str] = {}
    for variable, path in variables(model).items():
        if variable not in env:
            continue
        table: MutableMapping[str, Any] = data
        for part in path[:-1]:
            inner = table.get(part)
            if not isinstance(inner, MutableMapping):
                inner = table[part] = {}
            table = inner
        table[path[-1]] = _value(env[variable])
        came_from[".".join(path)] = variable
    return came_from


def source_of(key: str | None, came_from: Mapping[str, str]) -> str | None:
    """The variable that set `key` (or the key its error is inside), if one did."""
    if key is None:
        return None
    for dotted, variable in came_from.items():
        if key == dotted or key.startswith(dotted + "."):
            return variable
    return None
