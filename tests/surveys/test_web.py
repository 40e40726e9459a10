"""The response page through Starlette's TestClient: the happy path and every bad-input path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.steps import plan_step, send_step
from jobs.surveys.tokens import csrf_token
from jobs.surveys.web import CSRF_COOKIE, create_app
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, Captured, contact, engagement


@dataclass
class Page:
    client: TestClient
    surveys: SurveyStore
    links: dict[str, str]
    clock: FakeClock

    def path(self, contact_id: str = "C1") -> str:
        return "/s/" + self.links[contact_id].rsplit("/s/", 1)[1]

    def open(self, contact_id: str = "C1") -> tuple[str, str]:
        """GET the form; returns its path and the anti-forgery value."""
        path = self.path(contact_id)
        response = self.client.get(path)
        assert response.status_code == 200
        match = re.search(r'name="csrf" value="([^"]+)"', response.text)
        assert match is not None
        return path, match.group(1)


@pytest.fixture
def page(store: Store, clock: FakeClock) -> Iterator[Page]:
    store.save_engagements([engagement("D1")], clock())
    store.save_contacts([contact("C1"), contact("C2", first_name="伟", last_name="张")], clock())
    cfg = SurveysSection(rate_limit_per_minute=10)
    plan_step(store, cfg, now=clock())
    captured = Captured({})
    send_step(store, cfg, captured, secret=SECRET, now=clock())
    surveys = SurveyStore(store.engine)
    app = create_app(surveys, cfg, secret=SECRET, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield Page(client, surveys, captured.links, clock)


def answer(nps: str = "9", csat: str = "5", comment: str = "", csrf: str = "") -> dict[str, str]:
    return {"nps": nps, "csat": csat, "comment": comment, "csrf": csrf}


def test_the_form_is_accessible_and_mobile_ready(page: Page) -> None:
    response = page.client.get(page.path())
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # Every radio has a label tied to it; both groups have a legend.
    for n in range(11):
        assert f'<label for="nps-{n}"><input type="radio" id="nps-{n}" name="nps"' in html
    for n in range(1, 6):
        assert f'id="csat-{n}" name="csat" value="{n}"' in html
    assert "How likely are you to recommend us" in html
    assert '<label for="comment">' in html
    cookie = response.headers["set-cookie"].lower()
    assert "engage_csrf=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_chinese_contact_gets_the_chinese_page(page: Page) -> None:
    html = page.client.get(page.path("C2"), headers={"Accept-Language": "en"}).text
    assert '<html lang="zh-CN">' in html
    assert "您有多大可能向朋友或同事推荐我们？" in html


def test_an_answer_is_stored_and_thanked_for(page: Page) -> None:
    path, csrf = page.open()
    response = page.client.post(path, data=answer("10", "4", "Great team", csrf))
    assert response.status_code == 200
    assert "Thank you" in response.text
    (stored,) = page.surveys.responses()
    assert (stored.contact_id, stored.nps, stored.csat, stored.comment) == (
        "C1",
        10,
        4,
        "Great team",
    )


def test_a_script_comment_is_stored_as_text_and_shown_escaped(page: Page) -> None:
    path, csrf = page.open()
    comment = "<script>alert('x')</script> & more"
    response = page.client.post(path, data=answer(comment=comment, csrf=csrf))
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in response.text
    assert page.surveys.responses()[0].comment == comment


def assert_nothing_stored(page: Page) -> None:
    assert page.surveys.responses() == []


@pytest.mark.parametrize(
    ("mangle", "status", "words"),
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), 403, "not valid",
                     id="forged-signature"),
        pytest.param(lambda t: "f" * 32 + t[32:], 403, "not valid", id="tampered-invitation-id"),
        pytest.param(lambda t: t.split(".")[0] + ".9999999999." + t.split(".")[2], 403,
                     "not valid", id="tampered-expiry"),
        pytest.param(lambda t: t[:20], 400, "incomplete", id="truncated"),
    ],
)  # fmt: skip
def test_a_bad_link_gets_a_clear_error_page_and_stores_nothing(
    page: Page, mangle: object, status: int, words: str
) -> None:
    path, csrf = page.open()
    token = path.removeprefix("/s/")
    bad = "/s/" + mangle(token)  # type: ignore[operator]
    shown = page.client.get(bad)
    assert shown.status_code == status
    assert "This link cannot be used" in shown.text and words in shown.text
    posted = page.client.post(bad, data=answer(csrf=csrf))
    assert posted.status_code == status
    assert_nothing_stored(page)


def test_an_expired_link_is_refused(page: Page) -> None:
    path, csrf = page.open()
    page.clock.advance(days=21)
    response = page.client.post(path, data=answer(csrf=csrf))
    assert response.status_code == 410
    assert "This survey has closed" in response.text
    assert page.client.get(path).status_code == 410
    assert_nothing_stored(page)


def test_a_used_link_is_refused(page: Page) -> None:
    path, csrf = page.open()
    assert page.client.post(path, data=answer("3", "2", csrf=csrf)).status_code == 200
    again = page.client.post(path, data=answer("10", "5", csrf=csrf))
    assert again.status_code == 409
    assert "already been answered" in again.text
    assert page.client.get(path).status_code == 409
    assert [(r.nps, r.csat) for r in page.surveys.responses()] == [(3, 2)]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({"nps": "11"}, "nps", id="nps-11"),
        pytest.param({"nps": "abc"}, "nps", id="nps-abc"),
        pytest.param({"nps": "-1"}, "nps", id="nps-negative"),
        pytest.param({"csat": "0"}, "csat", id="csat-0"),
        pytest.param({"csat": "4.5"}, "csat", id="csat-decimal"),
        pytest.param({"nps": ""}, "nps", id="nps-missing"),
    ],
)
def test_out_of_range_or_non_numeric_scores_are_rejected(
    page: Page, fields: dict[str, str], named: str
) -> None:
    path, csrf = page.open()
    response = page.client.post(path, data={**answer(csrf=csrf), **fields})
    assert response.status_code == 422
    assert f"Some answers were not valid: {named}" in response.text
    assert_nothing_stored(page)


def test_a_body_over_the_limit_is_rejected(page: Page) -> None:
    path, csrf = page.open()
    response = page.client.post(path, data=answer(comment="x" * 60_000, csrf=csrf))
    assert response.status_code == 413
    assert_nothing_stored(page)


def test_the_comment_is_counted_in_characters_in_any_script(page: Page) -> None:
    path, csrf = page.open()
    # 4,001 four-byte characters (12 bytes each form-encoded): over the page's promise, and
    # refused by name, not as a too-large body.
    over = page.client.post(path, data=answer(comment="😀" * 4001, csrf=csrf))
    assert over.status_code == 422 and "comment" in over.text
    # A browser sends line breaks as CRLF but counts each as one of the 4,000.
    typed = ("好" * 99 + "\r\n") * 40
    stored = page.client.post(path, data=answer(comment=typed, csrf=csrf))
    assert stored.status_code == 200
    (response,) = page.surveys.responses()
    assert response.comment == typed.replace("\r\n", "\n").strip()
    assert len(response.comment or "") == 3999


def test_a_link_followed_by_a_line_break_is_refused(page: Page) -> None:
    path, csrf = page.open()
    assert page.client.get(path + "%0A").status_code == 400
    posted = page.client.post(path + "%0A", data=answer(csrf=csrf))
    assert posted.status_code == 400
    assert_nothing_stored(page)


def test_the_anti_forgery_nonce_is_always_minted_by_the_server(page: Page) -> None:
    planted = "attacker-chosen-nonce"
    page.client.cookies.set(CSRF_COOKIE, planted, path="/s/")
    response = page.client.get(page.path())
    minted = response.cookies.get(CSRF_COOKIE)
    assert minted is not None and minted != planted
    # A form value built on the planted nonce is useless, even with that cookie sent.
    page.client.cookies.clear()
    page.client.cookies.set(CSRF_COOKIE, planted, path="/s/")
    token = page.path().rsplit("/", 1)[1]
    forged = page.client.post(page.path(), data=answer(csrf=csrf_token(SECRET, token, planted)))
    assert forged.status_code == 403
    # The same browser opening the link in a second tab keeps its (minted) nonce.
    page.client.cookies.clear()
    first = page.client.get(page.path()).cookies.get(CSRF_COOKIE)
    second = page.client.get(page.path()).cookies.get(CSRF_COOKIE)
    assert first == second
    assert_nothing_stored(page)


def test_a_non_ascii_anti_forgery_value_is_a_bad_request(page: Page) -> None:
    path, _csrf = page.open()
    response = page.client.post(path, data=answer(csrf="中文"))
    assert response.status_code == 400
    assert_nothing_stored(page)


class BrokenStore(SurveyStore):
    def invitation(self, invitation_id: str) -> None:
        raise RuntimeError("the database went away")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nothing-here", 404), ("DELETE", "/s/abc", 405), ("GET", "/s/{token}", 500)],
)
def test_the_frameworks_own_error_pages_carry_the_security_headers(
    page: Page, method: str, path: str, status: int
) -> None:
    app = create_app(
        BrokenStore(page.surveys.engine), SurveysSection(), secret=SECRET, clock=page.clock
    )
    token = page.path().rsplit("/", 1)[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path.format(token=token))
    assert response.status_code == status
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_post_without_the_forms_anti_forgery_value_is_refused(page: Page) -> None:
    path, csrf = page.open()
    missing = page.client.post(path, data=answer(csrf=""))
    assert missing.status_code == 403
    assert "sent from another site" in missing.text
    other_path, other_csrf = page.open("C2")
    crossed = page.client.post(path, data=answer(csrf=other_csrf))  # another link's value
    assert crossed.status_code == 403
    page.client.cookies.clear()  # a cross-site request: SameSite keeps the cookie home
    no_cookie = page.client.post(path, data=answer(csrf=csrf))
    assert no_cookie.status_code == 403
    assert_nothing_stored(page)
    del other_path


def test_a_post_that_is_not_a_form_is_refused(page: Page) -> None:
    path, csrf = page.open()
    response = page.client.post(path, json=answer(csrf=csrf))
    assert response.status_code == 415
    assert_nothing_stored(page)


def test_repeated_submissions_from_one_address_are_rate_limited(page: Page) -> None:
    path, _csrf = page.open()
    statuses = [page.client.post(path, data=answer(nps="abc")).status_code for _ in range(11)]
    assert statuses == [403] * 10 + [429]  # no valid csrf: refused, and counted
    limited = page.client.post(path, data=answer())
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    page.clock.advance(seconds=61)
    assert page.client.post(path, data=answer()).status_code == 403  # allowed through again


def test_error_pages_follow_accept_language_when_no_invitation_is_known(page: Page) -> None:
    response = page.client.get("/s/nonsense", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 400
    assert "链接不完整" in response.text
