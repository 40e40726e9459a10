"""`engage mappings init`: a starter mapping written from the org as it is.

What to look for in the org (module names, field names by attribute) is data, in
``mappings/<crm>-starter.toml`` beside the shipped mapping, not Python.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from connector.base import FieldMeta
from jobs.admin.fields import RECOMMENDED_SOURCES
from jobs.admin.mapping_check import Metadata
from mappings.spec import default_mapping_path


@cache
def _starter_data(crm: str) -> dict[str, Any]:
    text = resources.files("mappings").joinpath(f"{crm}-starter.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def guesses(crm: str = "zoho") -> dict[str, dict[str, list[str]]]:
    """Section -> plugin attribute -> the CRM's field names and labels to look for, in order."""
    data: dict[str, dict[str, list[str]]] = _starter_data(crm)["guesses"]
    return data


def section_modules(crm: str = "zoho") -> dict[str, str]:
    """Mapping section (accounts, contacts, engagements) -> the CRM module it reads."""
    data: dict[str, str] = _starter_data(crm)["modules"]
    return data


#: What each source value adds, said where `mappings init` leaves a line out.
ADDS = {
    "industry": "the account's industry",
    "country": "the account's country",
    "owner_id": "who owns the record",
    "owner_name": "who owns the record",
    "account_name": "the account's name on the deal",
    "contract_value": "the contract value (cost signals)",
    "currency": "the currency of the contract value",
    "start_date": "the delivery start (the schedule signals: start passed while unsigned)",
    "end_date": "the contract end (contract-end and renewal signals)",
    "closing_date": "the expected close date (pipeline signal: close date passed)",
    "billing_model": "the billing model (cost-control signals)",
    "sla_tier": "the SLA tier (SLA status and compliance)",
    "modified_at": "incremental syncs (without it every sync reads everything)",
}
#: What each activity table adds, said where `mappings init` comments one out.
ACTIVITY_ADDS = {
    "calls": "calls with the client as touchpoints (the communication factor)",
    "meetings": "meetings as touchpoints, status meetings and reviews for the SLA cadence",
    "notes": "notes as touchpoints",
}
_ENTRY = re.compile(r'^(\w+) = (?:"([^"]+)"|\{ path = "([^"]+)"(.*)\})$')


def starter_mapping(metadata: Metadata) -> str:
    """A mapping file built from the org as it is: the shipped default, with each source field
    replaced by the best match among the org's fields; a field or module the org lacks (or
    the API user cannot read) is left as a commented suggestion saying what it would add.
    ``metadata`` holds the modules that could be read."""
    lines = default_mapping_path("zoho").read_text(encoding="utf-8").splitlines()
    out = [
        "# Starter mapping written by `engage mappings init` from this org's field metadata.",
        "# Lines marked `# guessed` were matched by name; check them before the first push.",
        "# Commented lines are what this org lacks; each says what it would add.",
    ]
    section: str | None = None
    modules, guessed_fields = section_modules("zoho"), guesses("zoho")
    dropped: str | None = None  # the source table being commented out, if any
    for line in lines:
        if line.startswith("["):
            header = line.strip("[]")
            if dropped is not None and not header.startswith(dropped):
                dropped = None
            section = None
            fields_of = re.match(r"^sources\.(\w+)\.fields$", header)
            if fields_of:
                section = fields_of.group(1)
            table = re.match(r"^sources\.(activities\.\w+|accounts|contacts|engagements)$", header)
            if table and dropped is None:
                name = table.group(1)
                module = _module_after(lines, line)
                if module is not None and module not in metadata:
                    dropped = f"sources.{name}"
                    what = ACTIVITY_ADDS.get(name.partition(".")[2], f"{name} from {module}")
                    out.append(
                        f"# The CRM has no module {module} (or the API user cannot read it); "
                        f"reading it would add {what}:"
                    )
        if dropped is not None:
            out.append(f"# {line}" if line and not line.startswith("#") else line)
            continue
        entry = _ENTRY.match(line)
        if section in modules and entry:
            attribute = entry.group(1)
            module = modules[section]
            fields = metadata.get(module, {})
            path = entry.group(2) or entry.group(3)
            candidates = guessed_fields.get(section, {}).get(attribute, [path])
            found = _guess(fields, candidates) if attribute != "crm_id" else path
            guessed = "  # guessed" if attribute in guessed_fields.get(section, {}) else ""
            if found and entry.group(3):  # a table (optional, map…): keep its other keys
                out.append(f'{attribute} = {{ path = "{found}"{entry.group(4)}}}{guessed}')
            elif found:
                out.append(f'{attribute} = "{found}"{guessed}')
            else:
                adds = ADDS.get(attribute, f"the {attribute.replace('_', ' ')}")
                out.append(
                    f'# {attribute} = "{path}"  # {module} has no such field; it would add {adds}'
                    + (
                        " (`engage fields ensure --sources` creates it)"
                        if attribute in RECOMMENDED_SOURCES
                        else ""
                    )
                )
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def _module_after(lines: list[str], header: str) -> str | None:
    """The `module = "…"` line of the table that starts at ``header``."""
    index = lines.index(header)
    for line in lines[index + 1 :]:
        if line.startswith("["):
            return None
        found = re.match(r'^module = "([^"]+)"', line)
        if found:
            return found.group(1)
    return None


def _guess(fields: Mapping[str, FieldMeta], candidates: list[str]) -> str | None:
    by_label = {f.label.lower().replace(" ", "_"): f.api_name for f in fields.values()}
    for candidate in candidates:
        top, _, rest = candidate.partition(".")
        name = top if top in fields else by_label.get(top.lower())
        if name:
            return f"{name}.{rest}" if rest else name
    return None
