"""A local Jira Cloud lookalike (REST v3 read side) for the demo and tests. NOT a real Jira."""

from connector.sandbox.jira.server import SandboxJira
from connector.sandbox.jira.state import JiraIssue, JiraState

__all__ = ["JiraIssue", "JiraState", "SandboxJira"]
