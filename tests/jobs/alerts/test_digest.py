"""The weekly digest of an owner with 12 engagements, in the owner's language (Chinese), by
e-mail through a real SMTP server: exactly the engagements whose level changed over the week,
the riskiest five with their drivers, the week's SLA breaches, the new survey answers. The
expected lines are written out by hand from the history below."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jobs.alerts.steps import plan_step, send_step
from jobs.report import links
from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.records import Invitation
from mappings.domain import Engagement, RiskLevel, SlaStatus
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import health, settings_with
from tests.surveys.conftest import Inbox

LOW, MEDIUM, HIGH, CRITICAL = RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL
BEFORE = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # before the week
MIDWEEK = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # after the digest's moment


def engagement(n: int, owner: str = "U1") -> Engagement:
    return Engagement.model_validate(
        {
            "crm_id": f"E{n:02d}",
            "name": f"Engagement {n:02d}",
            "account_id": "A1",
            "account_name": "ACME",
            "owner_id": owner,
            "stage": "Closed Won",
            "status": "active",
        }
    )


def digest_alerts(inbox: Inbox) -> dict[str, Any]:
    return {
        "routes": {
            "wang-mail": {
                "channel": "email",
                "to": "wang@provider.example",
                "timezone": "Asia/Shanghai",
                "language": "en",
            },
            "li-mail": {"channel": "email", "to": "li@provider.example"},
            "boss-mail": {"channel": "email", "to": "boss@provider.example"},
        },
        "people": {
            "U1": {"name": "王芳", "route": "wang-mail", "language": "zh", "manager": "M1"},
            "M1": {"name": "Boss", "route": "boss-mail"},
            "U2": {"name": "Li", "route": "li-mail"},
        },
        "digest": {"weekday": "mon", "at": "09:00", "riskiest": 5},
    }


def history(store: Store) -> None:
    """E01..E12 belong to U1, E13 to U2. Scores: the number of the engagement unless said."""
    first = [health(f"E{n:02d}", BEFORE, level=LOW, score=n) for n in range(1, 14)]
    first[4] = health("E05", BEFORE, level=MEDIUM, score=40)
    first[8] = health("E09", BEFORE, level=HIGH, score=60)
    store.save_health(first)
    drivers = (
        {"code": "milestones_overdue", "points": 30, "en": "Milestones late", "zh": "里程碑延误"},
        {"code": "sla_at_risk", "points": 20, "en": "SLA at risk", "zh": "SLA 有风险"},
        {"code": "cpi", "points": 5, "en": "Over budget", "zh": "超出预算"},
    )
    store.save_health(
        [
            health("E02", MIDWEEK, level=HIGH, score=62),
            health("E05", MIDWEEK, level=CRITICAL, score=85, drivers=drivers),
            health("E07", MIDWEEK, level=HIGH, score=61),
            health("E09", MIDWEEK, level=LOW, score=9),
            health("E13", MIDWEEK, level=HIGH, score=70),  # U2's: not in U1's digest
        ]
    )
    store.save_health(
        [
            health("E07", LATER, level=LOW, score=7),  # back where it was: no change
            health("E04", LATER, level=LOW, score=4, sla=SlaStatus.BREACHED),
        ]
    )
    store.save_health([health("E11", AFTER, level=CRITICAL, score=81)])  # after the week


def answered(store: Store, engagement_id: str, nps: int, csat: int, at: datetime) -> None:
    invitation = Invitation(
        id=f"inv-{engagement_id}",
        contact_id="C1",
        wave_key=f"{engagement_id}:periodic:1",
        engagement_id=engagement_id,
        account_id="A1",
        trigger="periodic",
        kind="nps",
        channel="smtp",
        email="c1@client.example",
        contact_name="Ada",
        engagement_name=None,
        language="en",
        role=None,
        state="sent",
        planned_at=at,
        sent_at=at,
        expires_at=None,
        reminder_state=None,
        reminded_at=None,
        answered_at=None,
        message=None,
    )
    SurveyStore(store.engine).save_response(invitation, nps=nps, csat=csat, comment=None, now=at)


def test_the_weekly_digest_lists_exactly_the_engagements_that_changed_in_the_owners_language(
    store: Store, store_url: str, clock: FakeClock, smtp_server: Inbox, tmp_path: Path
) -> None:
    store.save_engagements([engagement(n) for n in range(1, 13)] + [engagement(13, "U2")], BEFORE)
    history(store)
    answered(store, "E03", 3, 2, MIDWEEK)
    answered(store, "E13", 9, 5, MIDWEEK)  # U2's engagement
    settings = settings_with(tmp_path, store_url, digest_alerts(smtp_server), inbox=smtp_server)
    # Monday 23 November 2026, 09:00 UTC is 17:00 in Shanghai: the 09:00 digest is due.
    run = plan_step(store, settings, now=clock())
    # U2's route is in UTC: their 09:00 digest is due now too, in English, with E13 only.
    # M1 manages U1: their digest covers U1's engagements (M1 owns none).
    assert sorted((d.route, d.subject) for d in run.digests) == [
        ("boss-mail", "M1"),
        ("li-mail", "U2"),
        ("wang-mail", "U1"),
    ]
    send_step(store, settings, now=clock())
    mails = {str(m["To"]): m for m in smtp_server.messages}
    assert set(mails) == {"wang@provider.example", "li@provider.example", "boss@provider.example"}
    boss = mails["boss@provider.example"].get_body(("plain",))
    assert boss is not None
    # Boss's route is in UTC: their week ends at 09:00 UTC, after E11 turned critical at 05:00
    # UTC (which was after 09:00 in Shanghai, the end of 王芳's week).
    assert _sections(boss.get_content())["Changed risk level"] == [
        "Engagement 02 (ACME): low → high",
        "Engagement 05 (ACME): medium → critical",
        "Engagement 09 (ACME): high → low",
        "Engagement 11 (ACME): low → critical",
    ]
    li = mails["li@provider.example"].get_body(("plain",))
    assert li is not None
    assert _sections(li.get_content())["Changed risk level"] == ["Engagement 13 (ACME): low → high"]
    mail = mails["wang@provider.example"]
    assert str(mail["Subject"]) == "王芳 的每周摘要（2026-11-16 当周）"
    plain = mail.get_body(("plain",))
    assert plain is not None
    sections = _sections(plain.get_content())
    assert sections["风险等级有变化"] == [
        "Engagement 02（ACME）：低 → 高",
        "Engagement 05（ACME）：中 → 严重",
        "Engagement 09（ACME）：高 → 低",
    ]
    assert sections["风险最高的 5 个"] == [
        "Engagement 05（ACME）：85（严重）；里程碑延误; SLA 有风险",
        "Engagement 11（ACME）：81（严重）；无",
        "Engagement 02（ACME）：62（高）；无",
        "Engagement 12（ACME）：12（低）；无",
        "Engagement 10（ACME）：10（低）；无",
    ]
    assert sections["本周 SLA 违约"] == ["Engagement 04（ACME）"]
    assert sections["新的调查答复"] == ["Engagement 03：NPS 3，CSAT 2"]

    # Once a week: the next runs of the same week add and send nothing.
    clock.advance(hours=3)
    assert plan_step(store, settings, now=clock()).digests == []
    send_step(store, settings, now=clock())
    assert [str(m["To"]) for m in smtp_server.messages].count("wang@provider.example") == 1


def _sections(text: str) -> dict[str, list[str]]:
    """The digest's plain text as {heading: its "- " lines}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("- ") and current is not None:
            current.append(line[2:])
        elif line and not line.startswith("- "):
            current = sections.setdefault(line, [])
    return sections


def test_a_digest_links_to_the_report_with_a_link_signed_for_its_reader(
    store: Store, store_url: str, clock: FakeClock, smtp_server: Inbox, tmp_path: Path
) -> None:
    secret = "a-survey-secret-of-thirty-two-characters!"
    store.save_engagements([engagement(n) for n in range(1, 13)], BEFORE)
    history(store)
    served = {"base_url": "https://engage.provider.example"}
    settings = settings_with(
        tmp_path, store_url, digest_alerts(smtp_server), inbox=smtp_server, surveys=served
    )
    plan_step(store, settings, now=clock())
    send_step(store, settings, now=clock(), env={"ENGAGE_SURVEY_SECRET": secret})

    mails = {str(m["To"]): m for m in smtp_server.messages}
    plain = mails["wang@provider.example"].get_body(("plain",))
    assert plain is not None
    found = re.search(
        r"打开项目组合报告: (https://engage\.provider\.example/report\?link=(\S+)&lang=zh)",
        plain.get_content(),
    )
    assert found is not None, plain.get_content()
    token = found.group(2)
    assert links.check(token, secret, clock()) is None  # opens the report
    assert links.check(token, secret, clock() + timedelta(days=15)) == 410  # expired
    assert links.check(token, "another-secret-of-thirty-two-characters", clock()) == 403
    # The link is minted as the mail leaves: the outbox keeps no key to the report.
    with store.engine.connect() as conn:
        contents = conn.execute(sa.text("SELECT content FROM alert_outbox")).scalars().all()
    assert contents and not any(token in c for c in contents)


def test_no_report_link_without_an_address_set_for_the_report(
    store: Store, store_url: str, clock: FakeClock, smtp_server: Inbox, tmp_path: Path
) -> None:
    store.save_engagements([engagement(n) for n in range(1, 13)], BEFORE)
    history(store)
    settings = settings_with(tmp_path, store_url, digest_alerts(smtp_server), inbox=smtp_server)
    plan_step(store, settings, now=clock())
    secret = "a-survey-secret-of-thirty-two-characters!"
    send_step(store, settings, now=clock(), env={"ENGAGE_SURVEY_SECRET": secret})

    assert smtp_server.messages
    for mail in smtp_server.messages:
        plain = mail.get_body(("plain",))
        assert plain is not None and "/report?link=" not in plain.get_content()
