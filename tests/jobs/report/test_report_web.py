"""`/report` in `engage serve`: refused without a valid link (403), with an expired one (410);
a strict Content-Security-Policy and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from jobs.config import HealthSection
from jobs.messages.catalog import Words
from jobs.report import links
from jobs.report.web import report_route
from jobs.score import score
from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.tokens import sign
from jobs.surveys.web import create_app
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, engagement

BASE = "http://127.0.0.1:8765"
STRICT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@pytest.fixture
def client(store: Store, clock: FakeClock) -> Iterator[TestClient]:
    store.save_engagements([engagement("D1"), engagement("D2", end_date=None)], clock())
    score(store, HealthSection(), clock=clock)
    route = report_route(store, secret=SECRET, clock=clock, words=Words.shipped())
    app = create_app(
        SurveyStore(store.engine),
        SurveysSection(),
        secret=SECRET,
        clock=clock,
        extra_routes=[route],
    )
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def path_of(link: str) -> str:
    return link.removeprefix(BASE)


def test_a_valid_link_opens_the_report_with_a_strict_policy(
    client: TestClient, clock: FakeClock
) -> None:
    link = links.mint(BASE, "Director@Example.com", SECRET, clock() + timedelta(days=14), "en")
    response = client.get(path_of(link))
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert "Portfolio report" in response.text
    assert "2 engagements scored, as of Nov 23, 2026" in response.text
    # Nothing from elsewhere: no script at all, every image a data: URL, no URL to fetch.
    assert "<script" not in response.text
    sources = re.findall(r'src="([^"]*)"', response.text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(https?:)?//", response.text)


def test_the_chinese_report(client: TestClient, clock: FakeClock) -> None:
    link = links.mint(BASE, "director@example.com", SECRET, clock() + timedelta(days=1), "zh")
    response = client.get(path_of(link))
    assert response.status_code == 200
    assert "项目组合报告" in response.text
    assert '<html lang="zh-CN">' in response.text


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("", id="no-link"),
        pytest.param("?link=", id="empty"),
        pytest.param("?link=not-a-token", id="malformed"),
        pytest.param("?link=" + "0" * 32 + ".9999999999.AAAAAAAAAAAAAAAAAAAAAA", id="forged"),
    ],
)
def test_without_a_valid_link_it_is_refused(client: TestClient, query: str) -> None:
    response = client.get("/report" + query)
    assert response.status_code == 403
    assert "Portfolio" not in response.text
    assert response.headers["content-security-policy"] == STRICT_CSP


def test_a_survey_link_does_not_open_the_report(client: TestClient, clock: FakeClock) -> None:
    """Same secret, other purpose: a respondent's survey token is no key to the portfolio."""
    survey_token = sign("a" * 32, clock() + timedelta(days=5), SECRET)
    assert client.get(f"/report?link={survey_token}").status_code == 403


def test_an_expired_link_is_gone(client: TestClient, clock: FakeClock) -> None:
    link = links.mint(BASE, "director@example.com", SECRET, clock() + timedelta(days=1), "en")
    assert client.get(path_of(link)).status_code == 200
    clock.advance(days=1)
    response = client.get(path_of(link))
    assert response.status_code == 410
    assert "expired" in response.text


def test_a_link_names_no_one_in_clear(clock: FakeClock) -> None:
    link = links.mint(BASE, "director@example.com", SECRET, clock() + timedelta(days=1), "en")
    assert "director" not in link and "example" not in link
