"""Sandbox CRM: a local HTTP imitation of a subset of the Zoho CRM v8 REST API.

Used by the demo, end-to-end tests and benchmarks. It is NOT a real CRM and never talks to Zoho.
Behaviour follows /work/shared/research/zoho.md; section numbers (§n) below refer to that file.
Where the docs are silent the sandbox picks something plausible and says UNCONFIRMED.

Only the standard library is used so the sandbox can run anywhere the project runs.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from . import coql
from .faults import Fault, FaultInjector, FaultKind, FaultPlan
from .seed import (
    ACTIVITY_MODULES,
    CREATED_FIELD_ID_BASE,
    CREATED_PICKLIST_ID_BASE,
    MODULES,
    build_portfolio,
    expected_revenue,
    field_meta,
    iso,
    make_standard_org,
    module_fields,
    stage_value_meta,
)
from .serving import QuietHandler, ServedOnThread

SANDBOX_BANNER = (
    "SANDBOX CRM — a local imitation of the Zoho CRM v8 API for demos and tests. "
    "Not a real CRM; nothing here reaches Zoho."
)

#: SANDBOX ONLY: where the sandbox's clock is read and moved (see SandboxCRM.advance_clock).
SANDBOX_CLOCK_PATH = "/__sandbox__/clock"
_CLOCK_UNITS = {"days", "hours", "minutes", "seconds"}
_MAX_FIELDS = 50  # §2: at most 50 field API names per Get Records call
_MAX_PER_PAGE = 200  # §2
_DISCRETE_LIMIT = 2000  # §2: page/per_page reach the first 2000 records only
_PAGE_TOKEN_LIMIT = 100_000  # §2: page_token reaches up to 100,000 records
_MAX_WRITE = 100  # §4: maxItems=100 per update call
#: Daily API credits of the sandbox's org unless told otherwise: Professional with 100 user
#: licences (§6: 50,000 + 500 per licence), far above what tests and benchmarks spend.
DEFAULT_DAILY_CREDITS = 100_000
_TOKENS_PER_WINDOW = 10  # §1 [TV]: 10 access tokens per refresh token per 10 minutes
_TOKEN_WINDOW = timedelta(minutes=10)
_MAX_ACTIVE_TOKENS = 15  # §1 [TV]: the 16th token invalidates the oldest
# UNCONFIRMED (§2): the page_token lifetime is not documented; one day is a guess.
_PAGE_TOKEN_TTL = timedelta(days=1)
_MAX_PAGE_TOKENS = 5000  # memory bound for the server-side page-token table
_SORT_FIELDS = ("id", "Created_Time", "Modified_Time")
_TRIGGERS = {"workflow", "approval", "blueprint", "pathfinder", "orchestration"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_TYPES = {"text", "textarea", "email", "phone", "website"}
#: Field types whose values Zoho checks on entry in the UI and imports as well as the API.
_VALIDATED_ON_ENTRY = {"integer", "double", "currency", "date", "datetime", "boolean"}
_DISPLAY_FIELD = {
    "Accounts": "Account_Name",
    "Deals": "Deal_Name",
    "Calls": "Subject",
    "Events": "Event_Title",
    "Notes": "Note_Title",
}
#: Ids of activities logged during a run start above every seeded id.
_FIRST_ACTIVITY_ID = 5725767900000000000
# Ids of the sandbox's org, roles, profiles and modules (fixed; not record ids).
_ORG_ID = "5725769000000000001"
_ORG_ZGID = "5725769000"
_ROLE_IDS = {True: "5725769000000000011", False: "5725769000000000012"}
_PROFILE_IDS = {True: "5725769000000000021", False: "5725769000000000022"}
_MODULE_ID_BASE = 5725769000000000100
# GET /users `type` values ([SDK] users GetUsersParam; Zoho's users API doc).
_USER_TYPES = {
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "DeletedUsers",
    "ActiveConfirmedUsers",
    "AdminUsers",
    "ActiveConfirmedAdmins",
    "CurrentUser",
}
# Data types POST /settings/fields accepts here (§5 shows "text"; the rest are the plugin's
# needs, with the type names GET /settings/fields reports).
_CREATABLE_TYPES = {
    "text",
    "textarea",
    "integer",
    "double",
    "currency",
    "date",
    "datetime",
    "picklist",
    "boolean",
}
# UNCONFIRMED: Zoho's length bounds for created fields; single-line text is 255 in the UI and
# multi-line "large" is 32,000. Other types take the seeded defaults and ignore `length`.
_MAX_CREATE_LENGTH = {"text": 255, "textarea": 32000}
_MAX_DECIMAL_PLACES = 9  # UNCONFIRMED
_NON_ALNUM_RUN = re.compile(r"[^A-Za-z0-9]+")
# API credits per call that reaches a handler (§6 "Cost per call"; v8 equivalence UNCONFIRMED).
# Updates are charged by record count in _update(); the token endpoint is not an API call.
_FLAT_CREDITS = {
    "get_records": 1,
    "get_record": 1,
    "deleted": 2,
    "fields": 1,
    "field": 1,
    "create_fields": 1,
    "users": 1,
    "org": 1,
    "modules": 1,
}
# Task inserts cost like updates, 1 credit per 10 records (§6), charged in _create_tasks().
_FLAT_CREDITS["create_tasks"] = 0
# COQL costs by its LIMIT (§3), charged in _coql().
_FLAT_CREDITS["coql"] = 0


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


# Top-level error bodies quoted in §1, §2, §6 and the brief.
_AUTH_FAILURE = _error("AUTHENTICATION_FAILURE", "Authentication failed")  # §1
_INVALID_TOKEN = _error("INVALID_TOKEN", "invalid oauth token")  # §1
_TOO_MANY = _error("TOO_MANY_REQUESTS", "too many requests")  # §6, no Retry-After header
_NOT_FOUND = _error(
    "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
)
_TOKEN_RATE_LIMITED = {  # §1: returned with HTTP 200
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. "
    "Please try again after some time.",
    "status": "failure",
}


def _invalid_module() -> dict[str, Any]:
    return _error(
        "INVALID_MODULE",
        "the module name given seems to be invalid",
        {"resource_path_index": 0},
    )


class _DropConnection(Exception):
    """Raised inside a handler to close the socket without an answer (injected fault)."""


@dataclass
class _Reply:
    status: int
    body: Any = None  # dict -> JSON, str -> text/plain, None -> empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Cursor:
    """Server-side state behind an opaque page_token: a snapshot of the matching ids."""

    module: str
    ids: list[str]
    offset: int
    sort_by: str
    sort_order: str
    expires: datetime


class SandboxCRM(ServedOnThread):
    """A local Zoho CRM v8 lookalike (see module docstring). Thread-safe; one lock guards state."""

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
        """``plugin_fields=False``: an org where the plugin's target custom fields do not exist
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
        self._tasks: dict[str, dict[str, Any]] = {}  # POST /Tasks (§7): id -> task
        #: Seeded misbehaviour (429, 5xx, resets, timeouts, 207s); None: a well-behaved CRM.
        self.faults: FaultInjector | None = None

    def _handler(self) -> type[QuietHandler]:
        return _make_handler(self)

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

    # ---- API dispatch

    def _handle_api(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply:
        parts = [p for p in path.split("/") if p][2:]  # drop "crm", "v8"
        kind, detail = _classify(method, parts, query)
        if kind == "coql":
            detail = coql.module_of(_select_query(body) or "")
        self._record_call(kind, detail)
        if kind == "unknown":
            return _Reply(404, dict(_NOT_FOUND))
        if kind == "bad_method":
            return _Reply(
                400,  # UNCONFIRMED status; Zoho documents the INVALID_REQUEST_METHOD code
                _error("INVALID_REQUEST_METHOD", "The http request method type is not a valid one"),
            )
        with self._lock:
            if self._in_flight >= self.concurrency_limit:
                return _Reply(429, dict(_TOO_MANY))  # §6
            self._in_flight += 1
        started = self.monotonic()
        try:
            denied = self._check_auth(headers.get("Authorization"))
            if denied is not None:
                return denied
            if self._out_of_credits():
                # §6: 429 also means the daily credits ran out (UNCONFIRMED: Zoho's exact body).
                return _Reply(429, dict(_TOO_MANY), self._credit_headers())
            if kind != "update":  # updates cost by record count, charged in _update()
                self._charge(_FLAT_CREDITS[kind])
            reply = self._dispatch_api(kind, parts, query, headers, body)
            reply.headers.update(self._credit_headers())
            if self.latency_seconds > 0:
                # The latency is the time the CRM takes to answer, its own work included, as
                # a real CRM's response time is: what is left of it after the work. (Sleeping
                # it before the work added the sandbox's processing on top, a few ms per write
                # call, queued behind one another on this process's GIL.)
                left = self.latency_seconds - (self.monotonic() - started)
                if left > 0:
                    self.sleep(left)
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1

    def _dispatch_api(
        self, kind: str, parts: list[str], query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply:
        if kind == "fields":
            return self._get_fields(query)
        if kind == "field":
            return self._get_field(parts[2], query)
        if kind == "create_fields":
            return self._create_fields(query, body)
        if kind == "get_records":
            return self._get_records(parts[0], query, headers.get("If-Modified-Since"))
        if kind == "get_record":
            return self._get_record(parts[0], parts[1], query)
        if kind == "users":
            return self._get_users(parts[1:], query)
        if kind == "org":
            return self._get_org()
        if kind == "modules":
            return self._get_modules()
        if kind == "deleted":
            return self._get_deleted(parts[0], query, headers.get("If-Modified-Since"))
        if kind == "create_tasks":
            return self._create_tasks(body)
        if kind == "coql":
            return self._coql(body)
        return self._update(parts[0], body, parts[1] if len(parts) == 2 else None)

    # ---- GET /settings/fields (§5)

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

    def _get_fields(self, query: dict[str, str]) -> _Reply:
        module, refused = self._settings_module(query)
        if refused is not None:
            return refused
        with self._lock:
            return _Reply(200, {"fields": self._fields[module]})

    # ---- GET /settings/fields/{id} (§5)

    def _get_field(self, field_id: str, query: dict[str, str]) -> _Reply:
        module, refused = self._settings_module(query)
        if refused is not None:
            return refused
        with self._lock:
            found = next((f for f in self._fields[module] if f["id"] == field_id), None)
        if found is None:
            # UNCONFIRMED: Zoho's exact body for an unknown field id.
            return _Reply(400, _error("INVALID_DATA", "invalid data", {"api_name": "id"}))
        return _Reply(200, {"fields": [found]})

    # ---- POST /settings/fields (§5 "Create")

    def _create_fields(self, query: dict[str, str], raw: bytes) -> _Reply:
        module, refused = self._settings_module(query)
        if refused is not None:
            return refused
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        items = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            # UNCONFIRMED: exact body for a missing or empty "fields" array.
            return _Reply(
                400,
                _error("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "fields"}),
            )
        # UNCONFIRMED (§5 open items): the per-call maximum for create; none is enforced here.
        with self._lock:
            results = [self._create_one(module, item) for item in items]
        ok = sum(1 for r in results if r["status"] == "success")
        status = 201 if ok == len(results) else 207 if ok else 400  # §5 201/207; 400 as in §4
        return _Reply(status, {"fields": results})

    def _create_one(self, module: str, item: Any) -> dict[str, Any]:
        """Validate then add one field; a failing item changes nothing. Lock held."""

        def invalid(attribute: str) -> dict[str, Any]:
            return _error("INVALID_DATA", "invalid data", {"api_name": attribute})

        if not isinstance(item, dict):
            return invalid("fields")
        label = item.get("field_label")
        if not isinstance(label, str) or not label.strip():
            return invalid("field_label")
        label = label.strip()
        data_type = item.get("data_type")
        if data_type not in _CREATABLE_TYPES:
            return invalid("data_type")
        length = item.get("length")
        if length is not None and (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not 1 <= length <= _MAX_CREATE_LENGTH.get(data_type, length)
        ):
            return invalid("length")
        places = item.get("decimal_place")
        if places is not None and (
            isinstance(places, bool)
            or not isinstance(places, int)
            or not 0 <= places <= _MAX_DECIMAL_PLACES
        ):
            return invalid("decimal_place")
        values: list[str] = []
        if data_type == "picklist":
            raw_values = item.get("pick_list_values")
            if not isinstance(raw_values, list) or not raw_values:
                return invalid("pick_list_values")
            for raw_value in raw_values:
                value = raw_value.get("actual_value") if isinstance(raw_value, dict) else None
                if isinstance(raw_value, dict) and value is None:
                    value = raw_value.get("display_value")
                if not isinstance(value, str) or not value or value in values:
                    return invalid("pick_list_values")
                values.append(value)

        existing = self._fields[module]
        api_name = _generated_api_name(label, {f["api_name"] for f in existing})
        # UNCONFIRMED: whether Zoho compares labels and api_names case-insensitively; the
        # sandbox does, so "risk score" clashes with "Risk Score".
        clash = next(
            (
                f
                for f in existing
                if f["field_label"].casefold() == label.casefold()
                or f["api_name"].casefold() == api_name.casefold()
            ),
            None,
        )
        if clash is not None:
            return _error("DUPLICATE_DATA", "duplicate data", {"api_name": clash["api_name"]})

        self._created_fields += 1
        field_id = str(CREATED_FIELD_ID_BASE + self._created_fields)
        value_ids = []
        for value in values:
            self._created_values += 1
            value_ids.append((value, str(CREATED_PICKLIST_ID_BASE + self._created_values)))
        if data_type in _MAX_CREATE_LENGTH and length is None:
            length = _MAX_CREATE_LENGTH[data_type] if data_type == "text" else 2000
        meta = field_meta(
            field_id,
            api_name,
            label,
            data_type,
            length=length if data_type in _MAX_CREATE_LENGTH else None,
            custom=True,
            picklist=value_ids,
            decimal_place=places if data_type in ("double", "currency") else None,
        )
        self._fields[module] = [*existing, meta]
        self._field_index[module] = {**self._field_index[module], api_name: meta}
        for record in self._store[module].values():
            record[api_name] = None
        return {
            "code": "SUCCESS",
            "details": {"id": field_id},
            "message": "field created",
            "status": "success",
        }

    # ---- GET /{module} (§2)

    # ---- POST /coql (§3; connector/sandbox/coql.py)

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
            ids, offset = cursor.ids, cursor.offset
            sort_by, sort_order = cursor.sort_by, cursor.sort_order
            limit = _PAGE_TOKEN_LIMIT
            page = offset // per_page + 1
        else:
            page_value = _int_param(query, "page", 1)
            if page_value is None or page_value < 1:
                return _bad_param("page")
            page = page_value
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
            since: str | None = None
            if ims_header is not None:
                try:
                    since = _since_key(ims_header)
                except ValueError:
                    return _bad_header("If-Modified-Since")
            ids = self._matching_ids(module, sort_by, sort_order, since)
            offset = (page - 1) * per_page
            limit = _DISCRETE_LIMIT

        end = min(offset + per_page, limit)
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
            with self._lock:
                self._cursors[next_token] = _Cursor(module, ids, end, sort_by, sort_order, expires)
                while len(self._cursors) > _MAX_PAGE_TOKENS:
                    self._cursors.popitem(last=False)
        info = {
            "per_page": per_page,
            "count": len(rows),
            "page": page,
            "more_records": more,
            "sort_by": sort_by,
            "sort_order": sort_order,
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

    # ---- GET /users, /org, /settings/modules: what the official SDK asks by itself

    def _user_body(self, user: dict[str, str], *, admin: bool) -> dict[str, Any]:
        first, _, last = user["name"].partition(" ")
        return {
            "id": user["id"],
            "full_name": user["name"],
            "first_name": first if last else None,
            "last_name": last or first,
            "email": user["email"],
            "status": "active",
            "role": {"name": "CEO" if admin else "Manager", "id": _ROLE_IDS[admin]},
            "profile": {
                "name": "Administrator" if admin else "Standard",
                "id": _PROFILE_IDS[admin],
            },
            "confirm": True,
            "time_zone": "Etc/UTC",
            "locale": "en_US",
        }

    def _get_users(self, rest: list[str], query: dict[str, str]) -> _Reply:
        """GET /users?type=... and /users/{id}. The official SDK calls ``type=CurrentUser``
        itself after each token refresh ([SDK] utility.py get_user_name). The current user is
        the integration user every write is made as (Modified_By)."""
        everyone = [(self.api_user, True)] + [(u, False) for u in self.users]
        if rest:
            found = [(u, a) for u, a in everyone if u["id"] == rest[0]]
            if not found:
                return _Reply(
                    400,
                    _error(
                        "INVALID_DATA",
                        "the related id given seems to be invalid",
                        {"api_name": "id", "resource_path_index": 0},
                    ),
                )
            chosen = found
        else:
            kind = query.get("type", "AllUsers")
            if kind == "CurrentUser":
                chosen = everyone[:1]
            elif kind == "AdminUsers":
                chosen = [(u, a) for u, a in everyone if a]
            elif kind in _USER_TYPES:
                chosen = everyone
            else:
                return _bad_param("type")
        users = [self._user_body(u, admin=a) for u, a in chosen]
        info = {"per_page": 200, "count": len(users), "page": 1, "more_records": False}
        return _Reply(200, {"users": users, "info": info})

    def _get_org(self) -> _Reply:
        """GET /org ([SDK] utility.py get_user_org_id reads ``zgid``)."""
        org = {
            "id": _ORG_ID,
            "company_name": "Sandbox Outsourcing Ltd (not a real org)",
            "zgid": _ORG_ZGID,
            "primary_email": self.api_user["email"],
            "time_zone": "Etc/UTC",
            "currency": "US Dollar - USD",
            "iso_code": "USD",
            "country_code": "US",
            "type": "sandbox",
        }
        return _Reply(200, {"org": [org]})

    def _get_modules(self) -> _Reply:
        """GET /settings/modules: the modules this sandbox serves, all API-supported."""
        modules = [
            {
                "api_name": module,
                "module_name": module,
                "singular_label": module[:-1],
                "plural_label": module,
                "api_supported": True,
                "generated_type": "default",
                "id": str(_MODULE_ID_BASE + i),
                "visible": True,
            }
            for i, module in enumerate(self._store, start=1)
        ]
        return _Reply(200, {"modules": modules})

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
        since: str | None = None
        if ims_header is not None:
            try:
                since = _since_key(ims_header)
            except ValueError:
                return _bad_header("If-Modified-Since")
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

    # ---- POST /Tasks (§7): a follow-up attached to a record through What_Id + $se_module

    def _create_tasks(self, raw: bytes) -> _Reply:
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        rows = len(data) if isinstance(data, list) and len(data) <= _MAX_WRITE else 0
        self._charge(max(1, math.ceil(rows / 10)))
        if not isinstance(data, list) or not data or len(data) > _MAX_WRITE:
            return _Reply(
                400, _error("INVALID_DATA", "data must hold 1 to 100 tasks", {"api_name": "data"})
            )
        results = []
        with self._lock:
            for i, item in enumerate(data):
                results.append(self._create_task(i, item))
        ok = sum(1 for r in results if r["status"] == "success")
        return _Reply(201 if ok == len(results) else 207 if ok else 400, {"data": results})

    def _create_task(self, i: int, item: Any) -> dict[str, Any]:
        """Validate and store one task. Lock held."""
        if not isinstance(item, dict):
            return _error("INVALID_DATA", "invalid data", {"json_path": f"$.data[{i}]"})
        if not isinstance(item.get("Subject"), str) or not item["Subject"].strip():
            return _error(
                "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "Subject"}
            )
        due = item.get("Due_Date")
        if due is not None and (not isinstance(due, str) or not _DATE_RE.match(due)):
            return _error("INVALID_DATA", "invalid data", {"api_name": "Due_Date"})
        what, module = item.get("What_Id"), item.get("$se_module")
        what_id = _id_key(what.get("id")) if isinstance(what, dict) else None
        if what is not None and (module not in self._store or what_id not in self._store[module]):
            return _error(
                "INVALID_DATA", "the related id given seems to be invalid", {"api_name": "What_Id"}
            )
        owner = item.get("Owner")
        owner_id = _id_key(owner.get("id")) if isinstance(owner, dict) else None
        users = {u["id"]: u for u in self.users}
        if owner is not None and owner_id not in users:
            return _error("INVALID_DATA", "invalid owner", {"api_name": "Owner"})
        task_id = str(9_000_000_000_000 + len(self._tasks) + 1)
        now = iso(self._now())
        self._tasks[task_id] = {
            **item,
            **({"What_Id": {**what, "id": what_id}} if isinstance(what, dict) else {}),
            "id": task_id,
            "Owner": users.get(owner_id or "", self.api_user),
            "Created_Time": now,
            "Modified_Time": now,
        }
        return {
            "code": "SUCCESS",
            "details": {"id": task_id, "Created_Time": now},
            "message": "record added",
            "status": "success",
        }

    # ---- PUT /{module} (§4)

    def _update(self, module: str, raw: bytes, path_id: str | None = None) -> _Reply:
        """PUT /{module} (each item names its id) or PUT /{module}/{id} (the path names it)."""
        if module not in self._store:
            self._charge(1)
            return _Reply(400, _invalid_module())
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not isinstance(body, dict):
            self._charge(1)
            # UNCONFIRMED: exact body for a malformed request body.
            return _Reply(
                400,
                _error("INVALID_DATA", "body is not a valid JSON object", {"expected": "json"}),
            )
        with self._lock:
            self.last_update_body = body
        data = body.get("data")
        # §6: 1 credit per 10 records, at least 1 per call. A call refused as a whole (no data,
        # more than 100 records) is charged 1: UNCONFIRMED.
        rows = len(data) if isinstance(data, list) and len(data) <= _MAX_WRITE else 0
        self._charge(max(1, math.ceil(rows / 10)))
        if not isinstance(data, list) or not data:
            return _Reply(
                400,
                _error("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"}),
            )
        if path_id is not None:
            if len(data) != 1:
                # UNCONFIRMED: Zoho's answer to more than one item on the single-record path.
                return _Reply(
                    400,
                    _error("INVALID_DATA", "only one record can be updated", {"api_name": "data"}),
                )
            if isinstance(data[0], dict):
                data = [{**data[0], "id": path_id}]
        if len(data) > _MAX_WRITE:
            return _Reply(
                400,
                _error(
                    "LIMIT_EXCEEDED",
                    "the number of records exceeds the maximum limit of 100",
                    {"limit": _MAX_WRITE},
                ),
            )
        trigger = body.get("trigger")
        if trigger is not None and (
            not isinstance(trigger, list) or any(t not in _TRIGGERS for t in trigger)
        ):
            return _Reply(
                400,
                _error("INVALID_DATA", "invalid data", {"api_name": "trigger"}),
            )
        results: list[dict[str, Any]] = []
        # One Modified_Time for the call's records (a second's resolution, as Zoho's): reading
        # the clock per record was a fifth of the sandbox's time in a push's benchmark.
        modified = iso(self._now())
        with self._lock:
            for i, item in enumerate(data):
                refused = self._injected_refusal(i, item)
                results.append(refused or self._update_one(module, i, item, modified))
        ok = sum(1 for r in results if r["status"] == "success")
        status = 200 if ok == len(results) else 207 if ok else 400  # §4
        return _Reply(status, {"data": results})

    def _update_one(self, module: str, i: int, item: Any, modified: str) -> dict[str, Any]:
        """Validate then apply one item, modified at ``modified``; a failing item changes
        nothing (§4). Lock held."""
        if not isinstance(item, dict):
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonobject", "json_path": f"$.data[{i}]"},
            )
        record_id = item.get("id")
        id_path = f"$.data[{i}].id"
        if record_id is None:
            return _error(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "id", "json_path": id_path},
            )
        # Zoho takes ids as strings or as numbers (the official SDK sends numbers: its Record
        # id is an int, [SDK] record/record.py); anything else names no record.
        key = _id_key(record_id)
        record = self._store[module].get(key) if key is not None else None
        if record is None:
            return _error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": "id", "json_path": id_path},
            )
        index = self._field_index[module]
        changes: dict[str, Any] = {}
        for name, value in item.items():
            if name == "id":
                continue
            path = f"$.data[{i}].{name}"
            meta = index.get(name)
            if meta is None:
                # UNCONFIRMED: Zoho may silently ignore unknown api_names; the sandbox is strict
                # so a misspelt target field surfaces in tests instead of vanishing.
                return _error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path})
            if meta["read_only"] or meta["formula"] or not meta["operation_type"]["api_update"]:
                # UNCONFIRMED: Zoho's code for writing a read-only/formula field. INVALID_DATA
                # keeps one code for all per-field rejections; the message says why.
                return _error(
                    "INVALID_DATA", "field is read-only", {"api_name": name, "json_path": path}
                )
            ok, stored, details = self._coerce(meta, value)
            if not ok:
                message = details.pop("message", "invalid data")
                base = {"api_name": name, "json_path": path}
                return _error("INVALID_DATA", message, {**base, **details})
            changes[name] = stored
        record.update(changes)
        record["Modified_Time"] = modified
        record["Modified_By"] = self.api_user
        if module == "Deals":
            record["Expected_Revenue"] = expected_revenue(record)
        creator = record.get("Created_By") or self.api_user
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": record["Modified_Time"],
                "Modified_By": {"name": self.api_user["name"], "id": self.api_user["id"]},
                "Created_Time": record.get("Created_Time"),
                "id": record["id"],
                "Created_By": {"name": creator["name"], "id": creator["id"]},
            },
            "message": "record updated",
            "status": "success",
        }

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


# ---------------------------------------------------------------------- helpers


def _id_key(value: Any) -> str | None:
    """A record or user id as the store keys it: Zoho accepts ids as JSON strings or numbers
    (§2 "IDs are 19-digit strings"; the official SDK writes them as numbers). None: not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def _select_query(raw: bytes) -> str | None:
    """The ``select_query`` of a COQL body, or None when the body has none."""
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    text = body.get("select_query") if isinstance(body, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _display_name(module: str, record: dict[str, Any]) -> str:
    if module == "Contacts":
        return " ".join(p for p in (record.get("First_Name"), record.get("Last_Name")) if p)
    return str(record.get(_DISPLAY_FIELD[module]) or record["id"])


def _classify(method: str, parts: list[str], query: dict[str, str]) -> tuple[str, str]:
    """Map /crm/v8/... path segments to (kind, detail) for the call log."""
    if parts == ["settings", "fields"]:
        if method == "GET":
            return "fields", query.get("module", "")
        if method == "POST":
            return "create_fields", query.get("module", "")
        return "bad_method", ""
    if len(parts) == 3 and parts[:2] == ["settings", "fields"]:
        return ("field", query.get("module", "")) if method == "GET" else ("bad_method", "")
    if parts == ["Tasks"] and method == "POST":
        return "create_tasks", "Tasks"
    if parts == ["users"] or (len(parts) == 2 and parts[0] == "users"):
        return ("users", "users") if method == "GET" else ("bad_method", "users")
    if parts == ["org"]:
        return ("org", "org") if method == "GET" else ("bad_method", "org")
    if parts == ["settings", "modules"]:
        return ("modules", "") if method == "GET" else ("bad_method", "")
    if parts == ["coql"]:
        return ("coql", "") if method == "POST" else ("bad_method", "coql")
    if len(parts) == 1 and parts[0] != "settings":
        if method == "GET":
            return "get_records", parts[0]
        if method == "PUT":
            return "update", parts[0]
        return "bad_method", parts[0]
    if len(parts) == 2 and parts[1] == "deleted":
        return ("deleted", parts[0]) if method == "GET" else ("bad_method", parts[0])
    if len(parts) == 2 and parts[0] != "settings":
        # Get/Update one record by id: GET|PUT /crm/v8/{module}/{id} (what the official SDK's
        # RecordOperations.get_record/update_record call, [SDK] record_operations.py).
        if method == "GET":
            return "get_record", parts[0]
        if method == "PUT":
            return "update", parts[0]
        return "bad_method", parts[0]
    return "unknown", "/".join(parts)


def _generated_api_name(label: str, taken: set[str]) -> str:
    """The api_name Zoho derives from a new field's label.

    ASCII letters and digits are kept and every run of anything else becomes one "_", trimmed
    at both ends: "Engagement Risk Score" -> "Engagement_Risk_Score", "NPS (0-10)" -> "NPS_0_10".
    """
    if any(ch.isascii() and ch.isalpha() for ch in label):
        return _NON_ALNUM_RUN.sub("_", label).strip("_")
    # UNCONFIRMED: what Zoho generates for a label without ASCII letters (e.g. "风险评分"); the
    # sandbox uses "Field_<n>" with the smallest n not yet taken in the module.
    n = 1
    while f"Field_{n}" in taken:
        n += 1
    return f"Field_{n}"


def _int_param(query: dict[str, str], name: str, default: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def _bad_param(name: str) -> _Reply:
    # UNCONFIRMED: Zoho's exact code for an out-of-range query parameter.
    return _Reply(400, _error("INVALID_DATA", "invalid data", {"param_name": name}))


def _bad_header(name: str) -> _Reply:
    # UNCONFIRMED: Zoho's exact code for an unparseable If-Modified-Since.
    return _Reply(400, _error("INVALID_DATA", "invalid data", {"header_name": name}))


def _since_key(header: str) -> str:
    """Normalise If-Modified-Since to the stored datetime string form (UTC, seconds).

    Accepts ISO-8601 with offset (§2), a trailing "Z" and HTTP-dates. A naive ISO value is
    taken as UTC (UNCONFIRMED). Fractional seconds round up so the comparison stays inclusive
    of exactly that instant and nothing earlier.
    """
    text = header.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(header) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed.microsecond:
        parsed = parsed.replace(microsecond=0) + timedelta(seconds=1)
    return iso(parsed)


def _make_handler(crm: SandboxCRM) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "SandboxCRM/1.0"

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            body = self.rfile.read(length) if length > 0 else b""
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            path = split.path.rstrip("/") or "/"
            try:
                reply = self._route(method, path, query, body)
            except _DropConnection:
                # An injected reset or timeout: no answer at all, the socket just closes.
                self.close_connection = True
                try:
                    self.connection.shutdown(2)  # socket.SHUT_RDWR
                except OSError:
                    pass
                return
            except Exception as exc:  # noqa: BLE001 - keep serving; surface the bug to the client
                reply = _Reply(500, _error("INTERNAL_ERROR", f"sandbox error: {exc!r}"))
            self._send(reply)

        def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
            if path == "/" and method == "GET":
                crm._record_call("index", "")
                return _Reply(200, SANDBOX_BANNER + "\n")
            if path == "/oauth/v2/token" and method == "POST":
                params = dict(query)
                content_type = self.headers.get("Content-Type", "")
                if body and "json" not in content_type:
                    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                    params.update({k: v[-1] for k, v in form.items()})
                return crm._token(params)
            if path == SANDBOX_CLOCK_PATH:
                return crm._clock_endpoint(method, body)
            if path.startswith("/crm/v8/"):
                parts = [p for p in path.split("/") if p][2:]
                call = _classify(method, parts, query)
                fault = crm._next_fault(call[0])
                if fault is not None and not fault.after:
                    # Refused before it ran, but received: it is in the call log all the same.
                    crm._record_call(*call)
                    return crm._fault_reply(fault)
                reply = crm._handle_api(method, path, query, self.headers, body)
                if fault is not None:
                    return crm._fault_reply(fault)
                crm._note_served(path, reply)
                return reply
            crm._record_call("unknown", path)
            return _Reply(404, dict(_NOT_FOUND))

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header, from the sandbox's clock (injected in tests) as Zoho's servers
            # send theirs: the client judges how old a Modified_Time is by it.
            return format_datetime(crm._now(), usegmt=True)

        def _send(self, reply: _Reply) -> None:
            self.send_response(reply.status)
            self.send_header("X-Sandbox-CRM", "not-a-real-CRM")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status in (204, 304):
                self.end_headers()  # no body and no Content-Length (RFC 9110)
                return
            if isinstance(reply.body, str):
                payload = reply.body.encode("utf-8")
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            else:
                payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
