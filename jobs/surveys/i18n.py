"""The words of the survey e-mails and pages, in English and Chinese."""

from __future__ import annotations

from collections.abc import Mapping

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "html_lang": "en",
        "subject": "How are we doing on {engagement}?",
        "reminder_subject": "Reminder: how are we doing on {engagement}?",
        "greeting": "Dear {name},",
        "greeting_anonymous": "Hello,",
        "intro": "We would value two minutes of your time: how is our work on {engagement} going?",
        "reminder_intro": "A gentle reminder: we would still value your view on {engagement}.",
        "cta": "Answer the survey",
        "expires": "The link is personal and works until {date}.",
        "signature": "Thank you — your delivery team",
        "title": "Your feedback",
        "nps_question": "How likely are you to recommend us to a friend or colleague?",
        "nps_low": "0 = not at all likely",
        "nps_high": "10 = extremely likely",
        "csat_question": "How satisfied are you with our work on this engagement?",
        "csat_1": "Very dissatisfied",
        "csat_2": "Dissatisfied",
        "csat_3": "Neutral",
        "csat_4": "Satisfied",
        "csat_5": "Very satisfied",
        "comment_label": "Anything you would like to tell us? (optional)",
        "submit": "Send",
        "required": "Please answer this question.",
        "thanks_title": "Thank you",
        "thanks_body": "Your answer has been recorded. We read every comment.",
        "your_comment": "Your comment:",
        "error_title": "This link cannot be used",
        "error_malformed": "The link is incomplete. Please copy the whole link from the e-mail.",
        "error_forged": "The link is not valid. Please use the link from your e-mail.",
        "error_expired": "This survey has closed. Thank you for your interest.",
        "error_used": "This survey has already been answered. Thank you!",
        "error_unknown": "We could not find this survey.",
        "error_invalid": "Some answers were not valid: {fields}. Please go back and try again.",
        "error_csrf": "The form expired or was sent from another site. Please reload the page.",
        "error_too_large": "The form is too large. Please shorten your comment.",
        "error_rate": "Too many attempts. Please wait a minute and try again.",
    },
    "zh": {
        "html_lang": "zh-CN",
        "subject": "您对「{engagement}」项目满意吗？",
        "reminder_subject": "提醒：您对「{engagement}」项目满意吗？",
        "greeting": "{name}，您好：",
        "greeting_anonymous": "您好：",
        "intro": "想占用您两分钟时间：您对我们在「{engagement}」项目上的工作评价如何？",
        "reminder_intro": "温馨提醒：我们仍然非常希望听到您对「{engagement}」项目的意见。",
        "cta": "填写问卷",
        "expires": "此链接仅供您本人使用，有效期至 {date}。",
        "signature": "谢谢！——您的项目交付团队",
        "title": "满意度调查",
        "nps_question": "您有多大可能向朋友或同事推荐我们？",
        "nps_low": "0 = 完全不可能",
        "nps_high": "10 = 极有可能",
        "csat_question": "您对我们在本项目上的工作满意吗？",
        "csat_1": "非常不满意",
        "csat_2": "不满意",
        "csat_3": "一般",
        "csat_4": "满意",
        "csat_5": "非常满意",
        "comment_label": "还有什么想告诉我们的吗？（选填）",
        "submit": "提交",
        "required": "请回答此问题。",
        "thanks_title": "谢谢您",
        "thanks_body": "您的回答已记录。我们会认真阅读每一条意见。",
        "your_comment": "您的意见：",
        "error_title": "此链接无法使用",
        "error_malformed": "链接不完整，请从邮件中复制完整链接。",
        "error_forged": "链接无效，请使用邮件中的链接。",
        "error_expired": "此问卷已截止，感谢您的关注。",
        "error_used": "此问卷已经回答过了，谢谢！",
        "error_unknown": "找不到此问卷。",
        "error_invalid": "部分回答无效：{fields}。请返回重试。",
        "error_csrf": "表单已过期或来自其他网站，请刷新页面。",
        "error_too_large": "表单内容过长，请缩短您的意见。",
        "error_rate": "尝试次数过多，请稍候一分钟再试。",
    },
}


def texts(language: str | None) -> Mapping[str, str]:
    return TEXT.get(language or "", TEXT["en"])


def from_accept_language(header: str | None, default: str) -> str:
    """The first supported language in an Accept-Language header, by q-value, else default."""
    if not header:
        return default
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in TEXT and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else default
