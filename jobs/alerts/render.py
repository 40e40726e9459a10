"""An outbox row's content as what a reader sees, in the row's language: a `View` that each
channel (Slack blocks, a Teams card, an e-mail) lays out its own way. Every sentence comes
from the catalogs' ``alert.*`` messages (`messages.py`); ``words``: the catalogs with the
company's override file (the shipped ones when None)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobs.alerts.messages import Wording
from jobs.messages.catalog import Words
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


def alert_view(
    content: Mapping[str, Any], language: str, key: str = "", words: Words | None = None
) -> View:
    event = str(content["event"])
    t = Wording(language, words)
    fields = {
        "engagement": one_line(str(content.get("engagement") or "")),
        "from_": t.value(event, content.get("from")),
        "to": t.value(event, content.get("to")),
        "route": "",
    }
    title = t.say(f"title.{event}", **fields)
    if event == "job":
        reason = one_line(str(content.get("message") or t.say("label.none")))
        return View(
            title=title,
            facts=((t.say("label.reason"), reason),),
            footer=t.say("footer"),
            key=key,
        )
    facts = [
        (t.say("label.account"), one_line(str(content.get("account") or ""))),
        (t.say("label.owner"), one_line(str(content.get("owner") or "-"))),
    ]
    if content.get("from") is not None and content.get("to") is not None:
        facts.append((t.say("label.change"), t.say("change", **fields)))
    level = t.value("risk_level", content.get("level"))
    facts.append((t.say("label.risk"), t.say("score", score=content["score"], level=level)))
    facts.append((t.say("label.sla"), t.value("sla_status", content.get("sla"))))
    drivers = tuple(_driver(d, language) for d in content.get("drivers", ()))
    return View(
        title=title,
        facts=tuple(facts),
        sections=((t.say("label.drivers"), drivers),) if drivers else (),
        link=content.get("link"),
        link_label=t.say("label.open"),
        footer=t.say("footer"),
        key=key,
    )


def summary_view(
    route: str,
    contents: Sequence[Mapping[str, Any]],
    language: str,
    key: str,
    shown: int = 15,
    words: Words | None = None,
) -> View:
    """One message for a burst: how many, and the first ``shown`` titles."""
    t = Wording(language, words)
    titles = [alert_view(c, language, words=words).title for c in contents]
    lines = titles[:shown]
    if len(titles) > shown:
        lines.append(t.say("summary.more", count=len(titles) - shown))
    return View(
        title=t.say("title.summary", count=len(titles), route=route),
        sections=((t.say("summary.heading"), tuple(lines)),),
        footer=t.say("footer"),
        key=key,
    )


def sample_view(route: str, language: str, words: Words | None = None) -> View:
    t = Wording(language, words)
    return View(
        title=t.say("title.test", route=route),
        sections=(("", (t.say("test_body"),)),),
        footer=t.say("footer"),
        key=f"test|{route}",
    )
