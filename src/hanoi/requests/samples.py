"""Sample request contents for the demo, the documentation and tests: a cross-border fraud case,
and the template a newcomer fills in (``hanoi requests template``).

A UK investigation into an investment-fraud ring asks France to preserve, then disclose, the
data of an account hosted by a French provider. The contents are complete under Arts. 40 and 42.
``EXAMPLES`` gives every field of the form one value from that case, so a template of any
request type carries values that validate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import yaml

from hanoi.core.citations import RULES
from hanoi.core.clock import isoformat
from hanoi.requests.contents import FIELDS_BY_NAME, FieldSpec, fields_for
from hanoi.requests.types import (
    EMERGENCY,
    INTERCEPTION,
    LAW_ENFORCEMENT,
    MLA,
    PRESERVATION,
    PRESERVED_DISCLOSURE,
    REAL_TIME,
    SPONTANEOUS,
    STORED_DATA,
    request_type,
)

CASE = "NCA-2026-FR-0413"

PRESERVATION_FIELDS: dict[str, Any] = {
    "requesting_authority": "UK Central Authority (Home Office), on behalf of the National Crime Agency",
    "conducting_authority": "National Crime Agency, National Cyber Crime Unit",
    "proceeding_nature": "investigation",
    "case_reference": CASE,
    "offence_code": "UNCC-13",
    "offence_max_penalty_years": 10,
    "facts_summary": (
        "Between March and September 2026 at least 214 victims in the United Kingdom were induced to "
        "transfer GBP 3.1 million to a fraudulent crypto-investment platform. Victims were contacted "
        "from the e-mail account below, hosted in France."),
    "data_concerned": "Stored content, subscriber and traffic data of the account contact@invest-fortune.example",
    "data_relation": "The account sent the scam offers and received the victims' payment confirmations.",
    "custodian": "Example Mail SAS, Paris (France)",
    "preservation_necessity": "The provider deletes inactive accounts' data after 30 days; the account "
                              "went inactive on 20 November 2026.",
    "mla_to_follow": True,
    "confidential": True,
    "no_user_notification": True,
    "urgency": "urgent",
    "language": "en",
}

STORED_DATA_FIELDS: dict[str, Any] = {
    "requesting_authority": PRESERVATION_FIELDS["requesting_authority"],
    "conducting_authority": PRESERVATION_FIELDS["conducting_authority"],
    "proceeding_nature": "investigation",
    "case_reference": CASE,
    "offence_code": "UNCC-13",
    "offence_max_penalty_years": 10,
    "facts_summary": PRESERVATION_FIELDS["facts_summary"],
    "assistance_sought": "Disclosure of the preserved subscriber, traffic and content data.",
    "procedure_wished": "Certified copy with the provider's declaration of authenticity.",
    "data_concerned": PRESERVATION_FIELDS["data_concerned"],
    "persons_concerned": ["Holder of contact@invest-fortune.example (identity unknown)"],
    "custodian": PRESERVATION_FIELDS["custodian"],
    "purpose": "Identify the operators of the platform and trace the victims' funds.",
    "confidential": True,
    "no_user_notification": True,
    "language": "en",
}

# One value per field of the form, from the same case; ``deadline`` is set from the clock.
EXAMPLES: dict[str, Any] = {
    **PRESERVATION_FIELDS,
    **STORED_DATA_FIELDS,
    "offence_death_penalty": False,
    "offence_description": "Fraud by false representation (Fraud Act 2006, s. 2)",
    "data_period_from": "2026-03-01",
    "data_period_to": "2026-09-30",
    "preservation_reference": "GB-2026-1a2b3c4d",
    "collection_period_days": 30,
    "emergency_risk": "A victim announced online that she will take her life today after losing her savings.",
    "deadline_reason": "The suspects plan to close the account when the campaign ends.",
    "use_conditions": "For the investigation NCA-2026-FR-0413 only; not to be passed on without consent.",
    "legal_basis": ["Council of Europe Convention on Cybercrime (Budapest, 2001)"],
}
DEADLINE_DAYS = 14  # how far ahead the sample deadline lies

# What each request type asks for in this case, beyond the required fields; the rest of the
# form stays in the template as commented lines.
SAMPLES: dict[str, Mapping[str, Any]] = {
    PRESERVATION: PRESERVATION_FIELDS,
    STORED_DATA: STORED_DATA_FIELDS,
    MLA: {**{k: STORED_DATA_FIELDS[k] for k in ("case_reference", "persons_concerned", "custodian",
                                                 "confidential", "no_user_notification")},
          "offence_max_penalty_years": 10,
          "assistance_sought": "Hearing of the provider's compliance officer as a witness.",
          "procedure_wished": "Hearing by video conference, in the presence of the investigating officer."},
    PRESERVED_DISCLOSURE: {"case_reference": CASE, "data_relation": PRESERVATION_FIELDS["data_relation"],
                           "custodian": PRESERVATION_FIELDS["custodian"], "confidential": True},
    REAL_TIME: {"case_reference": CASE, "custodian": PRESERVATION_FIELDS["custodian"], "confidential": True,
                "no_user_notification": True},
    INTERCEPTION: {"case_reference": CASE, "custodian": PRESERVATION_FIELDS["custodian"], "confidential": True,
                   "no_user_notification": True},
    EMERGENCY: {"offence_code": "UNCC-13", "custodian": PRESERVATION_FIELDS["custodian"], "urgency": "emergency"},
    SPONTANEOUS: {"case_reference": CASE, "offence_code": "UNCC-13",
                  "use_conditions": EXAMPLES["use_conditions"]},
    LAW_ENFORCEMENT: {"case_reference": CASE, "persons_concerned": STORED_DATA_FIELDS["persons_concerned"],
                      "urgency": "urgent"},
}
assert all(name in FIELDS_BY_NAME for values in SAMPLES.values() for name in values)
_LAW_ENFORCEMENT_ASKS = "Identification of the persons who withdrew the victims' funds in cash in Lyon."
_EMERGENCY_ASKS = "Disclosure of the subscriber data and the last login IP address of the account."


def example(spec: FieldSpec, code: str, now: datetime) -> Any:
    """The sample value of one field in a request of type ``code``."""
    if spec.name == "deadline":
        day = (now + timedelta(days=DEADLINE_DAYS)).replace(hour=12, minute=0, second=0, microsecond=0)
        return isoformat(day).replace(".000000Z", "Z")
    if spec.name == "assistance_sought" and code == LAW_ENFORCEMENT:
        return _LAW_ENFORCEMENT_ASKS
    if spec.name == "assistance_sought" and code == EMERGENCY:
        return _EMERGENCY_ASKS
    if spec.name == "requesting_authority" and code == SPONTANEOUS:
        return "National Crime Agency, National Cyber Crime Unit"
    return EXAMPLES[spec.name]


def sample_fields(code: str, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """(given, optional): the sample values of a request of this type, in form order; ``given``
    holds the required fields and those this case uses (they validate together), ``optional``
    the rest of the form."""
    chosen = SAMPLES.get(code, {})
    given: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for spec in fields_for(code):
        value = chosen[spec.name] if spec.name in chosen else example(spec, code, now)
        (given if spec.required(code) or spec.name in chosen else optional)[spec.name] = value
    return given, optional


def _comment(spec: FieldSpec, code: str) -> list[str]:
    rule = RULES[spec.rule_code(code)]
    need = "required" if spec.required(code) else "optional"
    lines = [f"# {spec.label} ({need}): {rule.citation} [{rule.code}]"]
    if spec.kind in ("enum", "offence"):
        lines.append(f"#   one of: {', '.join(spec.choices)}")
    if spec.help:
        lines.append(f"#   {spec.help}")
    return lines


def _yaml_lines(name: str, value: Any) -> list[str]:
    text = yaml.safe_dump({name: value}, allow_unicode=True, sort_keys=False, width=10_000)
    return text.rstrip("\n").splitlines()


def template(code: str, now: datetime) -> str:
    """A request file of this type to fill in: every field of the form in form order, each under
    a comment citing its article; the required fields and those this case uses hold sample
    values, the others are commented out. As written, it validates."""
    rt = request_type(code)
    type_rule = RULES[rt.rule]
    given, optional = sample_fields(code, now)
    out = [f"# {rt.label}: {type_rule.citation} [{type_rule.code}]",
           "# Sample values from a fraud case: replace them with yours. Optional fields are",
           "# commented out: uncomment those you need. `hanoi requests validate --from FILE`",
           "# lists every missing or invalid field with its article.",
           f"type: {code}",
           "fields:"]
    for spec in fields_for(code):
        out += [f"  {line}" for line in _comment(spec, code)]
        if spec.name in given:
            out += [f"  {line}" for line in _yaml_lines(spec.name, given[spec.name])]
        else:
            out += [f"  # {line}" for line in _yaml_lines(spec.name, optional[spec.name])]
    return "\n".join(out) + "\n"
