"""The `jira` package (pycontribs, the maintained Python client) drives the Jira Cloud sandbox:
the sandbox accepts what the vendor-world's own client sends (REST v3, ``search/jql`` with
``nextPageToken``, PageBean versions, changelogs, worklogs, Basic auth) and answers in shapes
it parses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from jira import JIRA, JIRAError

from connector.sandbox.jira import JiraState, SandboxJira
from tests.conftest import FakeClock

ISSUES = 250  # three pages of 100


@pytest.fixture
def site(clock: FakeClock) -> Iterator[tuple[JiraState, str]]:
    state = JiraState(clock=clock)
    state.add_account("pm@example.com", "jira-token-1")
    state.add_project("ACME", "Acme")
    state.add_version("ACME", "2.1", date(2026, 11, 14))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(ISSUES):
        state.add_issue("ACME", priority="High", created=start + timedelta(minutes=i))
    state.move("ACME-1", "In Progress", start + timedelta(days=1))
    state.log_work("ACME-1", start, 3600)
    with SandboxJira(state) as sandbox:
        yield state, sandbox.url


def client(url: str, token: str = "jira-token-1") -> JIRA:
    return JIRA(
        server=url,
        basic_auth=("pm@example.com", token),
        options={"rest_api_version": "3"},
        # Asks serverInfo first: deploymentType "Cloud" unlocks search/jql in the package.
        max_retries=0,
    )


def test_the_jira_package_pages_all_issues_with_next_page_tokens(
    site: tuple[JiraState, str],
) -> None:
    state, url = site
    jira = client(url)

    issues = jira.enhanced_search_issues(
        "project = ACME ORDER BY key ASC",
        maxResults=0,  # every page
        fields=["status", "priority", "updated"],
        expand="changelog",
    )

    assert len(issues) == ISSUES
    assert issues[0].key == "ACME-1"
    assert issues[0].fields.priority.name == "High"
    assert issues[0].fields.status.name == "In Progress"
    assert [h.items[0].toString for h in issues[0].changelog.histories] == ["In Progress"]
    assert state.search_calls() == 3  # 100 + 100 + 50


def test_the_jira_package_searches_by_post_too(site: tuple[JiraState, str]) -> None:
    state, url = site
    result = client(url).enhanced_search_issues(
        'project = "ACME" AND updated >= "2026/11/01 03:20"',
        maxResults=50,
        fields=["key"],
        use_post=True,
        json_result=True,
    )
    # Created a minute apart from 00:00 UTC (the account's zone): 03:20 on leaves ACME-201..250
    # and ACME-1 (moved a day later): 51, of which the first page holds 50.
    assert len(result["issues"]) == 50
    assert result["nextPageToken"]
    assert state.calls[("POST", "/rest/api/3/search/jql")] == 1


def test_the_jira_package_reads_projects_versions_worklogs_and_creates(
    site: tuple[JiraState, str],
) -> None:
    state, url = site
    jira = client(url)

    assert jira.myself()["emailAddress"] == "pm@example.com"
    assert jira.project("ACME").name == "Acme"
    assert [v.name for v in jira.project_versions("ACME")] == ["2.1"]
    assert [w.timeSpentSeconds for w in jira.worklogs("ACME-1")] == [3600]
    assert jira.issue("ACME-2").fields.priority.name == "High"
    created = jira.create_issue(
        fields={"project": {"key": "ACME"}, "summary": "x", "issuetype": {"name": "Task"}}
    )
    assert created.key == f"ACME-{ISSUES + 1}"
    assert state.writes == 1


def test_the_jira_package_sees_a_refusal_as_jira_sends_it(site: tuple[JiraState, str]) -> None:
    _, url = site
    with pytest.raises(JIRAError) as refused:
        client(url, token="wrong").myself()
    assert refused.value.status_code == 401
    with pytest.raises(JIRAError) as missing:
        client(url).project("NOPE")
    assert missing.value.status_code == 404
    assert "No project could be found with key 'NOPE'" in str(missing.value.text)
