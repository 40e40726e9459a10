"""The two ways to call an Odoo model over HTTP, behind one ``execute`` (research/odoo.md §0–2).

- **JSON-2** (Odoo 19+): ``POST /json/2/<model>/<method>``, bearer API key, named arguments in a
  JSON object, the bare result on 200, errors as HTTP 4xx/5xx with ``{name, message}``.
- **JSON-RPC** (Odoo 16–21, deprecated from 19, removal planned for 22): ``POST /jsonrpc`` with
  ``execute_kw(db, uid, key, model, method, args, kwargs)``; errors come inside an HTTP 200 and
  are told apart by ``error.data.name`` (the ``code`` differs between releases).
- **XML-RPC** (same servers as JSON-RPC; only when configured, e.g. behind a proxy that lets
  ``/xmlrpc/2`` through but not ``/jsonrpc``): the same ``execute_kw``; errors are faults whose
  integer code says little (2 user error, 3 access denied, 4 access error, 1 anything else with
  a traceback), and ``None`` cannot be marshalled either way (§1).

Both send the method's parameters by name, so one call shape serves both: ``ids`` (for methods
on records) plus keyword arguments. A 404 from ``/jsonrpc`` means the legacy API is switched
off on this server (UNCONFIRMED in §0: an open PR hides it); ``LegacyApiGone`` tells the client
to use JSON-2 instead.
"""

from __future__ import annotations

import itertools
import re
import threading
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol

import requests
from pydantic import SecretStr

from connector.errors import RetryLaterError, trim_body
from connector.http import HttpTransport
from connector.odoo.errors import OdooFault

ApiKind = Literal["json2", "jsonrpc", "xmlrpc"]
USER_AGENT = "engagement-connector (odoo)"
#: JSON-2 appeared in 19.0 (§0).
FIRST_JSON2_MAJOR = 19


class LegacyApiGone(Exception):
    """``/jsonrpc`` answered 404: the deprecated API is disabled here; use JSON-2."""


@dataclass(frozen=True)
class OdooSite:
    """Where and as whom: the secret key stays a ``SecretStr`` until it is put in a request."""

    url: str
    database: str
    login: str
    api_key: SecretStr


@dataclass(frozen=True)
class ModelCall:
    """One call of a model's method: ``ids`` for methods on records, the other parameters by
    name (``arguments``), and whether sending it twice is harmless (``idempotent``)."""

    model: str
    method: str
    ids: Sequence[int] | None = None
    context: Mapping[str, Any] | None = None
    idempotent: bool = True
    arguments: Mapping[str, Any] = field(default_factory=dict)


class OdooRpc(Protocol):
    kind: ApiKind

    def execute(self, call: ModelCall) -> Any: ...


def _json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Json2Rpc:
    """JSON-2: one stateless request per call, authenticated by the bearer API key."""

    kind: ApiKind = "json2"

    def __init__(self, site: OdooSite, transport: HttpTransport) -> None:
        self._site = site
        self._transport = transport

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"bearer {self._site.api_key.get_secret_value()}",
            "Content-Type": "application/json",
            # Picks the database when several share a host and dbfilter does not (§2).
            "X-Odoo-Database": self._site.database,
            "User-Agent": USER_AGENT,
        }

    def execute(self, call: ModelCall) -> Any:
        body: dict[str, Any] = dict(call.arguments)
        if call.ids is not None:
            body["ids"] = list(call.ids)
        if call.context:
            body["context"] = dict(call.context)
        response = self._transport.request(
            "POST",
            f"{self._site.url}/json/2/{call.model}/{call.method}",
            idempotent=call.idempotent,
            headers=self._headers,
            json=body,
        )
        payload = _json_body(response)
        if response.status_code == HTTPStatus.OK:
            return payload
        if isinstance(payload, dict) and isinstance(payload.get("name"), str):
            raise OdooFault(
                payload["name"], str(payload.get("message") or ""), response.status_code
            )
        # A plain-text or HTML error page (proxy, werkzeug default): name it by its status.
        name = "werkzeug.exceptions." + {
            401: "Unauthorized",
            403: "Forbidden",
            404: "NotFound",
        }.get(response.status_code, f"HTTP{response.status_code}")
        raise OdooFault(name, trim_body(response.content), response.status_code)


class _LoginThenExecute:
    """The legacy APIs: ``common.authenticate`` once for the uid (whichever thread asks first),
    then ``object.execute_kw`` per call. Subclasses send one ``service`` call their own way."""

    kind: ApiKind

    def __init__(self, site: OdooSite, transport: HttpTransport) -> None:
        self._site = site
        self._transport = transport
        self._uid: int | None = None
        self._login_lock = threading.Lock()  # one login, whichever thread asks first

    def service(
        self, service: str, method: str, args: list[Any], *, idempotent: bool = True
    ) -> Any:
        raise NotImplementedError

    def uid(self) -> int:
        """Log in once per client. ``False`` from authenticate means a refused login or key."""
        with self._login_lock:
            if self._uid is None:
                site = self._site
                uid = self.service(
                    "common",
                    "authenticate",
                    [site.database, site.login, site.api_key.get_secret_value(), {}],
                )
                if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
                    raise OdooFault("odoo.exceptions.AccessDenied", "authenticate returned False")
                self._uid = uid
            return self._uid

    def execute(self, call: ModelCall) -> Any:
        # Record methods take the ids as the first positional argument; @api.model methods
        # take none (call_kw decides by the method, §1 "Object service").
        args: list[Any] = [list(call.ids)] if call.ids is not None else []
        # XML-RPC has no None.
        named = {k: v for k, v in call.arguments.items() if v is not None}
        if call.method == "create" and "vals_list" in named:
            # call_kw answers `result.id if isinstance(args[0], Mapping) else result.ids`
            # (odoo/api.py, 16–19): a create with its values named fails with IndexError, so
            # they go positionally. A list gives back a list of ids.
            args.append(named.pop("vals_list"))
        if call.context:
            named["context"] = dict(call.context)
        site = self._site
        return self.service(
            "object",
            "execute_kw",
            [
                site.database,
                self.uid(),
                site.api_key.get_secret_value(),
                call.model,
                call.method,
                args,
                named,
            ],
            idempotent=call.idempotent,
        )


class JsonRpc(_LoginThenExecute):
    """JSON-RPC: ``common.authenticate`` once for the uid, then ``object.execute_kw`` per call."""

    kind: ApiKind = "jsonrpc"

    def __init__(self, site: OdooSite, transport: HttpTransport) -> None:
        super().__init__(site, transport)
        self._ids = itertools.count(1)

    def service(
        self, service: str, method: str, args: list[Any], *, idempotent: bool = True
    ) -> Any:
        """One JSON-RPC call; an error in the body becomes an ``OdooFault``."""
        response = self._transport.request(
            "POST",
            f"{self._site.url}/jsonrpc",
            idempotent=idempotent,
            headers=lambda: {"Content-Type": "application/json", "User-Agent": USER_AGENT},
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": next(self._ids),
                "params": {"service": service, "method": method, "args": args},
            },
        )
        if response.status_code == HTTPStatus.NOT_FOUND:
            raise LegacyApiGone(f"{self._site.url}/jsonrpc answered 404")
        payload = _json_body(response)
        if not isinstance(payload, dict):
            raise RetryLaterError(
                "Odoo /jsonrpc returned a body that is not a JSON object",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        error = payload.get("error")
        if isinstance(error, dict):
            # Branch on data.name: `code` is 200 on some releases and 0 on others (§1).
            raw_data = error.get("data")
            data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            name = str(data.get("name") or error.get("message") or "Odoo Server Error")
            message = str(data.get("message") or error.get("message") or "")
            raise OdooFault(name, message, None)
        if response.status_code != HTTPStatus.OK:
            raise OdooFault(f"HTTP{response.status_code}", trim_body(response.content), None)
        return payload.get("result")


#: XML-RPC fault codes of /xmlrpc/2 (addons/rpc/controllers/xmlrpc.py, §1). The class name
#: is not sent for 2–4, so MissingError and ValidationError both read as UserError here.
_FAULT_NAMES = {
    2: "odoo.exceptions.UserError",
    3: "odoo.exceptions.AccessDenied",
    4: "odoo.exceptions.AccessError",
}
#: The last line of a code-1 traceback: "psycopg2.OperationalError: FATAL: ...".
_TRACEBACK_TAIL = re.compile(r"^([\w.]+(?:Error|Exception|Denied|Warning)): ?(.*)$", re.MULTILINE)


def fault_to_odoo(fault: xmlrpc.client.Fault) -> OdooFault:
    text = str(fault.faultString or "")
    code = fault.faultCode
    if isinstance(code, int) and code in _FAULT_NAMES:
        return OdooFault(_FAULT_NAMES[code], text)
    if isinstance(code, str):  # legacy /xmlrpc/<svc>: 'warning -- AccessError\n\n<msg>'
        found = re.search(r"(\w+Error|AccessDenied)", code)
        name = found.group(1) if found else "Error"
        return OdooFault(f"odoo.exceptions.{name}", code.split("\n\n", 1)[-1] or text)
    tails = _TRACEBACK_TAIL.findall(text)
    if tails:
        name, message = tails[-1]
        return OdooFault(name, message)
    return OdooFault("Error", text)


class XmlRpc(_LoginThenExecute):
    """XML-RPC: ``common.authenticate`` once, then ``object.execute_kw`` per call."""

    kind: ApiKind = "xmlrpc"

    def service(
        self, endpoint: str, method: str, args: list[Any], *, idempotent: bool = True
    ) -> Any:
        body = xmlrpc.client.dumps(tuple(args), method, allow_none=False).encode("utf-8")
        response = self._transport.request(
            "POST",
            f"{self._site.url}/xmlrpc/2/{endpoint}",
            idempotent=idempotent,
            headers=lambda: {"Content-Type": "text/xml", "User-Agent": USER_AGENT},
            data=body,
        )
        if response.status_code == HTTPStatus.NOT_FOUND:
            raise LegacyApiGone(f"{self._site.url}/xmlrpc/2 answered 404")
        try:
            (result,), _method = xmlrpc.client.loads(response.content, use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            raise fault_to_odoo(fault) from None
        except (xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
            raise RetryLaterError(
                f"Odoo /xmlrpc/2/{endpoint} returned a body that is not XML-RPC "
                f"({type(exc).__name__})",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            ) from None
        return result


@dataclass(frozen=True)
class ServerVersion:
    api: ApiKind
    version: str


def detect_api(site: OdooSite, transport: HttpTransport) -> ServerVersion:
    """Which API this server speaks: ``/web/version`` (19+), else ``common.version()`` (≤18).

    ``/web/version`` is public and costs no login; on 16–18 it does not exist (404). If the
    legacy ``/jsonrpc`` answers 404 too, only JSON-2 is left.
    """
    response = transport.request(
        "GET",
        f"{site.url}/web/version",
        idempotent=True,
        headers=lambda: {"User-Agent": USER_AGENT},
    )
    payload = _json_body(response)
    if response.status_code == HTTPStatus.OK and isinstance(payload, dict):
        info = payload.get("version_info")
        major = info[0] if isinstance(info, list) and info and isinstance(info[0], int) else None
        if major is not None and major >= FIRST_JSON2_MAJOR:
            return ServerVersion("json2", str(payload.get("version") or major))
    try:
        legacy = JsonRpc(site, transport).service("common", "version", [])
    except LegacyApiGone:
        return ServerVersion("json2", "unknown (legacy API disabled)")
    version = legacy.get("server_version") if isinstance(legacy, dict) else None
    return ServerVersion("jsonrpc", str(version or "unknown"))
