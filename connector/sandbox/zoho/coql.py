"""The sandbox's COQL: ``POST /crm/v8/coql`` over its records, the subset Zoho documents.

research/zoho.md §3 (and https://zoho.com/crm/developer/docs/api/v8/COQL-Limitations.html):

- ``select <fields> from <module> [where <criteria>] [order by <field> [asc|desc], ...]
  [limit <n> [offset <m>] | limit <m>, <n>]``; keywords are not case-sensitive.
- Comparators ``= != > < >= <=``, ``in``/``not in`` (at most 100 values), ``is [not] null``,
  ``between <a> and <b>``, ``like`` (``%`` wildcards). Lookups (``Owner``, ``Modified_By``,
  ``Account_Name``…) compare by their id.
- More than two criteria must be grouped with parentheses: ``A and B and C`` is refused,
  ``(A and B) and C`` is not.
- At most 2,000 rows per call, 100,000 through LIMIT/OFFSET, 500 selected fields, 10 ORDER BY
  fields. Without ORDER BY rows come by id ascending.
- Answer ``{"data": [...], "info": {"count", "more_records"}}``, 204 when no row matches. A
  selected lookup comes back as ``{"id": ...}`` only (its name needs ``Account_Name.Account_Name``,
  which this subset does not serve).
- Credits by LIMIT: 1–200 rows 1, 201–1000 2, 1001–2000 3.

UNCONFIRMED: the error codes and details for a malformed query; the sandbox answers
``SYNTAX_ERROR`` (``details.clause``) for what it cannot parse and ``INVALID_QUERY``
(``details.column_name``, ``reason``) for unknown columns and broken limits, as Zoho's
examples of those codes show.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_ROWS = 2000
MAX_OFFSET_REACH = 100_000
MAX_SELECT_FIELDS = 500
MAX_ORDER_BY = 10
MAX_IN_VALUES = 100
DEFAULT_LIMIT = 200

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|>=|<=|=|>|<|\(|\)|,)"
    r"|(?P<word>[A-Za-z_$!][A-Za-z0-9_$.]*))"
)


class CoqlError(Exception):
    """A query the sandbox refuses: (code, message, details) in Zoho's error shape."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Query:
    fields: list[str]
    module: str
    where: Callable[[Mapping[str, Any]], bool] | None
    order_by: list[tuple[str, bool]]  # (field, descending)
    limit: int
    offset: int


def credits_for(limit: int) -> int:
    """§3: what a COQL call costs by its LIMIT."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def module_of(select_query: str) -> str:
    """The module named after FROM, for the call log ('' if there is none)."""
    match = re.search(r"\bfrom\s+([A-Za-z_][A-Za-z0-9_]*)", select_query, re.IGNORECASE)
    return match.group(1) if match else ""


def parse(text: str, known_fields: Callable[[str], set[str] | None]) -> Query:
    """Parse ``text``; ``known_fields(module)`` gives a module's field API names (None: no such
    module)."""
    return _Parser(_tokens(text), known_fields).query()


def run(query: Query, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The rows of ``query`` over ``records`` and whether more lie past its LIMIT."""
    matching = [r for r in records if query.where is None or query.where(r)]
    matching.sort(key=lambda r: (len(str(r["id"])), str(r["id"])))  # default: id ascending
    for name, descending in reversed(query.order_by):  # stable sorts, last key first
        matching.sort(key=functools.partial(_field_key, name), reverse=descending)
    window = matching[query.offset : query.offset + query.limit]
    rows = [{name: _selected(record, name) for name in query.fields} for record in window]
    for row, record in zip(rows, window, strict=True):
        row["id"] = record["id"]
    return rows, len(matching) > query.offset + query.limit


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise CoqlError(
                "SYNTAX_ERROR", "error occured while parsing the query", {"near": text[pos:][:30]}
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(
        self, tokens: list[tuple[str, str]], known_fields: Callable[[str], set[str] | None]
    ) -> None:
        self.tokens = tokens
        self.i = 0
        self.known_fields = known_fields
        self.fields: set[str] = set()

    # --- token helpers
    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == words[0]:
            saved = self.i
            for word in words:
                token = self.peek()
                if not (token and token[0] == "word" and token[1].lower() == word):
                    self.i = saved
                    return False
                self.i += 1
            return True
        return False

    def expect_word(self, clause: str) -> str:
        token = self.peek()
        if token is None or token[0] != "word":
            raise _syntax(clause)
        self.i += 1
        return token[1]

    def expect_op(self, op: str, clause: str) -> None:
        token = self.peek()
        if token != ("op", op):
            raise _syntax(clause)
        self.i += 1

    # --- grammar
    def query(self) -> Query:
        if not self.keyword("select"):
            raise _syntax("select")
        names = [self.expect_word("select")]
        while self.peek() == ("op", ","):
            self.i += 1
            names.append(self.expect_word("select"))
        if len(names) > MAX_SELECT_FIELDS:
            raise CoqlError(
                "LIMIT_EXCEEDED",
                f"select column limit exceeded: at most {MAX_SELECT_FIELDS}",
                {"clause": "select", "limit": MAX_SELECT_FIELDS},
            )
        if not self.keyword("from"):
            raise _syntax("from")
        module = self.expect_word("from")
        known = self.known_fields(module)
        if known is None:
            raise CoqlError(
                "INVALID_QUERY",
                "invalid query formed",
                {"module": module, "reason": "invalid module"},
            )
        self.fields = known | {"id"}
        for name in names:
            self.column(name)
        where = None
        if self.keyword("where"):
            where = self.criteria(top=True)
        order_by: list[tuple[str, bool]] = []
        if self.keyword("order", "by"):
            while True:
                name = self.column(self.expect_word("order by"))
                descending = False
                if self.keyword("desc"):
                    descending = True
                else:
                    self.keyword("asc")
                order_by.append((name, descending))
                if self.peek() != ("op", ","):
                    break
                self.i += 1
            if len(order_by) > MAX_ORDER_BY:
                raise CoqlError("LIMIT_EXCEEDED", "order by limit exceeded", {"clause": "order by"})
        limit, offset = DEFAULT_LIMIT, 0
        if self.keyword("limit"):
            first = self.number("limit")
            if self.peek() == ("op", ","):  # LIMIT offset, count
                self.i += 1
                offset, limit = first, self.number("limit")
            else:
                limit = first
                if self.keyword("offset"):
                    offset = self.number("offset")
        if self.peek() is not None:
            raise _syntax("query")
        if not 1 <= limit <= MAX_ROWS or offset < 0:
            raise CoqlError(
                "INVALID_QUERY",
                "invalid query formed",
                {"clause": "limit", "reason": f"limit must be between 1 and {MAX_ROWS}"},
            )
        if offset + limit > MAX_OFFSET_REACH:
            raise CoqlError(
                "LIMIT_EXCEEDED",
                f"only the first {MAX_OFFSET_REACH} records can be fetched",
                {"clause": "offset", "limit": MAX_OFFSET_REACH},
            )
        return Query(names, module, where, order_by, limit, offset)

    def column(self, name: str) -> str:
        if name not in self.fields:
            raise CoqlError(
                "INVALID_QUERY",
                "invalid query formed",
                {"column_name": name, "reason": "invalid column"},
            )
        return name

    def number(self, clause: str) -> int:
        token = self.peek()
        if token is None or token[0] != "num" or "." in token[1]:
            raise _syntax(clause)
        self.i += 1
        return int(token[1])

    def criteria(self, *, top: bool = False) -> Callable[[Mapping[str, Any]], bool]:
        """``term ((and|or) term)?``: a third criterion needs parentheses (§3)."""
        left = self.term()
        if self.keyword("and"):
            right = self.term()
            combined: Callable[[Mapping[str, Any]], bool] = lambda r: left(r) and right(r)
        elif self.keyword("or"):
            right = self.term()
            combined = lambda r: left(r) or right(r)
        else:
            return left
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in ("and", "or"):
            raise _syntax("where")  # A and B and C: must be ((A and B) and C)
        return combined

    def term(self) -> Callable[[Mapping[str, Any]], bool]:
        if self.peek() == ("op", "("):
            self.i += 1
            inner = self.criteria()
            self.expect_op(")", "where")
            return inner
        name = self.column(self.expect_word("where"))
        if self.keyword("is", "not", "null"):
            return lambda r: _plain(r.get(name)) is not None
        if self.keyword("is", "null"):
            return lambda r: _plain(r.get(name)) is None
        if self.keyword("not", "in"):
            values = self.value_list()
            return lambda r: _plain(r.get(name)) not in values
        if self.keyword("in"):
            values = self.value_list()
            return lambda r: _plain(r.get(name)) in values
        if self.keyword("between"):
            low = self.value()
            if not self.keyword("and"):
                raise _syntax("where")
            high = self.value()
            return lambda r: _compare(r.get(name), ">=", low) and _compare(r.get(name), "<=", high)
        if self.keyword("not", "like"):
            pattern = _like(self.value())
            return lambda r: not pattern.fullmatch(str(_plain(r.get(name)) or ""))
        if self.keyword("like"):
            pattern = _like(self.value())
            return lambda r: bool(pattern.fullmatch(str(_plain(r.get(name)) or "")))
        token = self.peek()
        if token is None or token[0] != "op" or token[1] not in ("=", "!=", ">", "<", ">=", "<="):
            raise _syntax("where")
        self.i += 1
        op, value = token[1], self.value()
        return lambda r: _compare(r.get(name), op, value)

    def value(self) -> Any:
        token = self.peek()
        if token is None:
            raise _syntax("where")
        self.i += 1
        kind, text = token
        if kind == "str":
            return text[1:-1].replace("\\'", "'")
        if kind == "num":
            return text  # compared as text against ids, as numbers against numbers
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _syntax("where")

    def value_list(self) -> set[Any]:
        self.expect_op("(", "where")
        values = {self.value()}
        while self.peek() == ("op", ","):
            self.i += 1
            values.add(self.value())
        self.expect_op(")", "where")
        if len(values) > MAX_IN_VALUES:
            raise CoqlError(
                "LIMIT_EXCEEDED",
                f"at most {MAX_IN_VALUES} values in in/not in",
                {"clause": "where", "limit": MAX_IN_VALUES},
            )
        return {str(v) for v in values}


def _syntax(clause: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "error occured while parsing the query", {"clause": clause})


def _plain(value: Any) -> Any:
    """A lookup compares by its id; everything else as it is (ids and numbers as text)."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    return value if isinstance(value, bool) else str(value)


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(raw: Any, op: str, value: Any) -> bool:
    left = _plain(raw)
    if left is None:
        return op == "!=" and value is not None
    right: Any = value
    left_dt, right_dt = _as_datetime(left), _as_datetime(right)
    if left_dt is not None and right_dt is not None:
        left, right = left_dt, right_dt
    elif isinstance(left, str) and isinstance(right, str) and left.isdigit() and right.isdigit():
        left, right = (len(left), left), (len(right), right)  # 19-digit ids, exactly
    else:
        try:
            left, right = float(left), float(right)
        except (TypeError, ValueError):
            left, right = str(left), str(right)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == "<":
        return bool(left < right)
    if op == ">=":
        return bool(left >= right)
    return bool(left <= right)


def _like(value: Any) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in str(value).split("%")), re.DOTALL)


def _field_key(name: str, record: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(record.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    plain = _plain(value)
    if plain is None:
        return (0, "")
    when = _as_datetime(plain)
    if when is not None:
        return (1, when.timestamp())
    text = str(plain)
    return (2, (len(text), text)) if text.isdigit() else (3, text)


def _selected(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, dict) and "id" in value:
        return {"id": value["id"]}  # a selected lookup: its id only
    return value
