"""Acceptance, in a real browser: sandbox CRM -> sync -> e-mail through a real SMTP server ->
the link opened in Debian's Chromium (driven by Playwright) -> score chosen and submitted ->
score + push -> the sandbox CRM holds the new NPS on the deal.

Never downloads a browser: it runs /usr/bin/chromium, and installs Debian's `chromium` package
when it is missing. It FAILS (never skips) when the browser cannot run.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.mail import EmailChannel, SmtpMailer
from jobs.surveys.steps import plan_step, send_step
from jobs.surveys.web import SecurityHeaders, create_app
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, Inbox

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get if missing; fails the test if impossible."""
    if not CHROMIUM.exists() and shutil.which("apt-get"):
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-zenhei"],
        ):
            subprocess.run(command, check=False, capture_output=True, timeout=900, env=env)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and `apt-get install chromium` did not provide it")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def serving(app: SecurityHeaders, listener: socket.socket) -> Iterator[None]:
    """`engage serve`'s app on uvicorn, on a socket already listening (a request that comes
    before the server thread is ready waits in the backlog; the test never waits on a clock)."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(r"http://127\.0\.0\.1:\d+/s/\S+", body.get_content())
    assert match is not None
    return match.group(0)


def test_an_answer_given_in_chromium_lands_on_the_deal_in_the_crm(
    browser: Browser,
    sandbox: SandboxCRM,
    smtp_server: Inbox,
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    assert run_job(conn, Job.SYNC).status == "ok"
    listener = socket.socket()  # listening before planning: the links must name its port
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = int(listener.getsockname()[1])
    cfg = SurveysSection.model_validate(
        {
            "base_url": f"http://127.0.0.1:{port}",
            "smtp": {"host": smtp_server.host, "port": smtp_server.port},
            "fatigue": {"account_cap": 0},
        }
    )
    _plan, added = plan_step(conn.store, cfg, now=clock())
    with SmtpMailer(cfg.smtp, None) as mailer:
        report = send_step(
            conn.store, cfg, EmailChannel(mailer, cfg.smtp.sender), secret=SECRET, now=clock()
        )
    assert report.sent == added == smtp_server.count() > 0

    surveys = SurveyStore(conn.store.engine)
    by_id = {i.id: i for i in surveys.invitations()}
    mails = {str(m["X-Engage-Invitation"]): m for m in smtp_server.messages}
    english = next(i for i in mails if by_id[i].language == "en" and by_id[i].kind == "nps_csat")
    chinese = next(i for i in mails if by_id[i].language == "zh")
    deal_id = by_id[english].engagement_id

    ARTIFACTS.mkdir(exist_ok=True)
    app = create_app(surveys, cfg, secret=SECRET, clock=clock)
    with serving(app, listener):
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()

        page.goto(link_in(mails[chinese]))
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.get_by_text("您有多大可能向朋友或同事推荐我们？").is_visible()
        page.screenshot(path=str(ARTIFACTS / "survey-zh.png"), full_page=True)

        page.goto(link_in(mails[english]))
        assert page.locator("html").get_attribute("lang") == "en"
        page.screenshot(path=str(ARTIFACTS / "survey-en.png"), full_page=True)
        page.get_by_label("10", exact=True).check()  # the label is the click target
        page.locator("#csat-4").focus()  # and the keyboard works too
        page.keyboard.press("Space")
        page.get_by_label("Anything you would like to tell us? (optional)").fill("Great work")
        page.get_by_role("button", name="Send").click()
        page.get_by_role("heading", name="Thank you").wait_for()
        page.screenshot(path=str(ARTIFACTS / "survey-en-thanks.png"), full_page=True)
        context.close()

    (answer,) = surveys.responses()
    assert (answer.invitation_id, answer.nps, answer.csat) == (english, 10, 4)
    clock.advance(minutes=10)
    assert run_job(conn, Job.SCORE).status == "ok"
    assert run_job(conn, Job.PUSH).status == "ok"
    deal = sandbox.records("Deals")[deal_id]
    assert deal["Engagement_NPS"] == 100  # the only answer on this deal: a promoter
    assert deal["Engagement_CSAT"] == 4
    assert (ARTIFACTS / "survey-zh.png").stat().st_size > 0
    conn.close()
