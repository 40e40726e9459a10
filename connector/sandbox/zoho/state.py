"""The Zoho sandbox's state: seeded records, fields, tokens, credits, clock and faults."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from ..faults import Fault, FaultInjector, FaultKind, FaultPlan
from ..serving import ServedOnThread
from .common import (
    _AUTH_FAILURE,
    _CLOCK_UNITS,
    _DATE_RE,
    _DATETIME_RE,
    _DISPLAY_FIELD,
    _EMAIL_RE,
    _FIRST_ACTIVITY_ID,
    _INVALID_TOKEN,
    _MAX_ACTIVE_TOKENS,
    _TEXT_TYPES,
    _TOKEN_RATE_LIMITED,
    _TOKEN_WINDOW,
    _TOKENS_PER_WINDOW,
    _TOO_MANY,
    _VALIDATED_ON_ENTRY,
    DEFAULT_DAILY_CREDITS,
    SANDBOX_BANNER,
    _Cursor,
    _display_name,
    _DropConnection,
    _error,
    _id_key,
    _invalid_module,
    _Reply,
)
from .seed import (
    ACTIVITY_MODULES,
    CREATED_PICKLIST_ID_BASE,
    MODULES,
    build_portfolio,
    expected_revenue,
    iso,
    make_standard_org,
    module_fields,
    stage_value_meta,
)


class ZohoState(ServedOnThread):
    """The Zoho sandbox's state and what every endpoint shares: clock, credits, tokens, faults.

    ``SandboxCRM`` (server.py) puts it together with the endpoints (records.py, writes.py,
    metadata.py), each a subclass of this one. Thread-safe; one lock guards state.
    """

    thread_name = "sandbox-crm"
    latency_seconds: float = 0.0

    def __init__(
        self,
        *,
        accounts: int = 120,
        deals: int = 300,
        seed: int = 7,
        clock: Callable[[], datetime] | None = None,
        token_ttl_seconds: int = 3600,
        concurrency_limit: int = 10,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        refresh_token: str = "sandbox-refresh-token",
        plugin_fields: bool = True,
        daily_credits: int = DEFAULT_DAILY_CREDITS,
        org: Literal["default", "standard"] = "default",
    ) -> None:
        """All of the sandbox's state is declared here, each piece with why it exists; that
        is the length.

        ``plugin_fields=False``: an org where the plugin's target custom fields do not exist
        yet (neither in metadata nor in records), so creating them over the API can be tested.

        ``daily_credits``: the org's API credits per rolling 24 hours (§6). Once half are used,
        every answer says how many are left (``X-API-CREDITS-REMAINING``); once none are left,
        calls are refused with 429. ``spend_credits`` spends some as another integration would.

        ``org="standard"``: an org with only Zoho's standard modules and fields, as a new org
        has (seed.make_standard_org): no Calls/Events (INVALID_MODULE), no custom source fields,
        no plugin fields, Zoho's standard Deal stages. Both profiles serve each Stage
        picklist entry's forecast type, category and probability (seed.STANDARD_STAGES).
        """
        if org == "standard":
            plugin_fields = False
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        #: How far advance_clock() moved this sandbox's time past ``clock``.
        self._clock_offset = timedelta(0)
        self.token_ttl_seconds = token_ttl_seconds
        self.concurrency_limit = concurrency_limit
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.latency_seconds = 0.0
        #: How the latency is timed and waited (tests replace them to stay off the wall clock).
        self.monotonic: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep
        self.calls: list[tuple[str, str]] = []
        #: (module, record id) -> how many sent answers of Get Records or COQL carried it.
        self.served: Counter[tuple[str, str]] = Counter()
        self.last_update_body: dict[str, Any] | None = None
        self._credits = 0  # guarded by _calls_lock
        self.daily_credits = daily_credits
        #: (when, credits) of every charge in the last 24 hours, whoever spent them; not
        #: forgotten by reset_calls(): it is the org's usage, not the test's call log.
        self._usage: deque[tuple[datetime, int]] = deque()  # guarded by _calls_lock

        self._lock = threading.RLock()
        self._calls_lock = threading.Lock()
        self._secure_random = random.SystemRandom()
        portfolio = build_portfolio(
            seed=seed, accounts=accounts, deals=deals, now=self._now(), plugin_fields=plugin_fields
        )
        self._store = portfolio.records
        self.users: list[dict[str, str]] = portfolio.users
        self.api_user: dict[str, str] = portfolio.api_user
        self.odd_deals: dict[str, str] = portfolio.odd_deals  # id -> kind of odd value
        self._deleted: dict[str, list[dict[str, Any]]] = {m: [] for m in MODULES}
        # Copy-on-write: field creation/removal replace these lists and dicts under _lock, so a
        # reader holding the old ones (e.g. a response being serialised) never sees them change.
        self._fields = {m: module_fields(m, plugin_fields=plugin_fields) for m in MODULES}
        if org == "standard":
            make_standard_org(self._store, self._fields)
            self._deleted = {m: self._deleted[m] for m in self._fields}
        self._field_index = {m: {f["api_name"]: f for f in fs} for m, fs in self._fields.items()}
        self._created_fields = 0  # ids handed out by POST /settings/fields
        self._created_values = 0  # ids handed out to their picklist values
        self._tokens: OrderedDict[str, datetime] = OrderedDict()  # token -> expiry
        #: §1 [TV]: issue times per refresh token, for its 10-per-10-minutes quota (sandbox clock).
        self._token_issued: dict[str, list[datetime]] = {}
        self.tokens_issued = 0  # access tokens issued since start, every refresh token
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._in_flight = 0
        #: The most API calls ever in flight at once, refused ones included (what an org's
        #: concurrency cap is checked against, §6).
        self.peak_in_flight = 0
        self._tasks: dict[str, dict[str, Any]] = {}  # POST /Tasks (§7): id -> task
        #: Seeded misbehaviour (429, 5xx, resets, timeouts, 207s); None: a well-behaved CRM.
        self.faults: FaultInjector | None = None

    # ------------------------------------------------------------------ test helpers

    def count(self, kind: str, module: str | None = None) -> int:
        with self._calls_lock:
            return sum(1 for k, d in self.calls if k == kind and (module is None or d == module))

    def reset_calls(self) -> None:
        """Forget the call log and the credits used so far."""
        with self._calls_lock:
            self.calls.clear()
            self.served.clear()
            self._credits = 0

    @property
    def credits_used(self) -> int:
        """API credits charged since start or the last reset_calls() (§6 cost table).

        Only calls that pass authentication and the concurrency check are charged: 401 and 429
        refusals cost 0 here. That is an assumption (UNCONFIRMED); Zoho documents costs only for
        calls that succeed. Token refreshes are not API calls and cost nothing.
        """
        with self._calls_lock:
            return self._credits

    def spend_credits(self, credits: int) -> None:
        """Spend org credits as another integration of the org would (not in credits_used)."""
        with self._calls_lock:
            self._usage.append((self._now(), credits))

    @property
    def org_credits_used(self) -> int:
        """Credits the org spent in the rolling 24 hours (this connector and others)."""
        with self._calls_lock:
            return self._org_used_locked()

    def _org_used_locked(self) -> int:
        since = self._now() - timedelta(hours=24)
        while self._usage and self._usage[0][0] <= since:
            self._usage.popleft()
        return sum(credits for _, credits in self._usage)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far (simulates expiry mid-sync)."""
        with self._lock:
            self._tokens.clear()

    def install_faults(self, plan: FaultPlan) -> FaultInjector:
        """Misbehave from now on as ``plan`` says (see faults.py); returns the injector."""
        self.faults = FaultInjector(plan)
        if plan.latency_seconds:
            self.latency_seconds = plan.latency_seconds
        return self.faults

    def _next_fault(self, kind: str) -> Fault | None:
        if self.faults is None:
            return None
        return self.faults.on_api_call(self.expire_tokens, kind)

    def _clock_endpoint(self, method: str, raw: bytes) -> _Reply:
        """SANDBOX ONLY: ``GET`` the sandbox's time; ``POST {"days": 1}`` (also ``hours``,
        ``minutes``, ``seconds``) moves it forward (advance_clock). No Zoho API has this; it
        sits outside /crm/v8 and needs no token, so scripts and other processes can drive it."""
        self._record_call("sandbox_clock", method)
        if method == "POST":
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
                if not isinstance(body, dict) or not set(body) <= _CLOCK_UNITS:
                    raise ValueError("give days, hours, minutes and/or seconds")
                amounts = {str(k): float(v) for k, v in body.items()}
                self.advance_clock(**amounts)
            except (UnicodeDecodeError, ValueError, TypeError, OverflowError) as exc:
                return _Reply(400, {"error": f"sandbox clock: {exc}", "sandbox_only": True})
        elif method != "GET":
            return _Reply(405, {"error": "GET or POST", "sandbox_only": True})
        return _Reply(
            200,
            {"now": iso(self._now()), "sandbox_only": True, "note": SANDBOX_BANNER},
        )

    def _ims_exclusive(self) -> bool:
        """Whether If-Modified-Since leaves out the given second (FaultPlan.ims_exclusive)."""
        return self.faults is not None and self.faults.plan.ims_exclusive

    def _fault_reply(self, fault: Fault) -> _Reply:
        """The injected answer, or ``_DropConnection`` for a reset or a timeout."""
        if fault.kind is FaultKind.RATE_LIMITED:
            return _Reply(429, dict(_TOO_MANY))
        if fault.kind is FaultKind.SERVER_ERROR:
            return _Reply(fault.status, _error("INTERNAL_ERROR", "injected server error"))
        if fault.kind is FaultKind.TIMEOUT and self.faults is not None:
            time.sleep(self.faults.plan.timeout_hold_seconds)  # past the client's timeout
        raise _DropConnection

    def _injected_refusal(self, i: int, item: Any) -> dict[str, Any] | None:
        """A 207 row refusal decided by the fault plan (lock held), or None."""
        if self.faults is None or not isinstance(item, dict):
            return None
        name = self.faults.refuse_item(str(item.get("id")), item)
        if name is None:
            return None
        return _error(
            "INVALID_DATA", "injected refusal", {"api_name": name, "json_path": f"$.data[{i}]"}
        )

    def tasks(self) -> list[dict[str, Any]]:
        """Tasks created over the API (POST /Tasks), oldest first."""
        with self._lock:
            return [dict(task) for task in self._tasks.values()]

    def records(self, module: str) -> dict[str, dict[str, Any]]:
        """The live store for ``module`` (id -> full record). Mutate through edit()/delete()."""
        if module not in self._store:
            raise KeyError(module)
        return self._store[module]

    def fields(self, module: str) -> list[dict[str, Any]]:
        """Field metadata for ``module`` (same as GET /settings/fields)."""
        with self._lock:
            return self._fields[module]

    def remove_module(self, module: str) -> None:
        """Simulate an admin hiding a module from the API user's profile: every later call
        naming it answers INVALID_MODULE."""
        with self._lock:
            for table in (self._store, self._fields, self._field_index, self._deleted):
                table.pop(module, None)

    def add_stage(self, value: str, forecast_type: str, probability: int) -> None:
        """Simulate an admin adding a Deal stage (Setup > Pipelines) with its forecast type
        ("Open", "Closed Won" or "Closed Lost") and probability."""
        category = {"Closed Won": "Closed", "Closed Lost": "Omitted"}.get(forecast_type, "Pipeline")
        with self._lock:
            fields = [dict(f) for f in self._fields["Deals"]]
            stage = next(f for f in fields if f["api_name"] == "Stage")
            values = list(stage["pick_list_values"])
            self._created_values += 1
            values.append(
                {
                    "display_value": value,
                    "actual_value": value,
                    "reference_value": value,
                    "sequence_number": len(values) + 1,
                    "id": str(CREATED_PICKLIST_ID_BASE + self._created_values),
                    "type": "used",
                    **stage_value_meta(value, forecast_type, category, probability),
                }
            )
            stage["pick_list_values"] = values
            self._fields["Deals"] = fields
            self._field_index["Deals"] = {f["api_name"]: f for f in fields}

    def remove_field(self, module: str, api_name: str) -> None:
        """Simulate an admin deleting a field in the UI: gone from metadata and every record.

        Later writes naming it get the per-item INVALID_DATA for unknown fields (see _update_one).
        Raises KeyError for an unknown module or field.
        """
        with self._lock:
            if api_name not in self._field_index[module]:
                raise KeyError(api_name)
            self._fields[module] = [f for f in self._fields[module] if f["api_name"] != api_name]
            self._field_index[module] = {f["api_name"]: f for f in self._fields[module]}
            for record in self._store[module].values():
                record.pop(api_name, None)

    def edit(self, module: str, record_id: str, **values: Any) -> None:
        """Simulate a person editing in the CRM UI: set values, bump Modified_Time/_By.

        Text fields take any text (people type odd values there), but a typed field only takes
        what Zoho's UI accepts for its type: a number in a currency field, a real date in a
        date field (Zoho validates types on entry); anything else raises ValueError, so a test
        cannot plant a value no org could hold. Passing Modified_Time explicitly (datetime or
        string) overrides the bump.
        """
        with self._lock:
            for name, value in values.items():
                meta = self._field_index[module].get(name)
                if name in ("Modified_Time", "Modified_By") or meta is None:
                    continue
                if meta["data_type"] in _VALIDATED_ON_ENTRY and not self._coerce(meta, value)[0]:
                    raise ValueError(
                        f"{module}.{name} is a {meta['data_type']} field: Zoho cannot hold "
                        f"{value!r} there; put typed-by-hand values in a text field"
                    )
            record = self._store[module][record_id]
            record.update(values)
            modified = values.get("Modified_Time", self._now())
            record["Modified_Time"] = iso(modified) if isinstance(modified, datetime) else modified
            if "Modified_By" not in values:
                owner = record.get("Owner")
                record["Modified_By"] = owner if isinstance(owner, dict) else self.users[0]
            if module == "Deals":
                record["Expected_Revenue"] = expected_revenue(record)

    def add_activity(self, module: str, **values: Any) -> str:
        """Simulate a person logging a call, meeting or note in the CRM UI; returns its id."""
        if module not in ACTIVITY_MODULES:
            raise KeyError(module)
        with self._lock:
            store = self._store[module]
            # Record ids are unique across modules (§2), so the next one is above all of them.
            taken = (int(rid) for m in ACTIVITY_MODULES for rid in self._store.get(m, {}))
            record_id = str(max(_FIRST_ACTIVITY_ID, *taken) + 1)
            owner = self.users[0]
            stamp = iso(self._now())
            store[record_id] = {
                "id": record_id,
                "Owner": owner,
                "Created_By": owner,
                "Modified_By": owner,
                "Created_Time": stamp,
                "Modified_Time": stamp,
                **values,
            }
        return record_id

    def delete(self, module: str, record_id: str) -> None:
        """Move a record to the recycle bin (what GET /{module}/deleted reports)."""
        with self._lock:
            record = self._store[module].pop(record_id)
            owner_value = record.get("Owner")
            owner: dict[str, Any] = owner_value if isinstance(owner_value, dict) else self.users[0]
            creator: dict[str, Any] = record.get("Created_By") or owner
            self._deleted[module].append(
                {
                    "id": record_id,
                    "display_name": _display_name(module, record),
                    "type": "recycle",
                    "deleted_time": iso(self._now()),
                    "deleted_by": {"name": owner["name"], "id": owner["id"]},
                    "created_by": {"name": creator["name"], "id": creator["id"]},
                }
            )

    # ------------------------------------------------------------------ internals

    def _now(self) -> datetime:
        moved = self._clock() + self._clock_offset
        return moved.astimezone(UTC).replace(microsecond=0)

    def advance_clock(self, **delta: float) -> datetime:
        """SANDBOX ONLY (no real CRM can do this): move this sandbox's clock forward, e.g.
        ``advance_clock(days=1)`` — the org's credits window (§6), the token-refresh window and
        token expiry (§1), page-token expiry and every Modified_Time written from now on all
        follow it. Also served over HTTP as ``POST /__sandbox__/clock``. Returns the new time."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._clock_offset += step
        return self._now()

    def _note_served(self, path: str, reply: _Reply) -> None:
        """Count the records of a read answer that is sent (not lost to an injected fault)."""
        if reply.status != 200 or not isinstance(reply.body, dict):
            return
        rows = reply.body.get("data")
        parts = [p for p in path.split("/") if p][2:]
        if len(parts) != 1 or parts[0] == "coql" or not isinstance(rows, list):
            return
        module = parts[0]
        with self._calls_lock:
            for row in rows:
                if isinstance(row, dict) and "id" in row:
                    self.served[(module, str(row["id"]))] += 1

    def _record_call(self, kind: str, detail: str) -> None:
        with self._calls_lock:
            self.calls.append((kind, detail))

    def _charge(self, credits: int) -> None:
        with self._calls_lock:
            self._credits += credits
            self._usage.append((self._now(), credits))

    def _credit_headers(self) -> dict[str, str]:
        """§6: ``X-API-CREDITS-REMAINING`` once half the daily credits are used (the format,
        a plain count, is UNCONFIRMED)."""
        with self._calls_lock:
            used = self._org_used_locked()
        if used * 2 < self.daily_credits:
            return {}
        return {"X-API-CREDITS-REMAINING": str(max(0, self.daily_credits - used))}

    def _out_of_credits(self) -> bool:
        with self._calls_lock:
            return self._org_used_locked() >= self.daily_credits

    def _random_hex(self, n: int) -> str:
        return f"{self._secure_random.getrandbits(n * 4):0{n}x}"

    # ---- OAuth (§1)

    def _token(self, params: dict[str, str]) -> _Reply:
        self._record_call("token", "")
        if params.get("grant_type") != "refresh_token":
            # UNCONFIRMED: the exact error for other grant types; RFC 6749 name used.
            return _Reply(200, {"error": "unsupported_grant_type"})
        if params.get("client_id") != self.client_id or (
            params.get("client_secret") != self.client_secret
        ):
            return _Reply(200, {"error": "invalid_client"})
        if params.get("refresh_token") != self.refresh_token:
            return _Reply(200, {"error": "invalid_code"})  # §1: revoked/unknown refresh token
        now = self._now()
        with self._lock:
            refresh = params["refresh_token"]
            issued = [t for t in self._token_issued.get(refresh, []) if now - t < _TOKEN_WINDOW]
            self._token_issued[refresh] = issued
            if len(issued) >= _TOKENS_PER_WINDOW:
                return _Reply(200, dict(_TOKEN_RATE_LIMITED))  # §1: still HTTP 200
            issued.append(now)
            self.tokens_issued += 1
            token = f"1000.{self._random_hex(32)}.{self._random_hex(32)}"
            self._tokens[token] = now + timedelta(seconds=self.token_ttl_seconds)
            while len(self._tokens) > _MAX_ACTIVE_TOKENS:
                self._tokens.popitem(last=False)
        return _Reply(
            200,
            {
                "access_token": token,
                "api_domain": self._url,
                "token_type": "Bearer",
                "expires_in": self.token_ttl_seconds,
            },
        )

    def _check_auth(self, header: str | None) -> _Reply | None:
        prefix = "Zoho-oauthtoken "  # §1: not "Bearer"
        if not header or not header.startswith(prefix) or not header[len(prefix) :].strip():
            return _Reply(401, dict(_AUTH_FAILURE))
        token = header[len(prefix) :].strip()
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or self._now() >= expiry:
            return _Reply(401, dict(_INVALID_TOKEN))
        return None

    # ---- shared by the endpoints

    def _settings_module(self, query: dict[str, str]) -> tuple[str, _Reply | None]:
        """The ``module`` query parameter of a /settings/fields call, or the error reply."""
        module = query.get("module")
        if not module:
            return "", _Reply(
                400,
                _error(
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "module"},
                ),
            )
        if module not in self._fields:
            return module, _Reply(400, _invalid_module())
        return module, None

    def _coerce(self, meta: dict[str, Any], value: Any) -> tuple[bool, Any, dict[str, Any]]:
        """Check ``value`` against field metadata; returns (ok, value to store, error details)."""
        if value is None:
            return True, None, {}  # null clears the field
        data_type = meta["data_type"]
        expected = {"expected_data_type": data_type}
        if data_type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return False, None, expected
            if abs(value) > 2_147_483_647:  # UNCONFIRMED: Zoho integer fields are 32-bit
                return False, None, {**expected, "maximum_length": meta["length"]}
            return True, value, {}
        if data_type in ("double", "currency"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False, None, expected
            places = meta["decimal_place"]
            return True, round(float(value), places) if places is not None else value, {}
        if data_type == "boolean":
            return (True, value, {}) if isinstance(value, bool) else (False, None, expected)
        if data_type in _TEXT_TYPES:
            if not isinstance(value, str):
                return False, None, expected
            if len(value) > meta["length"]:
                return False, None, {"maximum_length": meta["length"]}
            if data_type == "email" and value and not _EMAIL_RE.match(value):
                return False, None, expected
            return True, value, {}
        if data_type == "picklist":
            allowed = [v["actual_value"] for v in meta["pick_list_values"]]
            if value not in allowed:
                return False, None, {"supported_values": allowed}
            return True, value, {}
        if data_type == "date":
            if not isinstance(value, str) or not _DATE_RE.match(value):
                return False, None, expected
            try:
                date.fromisoformat(value)
            except ValueError:
                return False, None, expected
            return True, value, {}
        if data_type == "datetime":
            # §2: ISO-8601 with an explicit offset. UNCONFIRMED whether Zoho accepts "Z" or
            # fractional seconds; the sandbox accepts both but rejects naive values.
            if not isinstance(value, str) or not _DATETIME_RE.match(value):
                return False, None, expected
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return False, None, expected
            return True, iso(parsed.astimezone(UTC)), {}
        if data_type in ("lookup", "ownerlookup"):
            # §2: lookups are written as {"id": "..."} and read back as {"name","id"[,"email"]}.
            # Ids as strings or numbers (see _update_one); the SDK sends {"id": 123} numbers.
            lookup_id = _id_key(value.get("id")) if isinstance(value, dict) else None
            if lookup_id is None:
                return False, None, expected
            not_found = {"message": "the related id given seems to be invalid"}
            if data_type == "ownerlookup":
                user = next((u for u in [*self.users, self.api_user] if u["id"] == lookup_id), None)
                return (True, user, {}) if user else (False, None, not_found)
            target_module = meta["lookup"]["module"]["api_name"]
            target = self._store[target_module].get(lookup_id)
            if target is None:
                return False, None, not_found
            name = target.get(_DISPLAY_FIELD.get(target_module, "Account_Name"))
            return True, {"name": name, "id": lookup_id}, {}
        return False, None, expected
