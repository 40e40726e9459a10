"""Who may be asked: the account's synced contacts, by role, with opt-outs and bad addresses out.

The language of a contact: Zoho Contacts have no standard language field, so a name written in
Chinese characters means Chinese; anyone else gets the configured default. (The response page
can still follow the browser's Accept-Language where an invitation has no language.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobs.surveys.config import SurveysSection
from mappings.domain import Contact

#: One address, no display name, no spaces or commas; the domain has a dot. Deliberately
#: simple: it refuses what would fail or be ambiguous in an SMTP envelope, not every RFC oddity.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    role: str | None
    language: str

    @property
    def name(self) -> str:
        c = self.contact
        if self.language == "zh":
            return f"{c.last_name or ''}{c.first_name or ''}".strip()
        return " ".join(p for p in (c.first_name, c.last_name) if p)


@dataclass(frozen=True)
class Rejected:
    """A contact who cannot be asked at all, and why (recorded like a suppression)."""

    contact_id: str
    rule: str
    reason: str


def role_of(title: str | None, roles: Mapping[str, Sequence[str]]) -> str | None:
    """The first configured role whose words occur in the title (case-insensitive)."""
    if not title:
        return None
    folded = title.casefold()
    for role, words in roles.items():
        if any(word.casefold() in folded for word in words):
            return role
    return None


def email_problem(email: str | None) -> str | None:
    if not email or not email.strip():
        return "the contact has no e-mail address"
    if len(email) > 254 or not _EMAIL.fullmatch(email.strip()):
        return "the e-mail address is not valid"
    return None


def language_of(contact: Contact, default: str) -> str:
    name = f"{contact.last_name or ''}{contact.first_name or ''}"
    return "zh" if _CJK.search(name) else default


def select_recipients(
    contacts: Sequence[Contact], config: SurveysSection
) -> tuple[list[Recipient], list[Rejected]]:
    """Contacts to ask (by id), and those in a surveyed role who cannot be asked, with why.

    Contacts outside the surveyed roles are simply not recipients; they are not listed.
    """
    chosen: list[Recipient] = []
    rejected: list[Rejected] = []
    for contact in sorted(contacts, key=lambda c: c.crm_id):
        role = role_of(contact.title, config.roles)
        if config.recipient_roles and role not in config.recipient_roles:
            continue
        if contact.email_opt_out:
            rejected.append(
                Rejected(
                    contact.crm_id, "email_opt_out", "the contact opted out of e-mail in the CRM"
                )
            )
            continue
        problem = email_problem(contact.email)
        if problem:
            rejected.append(Rejected(contact.crm_id, "invalid_email", problem))
            continue
        chosen.append(Recipient(contact, role, language_of(contact, config.default_language)))
    return chosen, rejected
