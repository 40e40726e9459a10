"""Odoo's method signatures per release and the ``Fault`` an Odoo exception becomes.

Research/odoo.md §1, §2: what ``call_kw`` and JSON-2 accept for each method.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

#: Exception class -> JSON-2 HTTP status (odoo/exceptions.py ``http_status``, §2; UNCONFIRMED
#: per release). Anything else is a 500.
HTTP_STATUS = {
    "odoo.exceptions.UserError": 422,
    "odoo.exceptions.ValidationError": 422,
    "odoo.exceptions.AccessError": 403,
    "odoo.exceptions.AccessDenied": 403,
    "odoo.exceptions.MissingError": 404,
    "odoo.exceptions.LockError": 409,
    "werkzeug.exceptions.NotFound": 404,
    "werkzeug.exceptions.Unauthorized": 401,
    "werkzeug.exceptions.UnprocessableEntity": 422,
}


@dataclass
class Fault(Exception):
    name: str
    message: str

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.name, 500)


def _validation(message: str) -> Fault:
    return Fault("odoo.exceptions.ValidationError", message)


_ORDER_TERM = re.compile(r"^\s*(\w+)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MethodSpec:
    """How Odoo's ``call_kw`` binds a method: ``api`` is ``model`` (no ids), ``model_create``
    (``create``, no ids) or ``multi`` (``args[0]`` is the ids), and the Python signature the
    remaining arguments are bound to, positional or named (odoo/api.py ``call_kw``)."""

    api: Literal["model", "model_create", "multi"]
    signature: inspect.Signature


def _sig(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def method_specs(version: int) -> dict[str, MethodSpec]:
    """The signatures of ``odoo/models.py`` (BaseModel) for the release ``version``.

    Read in odoo/odoo sources (research/odoo.md §1, §3, §4, §6): ``search(domain, offset=0,
    limit=None, order=None)`` (16 adds ``count=False``, removed in 17); ``search_count(domain,
    limit=None)`` (``limit`` since 16); ``search_read(domain=None, fields=None, offset=0,
    limit=None, order=None, **read_kwargs)``; ``read(fields=None, load='_classic_read')``;
    ``write(vals)``; ``create(vals_list)`` (@api.model_create_multi: a dict or a list);
    ``unlink()``; ``fields_get(allfields=None, attributes=None)``; ``load(fields, data)``;
    ``name_search(name='', args=None, operator='ilike', limit=100)`` whose ``args`` became
    ``domain`` in 18 (UNCONFIRMED which minor release; the sandbox switches at 18).
    """

    def search(domain, offset=0, limit=None, order=None): ...

    def search_16(domain, offset=0, limit=None, order=None, count=False): ...

    def search_count(domain, limit=None): ...

    def search_read(domain=None, fields=None, offset=0, limit=None, order=None, **read_kwargs): ...

    def read(fields=None, load="_classic_read"): ...

    def write(vals): ...

    def create(vals_list): ...

    def unlink(): ...

    def fields_get(allfields=None, attributes=None): ...

    def load(fields, data): ...

    def name_search_17(name="", args=None, operator="ilike", limit=100): ...

    def name_search_18(name="", domain=None, operator="ilike", limit=100): ...

    def context_get(): ...

    return {
        "search": MethodSpec("model", _sig(search_16 if version <= 16 else search)),
        "search_count": MethodSpec("model", _sig(search_count)),
        "search_read": MethodSpec("model", _sig(search_read)),
        "fields_get": MethodSpec("model", _sig(fields_get)),
        "name_search": MethodSpec(
            "model", _sig(name_search_17 if version <= 17 else name_search_18)
        ),
        "load": MethodSpec("model", _sig(load)),
        "context_get": MethodSpec("model", _sig(context_get)),
        "create": MethodSpec("model_create", _sig(create)),
        "read": MethodSpec("multi", _sig(read)),
        "write": MethodSpec("multi", _sig(write)),
        "unlink": MethodSpec("multi", _sig(unlink)),
    }
