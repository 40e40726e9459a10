"""Every sentence an alert, a summary or a digest shows, keyed by id, in English and Chinese.

Kept in one table on purpose: moving them to message catalogs later (Babel) is mechanical, one
id per msgid. Values are filled in with ``str.format``; names from the CRM are passed as values,
never formatted into the templates themselves.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    # --- titles, one per event ---
    "title.sla_status": {"en": "SLA {to}: {engagement}", "zh": "SLA {to}：{engagement}"},
    "title.risk_level": {
        "en": "Risk {from_} → {to}: {engagement}",
        "zh": "风险 {from_} → {to}：{engagement}",
    },
    "title.milestone_overdue": {
        "en": "Milestone overdue: {engagement}",
        "zh": "里程碑逾期：{engagement}",
    },
    "title.low_satisfaction": {
        "en": "Low satisfaction: {engagement}",
        "zh": "客户满意度偏低：{engagement}",
    },
    "title.no_touchpoint": {
        "en": "No status report within the agreed cadence: {engagement}",
        "zh": "超出约定周期未提交状态报告：{engagement}",
    },
    "title.contract_ending": {
        "en": "Contract ends on {to} with no renewal: {engagement}",
        "zh": "合同将于 {to} 到期且尚未续约：{engagement}",
    },
    "title.job": {"en": "The engage run {to}", "zh": "engage 运行{to}"},
    "title.test": {
        "en": "Test alert: route {route} works",
        "zh": "测试提醒：路由 {route} 可以送达",
    },
    "title.summary": {
        "en": "{count} alerts at once for {route}",
        "zh": "{route} 同时有 {count} 条提醒",
    },
    "title.digest": {
        "en": "Weekly digest for {name}, week of {week}",
        "zh": "{name} 的每周摘要（{week} 当周）",
    },
    # --- labels ---
    "label.account": {"en": "Account", "zh": "客户"},
    "label.owner": {"en": "Owner", "zh": "负责人"},
    "label.change": {"en": "Change", "zh": "变化"},
    "label.risk": {"en": "Risk score", "zh": "风险分"},
    "label.sla": {"en": "SLA", "zh": "SLA"},
    "label.drivers": {"en": "Top drivers", "zh": "主要原因"},
    "label.reason": {"en": "Reason", "zh": "原因"},
    "label.open": {"en": "Open in the CRM", "zh": "在 CRM 中打开"},
    "label.unknown": {"en": "unknown", "zh": "未知"},
    "label.none": {"en": "none", "zh": "无"},
    "change": {"en": "{from_} → {to}", "zh": "{from_} → {to}"},
    "score": {"en": "{score} ({level})", "zh": "{score}（{level}）"},
    "footer": {
        "en": "Sent by engage; one alert per episode until it clears.",
        "zh": "由 engage 发送；同一事件在解除前只提醒一次。",
    },
    "test.body": {
        "en": "This is a sample sent by `engage alerts test`. Nothing changed.",
        "zh": "这是 `engage alerts test` 发送的示例，没有任何变化。",
    },
    "summary.line": {
        "en": "{title}",
        "zh": "{title}",
    },
    "summary.more": {"en": "…and {count} more", "zh": "……另有 {count} 条"},
    "summary.heading": {
        "en": "Too many alerts to send one by one; here they are in one message:",
        "zh": "提醒过多，合并为一条发送：",
    },
    # --- the digest ---
    "digest.changed": {"en": "Changed risk level", "zh": "风险等级有变化"},
    "digest.riskiest": {"en": "The riskiest {count}", "zh": "风险最高的 {count} 个"},
    "digest.breaches": {"en": "SLA breaches this week", "zh": "本周 SLA 违约"},
    "digest.answers": {"en": "New survey answers", "zh": "新的调查答复"},
    "digest.changed_line": {
        "en": "{engagement} ({account}): {from_} → {to}",
        "zh": "{engagement}（{account}）：{from_} → {to}",
    },
    "digest.risky_line": {
        "en": "{engagement} ({account}): {score} ({level}); {drivers}",
        "zh": "{engagement}（{account}）：{score}（{level}）；{drivers}",
    },
    "digest.breach_line": {"en": "{engagement} ({account})", "zh": "{engagement}（{account}）"},
    "digest.answer_line": {
        "en": "{engagement}: NPS {nps}, CSAT {csat}",
        "zh": "{engagement}：NPS {nps}，CSAT {csat}",
    },
    "digest.nothing": {"en": "nothing this week", "zh": "本周无"},
    "digest.report": {"en": "Open the portfolio report", "zh": "打开项目组合报告"},
    # --- values ---
    "level.low": {"en": "low", "zh": "低"},
    "level.medium": {"en": "medium", "zh": "中"},
    "level.high": {"en": "high", "zh": "高"},
    "level.critical": {"en": "critical", "zh": "严重"},
    "sla.compliant": {"en": "compliant", "zh": "达标"},
    "sla.at_risk": {"en": "at risk", "zh": "有风险"},
    "sla.breached": {"en": "breached", "zh": "已违约"},
    "sla.not_measured": {"en": "not measured", "zh": "未衡量"},
    "job.failed": {"en": "failed", "zh": "失败"},
    "job.stopped": {"en": "stopped", "zh": "已停止"},
    "job.quarantined": {"en": "quarantined rows", "zh": "有被隔离的记录"},
    "job.ok": {"en": "ok", "zh": "正常"},
}

#: Which table of values an event's from/to codes are read in.
VALUE_TABLE = {"risk_level": "level", "sla_status": "sla", "job": "job"}


def say(key: str, language: str, **values: object) -> str:
    """The sentence ``key`` in ``language`` (English when there is no such language)."""
    entry = MESSAGES[key]
    return entry.get(language, entry["en"]).format(**values)


def value(event: str, code: str | None, language: str) -> str:
    """A from/to code (a level, an SLA status, a job outcome) as the reader's word."""
    if code is None:
        return say("label.unknown", language)
    table = VALUE_TABLE.get(event)
    key = f"{table}.{code}" if table else ""
    return say(key, language) if key in MESSAGES else code
