"""Odoo domains and ``order`` clauses, compiled into tests and sort keys over stored rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .methods import (
    _ORDER_TERM,
    Fault,
    _validation,
)


def _as_ids(value: Any) -> list[int]:
    """``browse(ids)`` takes one id or a list of them."""
    items = value if isinstance(value, list | tuple) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise _validation(f"Invalid record ids: {value!r}")
    return list(items)


def _field_key(name: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda row: _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is False or value is None:
        return (0, 0)
    if isinstance(value, list):
        value = value[0]
    return (1, value)


def _order_terms(order: str, meta: Mapping[str, Any]) -> list[tuple[str, bool]]:
    terms = []
    for part in order.split(","):
        found = _ORDER_TERM.match(part)
        if not found or found.group(1) not in meta:
            raise Fault("builtins.ValueError", f'Invalid "order" specified ({order})')
        terms.append((found.group(1), (found.group(2) or "asc").lower() == "desc"))
    return terms


Test = Callable[[Mapping[str, Any]], bool]


def _compile(domain: list[Any], meta: Mapping[str, Any]) -> Test:
    """Odoo's prefix-notation domain: leaves and '&', '|', '!'; top level is implicitly AND."""
    items = list(domain)
    tests: list[Test] = []

    def parse() -> Test:
        if not items:
            raise _validation(f"Invalid domain {domain!r}")
        item = items.pop(0)
        if item == "!":
            inner = parse()
            return lambda r: not inner(r)
        if item in ("&", "|"):
            left, right = parse(), parse()
            if item == "&":
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        return _leaf(item, meta)

    while items:
        tests.append(parse())
    return lambda r: all(t(r) for t in tests)


def _leaf(term: Any, meta: Mapping[str, Any]) -> Test:
    if not (isinstance(term, list | tuple) and len(term) == 3):
        raise _validation(f"Invalid leaf {term!r}")
    name, op, value = term
    if name not in meta:
        raise Fault("builtins.ValueError", f"Invalid field {name!r} in leaf {term!r}")

    def get(r: Mapping[str, Any]) -> Any:
        v = r.get(name, False)
        return False if v is None else v

    if op == "=":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value
    if op in ("in", "not in"):
        allowed = list(value) if isinstance(value, list | tuple) else [value]
        return (lambda r: get(r) in allowed) if op == "in" else (lambda r: get(r) not in allowed)
    if op in (">", ">=", "<", "<="):

        def compare(r: Mapping[str, Any]) -> bool:
            v = get(r)
            if v is False or value is False:
                return False
            return bool(
                v > value
                if op == ">"
                else v >= value
                if op == ">="
                else v < value
                if op == "<"
                else v <= value
            )

        return compare
    if op in ("ilike", "like"):
        needle = str(value).lower() if op == "ilike" else str(value)
        return lambda r: needle in (str(get(r)).lower() if op == "ilike" else str(get(r)))
    raise _validation(f"Invalid operator {op!r} in leaf {term!r}")
