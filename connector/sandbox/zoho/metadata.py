"""The Zoho sandbox's metadata endpoints: fields, users, the org and its modules."""

from __future__ import annotations

from typing import Any

from .common import (
    _MODULE_ID_BASE,
    _ORG_ID,
    _ORG_ZGID,
    _PROFILE_IDS,
    _ROLE_IDS,
    _USER_TYPES,
    _bad_param,
    _error,
    _Reply,
)
from .state import ZohoState


class Metadata(ZohoState):
    """GET /settings/fields, /settings/fields/{id}, /users, /org, /settings/modules (§5)."""

    # ---- GET /settings/fields (§5)

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
