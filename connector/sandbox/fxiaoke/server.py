"""A local imitation of Fxiaoke's OpenAPI (纷享销客), over real HTTP, for demos and tests.

It follows research/fxiaoke_and_tools.md Part A, not our client:

- both token styles (A1): ``/cgi/corpAccessToken/get/V2`` (the same token for 6,600 s after
  issue, a new one between 6,600 and 7,200 s, each valid 7,200 s) with the token, ``corpId`` and
  ``currentOpenUserId`` in the body; ``/oauth2.0/token`` with ``authorization``/``x-fs-ea``/
  ``x-fs-userid`` headers and a fresh UUIDv4 ``thirdTraceId`` on every request. Mixing the two
  in one request is refused;
- every answer is HTTP 200 with ``errorCode`` (A6): 20016 for a token that is invalid or
  expired, 30002 once the daily quota is used, 30003 with no quota bought, 30004 past 100 calls
  per 20 s on one endpoint (A7), 10013 for an ``offset`` over 10,000 (A5);
- ``/cgi/user/getByMobile`` (A2); a user without data permission is refused with
  "无此操作的数据权限";
- preset objects on ``/cgi/crm/v2/…``, ``__c`` objects on ``/cgi/crm/custom/v2/…`` (A3);
  ``object/list``, ``object/describe``, ``data/query`` (filters, orders, projection, ``limit``
  ≤ 100, ``offset`` a multiple of ``limit``), ``data/get``, ``data/update`` (the trigger flags of
  every write are recorded; both default to true as documented), ``data/create``.

Where Fxiaoke documents no error code (a wrong secret, a reused trace id, a refused value, an
unknown object) the sandbox answers with codes of its own, in the ``SANDBOX_CODES`` below; the
client never branches on those. Time is injected (``clock``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..serving import QuietHandler, ServedOnThread
from .seed import FxPortfolio, build_fxiaoke_portfolio, describe_fields

FXIAOKE_SANDBOX_BANNER = (
    "SANDBOX FXIAOKE (纷享销客) — a local imitation of Fxiaoke's OpenAPI for demos and tests; "
    "not a real tenant"
)
TOKEN_REUSE = timedelta(seconds=6600)
TOKEN_LIFE = timedelta(seconds=7200)
CALLS_PER_WINDOW = 100
WINDOW = timedelta(seconds=20)
MAX_LIMIT = 100
MAX_OFFSET = 10_000
#: The sandbox's own codes, where Fxiaoke documents none (see the module docstring).
SANDBOX_CODES = {
    "bad_app": 20001,
    "bad_code": 20003,
    "trace_id": 20010,
    "mixed": 20011,
    "bad_request": 10001,
    "no_object": 10004,
    "no_record": 10005,
    "bad_value": 10009,
    "no_permission": 10020,
    "no_user": 10021,
}
OPERATORS = {"EQ", "N", "GT", "GTE", "LT", "LTE", "LIKE", "NLIKE", "IS", "ISN", "IN", "NIN"}


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Issued:
    value: str
    issued_at: datetime


class FxiaokeSandbox(ServedOnThread):
    thread_name = "fxiaoke-sandbox"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        deals: int = 300,
        accounts: int | None = None,
        seed: int = 7,
        opportunity_object: str = "NewOpportunityObj",
        daily_quota: int | None = None,
        quota_purchased: bool = True,
        plugin_fields: bool = True,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.opportunity_object = opportunity_object
        portfolio: FxPortfolio = build_fxiaoke_portfolio(
            seed=seed,
            accounts=accounts or max(5, deals // 5),
            deals=deals,
            now=self.clock(),
            opportunity_object=opportunity_object,
            plugin_fields=plugin_fields,
        )
        self._records = portfolio.records
        self.employees = portfolio.employees
        self.odd = portfolio.odd
        self._fields = describe_fields(opportunity_object, plugin_fields)
        self.app_id = "FSAID_sandbox0001"
        self.app_secret = "sandbox-app-secret-9f3c2a"
        self.permanent_code = "sandbox-permanent-code-71be"
        #: A permanentCode this app holds for another tenant: refused for this one.
        self.other_tenant_permanent_code = "other-tenant-permanent-code-0d4e"
        self.corp_id = "FSCID_SANDBOX001"
        self.ea = "sandbox_ea"
        self.admin = self.employees[0]
        self.no_permission_user = self.employees[1]
        self.daily_quota = daily_quota
        self.quota_purchased = quota_purchased
        self._issued: dict[str, _Issued] = {}  # style -> the token last issued
        self._valid: dict[str, datetime] = {}  # token -> expiry
        self._trace_ids: set[str] = set()
        self._window: dict[str, deque[datetime]] = {}
        self._day: tuple[str, int] = ("", 0)
        self._lock = threading.RLock()
        #: Every request: (path, style or "", the decoded body).
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        #: Every write: (path, object, id, triggerWorkFlow, triggerApprovalFlow) as received.
        self.writes: list[tuple[str, str, str, bool, bool]] = []
        #: Workflows and approvals the writes started (a write that left a flag true).
        self.workflows_started = 0
        self.approvals_started = 0
        self.tokens_issued = 0

    # --- what a test or a person does --------------------------------------------------------
    def records(self, api: str) -> dict[str, dict[str, Any]]:
        return self._records[self._api(api)]

    def field_named(self, api: str, label: str) -> str:
        """The API name of ``api``'s field labelled ``label`` (as an admin reads it in the UI)."""
        fields = self._fields[self._api(api)]
        return next(name for name, meta in fields.items() if meta["label"] == label)

    def edit(self, api: str, record_id: str, **values: Any) -> None:
        with self._lock:
            record = self.records(api)[record_id]
            record.update(values)
            record["last_modified_time"] = self._now_ms()
            record["last_modified_by"] = [self.employees[2]["userId"]]

    def remove_option(self, api: str, field: str, value: str) -> None:
        """An admin deletes a select field's option in the console."""
        with self._lock:
            meta = self._fields[self._api(api)][field]
            meta["options"] = [o for o in meta.get("options", []) if o["value"] != value]

    def invalidate(self, api: str, record_id: str) -> None:
        """作废 in the web UI: the record stays, with life_status "invalid"."""
        self.edit(api, record_id, life_status="invalid")

    def delete(self, api: str, record_id: str) -> None:
        """Deleted for good (作废, then emptied from the recycle bin)."""
        with self._lock:
            del self.records(api)[record_id]

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (20016), as after a secret reset."""
        with self._lock:
            self._valid.clear()
            self._issued.clear()

    def follow_ups(self) -> list[dict[str, Any]]:
        return list(self._records["ActiveRecordObj"].values())

    def query_offsets(self) -> list[int]:
        return [
            int(body.get("data", {}).get("search_query_info", {}).get("offset", 0))
            for path, _s, body in self.calls
            if path.endswith("/data/query")
        ]

    def _api(self, api: str) -> str:
        return self.opportunity_object if api == "opportunity" else api

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    # --- serving -----------------------------------------------------------------------------
    def _handler(self) -> type[QuietHandler]:
        sandbox = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = sandbox.answer(parts.path, parse_qs(parts.query), headers, body)
                self._send(200, answer)

            def do_GET(self) -> None:
                self._send(
                    405, {"errorCode": SANDBOX_CODES["bad_request"], "errorMessage": "POST only"}
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Sandbox-CRM", "not-a-real-CRM")
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> dict[str, Any]:
        trace = str(uuid.uuid4())
        try:
            if not isinstance(body, dict):
                raise _Refused(SANDBOX_CODES["bad_request"], "请求体不是 JSON 对象")
            with self._lock:
                result = self._route(path, query, headers, body)
            return {"errorCode": 0, "errorMessage": "OK", "traceId": trace, **result}
        except _Refused as refused:
            return {
                "errorCode": refused.code,
                "errorMessage": refused.message,
                "errorDescription": refused.message,
                "traceId": trace,
            }

    def _route(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        if path == "/cgi/corpAccessToken/get/V2":
            self.calls.append((path, "legacy", _without_secrets(body)))
            return self._token("legacy", body)
        if path == "/oauth2.0/token":
            self._trace(query)
            self.calls.append((path, "oauth2", _without_secrets(body)))
            if body.get("grantType") != "app_secret":
                raise _Refused(SANDBOX_CODES["bad_request"], "grantType 必须为 app_secret")
            return self._token("oauth2", body)
        style, user = self._authenticate(query, headers, body)
        self.calls.append((path, style, _without_secrets(body)))
        self._count(path)
        if path == "/cgi/user/getByMobile":
            mobile = body.get("mobile") or (body.get("data") or {}).get("mobile")
            people = [e for e in self.employees if e["mobile"] == mobile]
            return {"empList": [_public(e) for e in people]}
        if user is None:
            raise _Refused(SANDBOX_CODES["no_user"], "currentOpenUserId 不能为空")
        for prefix, custom in (("/cgi/crm/custom/v2/", True), ("/cgi/crm/v2/", False)):
            if path.startswith(prefix):
                return self._crm(path.removeprefix(prefix), custom, user, body)
        raise _Refused(SANDBOX_CODES["bad_request"], f"未知接口 {path}")

    # --- tokens and who is calling ---------------------------------------------------------
    def _token(self, style: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("appId") != self.app_id or body.get("appSecret") != self.app_secret:
            raise _Refused(SANDBOX_CODES["bad_app"], "appId 或 appSecret 错误")
        if body.get("permanentCode") != self.permanent_code:
            raise _Refused(SANDBOX_CODES["bad_code"], "permanentCode 无效或不属于该企业")
        now = self.clock()
        issued = self._issued.get(style)
        if issued is None or now - issued.issued_at >= TOKEN_REUSE:
            prefix = "corp" if style == "legacy" else "bearer"
            issued = _Issued(f"{prefix}-{uuid.uuid4().hex}", now)
            self._issued[style] = issued
            self._valid[issued.value] = now + TOKEN_LIFE
            self.tokens_issued += 1
        left = int((issued.issued_at + TOKEN_LIFE - now).total_seconds())
        if style == "legacy":
            return {"corpAccessToken": issued.value, "corpId": self.corp_id, "expiresIn": left}
        return {
            "accessToken": issued.value,
            "expiresIn": left,
            "appId": self.app_id,
            "ea": self.ea,
            "openUserId": self.admin["openUserId"],
        }

    def _trace(self, query: dict[str, list[str]]) -> None:
        values = query.get("thirdTraceId") or []
        try:
            trace = uuid.UUID(values[0]) if len(values) == 1 else None
        except ValueError:
            trace = None
        if trace is None or trace.version != 4 or str(trace) in self._trace_ids:
            raise _Refused(SANDBOX_CODES["trace_id"], "thirdTraceId 缺失、不是 UUIDv4 或已使用过")
        self._trace_ids.add(str(trace))

    def _authenticate(
        self, query: dict[str, list[str]], headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        bearer = headers.get("authorization", "")
        if bearer and "corpAccessToken" in body:
            raise _Refused(SANDBOX_CODES["mixed"], "不要在同一请求中混用两种鉴权方式")
        now = self.clock()
        if bearer:
            self._trace(query)
            token = bearer.removeprefix("Bearer ").strip()
            if not bearer.startswith("Bearer ") or self._valid.get(token, now) <= now:
                raise _Refused(20016, "accessToken 无效或已过期")
            if headers.get("x-fs-ea") != self.ea:
                raise _Refused(20016, "x-fs-ea 与 accessToken 不匹配")
            who = headers.get("x-fs-userid")
            return "oauth2", self._employee(who) if who else None
        token = str(body.get("corpAccessToken") or "")
        if not token.startswith("corp-") or self._valid.get(token, now) <= now:
            raise _Refused(20016, "corpAccessToken 无效或已过期")
        if body.get("corpId") != self.corp_id:
            raise _Refused(20016, "corpId 与 corpAccessToken 不匹配")
        who = body.get("currentOpenUserId")
        return "legacy", self._employee(str(who)) if who else None

    def _employee(self, who: str) -> dict[str, Any]:
        for person in self.employees:
            if who in (person["openUserId"], person["userId"]):
                return person
        raise _Refused(SANDBOX_CODES["no_user"], f"用户 {who} 不存在")

    def _count(self, path: str) -> None:
        if not self.quota_purchased:
            raise _Refused(30003, "企业未购买 OpenAPI 调用额度")
        now = self.clock()
        day = (now + timedelta(hours=8)).date().isoformat()  # counters reset at midnight, China
        used = self._day[1] + 1 if self._day[0] == day else 1
        if self.daily_quota is not None and used > self.daily_quota:
            raise _Refused(30002, "今日 OpenAPI 调用次数已用完")
        self._day = (day, used)
        calls = self._window.setdefault(path, deque())
        while calls and now - calls[0] >= WINDOW:
            calls.popleft()
        if len(calls) >= CALLS_PER_WINDOW:
            raise _Refused(30004, "接口调用过于频繁，请稍后再试")
        calls.append(now)

    # --- CRM objects -------------------------------------------------------------------------
    def _crm(
        self, action: str, custom: bool, user: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
        if action == "object/list":
            return {
                "data": {
                    "objects": [
                        {
                            "describeApiName": api,
                            "displayName": label,
                            "isActive": api in self._fields,
                            "define_type": "package",
                        }
                        for api, label in (
                            ("AccountObj", "客户"),
                            ("ContactObj", "联系人"),
                            ("OpportunityObj", "商机"),
                            ("NewOpportunityObj", "商机2.0"),
                            ("ActiveRecordObj", "销售记录"),
                        )
                    ]
                }
            }
        if not user["data_permission"]:
            raise _Refused(SANDBOX_CODES["no_permission"], "无此操作的数据权限")
        if action == "object/describe":
            api = self._object(str(data.get("apiName") or ""), custom)
            fields = {name: {"api_name": name, **meta} for name, meta in self._fields[api].items()}
            return {"data": {"describe": {"api_name": api, "fields": fields}}}
        if action == "data/query":
            return self._query(self._object(str(data.get("dataObjectApiName") or ""), custom), data)
        if action == "data/get":
            api = self._object(str(data.get("dataObjectApiName") or ""), custom)
            record = self._records[api].get(str(data.get("objectDataId")))
            if record is None:
                raise _Refused(SANDBOX_CODES["no_record"], "数据不存在")
            return {"data": self._shown(api, record)}
        if action in ("data/update", "data/create"):
            return self._write(action, custom, user, body, data)
        raise _Refused(SANDBOX_CODES["bad_request"], f"未知操作 {action}")

    def _object(self, api: str, custom: bool) -> str:
        if api not in self._fields:
            raise _Refused(SANDBOX_CODES["no_object"], f"对象 {api} 不存在")
        if api.endswith("__c") != custom:
            raise _Refused(
                SANDBOX_CODES["bad_request"],
                f"{api} 请使用{'自定义' if api.endswith('__c') else '预设'}对象接口",
            )
        return api

    def _query(self, api: str, data: dict[str, Any]) -> dict[str, Any]:
        info = data.get("search_query_info")
        if not isinstance(info, dict):
            raise _Refused(SANDBOX_CODES["bad_request"], "search_query_info 不能为空")
        limit, offset = info.get("limit", 20), info.get("offset", 0)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise _Refused(SANDBOX_CODES["bad_request"], "limit 必须在 1 到 100 之间")
        if not isinstance(offset, int) or offset < 0 or offset % limit:
            raise _Refused(SANDBOX_CODES["bad_request"], "offset 必须是 limit 的整数倍")
        if offset > MAX_OFFSET:
            raise _Refused(10013, "offset out of range 10000")
        fields = self._fields[api]
        rows = list(self._records[api].values())
        for f in info.get("filters") or []:
            rows = [r for r in rows if self._matches(r, f, fields)]
        for order in reversed(info.get("orders") or []):
            name = str(order.get("fieldName"))
            if name not in fields:
                raise _Refused(SANDBOX_CODES["bad_request"], f"排序字段 {name} 不存在")
            rows.sort(
                key=_sort_key(name, str(fields[name]["type"])), reverse=not order.get("isAsc", True)
            )
        projection = info.get("fieldProjection") or list(fields)
        unknown = [p for p in projection if p not in fields]
        if unknown:
            raise _Refused(SANDBOX_CODES["bad_request"], f"字段 {unknown[0]} 不存在")
        page = rows[offset : offset + limit]
        shown = [self._shown(api, r, ["_id", *projection]) for r in page]
        total = len(rows) if data.get("find_explicit_total_num") else 0
        return {"data": {"dataList": shown, "offset": offset, "limit": limit, "total": total}}

    def _matches(self, record: dict[str, Any], f: Any, fields: dict[str, Any]) -> bool:
        if not isinstance(f, dict) or not isinstance(f.get("field_values"), list):
            raise _Refused(SANDBOX_CODES["bad_request"], "filters 的 field_values 必须是数组")
        name, op, values = str(f.get("field_name")), str(f.get("operator")), f["field_values"]
        if name not in fields:
            raise _Refused(SANDBOX_CODES["bad_request"], f"筛选字段 {name} 不存在")
        if op not in OPERATORS:
            raise _Refused(SANDBOX_CODES["bad_request"], f"不支持的操作符 {op}")
        kind = fields[name]["type"]
        value = record.get(name)
        if op == "IS":
            return value in (None, "", [])
        if op == "ISN":
            return value not in (None, "", [])
        if op in ("LIKE", "NLIKE"):
            hit = any(str(v) in str(value or "") for v in values)
            return hit if op == "LIKE" else not hit
        have = _sortable(value, kind)
        wanted = [_sortable(v, kind) for v in values]
        if op in ("IN", "EQ"):
            return have in wanted
        if op in ("NIN", "N"):
            return have not in wanted
        if value is None:
            return False
        first = wanted[0]
        compared: dict[str, bool] = {
            "GT": have > first,
            "GTE": have >= first,
            "LT": have < first,
            "LTE": have <= first,
        }
        return compared[op]

    def _shown(
        self, api: str, record: dict[str, Any], projection: list[str] | None = None
    ) -> dict[str, Any]:
        names = projection or list(record)
        shown = {n: record.get(n) for n in names}
        for n in names:
            meta = self._fields[api].get(n, {})
            target = meta.get("target_api_name")
            if target and record.get(n):
                ref = self._records.get(target, {}).get(record[n])
                shown[f"{n}__r"] = ref["name"] if ref else None
        return shown

    def _write(
        self,
        action: str,
        custom: bool,
        user: dict[str, Any],
        body: dict[str, Any],
        data: dict[str, Any],
    ) -> dict[str, Any]:
        values = data.get("object_data")
        if not isinstance(values, dict):
            raise _Refused(SANDBOX_CODES["bad_request"], "data.object_data 不能为空")
        api = self._object(str(values.get("dataObjectApiName") or ""), custom)
        # Both default to true (A3): a write that does not say false starts them.
        workflow = body.get("triggerWorkFlow", True) is not False
        approval = body.get("triggerApprovalFlow", True) is not False
        fields = self._fields[api]
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("dataObjectApiName", "_id"):
                continue
            if name not in fields:
                raise _Refused(SANDBOX_CODES["bad_value"], f"字段 {name} 不存在")
            if fields[name].get("define_type") == "system":
                raise _Refused(SANDBOX_CODES["bad_value"], f"字段 {name} 是系统字段，不能修改")
            checked[name] = self._checked(name, fields[name], value)
        now = self._now_ms()
        if action == "data/update":
            record_id = str(values.get("_id") or "")
            record = self._records[api].get(record_id)
            if record is None:
                raise _Refused(SANDBOX_CODES["no_record"], "数据不存在")
            if "owner" in checked:
                raise _Refused(SANDBOX_CODES["bad_value"], "负责人请使用 changeOwner 接口修改")
        else:
            record_id = f"65f1{uuid.uuid4().hex[:20]}"
            related = checked.get("related_object_data") or []
            for ref in related if isinstance(related, list) else []:
                target = self._records.get(str(ref.get("describe_api_name")), {})
                if str(ref.get("id")) not in target:
                    raise _Refused(SANDBOX_CODES["no_record"], "关联对象数据不存在")
            record = {
                "_id": record_id,
                "create_time": now,
                "created_by": [user["userId"]],
                "owner": [user["userId"]],
                "life_status": "normal",
                "name": record_id,
            }
            self._records[api][record_id] = record
        self.writes.append((action, api, record_id, workflow, approval))
        self.workflows_started += workflow
        self.approvals_started += approval
        record.update(checked)
        record["last_modified_time"] = now
        record["last_modified_by"] = [user["userId"]]
        return {"dataId": record_id, "data": {"_id": record_id}}

    @staticmethod
    def _checked(name: str, meta: dict[str, Any], value: Any) -> Any:
        """A written value as the field's type takes it (A4's formats), or a refusal."""
        kind = meta["type"]
        bad = _Refused(
            SANDBOX_CODES["bad_value"], f"字段 {name}（{meta['label']}）的值不合法: {value!r}"
        )
        if value is None:
            return None
        if kind in ("number", "currency"):
            if isinstance(value, bool):
                raise bad
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise bad from None
            if not number.is_finite():
                raise bad
            return str(value)
        if kind in ("date", "date_time"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad  # epoch milliseconds only
            return value
        if kind == "select_one":
            if str(value) not in {o["value"] for o in meta.get("options", [])}:
                raise bad
            return str(value)
        if kind == "employee":
            if not isinstance(value, list):
                raise bad
            return [str(v) for v in value]
        if kind == "text" and name == "related_object_data":
            return value
        if isinstance(value, dict | list):
            raise bad
        return value


def _sort_key(name: str, kind: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: _sortable(record.get(name), kind)


def _sortable(value: Any, kind: str) -> Any:
    if kind in ("number", "currency", "date", "date_time"):
        try:
            return (0, Decimal(str(value)))
        except InvalidOperation:
            return (1, str(value))
    if isinstance(value, list):
        return (0, ",".join(str(v) for v in value))
    return (0 if value is not None else 1, "" if value is None else str(value))


def _without_secrets(body: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in body.items() if k not in ("appSecret", "permanentCode", "corpAccessToken")
    }


def _public(person: dict[str, Any]) -> dict[str, Any]:
    return {k: person[k] for k in ("openUserId", "userId", "name", "mobile")}
