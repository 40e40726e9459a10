"""An outbox row's content as what a reader sees, in the row's language: a `View` that each
channel (Slack blocks, a Teams card, an e-mail) lays out its own way. Every sentence comes
from `messages.py`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobs.alerts.messages import say, value
from jobs.outside_text import one_line


@dataclass(frozen=True)
class View:
    title: str
    #: (label, value) pairs: Slack section fields, a Teams FactSet, an e-mail table.
    facts: tuple[tuple[str, str], ...] = ()
    #: (heading, lines): drivers, a digest's parts, a summary's list.
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    link: str | None = None
    link_label: str = ""
    footer: str = ""
    #: Identifies the message (e-mail Message-ID): the outbox key.
    key: str = field(default="", compare=False)

    @property
    def fallback(self) -> str:
        """One line: Slack's notification ``text``, the e-mail's first line."""
        first = next((lines[0] for _, lines in self.sections if lines), "")
        return f"{self.title} — {first}" if first else self.title


def _driver(d: Mapping[str, Any], language: str) -> str:
    return one_line(str(d.get(language) or d.get("en") or ""))


def alert_view(content: Mapping[str, Any], language: str, key: str = "") -> View:
    event = str(content["event"])
    words = {
        "engagement": one_line(str(content.get("engagement") or "")),
        "from_": value(event, content.get("from"), language),
        "to": value(event, content.get("to"), language),
        "route": "",
    }
    title = say(f"title.{event}", language, **words)
    if event == "job":
        reason = one_line(str(content.get("message") or say("label.none", language)))
        return View(
            title=title,
            facts=((say("label.reason", language), reason),),
            footer=say("footer", language),
            key=key,
        )
    facts = [
        (say("label.account", language), one_line(str(content.get("account") or ""))),
        (say("label.owner", language), one_line(str(content.get("owner") or "-"))),
    ]
    if content.get("from") is not None and content.get("to") is not None:
        facts.append((say("label.change", language), say("change", language, **words)))
    level = value("risk_level", content.get("level"), language)
    facts.append(
        (say("label.risk", language), say("score", language, score=content["score"], level=level))
    )
    facts.append((say("label.sla", language), value("sla_status", content.get("sla"), language)))
    drivers = tuple(_driver(d, language) for d in content.get("drivers", ()))
    return View(
        title=title,
        facts=tuple(facts),
        sections=((say("label.drivers", language), drivers),) if drivers else (),
        link=content.get("link"),
        link_label=say("label.open", language),
        footer=say("footer", language),
        key=key,
    )


def summary_view(
    route: str, contents: Sequence[Mapping[str, Any]], language: str, key: str, shown: int = 15
) -> View:
    """One message for a burst: how many, and the first ``shown`` titles."""
    titles = [alert_view(c, language).title for c in contents]
    lines = titles[:shown]
    if len(titles) > shown:
        lines.append(say("summary.more", language, count=len(titles) - shown))
    return View(
        title=say("title.summary", language, count=len(titles), route=route),
        sections=((say("summary.heading", language), tuple(lines)),),
        footer=say("footer", language),
        key=key,
    )


def sample_view(route: str, language: str) -> View:
    return View(
        title=say("title.test", language, route=route),
        sections=(("", (say("test.body", language),)),),
        footer=say("footer", language),
        key=f"test|{route}",
    )
