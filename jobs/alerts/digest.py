"""The weekly digest of one person (an owner, or a manager: their own engagements and those of
the people who name them as manager): engagements whose risk level changed over the week, the
riskiest few with their drivers, SLA breaches of the week, new survey answers. Pure: the caller
reads the store.

"Changed level" compares the level at the start of the week with the level at its end (the
health history): a level that went up and came back within the week is no change. An
engagement first scored during the week has no level to compare with and is not listed there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from jobs.alerts.config import WEEKDAYS, DigestSection, PersonSection, RouteSection
from jobs.alerts.messages import Wording
from jobs.alerts.render import View
from jobs.messages.catalog import Words
from jobs.outside_text import one_line
from jobs.store.alerts import LevelChange
from mappings.domain import Engagement, EngagementHealth

#: A digest more than this late (the daemon was down all day) is skipped, not sent on Tuesday.
LATEST_AFTER_SCHEDULE = timedelta(days=1)


def digest_due(route: RouteSection, digest: DigestSection, now: datetime) -> datetime | None:
    """The scheduled moment (UTC) of the digest due now, or None. In the route's zone: on the
    Monday after a DST change the digest still goes at 09:00 local time."""
    zone = route.zone()
    local = now.astimezone(zone)
    back = (local.weekday() - WEEKDAYS.index(digest.weekday)) % 7
    day = local.date() - timedelta(days=back)
    moment = datetime.combine(day, digest.at_time(), tzinfo=zone)
    if moment > local:
        moment = datetime.combine(day - timedelta(days=7), digest.at_time(), tzinfo=zone)
    moment_utc = moment.astimezone(now.tzinfo)
    return moment_utc if now - moment_utc <= LATEST_AFTER_SCHEDULE else None


def _level_at(history: Sequence[LevelChange], at: datetime) -> str | None:
    level = None
    for change in history:
        if change.recorded_at > at:
            break
        level = change.risk_level
    return level


def covered_owners(person_id: str, people: Mapping[str, PersonSection]) -> set[str]:
    return {person_id} | {pid for pid, p in people.items() if p.manager == person_id}


def build_digest(
    person_id: str,
    people: Mapping[str, PersonSection],
    engagements: Sequence[Engagement],
    health: Mapping[str, EngagementHealth],
    changes: Sequence[LevelChange],
    answers: Sequence[tuple[str, int | None, int | None, datetime]],
    *,
    end: datetime,
    riskiest: int,
) -> dict[str, Any]:
    """The digest's content (data, rendered later in the reader's language). ``answers``:
    (engagement id, nps, csat, answered at)."""
    start = end - timedelta(days=7)
    owners = covered_owners(person_id, people)
    mine = sorted(
        (e for e in engagements if e.owner_id in owners), key=lambda e: (e.name, e.crm_id)
    )
    by_id = {e.crm_id: e for e in mine}
    history: dict[str, list[LevelChange]] = {}
    for c in changes:
        if c.engagement_id in by_id:
            history.setdefault(c.engagement_id, []).append(c)

    def named(e: Engagement) -> dict[str, Any]:
        return {"engagement": e.name, "account": e.account_name or e.account_id}

    changed = []
    for e in mine:
        rows = history.get(e.crm_id, [])
        before, after = _level_at(rows, start), _level_at(rows, end)
        if before is not None and after is not None and before != after:
            changed.append({**named(e), "from": before, "to": after})
    scored = [e for e in mine if e.crm_id in health]
    scored.sort(key=lambda e: (-health[e.crm_id].risk_score, e.name))
    risky = []
    for e in scored[:riskiest]:
        h = health[e.crm_id]
        top = sorted(h.drivers, key=lambda d: -d.points)[:2]
        risky.append(
            {
                **named(e),
                "score": h.risk_score,
                "level": h.risk_level.value,
                "drivers": [{"en": d.en, "zh": d.zh} for d in top],
            }
        )
    breached = [
        named(e)
        for e in mine
        if any(
            start < c.recorded_at <= end and c.sla_status == "breached"
            for c in history.get(e.crm_id, [])
        )
    ]
    new_answers = [
        {"engagement": by_id[eid].name, "nps": nps, "csat": csat}
        for eid, nps, csat, at in sorted(answers, key=lambda a: (a[3], a[0]))
        if eid in by_id and start < at <= end
    ]
    person = people[person_id]
    return {
        "kind": "digest",
        "name": person.name or person_id,
        "week": start.date().isoformat(),
        "changed": changed,
        "riskiest": risky,
        "breaches": breached,
        "answers": new_answers,
    }


def digest_view(
    content: Mapping[str, Any],
    language: str,
    key: str = "",
    *,
    report: str | None = None,
    words: Words | None = None,
) -> View:
    """``report``: a link to the portfolio report for the reader (the digest's button);
    ``words``: the catalogs with the company's overrides (the shipped ones when None)."""
    t = Wording(language, words)

    def text(v: Any) -> str:
        return one_line(str(v))

    def or_nothing(lines: list[str]) -> tuple[str, ...]:
        return tuple(lines) or (t.say("digest.nothing"),)

    changed = [
        t.say(
            "digest.changed_line",
            engagement=text(c["engagement"]),
            account=text(c["account"]),
            from_=t.value("risk_level", c["from"]),
            to=t.value("risk_level", c["to"]),
        )
        for c in content["changed"]
    ]
    risky = [
        t.say(
            "digest.risky_line",
            engagement=text(r["engagement"]),
            account=text(r["account"]),
            score=r["score"],
            level=t.value("risk_level", r["level"]),
            drivers="; ".join(text(d.get(language) or d["en"]) for d in r["drivers"])
            or t.say("label.none"),
        )
        for r in content["riskiest"]
    ]
    breaches = [
        t.say(
            "digest.breach_line",
            engagement=text(b["engagement"]),
            account=text(b["account"]),
        )
        for b in content["breaches"]
    ]
    answers = [
        t.say(
            "digest.answer_line",
            engagement=text(a["engagement"]),
            nps="-" if a["nps"] is None else a["nps"],
            csat="-" if a["csat"] is None else a["csat"],
        )
        for a in content["answers"]
    ]
    return View(
        title=t.say("title.digest", name=text(content["name"]), week=content["week"]),
        sections=(
            (t.say("digest.changed"), or_nothing(changed)),
            (t.say("digest.riskiest", count=len(risky)), or_nothing(risky)),
            (t.say("digest.breaches"), or_nothing(breaches)),
            (t.say("digest.answers"), or_nothing(answers)),
        ),
        link=report,
        link_label=t.say("digest.report") if report else "",
        footer=t.say("footer"),
        key=key,
    )
