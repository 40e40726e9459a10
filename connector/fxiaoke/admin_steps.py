"""What an admin does in the Fxiaoke web console to create a field: Fxiaoke documents no
field-creation API (research/fxiaoke_and_tools.md A4, UNCONFIRMED)."""

from __future__ import annotations

from connector.base import NewField

#: The console's type names (管理后台 → 对象管理 → 字段管理 → 新建字段) for the connector's types.
CONSOLE_TYPES = {
    "integer": "数字 (number, 0 decimal places)",
    "double": "数字 (number, 2 decimal places)",
    "currency": "金额 (currency)",
    "text": "单行文本 (single-line text)",
    "textarea": "多行文本 (multi-line text)",
    "date": "日期 (date)",
    "datetime": "日期时间 (date-time)",
    "picklist": "单选 (single select)",
    "boolean": "布尔值 (true/false)",
}


def admin_steps(api: str, wanted: NewField) -> str:
    kind = CONSOLE_TYPES.get(wanted.data_type, wanted.data_type)
    options = (
        f", options (value = label): {', '.join(wanted.picklist_values)}"
        if wanted.picklist_values
        else ""
    )
    return (
        f"create it in the Fxiaoke web console: 管理后台 → 对象管理 → {api} → 字段管理 → 新建字段, "
        f'label "{wanted.label}", type {kind}{options}; then run this command again'
    )
