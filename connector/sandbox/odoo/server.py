"""Sandbox Odoo: a local HTTP imitation of Odoo's external APIs for demos and tests.

It speaks JSON-2 (``POST /json/2/<model>/<method>``, Odoo 19+), JSON-RPC (``POST /jsonrpc``,
16–21) and XML-RPC (``/xmlrpc/2/common``, ``/xmlrpc/2/object``) with Odoo's error shapes, per
research/odoo.md (§n below). ``version`` picks what the
server is: 19 answers ``/web/version`` and serves both APIs (JSON-RPC deprecated but active);
16–18 have no ``/web/version`` and no JSON-2 (404). It is NOT Odoo and never talks to one.

Every call is logged as ``(api, model, method)`` so tests can assert exact call counts.
Only the standard library is used, like the Zoho sandbox.
"""

from __future__ import annotations

import json
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..faults import Fault as InjectedFault
from ..faults import FaultInjector, FaultKind, FaultPlan
from ..serving import QuietHandler, ServedOnThread
from .methods import Fault
from .orm import OdooModels
from .seed import build_odoo_portfolio

ODOO_SANDBOX_BANNER = (
    "SANDBOX ODOO — a local imitation of Odoo's JSON-2 and JSON-RPC APIs for demos and tests. "
    "Not a real Odoo; nothing here reaches one."
)
#: Odoo's login cooldown: after this many failures the login is refused for a while (§6).
LOGIN_COOLDOWN_AFTER = 10
_TRACEBACK = "Traceback (most recent call last):\n  (sandbox: no real traceback)\n"


class OdooSandbox(ServedOnThread):
    """A local Odoo lookalike (see module docstring). Thread-safe."""

    thread_name = "sandbox-odoo"

    def __init__(
        self,
        *,
        accounts: int = 120,
        deals: int = 300,
        seed: int = 7,
        version: int = 19,
        clock: Callable[[], datetime] | None = None,
        database: str = "engage-sandbox",
        login: str = "integration@sandbox-crm.example",
        api_key: str = "sandbox-odoo-api-key-0123456789",
        plugin_fields: bool = True,
        legacy_disabled: bool = False,
    ) -> None:
        """``legacy_disabled``: /jsonrpc answers 404, as when the deprecated API is switched off
        (UNCONFIRMED, §0). ``plugin_fields=False``: the plugin's x_ fields do not exist yet."""
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.version = version
        self.database = database
        self.login = login
        self.api_key = api_key
        self.legacy_disabled = legacy_disabled
        portfolio = build_odoo_portfolio(
            seed=seed,
            accounts=accounts,
            deals=deals,
            now=self._clock(),
            plugin_fields=plugin_fields,
        )
        self.models = OdooModels(
            portfolio, clock=self._clock, plugin_fields=plugin_fields, version=version
        )
        self.odd_leads = portfolio.odd_leads
        self.lost_leads = portfolio.lost_leads
        self.calls: list[tuple[str, str, str]] = []
        self.login_failures = 0
        self._key_expired = False
        self._calls_lock = threading.Lock()
        #: The shared fault plan (faults.py), consulted once per model call (not for
        #: common/db/version calls): before the call, or after it ran (its answer lost).
        self.faults: FaultInjector | None = None
        #: Targeted after-faults: [method, model or None, kind, calls left].
        self._strikes: list[list[Any]] = []

    def _handler(self) -> type[QuietHandler]:
        return _make_handler(self)

    # ------------------------------------------------------------------ test helpers
    def count(self, method: str, model: str | None = None, api: str | None = None) -> int:
        """Calls of ``method`` (on ``model``, over ``api``) since start or reset_calls()."""
        with self._calls_lock:
            return sum(
                1
                for a, m, name in self.calls
                if name == method and (model is None or m == model) and (api is None or a == api)
            )

    def reset_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    def records(self, model: str) -> dict[int, dict[str, Any]]:
        return self.models.records[model]

    def edit(self, model: str, record_id: int, **values: Any) -> None:
        """A person editing in Odoo: values stored as given, write_date bumped."""
        with self.models.lock:
            row = self.models.records[model][record_id]
            row.update(values)
            row["write_date"] = self.models.now()

    def mark_lost(self, lead_id: int) -> None:
        """``action_set_lost``: archive and set probability 0 (§3); the stage stays."""
        self.edit("crm.lead", lead_id, active=False, probability=0.0)

    def delete(self, model: str, record_id: int) -> None:
        """``unlink``: the record is gone and Odoo keeps no tombstone (§3)."""
        with self.models.lock:
            del self.models.records[model][record_id]

    def expire_api_key(self) -> None:
        """The key passed its expiration date (18+, §1): every later call is refused."""
        self._key_expired = True

    def restrict_field(self, model: str, field: str) -> None:
        """Field groups keep the API user away from ``field`` (AccessError)."""
        self.models.restricted.add((model, field))

    def install_faults(self, plan: FaultPlan) -> FaultInjector:
        """Misbehave from now on as ``plan`` says (see faults.py); returns the injector."""
        self.faults = FaultInjector(plan)
        return self.faults

    def lose_answer_after(
        self,
        method: str,
        model: str | None = None,
        *,
        times: int = 1,
        kind: FaultKind = FaultKind.RESET,
    ) -> None:
        """The next ``times`` calls of ``method`` (on ``model``) RUN — records change — and
        then the answer is lost: the connection reset, or a 502 from the proxy in front."""
        with self._calls_lock:
            self._strikes.append([method, model, kind, times])

    def _fault_for(self, model: str, method: str) -> InjectedFault | None:
        with self._calls_lock:
            for strike in self._strikes:
                if strike[0] == method and strike[1] in (None, model) and strike[3] > 0:
                    strike[3] -= 1
                    status = 502 if strike[2] is FaultKind.SERVER_ERROR else 0
                    return InjectedFault(strike[2], after=True, status=status)
        if self.faults is None:
            return None
        return self.faults.on_api_call(lambda: None)  # Odoo keys do not expire per call

    def _run_with_faults(self, model: str, method: str, run: Callable[[], Any]) -> Any:
        fault = self._fault_for(model, method)
        if fault is not None and not fault.after:
            raise _LostAnswer(fault)
        result = run()
        if fault is not None:
            raise _LostAnswer(fault)
        return result

    def refuse_load(self) -> None:
        """``load`` answers AccessError from now on (the import API refused to this user)."""
        self.models.load_allowed = False

    def refuse_writes_to(self, model: str, record_id: int, message: str) -> None:
        """A customisation's constraint refuses every write to this record (ValidationError),
        whether it comes through ``write`` or ``load``."""
        self.models.refuse_writes[(model, record_id)] = message

    def uninstall_crm(self) -> None:
        self.models.crm_installed = False

    # ------------------------------------------------------------------ internals
    def _log(self, api: str, model: str, method: str) -> None:
        with self._calls_lock:
            self.calls.append((api, model, method))

    def _key_ok(self, key: Any) -> bool:
        return not self._key_expired and key == self.api_key

    def _json2(self, model: str, method: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self._log("json2", model, method)
        if "json" not in (headers.get("Content-Type") or ""):
            return 415, _json2_error("werkzeug.exceptions.UnsupportedMediaType", "JSON expected")
        database = headers.get("X-Odoo-Database")
        if database and database != self.database:
            # UNCONFIRMED: what 19 answers for an unknown X-Odoo-Database; a 404 naming it here.
            return 404, _json2_error(
                "werkzeug.exceptions.NotFound", f"database {database!r} not found"
            )
        scheme, _, key = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not self._key_ok(key.strip()):
            self.login_failures += 1
            return 401, _json2_error("werkzeug.exceptions.Unauthorized", "Invalid apikey")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, _json2_error("werkzeug.exceptions.BadRequest", "Invalid JSON data")
        if not isinstance(payload, dict):
            return 400, _json2_error("werkzeug.exceptions.BadRequest", "JSON object expected")
        ids = payload.pop("ids", None)
        if model not in self.models.fields or (
            model.startswith("crm.") and not self.models.crm_installed
        ):
            # env[model] raises KeyError, which the JSON-2 controller turns into NotFound (§2).
            return 404, _json2_error(
                "werkzeug.exceptions.NotFound",
                "404 Not Found: The requested URL was not found on the server.",
            )
        try:
            return 200, self._run_with_faults(
                model, method, lambda: self.models.call_json2(model, method, ids, payload)
            )
        except Fault as fault:
            return fault.http_status, _json2_error(fault.name, fault.message)

    def _jsonrpc(self, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
            params = request.get("params") or {}
            service, method, args = params["service"], params["method"], list(params["args"])
        except (ValueError, KeyError, TypeError, AttributeError):
            self._log("jsonrpc", "?", "?")
            return 200, _rpc_error(None, "werkzeug.exceptions.BadRequest", "Invalid JSON-RPC")
        rid = request.get("id")
        if self.legacy_disabled:
            self._log("jsonrpc", service, method)
            return 404, {"error": "not found"}
        try:
            result = self._service("jsonrpc", service, method, args)
            return 200, {"jsonrpc": "2.0", "id": rid, "result": result}
        except Fault as fault:
            return 200, _rpc_error(rid, fault.name, fault.message)

    def _xmlrpc(self, endpoint: str, body: bytes, *, legacy: bool = False) -> tuple[int, Any]:
        """``/xmlrpc/2/<service>`` (integer fault codes) or the legacy ``/xmlrpc/<service>``
        (string fault codes, e.g. ``'warning -- AccessError\\n\\n<msg>'``), §1."""
        try:
            params, method = xmlrpc.client.loads(body, use_builtin_types=True)
        except Exception:  # noqa: BLE001 - any unreadable body is the client's error
            self._log("xmlrpc", endpoint, "?")
            return 400, "<html><body>Bad Request</body></html>"
        if self.legacy_disabled:
            self._log("xmlrpc", endpoint, method or "?")
            return 404, "<html><body><h1>404: Page not found</h1></body></html>"
        try:
            result = self._service("xmlrpc", endpoint, str(method), list(params))
            if result is None:  # OdooMarshaller(allow_none=False), §1
                raise Fault(
                    "builtins.TypeError", "cannot marshal None unless allow_none is enabled"
                )
            return 200, _Xml(xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False))
        except Fault as fault:
            answer = _legacy_xml_fault(fault) if legacy else _xml_fault(fault)
            return 200, _Xml(xmlrpc.client.dumps(answer, allow_none=False))

    def _service(self, api: str, service: str, method: str, args: list[Any]) -> Any:
        """``common``, ``db`` and ``object`` (``execute_kw``, ``execute``): odoo/service/*.py
        ``dispatch``, shared by JSON-RPC and both XML-RPC paths."""
        if service == "common":
            self._log(api, "common", method)
            return self._common(method, args)
        if service == "db":
            self._log(api, "db", method)
            return self._db(method, args)
        if service == "object" and method in ("execute_kw", "execute"):
            if len(args) < 5:
                self._log(api, "object", method)
                raise Fault("builtins.TypeError", f"{method}() takes at least 5 arguments")
            db, uid, key, model, name = args[:5]
            self._log(api, str(model), str(name))
            self._check_db(db)
            if uid != self.models.uid or not self._key_ok(key):
                self.login_failures += 1
                raise Fault("odoo.exceptions.AccessDenied", "Access Denied")
            if method == "execute":  # execute(db, uid, pw, model, method, *args): no kwargs
                call_args, kwargs = list(args[5:]), dict[str, Any]()
            else:
                call_args = args[5] if len(args) > 5 else []
                kwargs = args[6] if len(args) > 6 and args[6] else {}
            if not isinstance(call_args, list) or not isinstance(kwargs, dict):
                raise Fault("builtins.TypeError", "execute_kw takes a list and a dict")
            return self._run_with_faults(
                str(model), str(name), lambda: self.models.call_kw(model, name, call_args, kwargs)
            )
        self._log(api, service, method)
        raise Fault("builtins.NameError", f"{service}.{method} is not a known service method")

    def _db(self, method: str, args: list[Any]) -> Any:
        """The ``db`` service (odoo/service/db.py): ``list`` needs ``list_db`` (on by default),
        ``server_version`` is the release string; management methods need the master
        password, which the sandbox has none of (refused as AccessDenied)."""
        if method == "list":
            return [self.database]
        if method == "server_version":
            return f"{self.version}.0"
        if method == "db_exist":
            return bool(args) and args[0] == self.database
        if method in ("create_database", "drop", "dump", "restore", "duplicate_database"):
            raise Fault("odoo.exceptions.AccessDenied", "Access Denied")
        raise Fault("builtins.KeyError", f"db.{method} does not exist")

    def version_info(self) -> dict[str, Any]:
        """``common.version()`` (odoo/service/common.py ``exp_version``), same on every path."""
        return {
            "server_version": f"{self.version}.0",
            "server_version_info": [self.version, 0, 0, "final", 0, ""],
            "server_serie": f"{self.version}.0",
            "protocol_version": 1,
        }

    def _doc_bearer(self, model: str, headers: Any) -> tuple[int, Any]:
        """``GET /doc-bearer/<model>.json`` (19+): the method signatures odoo-client-lib's
        JSON-2 connector reads to map positional arguments to names (odoolib/json2.py reads
        ``methods.<name>.parameters`` in order and ``"model" in methods.<name>.api``). The page
        itself is "under construction" in Odoo's docs: shape UNCONFIRMED beyond those keys."""
        self._log("http", model, "doc-bearer")
        scheme, _, key = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not self._key_ok(key.strip()):
            return 401, _json2_error("werkzeug.exceptions.Unauthorized", "Invalid apikey")
        if model not in self.models.fields:
            return 404, _json2_error("werkzeug.exceptions.NotFound", f"no model {model!r}")
        methods = {}
        for name, spec in self.models.specs.items():
            if name == "context_get" and model != "res.users":
                continue
            parameters = {
                p.name: ({"default": p.default} if p.default is not p.empty else {})
                for p in spec.signature.parameters.values()
                if p.kind is not p.VAR_KEYWORD
            }
            api = ["model"] if spec.api != "multi" else []
            methods[name] = {"api": api, "parameters": parameters}
        return 200, {"model": model, "fields": self.models.fields[model], "methods": methods}

    def _check_db(self, database: Any) -> None:
        if database != self.database:
            raise Fault(
                "psycopg2.OperationalError",
                'connection to server at "localhost", port 5432 failed: FATAL:  database '
                f'"{database}" does not exist',
            )

    def _common(self, method: str, args: list[Any]) -> Any:
        if method == "version":
            return self.version_info()
        if method in ("authenticate", "login"):
            database, login, key = args[:3]
            self._check_db(database)
            if self.login_failures >= LOGIN_COOLDOWN_AFTER:
                raise Fault(
                    "odoo.exceptions.AccessDenied",
                    "Too many login failures, please wait a bit before trying again.",
                )
            if login != self.login or not self._key_ok(key):
                self.login_failures += 1
                return False  # §1: a refused login is False, not a fault
            return self.models.uid
        raise Fault("builtins.AttributeError", f"common.{method} does not exist")


def _request_id(body: bytes) -> Any:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    return request.get("id") if isinstance(request, dict) else None


class _LostAnswer(Exception):
    """An injected fault: answer in Odoo's place, or close the socket without an answer."""

    def __init__(self, fault: InjectedFault) -> None:
        super().__init__(fault.kind.value)
        self.fault = fault


class _Xml(str):
    """An XML-RPC body (sent as text/xml)."""


#: /xmlrpc/2 fault codes (§1): the class name is not sent for 2–4.
_FAULT_CODES = {
    "odoo.exceptions.UserError": 2,
    "odoo.exceptions.ValidationError": 2,
    "odoo.exceptions.MissingError": 2,
    "odoo.exceptions.AccessDenied": 3,
    "odoo.exceptions.AccessError": 4,
}


def _xml_fault(fault: Fault) -> xmlrpc.client.Fault:
    code = _FAULT_CODES.get(fault.name, 1)
    text = fault.message if code != 1 else f"{_TRACEBACK}{fault.name}: {fault.message}"
    return xmlrpc.client.Fault(code, text)


def _legacy_xml_fault(fault: Fault) -> xmlrpc.client.Fault:
    """Legacy ``/xmlrpc/<service>``: ``xmlrpc_handle_exception_string`` puts the class in a
    string fault code (odoo/addons/base/controllers/rpc.py, 16-era; §1)."""
    short = fault.name.rsplit(".", 1)[-1]
    code: Any  # xmlrpc.client.Fault is typed int, Odoo's legacy path sends a string
    if fault.name == "odoo.exceptions.AccessDenied":
        code, text = "AccessDenied", fault.message
    elif fault.name.startswith("odoo.exceptions."):
        kind = short if short in ("MissingError", "AccessError") else "UserError"
        code, text = f"warning -- {kind}\n\n{fault.message}", ""
    else:
        code, text = f"{short}: {fault.message}", _TRACEBACK
    return xmlrpc.client.Fault(code, text)


def _json2_error(name: str, message: str) -> dict[str, Any]:
    """JSON-2 error body (§2): status carries the class, the body names it."""
    return {
        "name": name,
        "message": message,
        "arguments": [message],
        "context": {},
        "debug": _TRACEBACK,
    }


def _rpc_error(rid: Any, name: str, message: str) -> dict[str, Any]:
    """JSON-RPC error inside an HTTP 200 (§1); clients must branch on data.name."""
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "error": {
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": name,
                "message": message,
                "arguments": [message],
                "context": {},
                "debug": _TRACEBACK,
            },
        },
    }


def _make_handler(odoo: OdooSandbox) -> type[QuietHandler]:
    """The request handler class bound to ``odoo``.

    Long only as a class body is: each of its methods is short, and the class must close over
    ``odoo`` because ``http.server`` builds one handler per request from the class alone.
    """

    class Handler(QuietHandler):
        server_version = "SandboxOdoo/1.0"

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            try:
                status, payload = self._route(method, path, body)
            except _LostAnswer as lost:
                fault = lost.fault
                if fault.kind is FaultKind.RATE_LIMITED:
                    status, payload = 429, "<html><body>429 Too Many Requests</body></html>"
                elif fault.kind is FaultKind.SERVER_ERROR:
                    status = fault.status or 502
                    payload = f"<html><body>{status} Bad Gateway</body></html>"
                else:
                    if fault.kind is FaultKind.TIMEOUT and odoo.faults is not None:
                        time.sleep(odoo.faults.plan.timeout_hold_seconds)  # past the timeout
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)  # socket.SHUT_RDWR: no answer at all
                    except OSError:
                        pass
                    return
            except Exception as exc:  # noqa: BLE001 - keep serving; surface the bug
                status, payload = 500, _json2_error("builtins.Exception", f"sandbox: {exc!r}")
            self._send(status, payload)

        def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
            if path == "/" and method == "GET":
                return 200, ODOO_SANDBOX_BANNER + "\n"
            if path == "/web/version" and odoo.version >= 19:
                odoo._log("http", "web", "version")
                return 200, {
                    "version_info": [odoo.version, 0, 0, "final", 0, ""],
                    "version": f"{odoo.version}.0",
                }
            if path == "/jsonrpc" and method == "POST":
                return odoo._jsonrpc(body)
            if path == "/web/webclient/version_info" and method == "POST":
                # A type='json' route of the web module (16–19): JSON-RPC envelope, the
                # same dict as common.version(). OdooRPC reads it to learn the release.
                odoo._log("http", "web", "version_info")
                rid = _request_id(body)
                return 200, {"jsonrpc": "2.0", "id": rid, "result": odoo.version_info()}
            services = ("common", "object", "db")
            parts = path.split("/")
            is_v2 = method == "POST" and len(parts) == 4 and parts[1:3] == ["xmlrpc", "2"]
            if is_v2 and parts[3] in services:
                return odoo._xmlrpc(parts[3], body)
            # The legacy path odoo-client-lib uses: /xmlrpc/<service>.
            is_legacy = method == "POST" and len(parts) == 3 and parts[1] == "xmlrpc"
            if is_legacy and parts[2] in services:
                return odoo._xmlrpc(parts[2], body, legacy=True)
            if (
                method == "GET"
                and odoo.version >= 19
                and len(parts) == 3
                and parts[1] == "doc-bearer"
                and parts[2].endswith(".json")
            ):
                return odoo._doc_bearer(parts[2].removesuffix(".json"), self.headers)
            if path.startswith("/json/2/") and odoo.version >= 19 and len(parts) == 5:
                if method != "POST":
                    return 405, _json2_error("werkzeug.exceptions.MethodNotAllowed", "POST only")
                return odoo._json2(parts[3], parts[4], self.headers, body)
            odoo._log("http", "404", path)
            return 404, "<html><body><h1>404: Page not found</h1></body></html>"

        def _send(self, status: int, payload: Any) -> None:
            self.send_response(status)
            self.send_header("X-Sandbox-CRM", "not-a-real-CRM")
            if isinstance(payload, _Xml):
                data = payload.encode("utf-8")
                self.send_header("Content-Type", "text/xml; charset=utf-8")
            elif isinstance(payload, str):
                data = payload.encode("utf-8")
                self.send_header("Content-Type", "text/html; charset=utf-8")
            else:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
