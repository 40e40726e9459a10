"""The Odoo sandbox's data: the Zoho sandbox's portfolio, reshaped as an Odoo CRM would hold it.

``seed.build_portfolio`` draws the companies, people and deals (same seed, same portfolio); this
module turns them into ``res.partner`` companies and their child contacts, ``crm.lead``
opportunities (lost ones archived with probability 0, as ``action_set_lost`` leaves them, §3),
a few plain leads, and the metadata ``fields_get`` reports (§4). Values follow Odoo's read
shapes: many2one kept as an id here and rendered ``[id, name]`` on read, empty as ``False``,
datetimes as naive UTC ``"YYYY-MM-DD HH:MM:SS"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..zoho.seed import SLA_TIERS, build_portfolio

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"

#: crm.stage records: (id, name, is_won).
STAGES = [(1, "New", False), (2, "Qualified", False), (3, "Proposition", False), (4, "Won", True)]
_STAGE_OF = {
    "Qualification": 1,
    "Needs Analysis": 2,
    "Proposal/Price Quote": 3,
    "Negotiation/Review": 3,
    "Closed Won": 4,
}
_PROBABILITY = {1: 10.0, 2: 30.0, 3: 70.0, 4: 100.0}
CURRENCIES = {1: "USD", 2: "EUR", 3: "CNY", 4: "GBP", 5: "JPY"}
BILLING = [
    ("fixed_price", "Fixed Price"),
    ("time_materials", "Time & Materials"),
    ("dedicated_team", "Dedicated Team"),
    ("managed_service", "Managed Service"),
]
_BILLING_KEY = {label: key for key, label in BILLING}
TIERS = [(tier.lower(), tier) for tier in SLA_TIERS]
RISK_LEVELS = [("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")]
SLA_STATUSES = [
    ("compliant", "Compliant"),
    ("at_risk", "At Risk"),
    ("breached", "Breached"),
    ("not_measured", "Not Measured"),
]
#: mail.activity.type records and their XML ids (addons/mail/data/mail_activity_data.xml, §7).
ACTIVITY_TYPES = [
    (1, "Email", "mail_activity_data_email"),
    (2, "Call", "mail_activity_data_call"),
    (3, "Meeting", "mail_activity_data_meeting"),
    (4, "To-Do", "mail_activity_data_todo"),
]
#: The plugin's target fields, which an admin (or `engage fields ensure`) creates.
PLUGIN_FIELDS = {
    "crm.lead": (
        "x_engagement_risk_score",
        "x_engagement_risk_level",
        "x_engagement_risk_drivers",
        "x_engagement_sla_status",
        "x_engagement_nps",
        "x_engagement_csat",
        "x_engagement_health_updated",
    ),
    "res.partner": ("x_account_risk_level", "x_account_health_summary"),
}
#: Models the sandbox knows, with their ir.model ids.
MODELS = {
    "res.partner": 1,
    "crm.lead": 2,
    "crm.stage": 3,
    "res.users": 4,
    "res.country": 5,
    "res.partner.industry": 6,
    "res.currency": 7,
    "mail.activity": 8,
    "mail.activity.type": 9,
    "ir.model": 10,
    "ir.model.fields": 11,
    "ir.model.data": 12,
}


def _f(kind: str, label: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "type": kind,
        "string": label,
        "readonly": False,
        "required": False,
        "manual": False,
    }
    meta.update(extra)
    return meta


def _base_fields() -> dict[str, dict[str, Any]]:
    return {
        "id": _f("integer", "ID", readonly=True),
        "display_name": _f("char", "Display Name", readonly=True),
        "create_date": _f("datetime", "Created on", readonly=True),
        "write_date": _f("datetime", "Last Updated on", readonly=True),
    }


def model_fields(plugin_fields: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """``fields_get`` per model (the attributes the client asks for, §4)."""
    partner = {
        **_base_fields(),
        "name": _f("char", "Name"),
        "is_company": _f("boolean", "Is a Company"),
        "parent_id": _f("many2one", "Related Company", relation="res.partner"),
        "email": _f("char", "Email"),
        "function": _f("char", "Job Position"),
        "phone": _f("char", "Phone"),
        "website": _f("char", "Website Link"),
        "country_id": _f("many2one", "Country", relation="res.country"),
        "industry_id": _f("many2one", "Industry", relation="res.partner.industry"),
        "user_id": _f("many2one", "Salesperson", relation="res.users"),
        "is_blacklisted": _f("boolean", "Blacklist", readonly=True),
        "active": _f("boolean", "Active"),
    }
    lead = {
        **_base_fields(),
        "name": _f("char", "Opportunity", required=True),
        "type": _f(
            "selection", "Type", selection=[["lead", "Lead"], ["opportunity", "Opportunity"]]
        ),
        "partner_id": _f("many2one", "Customer", relation="res.partner"),
        "user_id": _f("many2one", "Salesperson", relation="res.users"),
        "stage_id": _f("many2one", "Stage", relation="crm.stage"),
        "active": _f("boolean", "Active"),
        "probability": _f("float", "Probability"),
        "expected_revenue": _f("monetary", "Expected Revenue"),
        "company_currency": _f("many2one", "Currency", relation="res.currency", readonly=True),
        "date_deadline": _f("date", "Expected Closing"),
        "date_closed": _f("datetime", "Closed Date", readonly=True),
        "x_engagement_start": _f("date", "Engagement Start", manual=True),
        "x_contract_end": _f("date", "Contract End", manual=True),
        "x_billing_model": _f("selection", "Billing Model", manual=True, selection=BILLING),
        "x_sla_tier": _f("selection", "SLA Tier", manual=True, selection=TIERS),
    }
    if plugin_fields:
        lead.update(
            {
                "x_engagement_risk_score": _f("integer", "Engagement Risk Score", manual=True),
                "x_engagement_risk_level": _f(
                    "selection", "Engagement Risk Level", manual=True, selection=RISK_LEVELS
                ),
                "x_engagement_risk_drivers": _f("text", "Engagement Risk Drivers", manual=True),
                "x_engagement_sla_status": _f(
                    "selection", "Engagement SLA Status", manual=True, selection=SLA_STATUSES
                ),
                "x_engagement_nps": _f("integer", "Engagement NPS", manual=True),
                "x_engagement_csat": _f("float", "Engagement CSAT", manual=True),
                "x_engagement_health_updated": _f(
                    "datetime", "Engagement Health Updated", manual=True
                ),
            }
        )
        partner.update(
            {
                "x_account_risk_level": _f(
                    "selection", "Account Risk Level", manual=True, selection=RISK_LEVELS
                ),
                "x_account_health_summary": _f("text", "Account Health Summary", manual=True),
            }
        )
    named = {**_base_fields(), "name": _f("char", "Name")}
    activity = {
        **_base_fields(),
        "res_model_id": _f("many2one", "Document Model", relation="ir.model", required=True),
        "res_model": _f("char", "Related Document Model", readonly=True),
        "res_id": _f("integer", "Related Document ID", required=True),
        "activity_type_id": _f("many2one", "Activity Type", relation="mail.activity.type"),
        "summary": _f("char", "Summary"),
        "note": _f("html", "Note"),
        "date_deadline": _f("date", "Due Date", required=True),
        "user_id": _f("many2one", "Assigned to", relation="res.users", required=True),
    }
    ir_fields = {
        **_base_fields(),
        "name": _f("char", "Field Name", required=True),
        "model": _f("char", "Model Name"),
        "model_id": _f("many2one", "Model", relation="ir.model", required=True),
        "field_description": _f("char", "Field Label", required=True),
        "ttype": _f("selection", "Field Type", required=True),
        "state": _f("selection", "Type", selection=[["manual", "Custom Field"], ["base", "Base"]]),
        "selection_ids": _f("one2many", "Selection Options", relation="ir.model.fields.selection"),
        "size": _f("integer", "Size"),
    }
    ir_data = {
        **_base_fields(),
        "module": _f("char", "Module", required=True),
        "name": _f("char", "External Identifier", required=True),
        "model": _f("char", "Model Name", required=True),
        "res_id": _f("integer", "Record ID"),
    }
    ir_model = {
        **_base_fields(),
        "model": _f("char", "Model"),
        "name": _f("char", "Model Description"),
    }
    users = {**named, "login": _f("char", "Login")}
    return {
        "res.partner": partner,
        "crm.lead": lead,
        "crm.stage": {**named, "is_won": _f("boolean", "Is Won Stage?")},
        "res.users": users,
        "res.country": dict(named),
        "res.partner.industry": dict(named),
        "res.currency": dict(named),
        "mail.activity": activity,
        "mail.activity.type": dict(named),
        "ir.model": ir_model,
        "ir.model.fields": ir_fields,
        "ir.model.data": ir_data,
    }


def odoo_stamp(value: str | datetime) -> str:
    """A Zoho-shaped ISO stamp (or a datetime) as Odoo stores it: naive UTC, seconds."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(ODOO_DATETIME)


@dataclass
class OdooPortfolio:
    records: dict[str, dict[int, dict[str, Any]]]
    #: Lead id -> the kind of deliberately odd value it holds.
    odd_leads: dict[int, str] = field(default_factory=dict)
    #: Opportunities marked lost (archived, probability 0).
    lost_leads: list[int] = field(default_factory=list)
    api_uid: int = 2


def build_odoo_portfolio(
    *, seed: int, accounts: int, deals: int, now: datetime, plugin_fields: bool = True
) -> OdooPortfolio:
    zoho = build_portfolio(seed=seed, accounts=accounts, deals=deals, now=now)
    stamp_now = odoo_stamp(now)
    users: dict[int, dict[str, Any]] = {
        2: {"id": 2, "name": zoho.api_user["name"], "login": zoho.api_user["email"]}
    }
    user_of: dict[str, int] = {}
    for index, user in enumerate(zoho.users, start=6):
        users[index] = {"id": index, "name": user["name"], "login": user["email"]}
        user_of[user["id"]] = index
    countries: dict[str, int] = {}
    industries: dict[str, int] = {}
    partners: dict[int, dict[str, Any]] = {}
    partner_of: dict[str, int] = {}
    next_partner = iter(range(10, 10**9))
    blank_partner_targets = dict.fromkeys(PLUGIN_FIELDS["res.partner"], False)

    def owner(record: dict[str, Any]) -> int | bool:
        person = record.get("Owner")
        return user_of.get(person["id"], False) if isinstance(person, dict) else False

    for zid, account in zoho.records["Accounts"].items():
        pid = next(next_partner)
        partner_of[zid] = pid
        country = account.get("Billing_Country")
        industry = account.get("Industry")
        partners[pid] = {
            "id": pid,
            "name": account["Account_Name"],
            "is_company": True,
            "parent_id": False,
            "email": False,
            "function": False,
            "phone": account.get("Phone") or False,
            "website": account.get("Website") or False,
            "country_id": countries.setdefault(country, len(countries) + 1) if country else False,
            "industry_id": industries.setdefault(industry, len(industries) + 1)
            if industry
            else False,
            "user_id": owner(account),
            "is_blacklisted": False,
            "active": True,
            "create_date": odoo_stamp(account["Created_Time"]),
            "write_date": odoo_stamp(account["Modified_Time"]),
            **(blank_partner_targets if plugin_fields else {}),
        }
    for contact in zoho.records["Contacts"].values():
        pid = next(next_partner)
        company = contact.get("Account_Name")
        parent = partner_of.get(company["id"]) if isinstance(company, dict) else None
        partners[pid] = {
            "id": pid,
            "name": f"{contact['First_Name']} {contact['Last_Name']}",
            "is_company": False,
            "parent_id": parent or False,
            "email": contact.get("Email") or False,
            "function": contact.get("Title") or False,
            "phone": False,
            "website": False,
            "country_id": partners[parent]["country_id"] if parent else False,
            "industry_id": False,
            "user_id": owner(contact),
            "is_blacklisted": bool(contact.get("Email_Opt_Out")),
            "active": True,
            "create_date": odoo_stamp(contact["Created_Time"]),
            "write_date": odoo_stamp(contact["Modified_Time"]),
            **(blank_partner_targets if plugin_fields else {}),
        }

    leads: dict[int, dict[str, Any]] = {}
    odd: dict[int, str] = {}
    lost: list[int] = []
    currency_id = {name: cid for cid, name in CURRENCIES.items()}
    blank_lead_targets = dict.fromkeys(PLUGIN_FIELDS["crm.lead"], False)
    for index, (zid, deal) in enumerate(zoho.records["Deals"].items(), start=1):
        company = deal.get("Account_Name")
        stage_name = deal.get("Stage")
        is_lost = stage_name == "Closed Lost"
        # A lost opportunity keeps the stage it was lost in (action_set_lost only archives it).
        stage: int | bool = 3 if is_lost else _STAGE_OF.get(stage_name or "", False)
        amount = deal.get("Amount")
        kind = zoho.odd_deals.get(zid)
        if kind in ("amount_garbled_string", "contract_end_garbage"):
            # A float or date column cannot hold text in Odoo: those imports fail there, so the
            # odd value an Odoo user ends up with is an empty field.
            kind = "amount_missing" if kind == "amount_garbled_string" else "contract_end_missing"
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            amount = False
        end = deal.get("Contract_End")
        if kind == "contract_end_missing":
            end = None
        record = {
            "id": index,
            "name": deal["Deal_Name"],
            "type": "opportunity",
            "partner_id": partner_of.get(company["id"], False)
            if isinstance(company, dict)
            else False,
            "user_id": owner(deal),
            "stage_id": stage if stage_name is not None else False,
            "active": not is_lost,
            "probability": 0.0 if is_lost else _PROBABILITY.get(stage or 0, 10.0),
            "expected_revenue": amount,
            "company_currency": currency_id.get(deal.get("Currency") or "USD", 1),
            "date_deadline": deal.get("Closing_Date") or False,
            "date_closed": odoo_stamp(deal["Modified_Time"]) if stage == 4 else False,
            "x_engagement_start": deal.get("Engagement_Start") or False,
            "x_contract_end": end or False,
            "x_billing_model": _BILLING_KEY.get(deal.get("Billing_Model") or "", False),
            "x_sla_tier": (deal.get("SLA_Tier") or "").lower() or False,
            "create_date": odoo_stamp(deal["Created_Time"]),
            "write_date": odoo_stamp(deal["Modified_Time"]),
            **(blank_lead_targets if plugin_fields else {}),
        }
        if kind:
            odd[index] = kind
            if kind == "amount_missing":
                record["expected_revenue"] = False
        if is_lost:
            lost.append(index)
        leads[index] = record
    # A few plain leads (not yet qualified): the mapping's domain must leave them out.
    for extra in range(len(leads) + 1, len(leads) + 6):
        leads[extra] = {
            **leads[1],
            "id": extra,
            "name": f"Inbound enquiry {extra}",
            "type": "lead",
            "partner_id": False,
            "stage_id": 1,
            "active": True,
            "write_date": stamp_now,
        }

    named = {
        "crm.stage": {sid: {"id": sid, "name": name, "is_won": won} for sid, name, won in STAGES},
        "res.country": {cid: {"id": cid, "name": name} for name, cid in countries.items()},
        "res.partner.industry": {iid: {"id": iid, "name": n} for n, iid in industries.items()},
        "res.currency": {cid: {"id": cid, "name": name} for cid, name in CURRENCIES.items()},
        "mail.activity.type": {tid: {"id": tid, "name": n} for tid, n, _ in ACTIVITY_TYPES},
        "ir.model": {mid: {"id": mid, "model": m, "name": m} for m, mid in MODELS.items()},
    }
    xml_ids = {
        i: {"id": i, "module": "mail", "name": xml, "model": "mail.activity.type", "res_id": tid}
        for i, (tid, _name, xml) in enumerate(ACTIVITY_TYPES, start=1)
    }
    for table in (*named.values(), xml_ids, users):
        for row in table.values():
            row.setdefault("create_date", stamp_now)
            row.setdefault("write_date", stamp_now)
    records: dict[str, dict[int, dict[str, Any]]] = {
        "res.partner": partners,
        "crm.lead": leads,
        "res.users": users,
        "mail.activity": {},
        "ir.model.fields": {},
        "ir.model.data": xml_ids,
        **named,
    }
    return OdooPortfolio(records=records, odd_leads=odd, lost_leads=lost)
