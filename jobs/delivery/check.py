"""`engage sources check`: every problem of every delivery source at once, against the live
tools, writing nothing (reads of the tools and of the store only).

Problems, one line each naming the source and the key: credentials refused, a linked project
the tool does not have, a project linked to two engagements, a status / item type / priority
the mapping names that the tool does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.errors import AuthenticationError, ConfigurationError, ConnectorError
from jobs.delivery.pull import ConfiguredSource, vocabulary_problems
from mappings.delivery import named_for, project_links, split_project_field


def check_sources(sources: Sequence[ConfiguredSource], deal_projects: dict[str, str]) -> list[str]:
    """The problems of every source (empty: all fine). ``deal_projects``: engagement id ->
    its deal's project field (`DeliveryTables.deal_projects`)."""
    problems: list[str] = []
    for source in sources:
        problems += check_source(source, deal_projects)
    return problems


def check_source(source: ConfiguredSource, deal_projects: dict[str, str]) -> list[str]:
    name, client = source.name, source.client
    where = f"delivery source {name}"
    try:
        client.check()
    except AuthenticationError as exc:
        return [f"{where}: credentials: {client.tool} refused them: {exc}"]
    except ConnectorError as exc:
        return [f"{where}: base_url: cannot reach {client.tool}: {exc}"]
    fields = {e: split_project_field(v) for e, v in deal_projects.items()}
    links, link_problems = project_links(source.mapping, fields, name)
    named = named_for(source.mapping, fields, name)
    problems = [f"{where}: link: {line}" for line in link_problems]
    words_checked: set[str] = set()
    for key in sorted(links):
        try:
            project = client.project(key)
        except ConfigurationError:
            if key not in named:
                continue  # a plain key in a deal's field: perhaps another tool's project
            problems.append(
                f"{where}: link.projects.{key}: project {key} (linked to {links[key]}) does "
                f"not exist in {client.tool} or the credentials cannot see it"
            )
            continue
        except ConnectorError as exc:
            problems.append(f"{where}: link.projects.{key}: {exc}")
            continue
        for line in vocabulary_problems(source.mapping, client.vocabulary(project), client.tool):
            if line not in words_checked:
                words_checked.add(line)
                problems.append(f"{where}: {line}")
    return problems
