"""The Fxiaoke sandbox's data: the Zoho sandbox's portfolio, as a Chinese tenant would hold it.

``seed.build_portfolio`` draws the companies, people and deals (same seed, same shape: stages,
amounts, dates, billing models, SLA tiers, odd values); this module gives them Chinese names and
reshapes them as Fxiaoke objects (research/fxiaoke_and_tools.md A3–A5): ``_id`` strings that
sort by creation, ``owner`` as a list of employee ids, dates and times as epoch milliseconds,
numbers and currency as strings, single-selects by option value, ``life_status``, and the
plugin's fields as custom ``field_xxxxx__c`` fields with Chinese labels (the API name Fxiaoke
generates is not the label: the plugin finds its fields by label).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ..zoho.seed import build_portfolio

CITIES = ["上海", "北京", "深圳", "杭州", "广州", "成都", "苏州", "南京", "武汉", "西安", "天津"]
CORES = [
    "华信",
    "瑞达",
    "博远",
    "新元",
    "恒通",
    "启明",
    "云帆",
    "天诚",
    "众联",
    "卓越",
    "万邦",
    "中科",
]
SUFFIXES = [
    "科技有限公司",
    "信息技术有限公司",
    "数据服务有限公司",
    "软件股份有限公司",
    "网络科技有限公司",
]
SERVICES = ["移动应用开发", "数据平台外包", "客服外包", "IT 运维托管", "UI/UX 设计", "测试外包"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷", "强", "丽", "涛"]
TITLES = ["客户成功总监", "采购经理", "IT 总监", "项目经理", "运营副总裁"]

#: sales_stage options (value, label): the Zoho stage each comes from.
STAGES = [
    ("1", "初步接洽", "Qualification"),
    ("2", "需求确认", "Needs Analysis"),
    ("3", "方案报价", "Proposal/Price Quote"),
    ("4", "谈判审核", "Negotiation/Review"),
    ("5", "赢单", "Closed Won"),
    ("6", "输单", "Closed Lost"),
]
BILLING = [
    ("fixed_price", "固定总价", "Fixed Price"),
    ("time_materials", "人天计费", "Time & Materials"),
    ("dedicated_team", "专属团队", "Dedicated Team"),
    ("managed_service", "托管服务", "Managed Service"),
]
TIERS = [("gold", "金牌", "Gold"), ("silver", "银牌", "Silver"), ("bronze", "铜牌", "Bronze")]
RISK_LEVELS = [("low", "低"), ("medium", "中"), ("high", "高"), ("critical", "严重")]
SLA_STATUSES = [
    ("compliant", "达标"),
    ("at_risk", "有风险"),
    ("breached", "已违约"),
    ("not_measured", "未测量"),
]
LIFE_STATUS = [("normal", "正常"), ("invalid", "作废"), ("ineffective", "未生效")]

#: The plugin's fields: (object, label, type, extra). Labels are what mappings/fxiaoke.toml says.
PLUGIN_FIELDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("opportunity", "项目风险分", "number", {"decimal_places": 0}),
    ("opportunity", "项目风险等级", "select_one", {"options": RISK_LEVELS}),
    ("opportunity", "项目风险因素", "long_text", {}),
    ("opportunity", "SLA 状态", "select_one", {"options": SLA_STATUSES}),
    ("opportunity", "NPS", "number", {"decimal_places": 0}),
    ("opportunity", "CSAT", "number", {"decimal_places": 2}),
    ("opportunity", "健康度更新时间", "date_time", {}),
    ("AccountObj", "客户风险等级", "select_one", {"options": RISK_LEVELS}),
    ("AccountObj", "客户健康摘要", "long_text", {}),
]


def generated_api_name(label: str) -> str:
    """``field_<5 chars>__c``, as Fxiaoke names a new custom field (A4: observed pattern)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    digest = hashlib.sha256(label.encode("utf-8")).digest()
    return "field_" + "".join(alphabet[b % len(alphabet)] for b in digest[:5]) + "__c"


def _field(label: str, kind: str, **extra: Any) -> dict[str, Any]:
    options = extra.pop("options", None)
    meta: dict[str, Any] = {
        "label": label,
        "type": kind,
        "is_required": extra.pop("is_required", False),
        "define_type": extra.pop("define_type", "package"),
        **extra,
    }
    if options is not None:
        meta["options"] = [{"value": o[0], "label": o[1]} for o in options]
    return meta


def _common() -> dict[str, dict[str, Any]]:
    return {
        "_id": _field("ID", "text", define_type="system"),
        "name": _field("名称", "text", is_required=True),
        "owner": _field("负责人", "employee", is_required=True),
        "life_status": _field("生命状态", "select_one", options=LIFE_STATUS),
        "create_time": _field("创建时间", "date_time", define_type="system"),
        "last_modified_time": _field("最后修改时间", "date_time", define_type="system"),
        "created_by": _field("创建人", "employee", define_type="system"),
        "last_modified_by": _field("最后修改人", "employee", define_type="system"),
    }


def describe_fields(
    opportunity_object: str, plugin_fields: bool = True
) -> dict[str, dict[str, dict[str, Any]]]:
    """``describe`` per object: ``fields.<api_name>.{type, label, is_required, options, …}``."""
    account = {
        **_common(),
        "industry": _field("行业", "text"),
        "tel": _field("电话", "phone_number"),
        "url": _field("网址", "text"),
        "country": _field("国家", "text"),
    }
    contact = {
        **_common(),
        "account_id": _field("客户名称", "object_reference", target_api_name="AccountObj"),
        "email": _field("邮件", "email"),
        "job_title": _field("职务", "text"),
    }
    opportunity = {
        **_common(),
        "account_id": _field(
            "客户名称", "object_reference", is_required=True, target_api_name="AccountObj"
        ),
        "sales_stage": _field("商机阶段", "select_one", options=[s[:2] for s in STAGES]),
        "amount": _field("商机金额", "currency", decimal_places=2),
        "close_date": _field("预计成交日期", "date"),
        "engagement_start__c": _field("项目开始日期", "date", define_type="custom"),
        "contract_end__c": _field("合同结束日期", "date", define_type="custom"),
        "billing_model__c": _field(
            "计费模式", "select_one", define_type="custom", options=[b[:2] for b in BILLING]
        ),
        "sla_tier__c": _field(
            "SLA 等级", "select_one", define_type="custom", options=[t[:2] for t in TIERS]
        ),
    }
    follow_up = {
        **_common(),
        "active_record_content": _field("跟进内容", "long_text", is_required=True),
        "related_object_data": _field("关联对象", "text"),
    }
    objects = {
        "AccountObj": account,
        "ContactObj": contact,
        opportunity_object: opportunity,
        "ActiveRecordObj": follow_up,
    }
    if plugin_fields:
        for obj, label, kind, extra in PLUGIN_FIELDS:
            target = opportunity_object if obj == "opportunity" else obj
            objects[target][generated_api_name(label)] = _field(
                label, kind, define_type="custom", **dict(extra)
            )
    return objects


def epoch_ms(value: str | datetime | date) -> int:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass
class FxPortfolio:
    records: dict[str, dict[str, dict[str, Any]]]
    #: Employees: ``openUserId`` (FSUID_…), ``userId`` (the CRM employee id), name, mobile,
    #: and whether they may see the data.
    employees: list[dict[str, Any]]
    odd: dict[str, str] = field(default_factory=dict)


class _Ids:
    """``_id`` values that sort in creation order, as Fxiaoke's (ObjectId-like) ids do."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"65f0{self.n:020x}"


def build_fxiaoke_portfolio(
    *,
    seed: int,
    accounts: int,
    deals: int,
    now: datetime,
    opportunity_object: str = "NewOpportunityObj",
    plugin_fields: bool = True,
) -> FxPortfolio:
    zoho = build_portfolio(seed=seed, accounts=accounts, deals=deals, now=now)
    ids = _Ids()
    employees = [
        {
            "openUserId": "FSUID_ADMIN0001",
            "userId": "1000",
            "name": "张敏（CRM 管理员）",
            "mobile": "13800000000",
            "data_permission": True,
        },
        {
            "openUserId": "FSUID_NOPERM0001",
            "userId": "1009",
            "name": "赵磊（无数据权限）",
            "mobile": "13900000009",
            "data_permission": False,
        },
    ]
    employee_of: dict[str, str] = {}
    for index, user in enumerate(zoho.users, start=1):
        uid = str(1000 + index)
        employees.append(
            {
                "openUserId": f"FSUID_SALES{index:04d}",
                "userId": uid,
                "name": user["name"],
                "mobile": f"1380000{index:04d}",
                "data_permission": True,
            }
        )
        employee_of[user["id"]] = uid
    admin = "1000"
    blanks = (
        {
            target: {
                generated_api_name(label): None
                for obj, label, _k, _e in PLUGIN_FIELDS
                if obj == target
            }
            for target in ("opportunity", "AccountObj")
        }
        if plugin_fields
        else {"opportunity": {}, "AccountObj": {}}
    )

    def owner(record: dict[str, Any]) -> list[str]:
        person = record.get("Owner")
        return [employee_of.get(person["id"], admin)] if isinstance(person, dict) else [admin]

    def stamps(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "create_time": epoch_ms(record["Created_Time"]),
            "last_modified_time": epoch_ms(record["Modified_Time"]),
            "created_by": owner(record),
            "last_modified_by": owner(record),
            "life_status": "normal",
        }

    account_of: dict[str, str] = {}
    names: dict[str, str] = {}
    account_records: dict[str, dict[str, Any]] = {}
    for n, (zid, account) in enumerate(zoho.records["Accounts"].items()):
        rid = ids()
        account_of[zid] = rid
        name = f"{CITIES[n % len(CITIES)]}{CORES[(n // len(CITIES)) % len(CORES)]}{SUFFIXES[n % len(SUFFIXES)]}"
        if n >= len(CITIES) * len(CORES):
            name = f"{name}（{n // (len(CITIES) * len(CORES)) + 1}）"
        names[rid] = name
        account_records[rid] = {
            "_id": rid,
            "name": name,
            "industry": account.get("Industry"),
            "tel": account.get("Phone"),
            "url": account.get("Website"),
            "country": "中国",
            "owner": owner(account),
            **stamps(account),
            **blanks["AccountObj"],
        }
    contacts: dict[str, dict[str, Any]] = {}
    for n, contact in enumerate(zoho.records["Contacts"].values()):
        rid = ids()
        company = contact.get("Account_Name")
        contacts[rid] = {
            "_id": rid,
            "name": f"{SURNAMES[n % len(SURNAMES)]}{GIVEN[(n * 7) % len(GIVEN)]}",
            "account_id": account_of.get(company["id"]) if isinstance(company, dict) else None,
            "email": contact.get("Email"),
            "job_title": TITLES[n % len(TITLES)],
            "owner": owner(contact),
            **stamps(contact),
        }
    stage_value = {zoho_stage: value for value, _label, zoho_stage in STAGES}
    billing_value = {zoho_label: value for value, _l, zoho_label in BILLING}
    tier_value = {zoho_label: value for value, _l, zoho_label in TIERS}
    opportunities: dict[str, dict[str, Any]] = {}
    odd: dict[str, str] = {}
    for n, (zid, deal) in enumerate(zoho.records["Deals"].items()):
        rid = ids()
        company = deal.get("Account_Name")
        account_id = account_of.get(company["id"]) if isinstance(company, dict) else None
        amount = deal.get("Amount")
        kind = zoho.odd_deals.get(zid)
        if kind:
            odd[rid] = kind
        short = names.get(account_id or "", "未知客户")[:4]

        def day(value: Any) -> int | None:
            try:
                return epoch_ms(date.fromisoformat(str(value)))
            except ValueError:
                return None

        opportunities[rid] = {
            "_id": rid,
            "name": f"{short} — {SERVICES[n % len(SERVICES)]} {2025 + n % 2}",
            "account_id": account_id,
            "sales_stage": stage_value.get(str(deal.get("Stage")), "1"),
            # Currency as a string (A4); a garbled amount cannot be typed into a currency field.
            "amount": f"{amount:.2f}"
            if isinstance(amount, int | float) and not isinstance(amount, bool)
            else None,
            "close_date": day(deal.get("Closing_Date")),
            "engagement_start__c": day(deal.get("Engagement_Start")),
            "contract_end__c": day(deal.get("Contract_End")),
            "billing_model__c": billing_value.get(str(deal.get("Billing_Model"))),
            "sla_tier__c": tier_value.get(str(deal.get("SLA_Tier"))),
            "owner": owner(deal),
            **stamps(deal),
            **blanks["opportunity"],
        }
    return FxPortfolio(
        records={
            "AccountObj": account_records,
            "ContactObj": contacts,
            opportunity_object: opportunities,
            "ActiveRecordObj": {},
        },
        employees=employees,
        odd=odd,
    )
