"""Sample request contents for the demo, the documentation and tests: a cross-border fraud case.

A UK investigation into an investment-fraud ring asks France to preserve, then disclose, the
data of an account hosted by a French provider. The contents are complete under Arts. 40 and 42.
"""

from __future__ import annotations

from typing import Any

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
