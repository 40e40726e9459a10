"""The [surveys] section: bad values name the file and the key; secrets only from the env.
And the `engage surveys` commands a person runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import load_settings
from jobs.demo.run import sandbox_env
from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.steps import plan_step, send_step
from mappings.domain import Contact, Engagement
from mappings.tomlfile import ConfigFileError
from tests.conftest import FakeClock, write_sandbox_config
from tests.surveys.conftest import SECRET, Captured, Inbox, contact, engagement

BASE = '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'


def write(tmp_path: Path, surveys: str, store_url: str | None = None) -> Path:
    path = tmp_path / "engage.toml"
    store = f'[store]\nurl = "{store_url}"\n' if store_url else ""
    path.write_text(BASE + store + textwrap.dedent(surveys), encoding="utf-8")
    return path


def test_a_valid_section_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [surveys]
        channel = "crm"
        reminder_after_days = 5
        expiry_days = 14
        role_weights = { decision_maker = 2.0 }
        [surveys.triggers]
        periodic_days = 91
        ticket_resolved = true
        [surveys.fatigue]
        contact_min_days = 60
        account_cap = 3
        quiet_days = ["sat", "sun", "2026-10-01"]
        [surveys.smtp]
        host = "mail.example.com"
        port = 587
        username = "surveys"
        starttls = true
        """,
    )
    surveys = load_settings(path, env={}).config.surveys
    assert surveys.channel == "crm"
    assert surveys.triggers.periodic_days == 91
    assert surveys.fatigue.quiet_days == ("sat", "sun", "2026-10-01")
    assert surveys.smtp.port == 587
    assert surveys.role_weights == {"decision_maker": 2.0}


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        pytest.param('[surveys]\nchannel = "fax"\n', "surveys.channel", "smtp", id="channel"),
        pytest.param("[surveys.smtp]\npassword = \"hunter2\"\n", "surveys.smtp.password",
                     "secrets do not belong in the file", id="smtp-password-in-file"),
        pytest.param('[surveys.fatigue]\nquiet_days = ["someday"]\n', "surveys.fatigue.quiet_days",
                     "neither a weekday", id="quiet-day"),
        pytest.param("[surveys.fatigue]\ncontact_min_days = -1\n",
                     "surveys.fatigue.contact_min_days", "greater than or equal to 0",
                     id="negative-days"),
        pytest.param('[surveys]\nrecipient_roles = ["ceo"]\n', "surveys",
                     "role 'ceo' is not defined under surveys.roles", id="unknown-role"),
        pytest.param("[surveys]\nexpiry_days = 5\nreminder_after_days = 7\n", "surveys",
                     "must be less than expiry_days", id="reminder-after-expiry"),
        pytest.param("[surveys]\ncontact_min_dayz = 3\n", "surveys.contact_min_dayz",
                     "unknown key", id="misspelt-key"),
    ],
)  # fmt: skip
def test_bad_values_name_the_file_and_the_key(
    tmp_path: Path, section: str, key: str, words: str
) -> None:
    path = write(tmp_path, section)
    with pytest.raises(ConfigFileError) as caught:
        load_settings(path, env={})
    assert caught.value.path == str(path)
    assert caught.value.key == key
    assert words in caught.value.message
    assert "hunter2" not in str(caught.value)


def test_send_without_the_signing_secret_exits_2_naming_the_variable(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGAGE_SURVEY_SECRET", raising=False)
    path = write(tmp_path, "", sqlite_url)
    result = CliRunner().invoke(main, ["--config", str(path), "surveys", "send"])
    assert result.exit_code == 2
    assert "ENGAGE_SURVEY_SECRET" in result.output


def stored(
    store_url: str, clock: FakeClock, engagements: list[Engagement], contacts: list[Contact]
) -> None:
    store = Store.open(store_url)
    store.save_engagements(engagements, clock())
    store.save_contacts(contacts, clock())
    store.close()


def test_plan_send_and_status_from_the_command_line(
    tmp_path: Path,
    sqlite_url: str,
    clock: FakeClock,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored(sqlite_url, clock, [engagement("D1")], [contact("C1"), contact("C2", email="broken")])
    path = write(
        tmp_path,
        f"""
        [surveys.smtp]
        host = "{smtp_server.host}"
        port = {smtp_server.port}
        """,
        sqlite_url,
    )
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    runner = CliRunner()
    dry = runner.invoke(main, ["--config", str(path), "surveys", "plan", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would plan 1 invitation(s), held back 1" in dry.output
    assert "invalid_email" in dry.output and "the e-mail address is not valid" in dry.output
    planned = runner.invoke(main, ["--config", str(path), "surveys", "plan"])
    assert "planned 1 invitation(s)" in planned.output
    sent = runner.invoke(main, ["--config", str(path), "surveys", "send"])
    assert sent.exit_code == 0, sent.output
    assert "sent 1," in sent.output
    assert smtp_server.count() == 1
    status = runner.invoke(main, ["--config", str(path), "surveys", "status"])
    assert status.exit_code == 0, status.output
    assert "invitations: sent 1" in status.output


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    surveys = load_settings(example, env={}).config.surveys
    assert surveys.fatigue.account_cap == 2 and surveys.smtp.starttls is True


def test_followups_from_the_command_line_create_one_task_per_unhappy_answer(
    sandbox: SandboxCRM,
    tmp_path: Path,
    sqlite_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in sandbox_env(sandbox).items():
        monkeypatch.setenv(name, value)
    path = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(path), "sync"]).exit_code == 0
    store = Store.open(sqlite_url)
    plan_step(store, SurveysSection(), now=clock())
    send_step(store, SurveysSection(), Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(store.engine)
    first, second = surveys.invitations("sent")[:2]
    surveys.save_response(first, nps=2, csat=3, comment=None, now=clock())
    surveys.save_response(second, nps=8, csat=4, comment=None, now=clock())  # passive, content
    store.close()
    result = runner.invoke(main, ["--config", str(path), "surveys", "followups"])
    assert result.exit_code == 0, result.output
    assert "created 1 follow-up task(s), failed 0" in result.output
    again = runner.invoke(main, ["--config", str(path), "surveys", "followups"])
    assert "created 0 follow-up task(s)" in again.output
    (task,) = sandbox.tasks()
    assert task["What_Id"] == {"id": first.engagement_id}


def test_status_shows_a_comment_without_its_escape_sequences(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    store = Store.open(sqlite_url)
    store.save_engagements([engagement("D1")], clock())
    store.save_contacts([contact("C1")], clock())
    plan_step(store, SurveysSection(), now=clock())
    send_step(store, SurveysSection(), Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(store.engine)
    (sent,) = surveys.invitations("sent")
    hostile = "\x1b[2J\x1b]0;pwned\x07Great team\r\u202eevil\x1b[31m"
    surveys.save_response(sent, nps=9, csat=5, comment=hostile, now=clock())
    store.close()
    path = write(tmp_path, "", sqlite_url)
    result = CliRunner().invoke(main, ["--config", str(path), "surveys", "status"])
    assert result.exit_code == 0, result.output
    assert "comment on D1: Great teamevil" in result.output
    assert not any(c in result.output for c in ("\x1b", "\x07", "\r", "\u202e"))


def with_our_words(tmp_path: Path, store_url: str, smtp_server: Inbox, words: str) -> Path:
    """A config that sends through `smtp_server` with `words` as its override file."""
    (tmp_path / "our-words.toml").write_text(words, encoding="utf-8")
    return write(
        tmp_path,
        f"""
        [messages]
        override_file = "our-words.toml"
        [surveys.smtp]
        host = "{smtp_server.host}"
        port = {smtp_server.port}
        """,
        store_url,
    )


def test_the_mail_is_in_the_company_s_own_words(
    tmp_path: Path,
    sqlite_url: str,
    clock: FakeClock,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored(sqlite_url, clock, [engagement("D1", name="Cloud migration")], [contact("C1")])
    path = with_our_words(
        tmp_path,
        sqlite_url,
        smtp_server,
        '[en.survey]\nsubject = "Two minutes on {engagement}, please"\n'
        'signature = "With thanks, the Cloud team"\n',
    )
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(path), "surveys", "plan"]).exit_code == 0
    sent = runner.invoke(main, ["--config", str(path), "surveys", "send"])
    assert sent.exit_code == 0, sent.output
    [mail] = smtp_server.messages
    assert mail["Subject"] == "Two minutes on Cloud migration, please"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "With thanks, the Cloud team" in text
    assert "Thank you — your delivery team" not in text


def test_a_bad_override_stops_the_send_naming_the_file_and_the_key(
    tmp_path: Path, sqlite_url: str, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = with_our_words(
        tmp_path, sqlite_url, smtp_server, '[en.survey]\nsubjet = "Two minutes on {engagement}"\n'
    )
    monkeypatch.setenv("ENGAGE_SURVEY_SECRET", SECRET)
    sent = CliRunner().invoke(main, ["--config", str(path), "surveys", "send"])
    assert sent.exit_code == 2
    assert "our-words.toml: en.survey.subjet: no such message (engage messages list)" in (
        " ".join(sent.output.split())
    )
    assert smtp_server.count() == 0
