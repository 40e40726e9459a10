"""Constants, reply shapes and small parsers shared by the Zoho sandbox's modules.

Section numbers (§n) refer to /work/shared/research/zoho.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from .seed import (
    iso,
)

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
