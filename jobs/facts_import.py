"""Import delivery facts (milestones, tickets, costs, touchpoints, change requests) from a file.

CSV (UTF-8, a BOM is fine; the header row names the fields) or JSON (a list of objects, or
``{"rows": [...]}``), chosen by the file's extension. Every row is validated with the domain
model: good rows load, bad rows come back as :class:`RowError` with the row number a person
sees (CSV: the header is row 1; JSON: the 1-based position in the list) and the field.
Importing the same file again changes nothing: facts are keyed by their ``external_id``.
The file format, field by field, is in ``docs/import.md``.
"""

from __future__ import annotations

import codecs
import csv
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from jobs.store import Store
from jobs.store.facts import column_misfits

#: The kinds of facts, as `engage import KIND` names them.
KINDS = ("milestones", "tickets", "costs", "touchpoints", "change_requests")
#: Where imported facts come from, in the store's ``source`` column.
SOURCE = "file"
#: Fields holding ``[start, end]`` intervals; in CSV written ``start/end;start/end``.
INTERVAL_FIELDS = frozenset({"waiting_on_client"})
#: Ids people often write as numbers in JSON; taken as text.
ID_FIELDS = frozenset({"external_id", "engagement_id"})

_DATETIME = TypeAdapter(datetime)
TZ_EXAMPLE = "2026-11-23T09:00:00+08:00"


@dataclass(frozen=True)
class RowError:
    """A problem with one row: its number as a person counts it, the column, what is wrong.

    ``field`` is empty when the problem concerns the whole row.
    """

    row: int
    field: str
    message: str


#: Problems kept for the report (it prints 200): a file of bad rows does not fill memory.
ERRORS_KEPT = 1000
#: Rows kept per warning (the report names 8): every row of an unknown engagement warns.
ROWS_KEPT_PER_WARNING = 9


@dataclass
class ImportReport:
    kind: str
    path: Path
    #: Data rows in the file (blank lines not counted).
    total: int = 0
    #: Rows that passed validation and are in the store now.
    loaded: int = 0
    #: Of those, rows that were new or had different values (0 when re-importing a file).
    changed: int = 0
    #: The first `ERRORS_KEPT` problems; `error_count` counts them all.
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    #: Rows not loaded.
    failed: int = 0
    #: Loaded anyway, but worth a look (e.g. an engagement the store does not know yet); the
    #: first `ROWS_KEPT_PER_WARNING` rows of each warning.
    warnings: list[RowError] = field(default_factory=list)
    _warned: dict[str, int] = field(default_factory=dict, repr=False)

    def add_errors(self, errors: list[RowError]) -> None:
        """One row's problems: the row was not loaded."""
        self.failed += 1
        self.error_count += len(errors)
        self.errors.extend(errors[: max(0, ERRORS_KEPT - len(self.errors))])

    def add_warning(self, warning: RowError) -> None:
        seen = self._warned.get(warning.message, 0)
        self._warned[warning.message] = seen + 1
        if seen < ROWS_KEPT_PER_WARNING:
            self.warnings.append(warning)


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, wrong format, unknown columns)."""


#: Rows validated and stored per batch: memory stays bounded whatever the file's size.
BATCH_ROWS = 2000


def import_file(
    store: Store,
    kind: str,
    path: Path | str,
    *,
    at: datetime,
    encoding: str | None = None,
) -> ImportReport:
    """Validate every row of ``path`` as a ``kind`` fact and store the good ones.

    The file is read as a stream and stored in batches, all in one transaction: raises
    :class:`ImportFileError` when the file as a whole is wrong (also when that shows only
    at its end, e.g. a quote never closed); nothing is stored then. ``encoding`` names the
    file's encoding (e.g. "gbk"); by default UTF-8, or UTF-16 when the file starts with its
    byte order mark.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    path = Path(path)
    model = store.fact_model(kind)
    report = ImportReport(kind=kind, path=path)
    known = set(store.engagement_ids())
    #: external_id -> the row that loaded it (each may appear once in a file).
    first_row_of: dict[str, int] = {}
    with store.fact_writer(kind, SOURCE, at) as writer:
        batch: list[BaseModel] = []
        for number, raw in _read_rows(path, model, encoding):
            report.total += 1
            fact, errors = _validate(model, number, raw, kind)
            if fact is None:
                report.add_errors(errors)
                continue
            external_id = getattr(fact, "external_id", "")
            if external_id in first_row_of:
                report.add_errors(
                    [
                        RowError(
                            number,
                            "external_id",
                            f"{external_id} is already in row {first_row_of[external_id]}; "
                            "each external_id may appear once in a file",
                        )
                    ]
                )
                continue
            first_row_of[external_id] = number
            engagement_id = getattr(fact, "engagement_id", "")
            if engagement_id not in known:
                report.add_warning(
                    RowError(
                        number,
                        "engagement_id",
                        f"engagement {engagement_id} is not in the store (not synced yet?); "
                        "the row is loaded and counts once the deal syncs",
                    )
                )
            batch.append(fact)
            if len(batch) >= BATCH_ROWS:
                writer.add(batch)
                report.loaded += len(batch)
                batch = []
        writer.add(batch)
        report.loaded += len(batch)
    report.changed = writer.changed
    return report


# --- reading ---------------------------------------------------------------------------------

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _read_rows(
    path: Path, model: type[BaseModel], encoding: str | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {field: value}) for every data row; missing and empty values left out."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ImportFileError(
            f"cannot tell the format from the extension {path.suffix or '(none)'!r}; "
            "name the file .csv or .json"
        )
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFileError(
                f"unknown encoding {encoding!r}; e.g. utf-8, gbk, gb18030, utf-16"
            ) from None
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ImportFileError("no such file") from None
    except OSError as exc:
        raise ImportFileError(exc.strerror or str(exc)) from None
    with handle:
        start = handle.read(4)
        handle.seek(0)
        encoding = _encoding_of(start, encoding)
        lines = _decoded_lines(handle, encoding)
        if suffix == ".csv":
            yield from _csv_rows(lines, model)
        else:
            # JSON is parsed whole (the standard library has no streaming parser): for very
            # large files, CSV is read as a stream.
            yield from _json_rows("".join(lines), model)


def _decoded_lines(handle: typing.BinaryIO, encoding: str) -> Iterator[str]:
    """The file's text line by line (line ends kept), decoded as a stream; a byte sequence
    the encoding cannot decode is refused with its line number."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    pending = ""
    line = 1
    for chunk in iter(lambda: handle.read(1 << 16), b""):
        try:
            pending += decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # The line holding the bad bytes: the complete lines before them in this chunk.
            good = chunk[: max(exc.start, 0)]
            line += pending.count("\n") + _count_newlines(good, encoding)
            raise ImportFileError(_not_decodable(encoding, line, exc)) from None
        *complete, pending = pending.splitlines(keepends=True) or [""]
        if pending.endswith(("\n", "\r")):
            complete.append(pending)
            pending = ""
        line += len(complete)
        yield from complete
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ImportFileError(_not_decodable(encoding, line, exc)) from None
    if pending:
        yield pending


def _count_newlines(data: bytes, encoding: str) -> int:
    """Line feeds in `data`, bytes of a chunk that decoded well up to a bad sequence."""
    try:
        return data.decode(encoding, errors="ignore").count("\n")
    except LookupError:
        return 0


def _encoding_of(start: bytes, declared: str | None) -> str:
    """The encoding to read a file with: the declared one, else what its first bytes say."""
    if declared is not None:
        # A UTF-8 file saved by Excel starts with a BOM, which is not part of the header.
        return "utf-8-sig" if declared == "utf-8" else declared
    if start.startswith(_UTF16_BOMS):
        return "utf-16"  # the BOM says which byte order
    if len(start) >= 4 and (start[1] == 0 and start[3] == 0 or start[0] == 0 and start[2] == 0):
        raise ImportFileError(
            "looks like UTF-16 without a byte order mark; save it as UTF-8, or name its "
            "encoding: --encoding utf-16-le (or utf-16-be)"
        )
    return "utf-8-sig"


def _not_decodable(encoding: str, line: int, exc: UnicodeDecodeError) -> str:
    where = f"line {line}"
    if encoding == "utf-8-sig":
        return (
            f"not UTF-8 text ({where}); save it as UTF-8 (e.g. Excel's 'CSV UTF-8'), or name "
            "its encoding, e.g. --encoding gbk"
        )
    return f"not {encoding} text ({where}); check the encoding the file was saved with"


def _csv_rows(lines: Iterator[str], model: type[BaseModel]) -> Iterator[tuple[int, dict[str, Any]]]:
    # strict: a quote in the wrong place is an error, not a cell that swallows the rest of the
    # file (five rows read as two, the last three silently in one cell).
    reader = csv.reader(lines, strict=True)

    def records() -> Iterator[tuple[int, list[str]]]:
        while True:
            line = reader.line_num + 1  # where the record starts (a quoted cell may span lines)
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"line {line}: {_csv_problem(exc)}") from None
            yield line, record

    stream = records()
    first = next(stream, None)
    if first is None or not any(cell.strip() for cell in first[1]):
        raise ImportFileError("the file is empty; its first row must name the columns")
    header = [name.strip() for name in first[1]]
    repeated = sorted({n for n in header if n and header.count(n) > 1})
    if repeated:
        raise ImportFileError(f"the header names {', '.join(repeated)} more than once")
    _check_columns({n for n in header if n}, model)
    missing = [
        name
        for name, info in model.model_fields.items()
        if info.is_required() and name not in header
    ]
    if missing:
        raise ImportFileError(
            f"required column(s) missing: {', '.join(missing)}; "
            f"the columns are {_describe_columns(model)}"
        )
    # A record is a spreadsheet row: the header is row 1, blank lines count as rows.
    for number, (_line, record) in enumerate(stream, start=2):
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        row: dict[str, Any] = {}
        for index, cell in enumerate(cells):
            if not cell:
                continue  # an empty cell is a missing value
            if index >= len(header) or not header[index]:
                # Reported by _validate: a value in a column without a name.
                row.setdefault("", f"column {index + 1} has a value but no name in the header")
                continue
            row[header[index]] = cell
        yield number, row


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's complaint, said so that a person knows what to fix."""
    message = str(exc)
    if "unexpected end of data" in message or "EOF" in message:
        return 'a quoted cell starts in this row and is never closed (a " missing?)'
    if "expected after" in message:
        return (
            'a quote (") inside a cell: write it twice ("") within a quoted cell, '
            "or quote the whole cell"
        )
    return message


def _json_rows(text: str, model: type[BaseModel]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        # Python's parser recurses per level: 100,000 nested lists ran it out of stack.
        raise ImportFileError(
            "the JSON is nested too deeply to read; rows are objects of plain values"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise ImportFileError('expected a list of objects, or {"rows": [...]}')
    columns = {key for item in data if isinstance(item, dict) for key in item}
    _check_columns(columns, model)
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            kind = type(item).__name__ if item is not None else "null"
            rows.append((number, {"": f"expected an object with the fields, got {kind}"}))
            continue
        row = {k: v for k, v in item.items() if v is not None}
        for name in ID_FIELDS & row.keys():
            if isinstance(row[name], int) and not isinstance(row[name], bool):
                row[name] = str(row[name])
        rows.append((number, row))
    return iter(rows)


def _check_columns(columns: set[str], model: type[BaseModel]) -> None:
    unknown = sorted(columns - set(model.model_fields))
    if unknown:
        raise ImportFileError(
            f"unknown column(s): {', '.join(unknown)}; the columns are {_describe_columns(model)}"
        )


def _describe_columns(model: type[BaseModel]) -> str:
    return ", ".join(
        name + ("" if info.is_required() else " (optional)")
        for name, info in model.model_fields.items()
    )


# --- validating ------------------------------------------------------------------------------


def _validate(
    model: type[BaseModel], number: int, raw: dict[str, Any], kind: str
) -> tuple[BaseModel | None, list[RowError]]:
    if "" in raw:
        return None, [RowError(number, "", str(raw[""]))]
    errors: list[RowError] = []
    values = dict(raw)
    for name, info in model.model_fields.items():
        if name not in values:
            continue
        try:
            if name in INTERVAL_FIELDS:
                values[name] = _intervals(values[name])
            elif _is_datetime(info.annotation):
                values[name] = _aware(values[name])
        except ValueError as exc:
            errors.append(RowError(number, name, str(exc)))
    if errors:
        return None, errors
    try:
        fact = model.model_validate(values)
    except ValidationError as exc:
        return None, [_row_error(number, error, model) for error in exc.errors()]
    errors = [RowError(number, name, why) for name, why in column_misfits(kind, fact)]
    errors += _dates_in_range(number, fact)
    return (None, errors) if errors else (fact, [])


#: Dates outside these years are typing mistakes (a ticket of year 1), and some cannot even be
#: converted to UTC (0001-01-01T00:00+08:00 is in year 0).
YEARS = (1900, 2999)


def _dates_in_range(number: int, fact: BaseModel) -> list[RowError]:
    errors = []
    for name, value in fact.model_dump().items():
        values = [v for pair in value for v in pair] if name in INTERVAL_FIELDS else [value]
        for item in values:
            if isinstance(item, date) and not YEARS[0] <= item.year <= YEARS[1]:
                errors.append(
                    RowError(
                        number,
                        name,
                        f"year {item.year} is out of range; dates are between "
                        f"{YEARS[0]} and {YEARS[1]}",
                    )
                )
                break
    return errors


def _is_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return datetime in typing.get_args(annotation)
    return False


def _aware(value: Any) -> datetime:
    """A datetime with its offset, from ISO 8601 text (or a datetime)."""
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        raise ValueError(f"not a date and time: {value!r}; write e.g. {TZ_EXAMPLE}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"needs a time zone offset: {value!r}; write e.g. {TZ_EXAMPLE}")
    return parsed


def _intervals(value: Any) -> list[tuple[datetime, datetime]]:
    """``start/end;start/end`` (CSV) or ``[[start, end], ...]`` (JSON) as aware pairs."""
    if isinstance(value, str):
        pairs: list[Any] = [p.split("/") for p in value.split(";") if p.strip()]
    elif isinstance(value, list):
        pairs = value
    else:
        pairs = [value]
    shape = (
        "write start/end pairs separated by ';', e.g. "
        "2026-11-23T10:00:00+08:00/2026-11-23T15:00:00+08:00"
        if isinstance(value, str)
        else "write a list of [start, end] pairs"
    )
    result = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{pair!r} is not a start and an end; {shape}")
        start, end = (p.strip() if isinstance(p, str) else p for p in pair)
        result.append((_aware(start), _aware(end)))
    return result


def _row_error(number: int, error: Any, model: type[BaseModel]) -> RowError:
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "missing":
        return RowError(number, str(loc[0]) if loc else "", "required, but missing")
    if loc:
        name = str(loc[0])
        given = error.get("input")
        if isinstance(given, str | int | float | Decimal) and not isinstance(given, bool):
            message += f" (got {given!r})"
        return RowError(number, name, message)
    # A check across fields (e.g. resolved before opened): the first field the message names.
    named = [(message.find(n), n) for n in model.model_fields if n in message]
    return RowError(number, min(named)[1] if named else "", message)
