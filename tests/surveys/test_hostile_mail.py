"""Hostile CRM data and hostile mail servers: `engage surveys send` against the sandbox over
HTTP and a real SMTP server (aiosmtpd), which keeps every envelope and raw message it accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import load_settings
from jobs.demo.run import sandbox_env
from jobs.store import Store
from jobs.store import schema as t
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.mail import EmailChannel, SmtpMailer
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock, write_sandbox_config
from tests.surveys.conftest import SECRET, Captured, Inbox, contact, engagement

INJECTION = "\r\nBcc: x@y"


def engage(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


@pytest.fixture
def configured(
    sandbox: SandboxCRM,
    store_url: str,
    tmp_path: Path,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'[surveys.smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\n'
            "[surveys.fatigue]\naccount_cap = 1\n"
        )
    for name, value in sandbox_env(sandbox).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    return config


def header_block(raw: bytes) -> list[bytes]:
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.split(b"\n")


def test_line_breaks_and_nul_in_crm_names_add_no_header_and_no_recipient(
    configured: Path,
    sandbox: SandboxCRM,
    store_url: str,
    clock: FakeClock,
    smtp_server: Inbox,
) -> None:
    assert engage(configured, "sync").exit_code == 0
    store = Store.open(store_url)
    settings = load_settings(str(configured))
    plan, _ = plan_step(store, settings.config.surveys, now=clock(), dry_run=True)
    target = plan.invitations[0]
    deal_id, contact = target.wave.engagement_id, target.recipient.contact
    clock.advance(minutes=5)
    sandbox.edit("Deals", deal_id, Deal_Name="Rollout" + INJECTION)
    # NUL on both databases: the store's one rule removes it (docs/reliability.md).
    first = "Jo\x00hn"
    sandbox.edit("Contacts", contact.crm_id, First_Name=first, Last_Name="Doe" + INJECTION)
    clock.advance(minutes=5)
    assert engage(configured, "sync").exit_code == 0
    assert engage(configured, "surveys", "plan").exit_code == 0

    sent = engage(configured, "surveys", "send")

    assert sent.exit_code == 0, sent.output
    invitations = SurveyStore(store.engine).invitations()
    store.close()
    assert {i.state for i in invitations} == {"sent"}  # nothing failed, nothing "uncertain"
    assert smtp_server.count() == len(invitations) > 1
    for _sender, recipients, raw in smtp_server.envelopes:
        assert len(recipients) == 1 and "x@y" not in recipients[0]
        assert not any(line.lower().startswith(b"bcc") for line in header_block(raw))
    (ours,) = [
        m
        for (_s, rcpt, _r), m in zip(smtp_server.envelopes, smtp_server.messages, strict=True)
        if rcpt == [contact.email]
    ]
    (to,) = ours["To"].addresses  # one address: the name is quoted, not a second recipient
    assert (to.display_name, to.addr_spec) == ("John Doe Bcc: x@y", contact.email)
    assert str(ours["Subject"]) == "How are we doing on Rollout Bcc: x@y?"
    assert ours["Bcc"] is None


def test_followups_the_crm_certainly_did_not_create_are_created_once_it_is_back(
    configured: Path, sandbox: SandboxCRM, store_url: str, clock: FakeClock
) -> None:
    assert engage(configured, "sync").exit_code == 0
    store = Store.open(store_url)
    cfg = load_settings(str(configured)).config.surveys
    plan_step(store, cfg, now=clock())
    send_step(store, cfg, Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(store.engine)
    first, second, third = surveys.invitations("sent")[:3]
    surveys.save_response(first, nps=2, csat=3, comment=None, now=clock())
    surveys.save_response(second, nps=9, csat=1, comment=None, now=clock())
    surveys.save_response(third, nps=9, csat=5, comment=None, now=clock())  # content: no task
    port = urlsplit(sandbox.url).port
    sandbox.stop()  # the CRM refuses connections

    down = engage(configured, "surveys", "followups")

    assert down.exit_code == 75, down.output
    assert "ConnectionError (try again later)" in down.output
    (waiting,) = surveys.followups()  # the run stopped at the first refusal
    assert (waiting["state"], waiting["attempts"]) == ("retry", 1)
    assert waiting["retry_at"] == clock() + timedelta(minutes=15)

    sandbox.start(port=port)
    sandbox.reset_calls()
    clock.advance(minutes=5)
    early = engage(configured, "surveys", "followups")
    assert early.exit_code == 75, early.output  # the first one still backs off
    assert "created 1 follow-up task(s)" in early.output
    clock.advance(minutes=11)
    back = engage(configured, "surveys", "followups")
    assert back.exit_code == 0, back.output
    assert "created 1 follow-up task(s), failed 0" in back.output
    assert engage(configured, "surveys", "followups").exit_code == 0

    assert sandbox.count("create_tasks") == 2
    markers = sorted(
        t["Description"].rsplit("[engage:", 1)[1] for t in sandbox.tasks()
    )  # exactly one task per unhappy answer
    assert markers == sorted(f"survey-followup:{i.id}]" for i in (first, second))
    assert {f["state"] for f in surveys.followups()} == {"created"}
    store.close()


def mail_config(tmp_path: Path, store_url: str, inbox: Inbox, extra: str = "") -> Path:
    """A config with the store, the SMTP server and no CRM to reach (the surveys need none)."""
    config = tmp_path / "engage.toml"
    config.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{store_url}"\n'
        f'[surveys.smtp]\nhost = "{inbox.host}"\nport = {inbox.port}\n' + extra,
        encoding="utf-8",
    )
    return config


@pytest.fixture
def survey_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)


@pytest.fixture
def seeded(
    tmp_path: Path, store_url: str, smtp_server: Inbox, clock: FakeClock, survey_secret: None
) -> Callable[[int], Path]:
    """``seeded(n)``: n contacts in one account, one engagement, a wave of n invitations
    planned; returns the config."""

    def seed(n: int) -> Path:
        store = Store.open(store_url)
        store.save_engagements([engagement("D1")], clock())
        store.save_contacts([contact(f"C{k}") for k in range(1, n + 1)], clock())
        store.close()
        config = mail_config(
            tmp_path, store_url, smtp_server, "[surveys.fatigue]\naccount_cap = 0\n"
        )
        assert engage(config, "surveys", "plan").exit_code == 0
        return config

    return seed


def states(store_url: str) -> list[tuple[str, str, int]]:
    store = Store.open(store_url)
    rows = SurveyStore(store.engine).invitations()
    store.close()
    return sorted((i.contact_id, i.state, i.attempts) for i in rows)


def test_a_server_refusing_every_message_keeps_the_wave_in_the_queue(
    seeded: Callable[[int], Path], store_url: str, clock: FakeClock, smtp_server: Inbox
) -> None:
    config = seeded(6)
    smtp_server.replies["DATA"] = "554 5.7.0 Transaction failed: policy"

    refused = engage(config, "surveys", "send")

    assert refused.exit_code == 75, refused.output
    assert "the mail server refused all 3 messages of this send" in refused.output
    assert "554 5.7.0 Transaction failed: policy" in refused.output
    assert "failed 0," in refused.output
    # The breaker stopped after 3: 3 more were never tried. None is burned or counted.
    assert states(store_url) == [(f"C{k}", "planned", 0) for k in range(1, 7)]

    del smtp_server.replies["DATA"]
    clock.advance(hours=1)
    again = engage(config, "surveys", "send")
    assert again.exit_code == 0, again.output
    assert smtp_server.count() == 6
    assert {s for _c, s, _a in states(store_url)} == {"sent"}


def test_one_unknown_mailbox_among_good_ones_fails_only_that_one(
    seeded: Callable[[int], Path], store_url: str, clock: FakeClock, smtp_server: Inbox
) -> None:
    config = seeded(4)
    smtp_server.refused |= {"c1@client.example", "c2@client.example", "c4@client.example"}

    result = engage(config, "surveys", "send")

    # Refused before any message was accepted, C1 and C2 waited for a verdict: C3's success
    # shows the server works, so the three refusals are the mailboxes'.
    assert result.exit_code == 1, result.output
    assert states(store_url) == [
        ("C1", "failed", 0),
        ("C2", "failed", 0),
        ("C3", "sent", 0),
        ("C4", "failed", 0),
    ]
    assert "engage surveys retry" in result.output
    status = engage(config, "surveys", "status")
    assert status.output.count("(550 5.1.1 No such mailbox)") == 3  # each failed one, and why

    smtp_server.refused.discard("c2@client.example")  # the mailbox was created after all
    store = Store.open(store_url)
    c2 = next(i.id for i in SurveyStore(store.engine).invitations() if i.contact_id == "C2")
    store.close()
    requeued = engage(config, "surveys", "retry", c2)
    assert requeued.exit_code == 0 and "re-queued 1 invitation(s)" in requeued.output
    assert engage(config, "surveys", "send").exit_code == 0
    assert [e[1] for e in smtp_server.envelopes] == [["c3@client.example"], ["c2@client.example"]]
    unknown = engage(config, "surveys", "retry", "nope")
    assert unknown.exit_code == 1 and "not re-queued nope" in unknown.output
    assert engage(config, "surveys", "retry").exit_code == 2  # ids or --all: say which


def test_a_temporary_refusal_waits_with_backoff_then_sends(
    seeded: Callable[[int], Path], store_url: str, clock: FakeClock, smtp_server: Inbox
) -> None:
    config = seeded(2)
    smtp_server.replies["RCPT"] = "451 4.7.1 Greylisted, try again later"

    deferred = engage(config, "surveys", "send")

    assert deferred.exit_code == 75, deferred.output
    assert "deferred 2," in deferred.output
    assert "451 4.7.1 Greylisted" in deferred.output and "next try from 2026-11-23 09:15" in (
        deferred.output
    )
    assert states(store_url) == [("C1", "planned", 1), ("C2", "planned", 1)]
    del smtp_server.replies["RCPT"]
    clock.advance(minutes=10)
    waiting = engage(config, "surveys", "send")
    assert "sent 0," in waiting.output and smtp_server.count() == 0  # still backing off
    clock.advance(minutes=6)
    assert engage(config, "surveys", "send").exit_code == 0
    assert smtp_server.count() == 2


def test_a_mail_server_that_is_down_stops_the_send_with_the_reason_and_exit_75(
    seeded: Callable[[int], Path], store_url: str, clock: FakeClock, smtp_server: Inbox
) -> None:
    config = seeded(3)
    config.write_text(
        config.read_text(encoding="utf-8").replace(f"port = {smtp_server.port}", "port = 9"),
        encoding="utf-8",
    )

    down = engage(config, "surveys", "send")

    assert down.exit_code == 75, down.output
    assert "stopped: cannot reach the mail server 127.0.0.1:9: ConnectionRefusedError" in (
        down.output
    )
    assert states(store_url) == [(f"C{k}", "planned", 0) for k in range(1, 4)]


def test_one_address_on_contacts_in_three_accounts_gets_one_invitation(
    tmp_path: Path, store_url: str, clock: FakeClock, smtp_server: Inbox, survey_secret: None
) -> None:
    store = Store.open(store_url)
    store.save_engagements([engagement(f"D{n}", account_id=f"A{n}") for n in (1, 2, 3)], clock())
    # One person, entered in three accounts; the CRM kept the case and spaces people typed.
    addresses = ["pat.lee@client.example", " Pat.Lee@Client.example", "PAT.LEE@CLIENT.EXAMPLE "]
    store.save_contacts(
        [
            contact(f"C{n}", account_id=f"A{n}", email=address)
            for n, address in zip((1, 2, 3), addresses, strict=True)
        ]
        # A +tag is a different address (docs/surveys.md): asked too.
        + [contact("C4", account_id="A3", email="pat.lee+ops@client.example")],
        clock(),
    )
    store.close()
    config = mail_config(tmp_path, store_url, smtp_server)

    planned = engage(config, "surveys", "plan")
    sent = engage(config, "surveys", "send")

    assert "planned 2 invitation(s), held back 2" in planned.output
    store = Store.open(store_url)
    held = SurveyStore(store.engine).suppressions()
    store.close()
    assert sorted((h.contact_id, h.rule, h.reason) for h in held) == [
        ("C2", "open_invitation", "the address has an open invitation"),
        ("C3", "open_invitation", "the address has an open invitation"),
    ]
    assert sent.exit_code == 0, sent.output
    assert sorted(r for _s, r, _raw in smtp_server.envelopes) == [
        ["pat.lee+ops@client.example"],
        ["pat.lee@client.example"],
    ]
    # Later waves (the next quarter) respect the address's minimum interval too.
    clock.advance(days=40)
    assert "planned 0 invitation(s)" in engage(config, "surveys", "plan").output


def test_an_invitation_that_cannot_become_a_message_fails_alone_with_the_reason(
    store: Store, clock: FakeClock, smtp_server: Inbox
) -> None:
    store.save_engagements([engagement("D1")], clock())
    store.save_contacts([contact("C1"), contact("C2")], clock())
    cfg = SurveysSection.model_validate(
        {"smtp": {"host": smtp_server.host, "port": smtp_server.port}}
    )
    plan_step(store, cfg, now=clock())
    # A row written by an older version (or by hand) with an address that holds a line break.
    rows = t.survey_invitations
    with store.engine.begin() as conn:
        conn.execute(
            rows.update()
            .where(rows.c.contact_id == "C1")
            .values(email="c1@client.example\r\nRCPT TO:<x@y>")
        )
    with SmtpMailer(cfg.smtp, None) as mailer:
        report = send_step(
            store, cfg, EmailChannel(mailer, cfg.smtp.sender), secret=SECRET, now=clock()
        )
    assert report.sent == 1 and report.uncertain == [] and report.stopped is None
    states = {i.contact_id: (i.state, i.message) for i in SurveyStore(store.engine).invitations()}
    assert states == {
        "C1": ("failed", "the e-mail address is not valid"),
        "C2": ("sent", None),
    }
    assert [e[1] for e in smtp_server.envelopes] == [["c2@client.example"]]
