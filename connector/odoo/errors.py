"""Odoo's errors, turned into the connector's groups with one line that says what to do.

Odoo reports an exception by its Python class name (``odoo.exceptions.AccessError``) and a
message, whichever transport carried it: JSON-2 as an HTTP 4xx/5xx body ``{name, message}``,
JSON-RPC inside an HTTP 200 body under ``error.data`` (research/odoo.md §1, §2). Both arrive
here as an ``OdooFault``; ``to_connector_error`` decides what the caller should do.

A refused API key is never retried: Odoo locks the login after 10 failures per source IP
(``base.login_cooldown_after``, §6), so a loop would lock out the person who owns the login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    RecordError,
    RetryLaterError,
    trim_body,
)

#: How long a message excerpt from Odoo may be inside our one-line message.
_EXCERPT_CHARS = 160
_FIELD_IN_MESSAGE = re.compile(r"""["'`](x_\w+|\w+)["'`]""")


@dataclass(frozen=True)
class OdooFault(Exception):
    """An error Odoo sent back, before it is classified. ``name`` is the exception's class path."""

    name: str
    message: str
    http_status: int | None = None

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1] if self.name else "Error"


@dataclass(frozen=True)
class CallContext:
    """What the client was doing, so the message can name the login, database and model."""

    url: str
    database: str
    login: str
    model: str
    method: str
    #: True once this key was accepted in this process: a later refusal means it expired.
    key_worked_before: bool = False


def one_line(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """Odoo messages carry newlines and tracebacks; keep the first sentence-ish, on one line."""
    return trim_body(text, limit)


def refused_key(context: CallContext, fault: OdooFault | None = None) -> AuthenticationError:
    """The API key (or login) was refused. Never retried (see module docstring)."""
    if context.key_worked_before:
        message = (
            f"Odoo stopped accepting the API key of login {context.login!r} during the run: it "
            "has expired or was revoked (Odoo 18+ keys expire); create a new key under "
            "Preferences > Account Security and put it in ENGAGE_ODOO_API_KEY"
        )
    else:
        message = (
            f"Odoo refused login {context.login!r} with the key in ENGAGE_ODOO_API_KEY on "
            f"database {context.database!r}: check crm.odoo.login and the key (wrong, revoked "
            "or expired); not retried, as Odoo locks a login after 10 failures"
        )
    return AuthenticationError(
        message,
        crm_code=fault.short_name if fault else "AccessDenied",
        http_status=fault.http_status if fault else None,
    )


def unknown_database(context: CallContext, fault: OdooFault) -> ConfigurationError:
    return ConfigurationError(
        f"Odoo at {context.url} has no database {context.database!r}: set crm.odoo.database "
        "to the name shown on the Odoo database selector (/web/database/selector)",
        crm_code=fault.short_name,
        http_status=fault.http_status,
    )


def unknown_model(context: CallContext, fault: OdooFault | None) -> ConfigurationError:
    """``crm.lead`` missing means the CRM app is not installed; any other model, a mapping typo."""
    hint = (
        "install the CRM app (Apps > CRM) in that database"
        if context.model.startswith("crm.")
        else "install the app that provides it, or fix the module in the mapping"
    )
    return ConfigurationError(
        f"Odoo database {context.database!r} has no model {context.model!r}: {hint}",
        # The code `engage mappings check` reports as an unknown module.
        crm_code="INVALID_MODULE",
        http_status=fault.http_status if fault else None,
    )


def access_refused(context: CallContext, fault: OdooFault) -> ConfigurationError:
    found = _FIELD_IN_MESSAGE.search(fault.message)
    field = found.group(1) if found and found.group(1) != context.model else None
    what = f"field {field!r} of {context.model}" if field else context.model
    return ConfigurationError(
        f"Odoo user {context.login!r} may not {context.method} {what} (AccessError): give the "
        "user a group with access to it (e.g. Sales / Administrator, or Settings for custom "
        "fields) or remove the field from the mapping",
        crm_code=fault.short_name,
        field=field,
        http_status=fault.http_status,
        body_excerpt=fault.message,
    )


def to_connector_error(fault: OdooFault, context: CallContext) -> ConnectorError:
    """Classify one Odoo fault by what the caller should do.

    The exception name decides first and the HTTP status second: the JSON-2 status of each
    exception (``http_status``, 18.3+) is UNCONFIRMED per release (§2), and JSON-RPC has none.
    """
    short = fault.short_name
    lowered = fault.message.lower()
    if short == "AccessDenied" or fault.http_status == 401 or short == "Unauthorized":
        return refused_key(context, fault)
    # JSON-RPC: psycopg2 'database "x" does not exist'. JSON-2 with an unknown X-Odoo-Database:
    # what 19 answers is UNCONFIRMED (§2 is silent); a 404/400 naming the database is assumed.
    if "database" in lowered and ("does not exist" in lowered or "not found" in lowered):
        return unknown_database(context, fault)
    if short == "KeyError" and context.model in fault.message:
        return unknown_model(context, fault)  # JSON-RPC: env[model] raised KeyError
    if short == "NotFound" and fault.http_status == 404:
        return unknown_model(context, fault)  # JSON-2: unknown model (or private method)
    if short == "AccessError" or fault.http_status == 403:
        return access_refused(context, fault)
    if short in ("LockError", "SerializationFailure", "Conflict") or fault.http_status == 409:
        return RetryLaterError(
            f"Odoo {context.model}.{context.method}: records locked by another transaction; "
            "the next run retries",
            crm_code=short,
            http_status=fault.http_status,
        )
    if short in ("ValidationError", "UserError", "MissingError", "ValueError"):
        return RecordError(
            f"Odoo refused {context.model}.{context.method}: {one_line(fault.message)}",
            crm_code=short,
            field=_field_named(fault.message),
            http_status=fault.http_status,
        )
    return ConnectorError(
        f"Odoo {context.model}.{context.method} failed with {short}: {one_line(fault.message)}",
        crm_code=short,
        http_status=fault.http_status,
    )


def _field_named(message: str) -> str | None:
    found = re.search(r"\b(x_\w+)", message) or re.search(r"[a-z_.]+\.([a-z_]\w*)\b:", message)
    return found.group(1) if found else None
