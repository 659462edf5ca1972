"""The kinds of cooperation request, as data: each with its article, its usual channel and
whether executing it is coercive (which is what makes dual criminality apply by default).

Below everything else in the wing: the required contents (``contents``), the lifecycle, the
gate and the node policy's checks of request-type names all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hanoi.core.citations import RULES
from hanoi.core.errors import invalid


@dataclass(frozen=True, slots=True)
class RequestType:
    """A kind of cooperation request: its article, the usual channel, whether it is coercive."""

    code: str
    label: str
    rule: str
    channel: str
    coercive: bool = False

    def as_dict(self) -> dict[str, Any]:
        r = RULES[self.rule]
        return {"code": self.code, "label": self.label, "rule": self.rule,
                "citation": r.citation, "text": r.text, "channel": self.channel,
                "coercive": self.coercive}


MLA = "mla"
SPONTANEOUS = "spontaneous"
EMERGENCY = "emergency"
PRESERVATION = "preservation"
PRESERVED_DISCLOSURE = "preserved-disclosure"
STORED_DATA = "stored-data"
REAL_TIME = "real-time-traffic"
INTERCEPTION = "interception"
LAW_ENFORCEMENT = "law-enforcement"

REQUEST_TYPES: dict[str, RequestType] = {
    t.code: t
    for t in (
        RequestType(MLA, "Mutual legal assistance request", "REQ-MLA", "central-authority"),
        RequestType(SPONTANEOUS, "Spontaneous information", "REQ-SPONTANEOUS",
                    "central-authority"),
        RequestType(EMERGENCY, "Emergency disclosure through the 24/7 network", "REQ-24-7",
                    "24/7"),
        RequestType(PRESERVATION, "Expedited preservation of stored data", "REQ-PRESERVATION",
                    "24/7"),
        RequestType(PRESERVED_DISCLOSURE, "Expedited disclosure of preserved traffic data",
                    "REQ-PRESERVED-DISCLOSURE", "24/7"),
        RequestType(STORED_DATA, "Access to stored data", "REQ-STORED-DATA",
                    "central-authority", coercive=True),
        RequestType(REAL_TIME, "Real-time collection of traffic data", "REQ-REAL-TIME",
                    "central-authority", coercive=True),
        RequestType(INTERCEPTION, "Interception of content data", "REQ-INTERCEPTION",
                    "central-authority", coercive=True),
        RequestType(LAW_ENFORCEMENT, "Law-enforcement cooperation", "REQ-LE-COOPERATION",
                    "police"),
    )
}

COERCIVE: tuple[str, ...] = tuple(code for code, t in REQUEST_TYPES.items() if t.coercive)
"""Request types whose execution is coercive (Arts. 44-46)."""


def request_type(code: Any, field_name: str = "type") -> RequestType:
    """The request type with this code; ``InvalidInput`` listing the known codes otherwise."""
    if isinstance(code, str) and code in REQUEST_TYPES:
        return REQUEST_TYPES[code]
    raise invalid(field_name, f"{code!r} is not a request type; use one of: "
                  + ", ".join(REQUEST_TYPES), "CONTENT-REQUIRED")
