"""The outbox on SQLite and PostgreSQL: planned -> sending -> sent, never twice, reminders.

The crash test kills a real sending process between the SMTP call and the record, then
restarts with `engage surveys send`; a real SMTP server (aiosmtpd) counts what arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from jobs.cli import main
from jobs.store import Store
from jobs.store.schema import metadata
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.mail import EmailChannel, SmtpMailer
from jobs.surveys.outbox import OutboxReport
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, Inbox, contact, engagement

ROOT = Path(__file__).resolve().parents[2]


def seeded(store: Store, now: datetime) -> None:
    store.save_engagements([engagement("D1")], now)
    store.save_contacts(
        [contact("C1"), contact("C2", first_name="伟", last_name="张", title="运营总监")], now
    )


def surveys_config(inbox: Inbox, **values: object) -> SurveysSection:
    return SurveysSection.model_validate(
        {"smtp": {"host": inbox.host, "port": inbox.port}, **values}
    )


def send(store: Store, cfg: SurveysSection, now: datetime) -> OutboxReport:
    with SmtpMailer(cfg.smtp, None) as mailer:
        return send_step(store, cfg, EmailChannel(mailer, cfg.smtp.sender), secret=SECRET, now=now)


def test_survey_tables_match_the_migration(store: Store) -> None:
    """The tables in schema.py and those migration 0007 creates are the same."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    survey_diffs = [d for d in diff if "survey" in repr(d)]
    assert survey_diffs == []


def test_planning_twice_adds_each_invitation_once(store: Store, clock: FakeClock) -> None:
    seeded(store, clock())
    cfg = SurveysSection()
    assert plan_step(store, cfg, now=clock())[1] == 2
    clock.advance(days=1)
    assert plan_step(store, cfg, now=clock())[1] == 0
    rows = SurveyStore(store.engine).invitations()
    assert sorted((i.contact_id, i.wave_key, i.state) for i in rows) == [
        ("C1", "D1:periodic:3", "planned"),
        ("C2", "D1:periodic:3", "planned"),
    ]


def test_suppressions_are_stored_with_the_rule(store: Store, clock: FakeClock) -> None:
    seeded(store, clock())
    store.save_contacts([contact("C3", email_opt_out=True)], clock())
    plan_step(store, SurveysSection(), now=clock())
    rows = SurveyStore(store.engine).suppressions()
    assert [(r.contact_id, r.rule, r.reason) for r in rows] == [
        ("C3", "email_opt_out", "the contact opted out of e-mail in the CRM")
    ]


def test_send_delivers_each_invitation_once_then_one_reminder(
    store: Store, clock: FakeClock, smtp_server: Inbox
) -> None:
    seeded(store, clock())
    cfg = surveys_config(smtp_server, reminder_after_days=7, expiry_days=21)
    plan_step(store, cfg, now=clock())
    send(store, cfg, clock())
    send(store, cfg, clock())  # nothing new
    assert smtp_server.count() == 2
    by_to = {str(m["To"]): m for m in smtp_server.messages}
    english = by_to["Ada ClientC1 <c1@client.example>"]
    chinese = by_to["张伟 <c2@client.example>"]
    assert english["Subject"] == "How are we doing on Engagement D1?"
    assert chinese["Subject"] == "您对「Engagement D1」项目满意吗？"
    body = english.get_body(("plain",))
    assert body is not None and "http://127.0.0.1:8765/s/" in body.get_content()
    assert english.get_body(("html",)) is not None
    states = {i.contact_id: i for i in SurveyStore(store.engine).invitations()}
    assert {i.state for i in states.values()} == {"sent"}
    assert states["C1"].expires_at == clock() + timedelta(days=21)

    clock.advance(days=6)
    send(store, cfg, clock())
    assert smtp_server.count() == 2  # not yet
    clock.advance(days=1)
    send(store, cfg, clock())
    send(store, cfg, clock())
    assert smtp_server.count() == 4
    reminders = [m for m in smtp_server.messages if "Reminder" in str(m["Subject"])]
    assert len(reminders) == 1 and str(reminders[0]["To"]).endswith("<c1@client.example>")
    assert Counter(str(m["Message-ID"]) for m in smtp_server.messages).most_common(1)[0][1] == 1


def test_an_unreachable_mail_server_sends_nothing_and_keeps_the_invitations(
    store: Store, clock: FakeClock
) -> None:
    seeded(store, clock())
    cfg = SurveysSection.model_validate({"smtp": {"port": 9, "timeout_seconds": 2}})
    plan_step(store, cfg, now=clock())
    report = send(store, cfg, clock())
    rows = SurveyStore(store.engine).invitations()
    assert {i.state for i in rows} == {"planned"}
    # The first try tells: the send stops there instead of waiting on the server per message.
    assert (
        report.stopped is not None and "cannot reach the mail server 127.0.0.1:9" in report.stopped
    )
    assert [i.message for i in rows].count(report.stopped) == 1
    assert {(i.attempts, i.retry_at) for i in rows} == {(0, None)}


_SEND_AND_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from jobs.config import load_settings
    from jobs.store import Store
    from jobs.surveys.mail import EmailChannel, SmtpMailer
    from jobs.surveys.steps import send_step

    settings = load_settings(sys.argv[1])
    cfg = settings.config.surveys
    now = datetime.fromisoformat(sys.argv[2])

    def die(point):
        # The fault hook: the message is with the mail server, the outbox not yet told.
        os.kill(os.getpid(), signal.SIGKILL)

    store = Store.open(settings.store_url)
    with SmtpMailer(cfg.smtp, None) as mailer:
        send_step(store, cfg, EmailChannel(mailer, cfg.smtp.sender),
                  secret=os.environ["ENGAGE_SURVEY_SECRET"], now=now, fault=die)
    print("not killed")
    """
)


def test_killed_between_sending_and_recording_never_sends_twice(
    tmp_path: Path, clock: FakeClock, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "engage.db"
    config = tmp_path / "engage.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [crm]
            kind = "zoho"
            [crm.zoho]
            accounts_url = "http://127.0.0.1:9"
            [store]
            url = "sqlite:///{db}"
            [surveys.smtp]
            host = "{smtp_server.host}"
            port = {smtp_server.port}
            """
        ),
        encoding="utf-8",
    )
    store = Store.open(f"sqlite:///{db}")
    seeded(store, clock())
    plan_step(store, SurveysSection(), now=clock())
    store.close()
    script = tmp_path / "send_and_die.py"
    script.write_text(_SEND_AND_DIE, encoding="utf-8")
    env = {**os.environ, "ENGAGE_SURVEY_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, str(script), str(config), clock().isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert smtp_server.count() == 1
    first = str(smtp_server.messages[0]["Message-ID"])

    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    clock.advance(hours=1)
    result = CliRunner().invoke(main, ["--config", str(config), "surveys", "send"])
    # The other invitation goes out; the interrupted one is not resent but listed.
    assert smtp_server.count() == 2
    ids = [str(m["Message-ID"]) for m in smtp_server.messages]
    assert len(set(ids)) == 2 and ids[0] == first
    assert result.exit_code == 1
    assert "sent 1," in result.output
    assert "uncertain 1" in result.output
    assert "Not resent automatically" in result.output

    again = CliRunner().invoke(main, ["--config", str(config), "surveys", "send"])
    assert "sent 0," in again.output
    assert smtp_server.count() == 2
    engine = sa.create_engine(f"sqlite:///{db}")
    states = sorted(i.state for i in SurveyStore(engine).invitations())
    engine.dispose()
    assert states == ["sending", "sent"]


def test_an_invitation_claimed_by_another_sender_is_not_sent_again(
    store: Store, clock: FakeClock
) -> None:
    seeded(store, clock())
    plan_step(store, SurveysSection(), now=clock())
    surveys = SurveyStore(store.engine)
    (first, _second) = surveys.invitations()
    assert surveys.claim(first.id, clock() + timedelta(days=21)) is True
    assert surveys.claim(first.id, clock() + timedelta(days=21)) is False


def test_a_mailbox_the_server_refuses_fails_that_invitation_only(
    store: Store, clock: FakeClock, smtp_server: Inbox
) -> None:
    seeded(store, clock())
    smtp_server.refused.add("c1@client.example")
    cfg = surveys_config(smtp_server)
    plan_step(store, cfg, now=clock())
    send(store, cfg, clock())
    send(store, cfg, clock())
    assert [str(m["To"]) for m in smtp_server.messages] == ["张伟 <c2@client.example>"]
    states = {i.contact_id: i for i in SurveyStore(store.engine).invitations()}
    assert states["C1"].state == "failed"
    assert (
        states["C1"].message == "the mail server refused the recipient (550 5.1.1 No such mailbox)"
    )
    assert states["C2"].state == "sent"


def test_nothing_is_sent_on_a_quiet_day(store: Store, clock: FakeClock, smtp_server: Inbox) -> None:
    seeded(store, clock())
    plan_step(store, surveys_config(smtp_server), now=clock())  # planned on Monday
    quiet = surveys_config(smtp_server, fatigue={"quiet_days": ["tue"]})
    clock.advance(days=1)
    send(store, quiet, clock())
    assert smtp_server.count() == 0
    clock.advance(days=1)
    send(store, quiet, clock())
    assert smtp_server.count() == 2
