"""The Zoho sandbox's reads: Get Records with page/page_token, by id, deleted records, COQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import coql
from .common import (
    _DISCRETE_LIMIT,
    _MAX_FIELDS,
    _MAX_PAGE_TOKENS,
    _MAX_PER_PAGE,
    _MAX_WRITE,
    _PAGE_TOKEN_LIMIT,
    _PAGE_TOKEN_TTL,
    _SORT_FIELDS,
    _bad_header,
    _bad_param,
    _Cursor,
    _error,
    _int_param,
    _invalid_module,
    _Reply,
    _select_query,
    _since_key,
)
from .seed import (
    iso,
)
from .state import ZohoState


@dataclass(frozen=True)
class _Window:
    """Which stored ids one Get Records answer pages through, and from where."""

    ids: list[str]
    offset: int
    #: How far this kind of paging reaches (§2: 2,000 by ``page``, 100,000 by ``page_token``).
    limit: int
    page: int
    sort_by: str
    sort_order: str


class RecordReads(ZohoState):
    """GET /{module}, /{module}/{id}, /{module}/deleted and POST /coql (§2, §3)."""

    # ---- POST /coql (§3; connector/sandbox/zoho/coql.py)

    def _coql(self, raw: bytes) -> _Reply:
        text = _select_query(raw)
        if text is None:
            self._charge(1)
            return _Reply(
                400,
                _error(
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "select_query"},
                ),
            )

        def known(module: str) -> set[str] | None:
            index = self._field_index.get(module)
            return set(index) if index is not None else None

        try:
            parsed = coql.parse(text, known)
        except coql.CoqlError as exc:
            self._charge(1)  # UNCONFIRMED: what a refused query costs
            return _Reply(400, _error(exc.code, exc.message, exc.details))
        self._charge(coql.credits_for(parsed.limit))
        with self._lock:
            records = [dict(r) for r in self._store[parsed.module].values()]
        rows, more = coql.run(parsed, records)
        if not rows:
            return _Reply(204)
        return _Reply(200, {"data": rows, "info": {"count": len(rows), "more_records": more}})

    def _get_records(self, module: str, query: dict[str, str], ims_header: str | None) -> _Reply:
        if module not in self._store:
            return _Reply(400, _invalid_module())
        names = self._requested_fields(module, query)
        if isinstance(names, _Reply):
            return names
        if "ids" in query:
            return self._get_records_by_ids(module, names, query["ids"])
        per_page = _int_param(query, "per_page", _MAX_PER_PAGE)
        if per_page is None or not 1 <= per_page <= _MAX_PER_PAGE:
            return _bad_param("per_page")  # UNCONFIRMED: Zoho's exact response to a bad value
        page_token = query.get("page_token")
        if page_token is not None and "page" in query:
            return _Reply(
                400,  # v3 doc: page cannot be combined with page_token (§2)
                _error(
                    "INVALID_REQUEST",
                    "page and page_token cannot be given together",
                    {"param_names": ["page", "page_token"]},
                ),
            )
        now = self._now()
        if page_token is not None:
            window = self._token_window(module, page_token, per_page, now)
        else:
            window = self._discrete_window(module, query, per_page, ims_header)
        if isinstance(window, _Reply):
            return window
        return self._records_page(module, names, window, per_page, now, ims_header)

    def _requested_fields(self, module: str, query: dict[str, str]) -> list[str] | _Reply:
        """The ``fields`` of a Get Records call (§2: required, at most 50, each known)."""
        raw_fields = query.get("fields")
        if raw_fields is None or not raw_fields.strip():
            return _Reply(
                400,
                _error(
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "fields"},
                ),
            )
        names = list(dict.fromkeys(n.strip() for n in raw_fields.split(",") if n.strip()))
        if len(names) > _MAX_FIELDS:
            return _Reply(
                400,
                _error(
                    "LIMIT_EXCEEDED",
                    "the given fields exceeds the maximum limit of 50",
                    {"limit": _MAX_FIELDS, "param_name": "fields"},
                ),
            )
        index = self._field_index[module]
        for name in names:
            if name not in index:
                return _Reply(400, _error("INVALID_DATA", "invalid data", {"api_name": name}))
        return names

    def _token_window(
        self, module: str, page_token: str, per_page: int, now: datetime
    ) -> _Window | _Reply:
        """The page a ``page_token`` continues: its snapshot of ids from its offset (§2)."""
        with self._lock:
            cursor = self._cursors.get(page_token)
        if cursor is None or cursor.module != module or now >= cursor.expires:
            # UNCONFIRMED: the code Zoho uses for an unknown/expired page_token.
            return _Reply(
                400,
                _error("INVALID_DATA", "invalid page_token", {"param_name": "page_token"}),
            )
        if cursor.offset >= _PAGE_TOKEN_LIMIT:
            return _Reply(
                400,
                _error(
                    "PAGINATION_LIMIT_EXCEEDED",
                    "You can only get the first 100000 records using page_token param",
                    {"limit": _PAGE_TOKEN_LIMIT},
                ),
            )
        return _Window(
            ids=cursor.ids,
            offset=cursor.offset,
            limit=_PAGE_TOKEN_LIMIT,
            page=cursor.offset // per_page + 1,
            sort_by=cursor.sort_by,
            sort_order=cursor.sort_order,
        )

    def _discrete_window(
        self, module: str, query: dict[str, str], per_page: int, ims_header: str | None
    ) -> _Window | _Reply:
        """The page ``page`` picks among the records matching now (§2: first 2,000 only)."""
        page = _int_param(query, "page", 1)
        if page is None or page < 1:
            return _bad_param("page")
        if page * per_page > _DISCRETE_LIMIT:
            return _Reply(
                400,
                _error(
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "You can only get the first 2000 records without using page_token param",
                    {"limit": _DISCRETE_LIMIT},
                ),
            )
        sort_by = query.get("sort_by", "id")
        sort_order = query.get("sort_order", "asc")
        if sort_by not in _SORT_FIELDS:
            return _bad_param("sort_by")
        if sort_order not in ("asc", "desc"):
            return _bad_param("sort_order")
        since = _ims_since(ims_header)
        if isinstance(since, _Reply):
            return since
        return _Window(
            ids=self._matching_ids(module, sort_by, sort_order, since),
            offset=(page - 1) * per_page,
            limit=_DISCRETE_LIMIT,
            page=page,
            sort_by=sort_by,
            sort_order=sort_order,
        )

    def _records_page(
        self,
        module: str,
        names: list[str],
        window: _Window,
        per_page: int,
        now: datetime,
        ims_header: str | None,
    ) -> _Reply:
        """One answer of Get Records: the window's rows, a page_token for the rest (§2)."""
        ids, offset = window.ids, window.offset
        end = min(offset + per_page, window.limit)
        store = self._store[module]
        rows: list[dict[str, Any]] = []
        with self._lock:
            for rid in ids[offset:end]:
                record = store.get(rid)
                if record is None:  # deleted since the page_token snapshot was taken
                    continue
                rows.append(self._row(record, names))
        if not rows:
            # §2: 304 when If-Modified-Since was sent and nothing matches; 204 otherwise.
            return _Reply(304 if ims_header is not None else 204)

        more = end < len(ids)
        next_token: str | None = None
        token_expiry: str | None = None
        if more:
            # Issued on every page so a client can switch from `page` to `page_token` anytime.
            # UNCONFIRMED: the token is a server-side cursor over a snapshot of matching ids.
            next_token = self._random_hex(64)  # ≤96 chars (§2)
            expires = now + _PAGE_TOKEN_TTL
            token_expiry = iso(expires)
            cursor = _Cursor(module, ids, end, window.sort_by, window.sort_order, expires)
            with self._lock:
                self._cursors[next_token] = cursor
                while len(self._cursors) > _MAX_PAGE_TOKENS:
                    self._cursors.popitem(last=False)
        info = {
            "per_page": per_page,
            "count": len(rows),
            "page": window.page,
            "more_records": more,
            "sort_by": window.sort_by,
            "sort_order": window.sort_order,
            "next_page_token": next_token,
            "previous_page_token": None,
            "page_token_expiry": token_expiry,
        }
        return _Reply(200, {"data": rows, "info": info})

    def _get_records_by_ids(self, module: str, names: list[str], raw_ids: str) -> _Reply:
        """Get Records with ``ids=a,b,c`` ([OAS] getRecords ``ids``; [SDK] GetRecordsParam.ids):
        the named records in the order given, paging parameters ignored.

        UNCONFIRMED: the maximum number of ids (100 is assumed, as for writes, §4) and whether
        unknown ids are left out silently (assumed) or refused; an id that is not a number is
        refused as INVALID_DATA on ``ids``.
        """
        ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
        if not ids or len(ids) > _MAX_WRITE or not all(i.isdigit() for i in ids):
            return _bad_param("ids")
        store = self._store[module]
        with self._lock:
            rows = [self._row(store[rid], names) for rid in dict.fromkeys(ids) if rid in store]
        if not rows:
            return _Reply(204)
        info = {"per_page": len(rows), "count": len(rows), "page": 1, "more_records": False}
        return _Reply(200, {"data": rows, "info": info})

    def _row(self, record: dict[str, Any], names: list[str]) -> dict[str, Any]:
        """The answer's copy of ``record`` holding ``names`` (and always its id)."""
        row: dict[str, Any] = {"id": record["id"]}
        for name in names:
            row[name] = record.get(name)
        if "What_Id" in names and "$se_module" in record:
            # Activities name the module of What_Id beside it (§7); it is not a field
            # one asks for. UNCONFIRMED whether Zoho also accepts it in `fields`.
            row["$se_module"] = record["$se_module"]
        return row

    # ---- GET /{module}/{id}

    def _get_record(self, module: str, record_id: str, query: dict[str, str]) -> _Reply:
        """One record by id ([SDK] RecordOperations.get_record). ``fields`` is optional here:
        without it every field is returned (UNCONFIRMED for v8; older versions did so)."""
        if module not in self._store:
            return _Reply(400, _invalid_module())
        index = self._field_index[module]
        raw_fields = query.get("fields")
        names = (
            list(dict.fromkeys(n.strip() for n in raw_fields.split(",") if n.strip()))
            if raw_fields
            else [name for name in index if name != "id"]
        )
        for name in names:
            if name not in index:
                return _Reply(400, _error("INVALID_DATA", "invalid data", {"api_name": name}))
        with self._lock:
            record = self._store[module].get(record_id)
            row = self._row(record, names) if record is not None else None
        if row is None:
            # UNCONFIRMED: Zoho's answer for an id that names no record of the module; the
            # per-record error of §4 is used, as a top-level 400.
            return _Reply(
                400,
                _error(
                    "INVALID_DATA",
                    "the related id given seems to be invalid",
                    {"api_name": "id", "resource_path_index": 1},
                ),
            )
        return _Reply(200, {"data": [row]})

    def _matching_ids(
        self, module: str, sort_by: str, sort_order: str, since: str | None
    ) -> list[str]:
        # Stored datetimes are all "YYYY-MM-DDTHH:MM:SS+00:00", so string order is time order
        # and `since` (normalised the same way) compares directly. Ids are 19-digit strings.
        with self._lock:
            records = list(self._store[module].values())
        if since is not None:
            if self._ims_exclusive():
                records = [r for r in records if (r.get("Modified_Time") or "") > since]
            else:
                records = [r for r in records if (r.get("Modified_Time") or "") >= since]
        reverse = sort_order == "desc"
        if sort_by == "id":
            records.sort(key=lambda r: (len(r["id"]), r["id"]), reverse=reverse)
        else:
            records.sort(key=lambda r: (r.get(sort_by) or "", r["id"]), reverse=reverse)
        return [r["id"] for r in records]

    # ---- GET /{module}/deleted (§2 "Deleted records")

    def _get_deleted(self, module: str, query: dict[str, str], ims_header: str | None) -> _Reply:
        if module not in self._store:
            return _Reply(400, _invalid_module())
        kind = query.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            return _bad_param("type")
        per_page = _int_param(query, "per_page", _MAX_PER_PAGE)
        if per_page is None or not 1 <= per_page <= _MAX_PER_PAGE:
            return _bad_param("per_page")
        page = _int_param(query, "page", 1)
        if page is None or page < 1:
            return _bad_param("page")
        since = _ims_since(ims_header)
        if isinstance(since, _Reply):
            return since
        with self._lock:
            items = [dict(d) for d in self._deleted[module]]
        if kind == "permanent":
            items = []  # the sandbox only ever moves records to the recycle bin
        if since is not None:
            if self._ims_exclusive():
                items = [d for d in items if d["deleted_time"] > since]
            else:
                items = [d for d in items if d["deleted_time"] >= since]
        # UNCONFIRMED: ordering of deleted records; newest first is assumed.
        items.sort(key=lambda d: (d["deleted_time"], d["id"]), reverse=True)
        offset = (page - 1) * per_page
        chunk = items[offset : offset + per_page]
        if not chunk:
            return _Reply(304 if ims_header is not None else 204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": offset + per_page < len(items),
        }
        return _Reply(200, {"data": chunk, "info": info})


def _ims_since(header: str | None) -> str | None | _Reply:
    """The stored-form instant an If-Modified-Since asks from (None: not sent), or the 400."""
    if header is None:
        return None
    try:
        return _since_key(header)
    except ValueError:
        return _bad_header("If-Modified-Since")
