"""Deterministic portfolio and field metadata for the sandbox CRM.

Everything here is a pure function of ``(seed, accounts, deals, now)``: the same inputs give the
same records, ids and metadata, so demos and tests are reproducible. Shapes follow
/work/shared/research/zoho.md §2 (value shapes) and §5 (field metadata keys).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MODULES = ("Accounts", "Contacts", "Deals", "Calls", "Events", "Notes")
#: Activity modules: records attached to a deal or an account (§7 What_Id + $se_module; a
#: note's Parent_Id names its module itself).
ACTIVITY_MODULES = ("Calls", "Events", "Notes")

# Record ids are 19-digit numeric strings (§2 "IDs are 19-digit strings").
_RECORD_ID_BASE = 5725767000000000000
# Field ids use a different prefix so they never collide with record ids.
_FIELD_ID_BASE = 5725768000000000000
# Ids for fields created over the API (and their picklist values) start above every seeded id.
CREATED_FIELD_ID_BASE = _FIELD_ID_BASE + 1_000_000
CREATED_PICKLIST_ID_BASE = _FIELD_ID_BASE + 2_000_000

# The custom fields the plugin pushes computed values into. A fresh org has none of them until
# an admin (or the plugin, via POST /settings/fields, §5) creates them.
PLUGIN_FIELDS: dict[str, tuple[str, ...]] = {
    "Deals": (
        "Engagement_Risk_Score",
        "Engagement_Risk_Level",
        "Engagement_Risk_Drivers",
        "Engagement_SLA_Status",
        "Engagement_NPS",
        "Engagement_CSAT",
        "Engagement_Health_Updated",
    ),
    "Accounts": ("Account_Risk_Level", "Account_Health_Summary"),
}

RISK_LEVELS = ["Low", "Medium", "High", "Critical"]
CALL_TYPES = ["Outbound", "Inbound", "Missed"]
INDUSTRIES = ["IT Services", "Design", "BPO", "Finance", "Healthcare", "Retail", "Manufacturing"]
STAGES = [
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
CURRENCIES = ["USD", "EUR", "CNY", "GBP", "JPY"]
BILLING_MODELS = ["Fixed Price", "Time & Materials", "Dedicated Team", "Managed Service"]
SLA_TIERS = ["Gold", "Silver", "Bronze"]
SLA_STATUSES = ["Compliant", "At Risk", "Breached", "Not Measured"]

# Zoho's standard Deal stages in a new org, in order, each with the forecast type, forecast
# category and probability its picklist entry carries in GET /settings/fields?module=Deals.
# UNCONFIRMED (research/zoho.md §5 lists only the display/actual/reference/sequence/id/type keys
# of pick_list_values): the names and probabilities follow Zoho's standard pipeline as the issue
# quotes it; `forecast_type` is served as a string ("Open", "Closed Won", "Closed Lost") and
# `forecast_category` as {"name", "id"}, the shape community clients read (some read it as a
# plain string too; the client accepts both, connector/zoho/stages.py).
STANDARD_STAGES = [
    ("Qualification", "Open", "Pipeline", 10),
    ("Needs Analysis", "Open", "Pipeline", 20),
    ("Value Proposition", "Open", "Pipeline", 40),
    ("Id. Decision Makers", "Open", "Pipeline", 60),
    ("Proposal/Price Quote", "Open", "Committed", 75),
    ("Negotiation/Review", "Open", "Committed", 90),
    ("Closed Won", "Closed Won", "Closed", 100),
    ("Closed Lost", "Closed Lost", "Omitted", 0),
    ("Closed Lost to Competition", "Closed Lost", "Omitted", 0),
]
#: Stage -> (forecast type, forecast category, probability), for both profiles' picklists.
STAGE_FORECAST: dict[str, tuple[str, str, int]] = {
    name: (kind, category, probability) for name, kind, category, probability in STANDARD_STAGES
}
_FORECAST_CATEGORY_IDS = {"Pipeline": "1", "Committed": "2", "Closed": "3", "Omitted": "4"}
#: Deal fields of the default profile that a standard org does not have (custom source fields).
CUSTOM_SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "Deals": ("Engagement_Start", "Contract_End", "Billing_Model", "SLA_Tier")
}
#: The modules of a standard org as this sandbox serves them: no Calls or Events (an org can
#: go without them; the issue's org did), so GET /Calls answers INVALID_MODULE.
STANDARD_ORG_MODULES = ("Accounts", "Contacts", "Deals", "Notes")


def stage_value_meta(
    value: str, forecast_type: str, category: str, probability: int
) -> dict[str, Any]:
    """The forecast keys of one Stage picklist entry (see STANDARD_STAGES)."""
    return {
        "forecast_type": forecast_type,
        "forecast_category": {
            "name": category,
            "id": str(_FIELD_ID_BASE + 800_000 + int(_FORECAST_CATEGORY_IDS.get(category, "9"))),
        },
        "probability": probability,
    }


def with_stage_meta(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deals fields with each Stage picklist entry carrying its forecast keys."""
    for meta in fields:
        if meta["api_name"] == "Stage":
            for entry in meta["pick_list_values"]:
                forecast = STAGE_FORECAST.get(entry["actual_value"])
                if forecast is not None:
                    entry.update(stage_value_meta(entry["actual_value"], *forecast))
    return fields


def make_standard_org(
    records: dict[str, dict[str, dict[str, Any]]], fields: dict[str, list[dict[str, Any]]]
) -> None:
    """Turn a seeded org into a standard one in place: no Calls/Events, no custom source
    fields, Zoho's standard stages (a third of the lost deals lost to competition)."""
    for module in list(records):
        if module not in STANDARD_ORG_MODULES:
            del records[module]
    for module in list(fields):
        if module not in STANDARD_ORG_MODULES:
            del fields[module]
    for module in list(fields):
        # Only Zoho's standard fields: every custom one goes (CUSTOM_SOURCE_FIELDS, the
        # plugin's targets, and any other seeded custom field), from metadata and records.
        names = {f["api_name"] for f in fields[module] if f.get("custom_field")}
        names.update(CUSTOM_SOURCE_FIELDS.get(module, ()))
        fields[module] = [f for f in fields[module] if f["api_name"] not in names]
        for record in records.get(module, {}).values():
            for name in names:
                record.pop(name, None)
    stage = next(f for f in fields["Deals"] if f["api_name"] == "Stage")
    base = _FIELD_ID_BASE + 700_000
    stage["pick_list_values"] = [
        {
            "display_value": name,
            "actual_value": name,
            "reference_value": name,
            "sequence_number": seq,
            "id": str(base + seq),
            "type": "used",
            **stage_value_meta(name, kind, category, probability),
        }
        for seq, (name, kind, category, probability) in enumerate(STANDARD_STAGES, start=1)
    ]
    lost = sorted(rid for rid, r in records["Deals"].items() if r.get("Stage") == "Closed Lost")
    for rid in lost[::3]:
        records["Deals"][rid]["Stage"] = "Closed Lost to Competition"


# Probability per stage, used for the Expected_Revenue formula (Zoho's standard formula is
# Amount * Probability / 100; the sandbox has no Probability field, so it derives it from Stage).
STAGE_PROBABILITY = {
    "Qualification": 10,
    "Needs Analysis": 20,
    "Proposal/Price Quote": 60,
    "Negotiation/Review": 80,
    "Closed Won": 100,
    "Closed Lost": 0,
    "Closed Lost to Competition": 0,
}

# (name, email) of the sales users who own records and "edit in the UI".
SALES_USERS = [
    ("Emily Carter", "emily.carter@sandbox-crm.example"),
    ("Daniel Okafor", "daniel.okafor@sandbox-crm.example"),
    ("张伟", "zhang.wei@sandbox-crm.example"),
    ("Sofia Martins", "sofia.martins@sandbox-crm.example"),
    ("李娜", "li.na@sandbox-crm.example"),
    ("Lukas Becker", "lukas.becker@sandbox-crm.example"),
]
API_USER_NAME = "Sandbox Integration"
API_USER_EMAIL = "integration@sandbox-crm.example"

_EN_FIRST = [
    "Northwind", "Acme", "Globex", "Initech", "Contoso", "Fabrikam", "Blue Harbor", "Silverline",
    "Redwood", "Summit", "Crescent", "Pioneer", "Atlas", "Evergreen", "Brightwave", "Ironbridge",
    "Lakeside", "Maple", "Orion", "Sterling",
]  # fmt: skip
_EN_SECOND = [
    "Logistics", "Health", "Retail", "Bank", "Insurance", "Media", "Energy", "Foods", "Pharma",
    "Telecom", "Analytics", "Travel", "Robotics", "Studios",
]  # fmt: skip
_EN_SUFFIX = ["", "", " Inc.", " Ltd", " GmbH", " LLC", " plc", " Group"]
_CN_CITY = ["上海", "北京", "深圳", "杭州", "广州", "成都", "苏州", "南京", "武汉", "西安"]
_CN_WORD = ["云栈", "蓝海", "智远", "星河", "易达", "华信", "博睿", "新元", "启明", "汇通", "天成"]
_CN_KIND = ["信息技术", "设计", "外包服务", "软件", "数据科技", "咨询", "网络科技"]
_CN_SUFFIX = ["有限公司", "有限公司", "股份有限公司", "工作室"]
_EN_DEAL = [
    "Managed Service Desk", "Data Labeling", "Mobile App Development", "Cloud Migration",
    "QA Automation", "Customer Support Outsourcing", "UX Redesign", "Back-office BPO",
    "SOC Monitoring", "ERP Support", "Dedicated Dev Team", "Content Moderation",
]  # fmt: skip
_CN_DEAL = [
    "数据标注外包", "客服外包服务", "移动应用开发", "云迁移项目", "测试自动化", "品牌视觉设计",
    "运维托管服务", "财务共享中心",
]  # fmt: skip
_CN_PHASE = ["一期", "二期", "三期", ""]
_EN_PEOPLE = [
    ("James", "Smith"), ("Olivia", "Johnson"), ("Liam", "Brown"), ("Ava", "Garcia"),
    ("Noah", "Miller"), ("Mia", "Davis"), ("Ethan", "Wilson"), ("Chloe", "Moore"),
    ("Lucas", "Taylor"), ("Emma", "Anderson"),
]  # fmt: skip
# (family, given, romanised "given.family") for Chinese contacts.
_CN_PEOPLE = [
    ("王", "芳", "fang.wang"), ("刘", "洋", "yang.liu"), ("陈", "静", "jing.chen"),
    ("杨", "磊", "lei.yang"), ("赵", "敏", "min.zhao"), ("黄", "勇", "yong.huang"),
    ("周", "婷", "ting.zhou"), ("吴", "强", "qiang.wu"),
]  # fmt: skip
_TITLES = ["CTO", "Head of Operations", "IT Manager", "Procurement Lead", "VP Engineering",
           "Customer Success Director", "运营总监", "技术经理"]  # fmt: skip
_COUNTRIES_EN = ["United States", "United Kingdom", "Germany", "Netherlands", "Canada", "France"]

# The kinds of deliberately odd deal values (about 3% of deals); see build_portfolio().
ODD_KINDS = (
    "missing_account",
    "contract_end_before_start",
    "amount_garbled_string",
    "contract_end_garbage",
    "null_stage",
    "negative_amount",
)


def iso(dt: datetime) -> str:
    """Zoho datetime shape: ISO-8601, second precision, explicit offset (§2 value shapes)."""
    return dt.replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- field metadata

_JSON_TYPE = {
    "bigint": "string",
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "integer": "integer",
    "double": "double",
    "currency": "double",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "formula": "double",
}
_DEFAULT_LENGTH = {
    "bigint": 19,
    "text": 255,
    "textarea": 2000,
    "email": 100,
    "phone": 30,
    "website": 255,
    "picklist": 120,
    "integer": 9,
    "double": 16,
    "currency": 16,
    "boolean": 5,
    "date": 20,
    "datetime": 120,
    "lookup": 120,
    "ownerlookup": 120,
    "formula": 16,
}


def _field(
    module_index: int,
    index: int,
    api_name: str,
    label: str,
    data_type: str,
    *,
    picklist: list[str] | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Seeded metadata: ids derive from (module, position) so they are stable across runs."""
    values = [
        (value, str(_FIELD_ID_BASE + 500_000 + module_index * 100_000 + index * 100 + seq))
        for seq, value in enumerate(picklist or [], start=1)
    ]
    return field_meta(
        str(_FIELD_ID_BASE + module_index * 1000 + index),
        api_name,
        label,
        data_type,
        picklist=values,
        lookup_module_id=str(_FIELD_ID_BASE + 900_000),
        **opts,
    )


def field_meta(
    field_id: str,
    api_name: str,
    label: str,
    data_type: str,
    *,
    length: int | None = None,
    custom: bool = False,
    read_only: bool = False,
    mandatory: bool = False,
    picklist: list[tuple[str, str]] | None = None,
    lookup_module: str | None = None,
    lookup_module_id: str = "",
    formula: dict[str, Any] | None = None,
    decimal_place: int | None = None,
) -> dict[str, Any]:
    """One field as GET /settings/fields returns it (§5). ``picklist`` is (value, value id)."""
    values = [
        {
            "display_value": value,
            "actual_value": value,
            "reference_value": value,
            "sequence_number": seq,
            "id": value_id,
            "type": "used",
        }
        for seq, (value, value_id) in enumerate(picklist or [], start=1)
    ]
    lookup: dict[str, Any] = {}
    if lookup_module is not None:
        lookup = {
            "display_label": label,
            "api_name": api_name,
            "module": {"api_name": lookup_module, "id": lookup_module_id},
            "id": field_id,
        }
    if decimal_place is None and data_type in ("currency", "double", "formula"):
        decimal_place = 2
    return {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": _JSON_TYPE[data_type],
        "length": length if length is not None else _DEFAULT_LENGTH[data_type],
        "decimal_place": decimal_place,
        "custom_field": custom,
        "read_only": read_only,
        "field_read_only": read_only,
        "system_mandatory": mandatory,
        "operation_type": {
            "api_create": not read_only,
            "api_update": not read_only,
            "api_read": True,
            "web_create": not read_only,
            "web_update": not read_only,
            "web_read": True,
        },
        "lookup": lookup,
        "formula": formula or {},
        "pick_list_values": values,
        "id": field_id,
        "visible": True,
    }


def _common_head() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [("id", "Record Id", "bigint", {"read_only": True})]


def _common_tail() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("Owner", "Owner", "ownerlookup", {}),
        ("Created_By", "Created By", "ownerlookup", {"read_only": True}),
        ("Modified_By", "Modified By", "ownerlookup", {"read_only": True}),
        ("Created_Time", "Created Time", "datetime", {"read_only": True}),
        ("Modified_Time", "Modified Time", "datetime", {"read_only": True}),
    ]


def _specs(module: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    body: list[tuple[str, str, str, dict[str, Any]]]
    if module == "Accounts":
        body = [
            ("Account_Name", "Account Name", "text", {"length": 200, "mandatory": True}),
            ("Industry", "Industry", "picklist", {"picklist": INDUSTRIES}),
            ("Phone", "Phone", "phone", {}),
            ("Website", "Website", "website", {}),
            ("Billing_Country", "Billing Country", "text", {"length": 100}),
            ("Account_Risk_Level", "Account Risk Level", "picklist",
             {"picklist": RISK_LEVELS, "custom": True}),
            ("Account_Health_Summary", "Account Health Summary", "textarea",
             {"length": 2000, "custom": True}),
        ]  # fmt: skip
    elif module == "Contacts":
        body = [
            ("First_Name", "First Name", "text", {"length": 40}),
            ("Last_Name", "Last Name", "text", {"length": 80, "mandatory": True}),
            ("Email", "Email", "email", {}),
            ("Account_Name", "Account Name", "lookup", {"lookup_module": "Accounts"}),
            ("Title", "Title", "text", {"length": 100}),
            ("Email_Opt_Out", "Email Opt Out", "boolean", {}),
        ]
    elif module == "Deals":
        body = [
            ("Deal_Name", "Deal Name", "text", {"length": 120, "mandatory": True}),
            ("Account_Name", "Account Name", "lookup", {"lookup_module": "Accounts"}),
            ("Stage", "Stage", "picklist", {"picklist": STAGES, "mandatory": True}),
            ("Amount", "Amount", "currency", {}),
            ("Currency", "Currency", "picklist", {"picklist": CURRENCIES}),
            ("Closing_Date", "Closing Date", "date", {}),
            ("Engagement_Start", "Engagement Start", "date", {"custom": True}),
            # Typed by hand: an admin created these two custom fields as single-line text, as
            # orgs that imported their contracts from spreadsheets do. Zoho validates typed
            # fields on entry (a currency field holds a number, a date field a date), so the
            # odd values people type ("739,400 USD", "31/02/2026") can only live in text fields.
            # (Contract_Value, the other one, is last so that every field keeps its id.)
            ("Contract_End", "Contract End", "text", {"length": 20, "custom": True}),
            ("Billing_Model", "Billing Model", "picklist",
             {"picklist": BILLING_MODELS, "custom": True}),
            ("SLA_Tier", "SLA Tier", "picklist", {"picklist": SLA_TIERS, "custom": True}),
            # A read-only formula: a connector must not try to write it (§5 field guard, §11).
            ("Expected_Revenue", "Expected Revenue", "formula",
             {"read_only": True, "formula": {"return_type": "currency",
                                             "expression": "Amount * Probability / 100"}}),
            # Target fields the connector pushes computed values into.
            ("Engagement_Risk_Score", "Engagement Risk Score", "integer", {"custom": True}),
            ("Engagement_Risk_Level", "Engagement Risk Level", "picklist",
             {"picklist": RISK_LEVELS, "custom": True}),
            ("Engagement_Risk_Drivers", "Engagement Risk Drivers", "textarea",
             {"length": 2000, "custom": True}),
            ("Engagement_SLA_Status", "Engagement SLA Status", "picklist",
             {"picklist": SLA_STATUSES, "custom": True}),
            ("Engagement_NPS", "Engagement NPS", "integer", {"custom": True}),
            ("Engagement_CSAT", "Engagement CSAT", "double",
             {"custom": True, "decimal_place": 2}),
            ("Engagement_Health_Updated", "Engagement Health Updated", "datetime",
             {"custom": True}),
            ("Contract_Value", "Contract Value", "text", {"length": 50, "custom": True}),
        ]  # fmt: skip
    elif module == "Calls":
        body = [
            ("Subject", "Subject", "text", {"length": 255, "mandatory": True}),
            ("Call_Type", "Call Type", "picklist", {"picklist": CALL_TYPES, "mandatory": True}),
            ("Call_Start_Time", "Call Start Time", "datetime", {"mandatory": True}),
            ("Call_Duration", "Call Duration", "text", {"length": 10}),
            ("What_Id", "Related To", "lookup", {}),
        ]
    elif module == "Events":
        body = [
            ("Event_Title", "Title", "text", {"length": 255, "mandatory": True}),
            ("Start_DateTime", "From", "datetime", {"mandatory": True}),
            ("End_DateTime", "To", "datetime", {"mandatory": True}),
            ("What_Id", "Related To", "lookup", {}),
        ]
    elif module == "Notes":
        body = [
            ("Note_Title", "Note Title", "text", {"length": 120}),
            ("Note_Content", "Note Content", "textarea", {"length": 32000}),
            ("Parent_Id", "Parent Id", "lookup", {}),
        ]
    else:
        raise KeyError(module)
    return _common_head() + body + _common_tail()


def module_fields(module: str, *, plugin_fields: bool = True) -> list[dict[str, Any]]:
    """Field metadata for ``module`` as GET /settings/fields returns it (§5).

    With ``plugin_fields=False`` the plugin's target fields are left out; the other fields keep
    the ids they have in a full org (ids come from the position in the full list).
    """
    module_index = MODULES.index(module)
    skipped = () if plugin_fields else PLUGIN_FIELDS.get(module, ())
    return with_stage_meta(
        [
            _field(module_index, i, api, label, dtype, **opts)
            for i, (api, label, dtype, opts) in enumerate(_specs(module), start=1)
            if api not in skipped
        ]
    )


# --------------------------------------------------------------------------- portfolio


@dataclass
class Portfolio:
    """Seeded data: users, records per module, and the ids of deliberately odd deals."""

    users: list[dict[str, str]]
    api_user: dict[str, str]
    records: dict[str, dict[str, dict[str, Any]]]
    odd_deals: dict[str, str] = field(default_factory=dict)


def build_portfolio(
    *, seed: int, accounts: int, deals: int, now: datetime, plugin_fields: bool = True
) -> Portfolio:
    """Build a deterministic portfolio. ``now`` must be tz-aware; it anchors every date.

    ``plugin_fields=False`` drops the plugin's target fields from every record; all other
    values are identical to a full org built from the same inputs.
    """
    rng = random.Random(seed)
    now = now.replace(microsecond=0)
    today = now.date()
    counter = 0

    def next_id() -> str:
        nonlocal counter
        counter += 1
        return str(_RECORD_ID_BASE + counter)

    # User dicts are shared between records: treat them as immutable (writes replace them).
    users = [{"name": n, "id": next_id(), "email": e} for n, e in SALES_USERS]
    api_user = {"name": API_USER_NAME, "id": next_id(), "email": API_USER_EMAIL}
    day = 86400.0

    # Precomputed day strings make 100k deals cheap to build (formatting dominates otherwise).
    day_iso = {off: (today + timedelta(days=off)).isoformat() for off in range(-1600, 1600)}
    midnight = now.replace(hour=0, minute=0, second=0)
    now_secs = int((now - midnight).total_seconds())
    tz_suffix = now.isoformat()[19:]  # "+00:00" for a UTC clock

    def stamp(seconds_ago: int) -> str:
        days, rem = divmod(now_secs - seconds_ago, 86400)
        hours, rem = divmod(rem, 3600)
        return f"{day_iso[days]}T{hours:02d}:{rem // 60:02d}:{rem % 60:02d}{tz_suffix}"

    def stamps() -> tuple[str, str]:
        # Modified within the last 90 days (at least a minute ago so a fresh edit at `now` is
        # strictly newer); created up to ~2 years before that.
        modified_ago = 60 + int(rng.random() * 90 * day)
        created_ago = modified_ago + int(rng.random() * 700 * day)
        return stamp(created_ago), stamp(modified_ago)

    # ---- accounts
    account_store: dict[str, dict[str, Any]] = {}
    account_meta: list[tuple[str, str, str, bool, dict[str, str]]] = []  # id,name,short,cn,owner
    used_names: set[str] = set()
    for i in range(accounts):
        chinese = rng.random() < 0.25
        if chinese:
            city, word = rng.choice(_CN_CITY), rng.choice(_CN_WORD)
            name = city + word + rng.choice(_CN_KIND) + rng.choice(_CN_SUFFIX)
            short = city + word
            country = "China"
        else:
            first, second = rng.choice(_EN_FIRST), rng.choice(_EN_SECOND)
            name = f"{first} {second}{rng.choice(_EN_SUFFIX)}"
            short = first
            country = rng.choice(_COUNTRIES_EN)
        if name in used_names:  # Account_Name is the duplicate-check field (§4); keep unique
            name = f"{name} {i + 1}"
        used_names.add(name)
        owner_user = users[rng.randrange(len(users))]
        created, modified = stamps()
        rid = next_id()
        slug = "".join(ch for ch in short.lower() if ch.isascii() and ch.isalnum()) or f"cn{i}"
        account_store[rid] = {
            "id": rid,
            "Account_Name": name,
            "Industry": rng.choice(INDUSTRIES),
            "Phone": f"+86 21 {rng.randrange(10**7, 10**8)}"
            if chinese
            else f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            "Website": f"https://www.{slug}.example",
            "Billing_Country": country,
            "Account_Risk_Level": None,
            "Account_Health_Summary": None,
            "Owner": owner_user,
            "Created_By": owner_user,
            "Modified_By": users[rng.randrange(len(users))],
            "Created_Time": created,
            "Modified_Time": modified,
        }
        account_meta.append((rid, name, short, chinese, owner_user))

    # ---- contacts (~2 per account)
    contact_store: dict[str, dict[str, Any]] = {}
    for aid, aname, short, chinese, owner_user in account_meta:
        for _ in range(1 + rng.randrange(3)):  # 1..3, mean 2
            if chinese and rng.random() < 0.8:
                family, given, roman = rng.choice(_CN_PEOPLE)
                first_name, last_name, local = given, family, roman
            else:
                first_name, last_name = rng.choice(_EN_PEOPLE)
                local = f"{first_name}.{last_name}".lower()
            slug = "".join(ch for ch in short.lower() if ch.isascii() and ch.isalnum()) or "corp"
            created, modified = stamps()
            rid = next_id()
            contact_store[rid] = {
                "id": rid,
                "First_Name": first_name,
                "Last_Name": last_name,
                "Email": f"{local}@{slug}.example",
                "Account_Name": {"name": aname, "id": aid},
                "Title": rng.choice(_TITLES),
                "Email_Opt_Out": rng.random() < 0.1,
                "Owner": owner_user,
                "Created_By": owner_user,
                "Modified_By": owner_user,
                "Created_Time": created,
                "Modified_Time": modified,
            }

    # ---- deals
    deal_store: dict[str, dict[str, Any]] = {}
    odd: dict[str, str] = {}
    open_stages = STAGES[:4]
    years = [today.year - 1, today.year, today.year + 1]
    log_lo, log_hi = math.log(5_000), math.log(2_000_000)
    n_acc = len(account_meta)
    random_ = rng.random
    for i in range(deals):
        # Round-robin with a seeded jitter so accounts get uneven deal counts.
        acc = account_meta[(i + int(random_() * 3)) % n_acc] if n_acc else None
        r = random_()
        if r < 0.60:
            stage: str | None = "Closed Won"
        elif r < 0.70:
            stage = "Closed Lost"
        else:
            stage = open_stages[int(random_() * 4)]
        # Day offsets relative to today; formatted through the day_iso table.
        start = -int(random_() * 730)
        end: int | None = int(random_() * 790) - 60
        if end is not None and end <= start:
            end = start + 30 + int(random_() * 335)
        if stage == "Closed Won":
            closing = start - 5 - int(random_() * 55)
        elif stage == "Closed Lost":
            closing = -int(random_() * 400)
        else:
            closing = int(random_() * 270) - 90  # some open deals are overdue
        amount: Any = round(math.exp(log_lo + random_() * (log_hi - log_lo)), -2)
        chinese = acc is not None and acc[3]
        c = random_()
        if chinese:
            currency = "CNY" if c < 0.8 else "USD"
        else:
            currency = "USD" if c < 0.55 else "EUR" if c < 0.8 else "GBP" if c < 0.9 else "JPY"
        if chinese and random_() < 0.6:
            deal_name = rng.choice(_CN_DEAL) + rng.choice(_CN_PHASE)
        else:
            short = acc[2] if acc is not None else "Unassigned"
            deal_name = f"{short} — {rng.choice(_EN_DEAL)} {rng.choice(years)}"
        billing: str | None = BILLING_MODELS[int(random_() * 4)]
        if random_() < 0.04:  # legitimately empty optional fields
            end = None
        if random_() < 0.04:
            billing = None
        owner_user = acc[4] if acc is not None else users[i % len(users)]
        created, modified = stamps()
        rid = next_id()
        record: dict[str, Any] = {
            "id": rid,
            "Deal_Name": deal_name,
            "Account_Name": {"name": acc[1], "id": acc[0]} if acc is not None else None,
            "Stage": stage,
            "Amount": amount,
            "Currency": currency,
            "Closing_Date": day_iso[closing],
            "Engagement_Start": day_iso[start],
            # What the account manager typed: the amount's digits (odd values below).
            "Contract_Value": str(int(amount)),
            "Contract_End": day_iso[end] if end is not None else None,
            "Billing_Model": billing,
            "SLA_Tier": SLA_TIERS[int(random_() * 3)],
            "Expected_Revenue": None,
            "Engagement_Risk_Score": None,
            "Engagement_Risk_Level": None,
            "Engagement_Risk_Drivers": None,
            "Engagement_SLA_Status": None,
            "Engagement_NPS": None,
            "Engagement_CSAT": None,
            "Engagement_Health_Updated": None,
            "Owner": owner_user,
            "Created_By": owner_user,
            "Modified_By": owner_user,
            "Created_Time": created,
            "Modified_Time": modified,
        }
        # Odd values as if imported into the org by hand (about 3%, deterministic per seed).
        if random_() < 0.03:
            kind = ODD_KINDS[int(random_() * len(ODD_KINDS))]
            odd[rid] = kind
            if kind == "missing_account":
                record["Account_Name"] = None
            elif kind == "contract_end_before_start":
                record["Contract_End"] = day_iso[start - 1 - int(random_() * 90)]
            elif kind == "amount_garbled_string":
                # In the text field Contract_Value; Amount (currency) keeps its number.
                record["Contract_Value"] = f"{int(amount):,} {currency}"
            elif kind == "contract_end_garbage":
                record["Contract_End"] = f"31/02/{today.year}"  # Contract_End is text
            elif kind == "null_stage":
                # UNCONFIRMED whether Zoho can hold a deal without a Stage (system mandatory);
                # a record imported before a layout rule existed is the plausible way.
                record["Stage"] = None
            else:
                record["Amount"] = -amount
                record["Contract_Value"] = str(int(-amount))
        record["Expected_Revenue"] = expected_revenue(record)
        deal_store[rid] = record

    records = {"Accounts": account_store, "Contacts": contact_store, "Deals": deal_store}
    # Activities come last and from their own generator, so every value above is the same as
    # in a sandbox without them.
    records.update(_activities(random.Random(seed + 1), account_meta, deal_store, stamp, next_id))
    if not plugin_fields:
        # Stripped after generation so the random draws (and so every other value) are unchanged.
        for module, names in PLUGIN_FIELDS.items():
            for stored in records[module].values():
                for name in names:
                    del stored[name]
    return Portfolio(users=users, api_user=api_user, records=records, odd_deals=odd)


def expected_revenue(deal: dict[str, Any]) -> float | None:
    """The formula value: Amount * Probability / 100 (null when Amount is not a number)."""
    amount = deal.get("Amount")
    probability = STAGE_PROBABILITY.get(deal.get("Stage") or "")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or probability is None:
        return None
    return round(float(amount) * probability / 100, 2)


def _activities(
    rng: random.Random,
    accounts: list[tuple[str, str, str, bool, dict[str, str]]],
    deals: dict[str, dict[str, Any]],
    stamp: Any,
    next_id: Any,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Calls, meetings and notes of the last 60 days on won deals and on some accounts: the
    client conversations an account manager logs. About a fifth of won deals have none, and some
    weekly status meetings have slipped (what the communication factor is there to notice)."""
    calls: dict[str, dict[str, Any]] = {}
    events: dict[str, dict[str, Any]] = {}
    notes: dict[str, dict[str, Any]] = {}
    day = 86400

    def logged(when_ago: int) -> tuple[str, str]:
        # Logged within a day after the activity, possibly edited up to three days later; both
        # at least a minute ago. (Clamping later times to "a minute ago" instead, as this once
        # did, put a sixth of all meetings on one second, which no real org has.)
        created_ago = when_ago - rng.randrange(min(day, when_ago - 60))
        edited_ago = created_ago - rng.randrange(3 * day)
        return stamp(created_ago), stamp(edited_ago if edited_ago >= 60 else created_ago)

    def related_to(module: str, rid: str, name: str) -> dict[str, Any]:
        return {"What_Id": {"name": name, "id": rid}, "$se_module": module}

    targets = [
        ("Deals", rid, d["Deal_Name"], d["Owner"])
        for rid, d in deals.items()
        if d["Stage"] == "Closed Won" and rng.random() < 0.8
    ] + [("Accounts", a[0], a[1], a[4]) for a in accounts if rng.random() < 0.3]
    for module, rid, name, owner in targets:
        for _ in range(rng.randrange(3)):
            ago = 3600 + rng.randrange(60 * day)
            created, modified = logged(ago)
            cid = next_id()
            calls[cid] = {
                "id": cid,
                "Subject": f"Call with {name}",
                "Call_Type": CALL_TYPES[rng.randrange(2)],
                "Call_Start_Time": stamp(ago),
                "Call_Duration": f"{rng.randrange(5, 60):02d}:00",
                **related_to(module, rid, name),
                "Owner": owner,
                "Created_By": owner,
                "Modified_By": owner,
                "Created_Time": created,
                "Modified_Time": modified,
            }
        meetings: list[tuple[str, int]] = []
        if module == "Deals":
            # Most won deals hold a weekly status meeting (about one in seven has let it
            # slip for two to four weeks); some also had a monthly review.
            if rng.random() < 0.92:
                slipped = rng.random() < 0.15
                last = (7 + rng.randrange(21) if slipped else rng.randrange(6)) * day
                meetings += [("Weekly status meeting", last + 3600 + w * 7 * day) for w in range(2)]
            if rng.random() < 0.4:
                meetings.append(("Monthly review", 3600 + rng.randrange(30 * day)))
        for title, ago in meetings:
            created, modified = logged(ago)
            eid = next_id()
            events[eid] = {
                "id": eid,
                "Event_Title": title,
                "Start_DateTime": stamp(ago),
                "End_DateTime": stamp(ago - 3600),
                **related_to(module, rid, name),
                "Owner": owner,
                "Created_By": owner,
                "Modified_By": owner,
                "Created_Time": created,
                "Modified_Time": modified,
            }
        if rng.random() < 0.4:
            ago = 3600 + rng.randrange(45 * day)
            nid = next_id()
            notes[nid] = {
                "id": nid,
                "Note_Title": "Client feedback",
                "Note_Content": "Discussed delivery progress and next steps.",
                "Parent_Id": {"module": {"api_name": module}, "id": rid, "name": name},
                "Owner": owner,
                "Created_By": owner,
                "Modified_By": owner,
                "Created_Time": stamp(ago),
                "Modified_Time": stamp(ago),
            }
    return {"Calls": calls, "Events": events, "Notes": notes}
