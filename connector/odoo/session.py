"""One login to one Odoo database: connection, API detection, model calls, metadata caches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
)
from connector.http import HttpTransport
from connector.odoo.errors import CallContext, OdooFault, to_connector_error, unknown_model
from connector.odoo.modules import (
    _FIELDS_GET_ATTRIBUTES,
    DEFAULT_ID_SCAN_INTERVAL,
    DEFAULT_OVERLAP,
    PAGE_SIZE,
    ApiChoice,
)
from connector.odoo.rpc import (
    Json2Rpc,
    JsonRpc,
    LegacyApiGone,
    ModelCall,
    OdooRpc,
    OdooSite,
    XmlRpc,
    detect_api,
)

log = logging.getLogger(__name__)


class OdooSession:
    """One login to one Odoo database: the connection, one model call with Odoo's errors
    mapped, and the metadata caches every operation needs. Thread-safe."""

    def __init__(
        self,
        site: OdooSite,
        transport: HttpTransport,
        *,
        api: ApiChoice = "auto",
        page_size: int = PAGE_SIZE,
        overlap: timedelta = DEFAULT_OVERLAP,
        id_scan_interval: timedelta = DEFAULT_ID_SCAN_INTERVAL,
    ) -> None:
        self._site = OdooSite(site.url.rstrip("/"), site.database, site.login, site.api_key)
        self._transport = transport
        self._api: ApiChoice = api
        self._rpc: OdooRpc | None = None
        self.server_version: str | None = None
        self.page_size = page_size
        self.overlap = overlap
        #: How often the sync lists every id to notice hard deletes.
        self.id_scan_interval = id_scan_interval
        self._types: dict[str, dict[str, dict[str, Any]]] = {}
        self._model_ids: dict[str, int] = {}
        self._activity_type: int | None = None
        self._key_worked = False
        self._refused: AuthenticationError | None = None
        #: ``load`` was refused once: this server gets grouped ``write`` from then on.
        self._load_refused = False
        # Guards the lazy parts (server detection, metadata caches) so threads share one call.
        self._lock = threading.RLock()

    # --- transport -----------------------------------------------------------------------------
    @property
    def api_kind(self) -> str:
        """ "json2" or "jsonrpc" once known (detects the server on first use)."""
        return self._connect().kind

    def _connect(self) -> OdooRpc:
        with self._lock:
            return self._connect_locked()

    def _connect_locked(self) -> OdooRpc:
        if self._rpc is None:
            api = self._api
            if api == "auto":
                detected = detect_api(self._site, self._transport)
                api, self.server_version = detected.api, detected.version
                log.info("Odoo %s at %s: using %s", detected.version, self._site.url, api)
            kinds: dict[str, type[Json2Rpc | JsonRpc | XmlRpc]] = {
                "json2": Json2Rpc,
                "jsonrpc": JsonRpc,
                "xmlrpc": XmlRpc,
            }
            self._rpc = kinds[api](self._site, self._transport)
        return self._rpc

    def _execute(
        self,
        model: str,
        method: str,
        *,
        ids: Sequence[int] | None = None,
        context: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One model call with Odoo's errors mapped; a refused key stops every later call."""
        if self._refused is not None:
            raise self._refused  # no second attempt: 10 failures lock the login (§6)
        rpc = self._connect()
        call = CallContext(
            self._site.url, self._site.database, self._site.login, model, method, self._key_worked
        )
        request = ModelCall(model, method, ids, context, idempotent, kwargs)
        try:
            try:
                result = rpc.execute(request)
            except LegacyApiGone:
                if self._api != "auto":
                    raise ConfigurationError(
                        f"Odoo at {self._site.url} has the legacy /{rpc.kind} API switched off: "
                        'set crm.odoo.api = "json2" (or "auto")',
                        http_status=404,
                    ) from None
                log.info("Odoo /%s answered 404; switching to JSON-2", rpc.kind)
                rpc = self._rpc = Json2Rpc(self._site, self._transport)
                result = rpc.execute(request)
        except OdooFault as fault:
            error = to_connector_error(fault, call)
            if isinstance(error, AuthenticationError):
                self._refused = error
            raise error from None
        self._key_worked = True
        return result

    def _field_types(self, model: str) -> dict[str, dict[str, Any]]:
        """``fields_get`` once per model per client: types drive value shapes both ways."""
        with self._lock:
            if model not in self._types:
                raw = self._execute(model, "fields_get", attributes=_FIELDS_GET_ATTRIBUTES)
                if not isinstance(raw, dict):
                    raise ConnectorError(f"Odoo {model}.fields_get returned no field list")
                self._types[model] = {k: v for k, v in raw.items() if isinstance(v, dict)}
            return self._types[model]

    def _model_id(self, model: str) -> int:
        if model not in self._model_ids:
            rows = self._execute(
                "ir.model", "search_read", domain=[["model", "=", model]], fields=["id"]
            )
            if not rows:
                call = CallContext(
                    self._site.url, self._site.database, self._site.login, model, "read"
                )
                raise unknown_model(call, None)
            self._model_ids[model] = int(rows[0]["id"])
        return self._model_ids[model]

    # --- custom fields (§5) --------------------------------------------------------------------
