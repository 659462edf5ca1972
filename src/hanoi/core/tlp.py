"""Traffic Light Protocol 2.0 (FIRST): the levels, their common spellings, their STIX ids.

A signal carries one TLP level; the gate uses it to decide who may receive the signal. TLP
levels are ordered by how far information may spread, so they are a plain ``Enum`` with an
explicit ``rank`` (a ``str`` enum would compare 'AMBER' < 'CLEAR' alphabetically, which is
the kind of mistake that leaks a RED signal).

The STIX 2.1 ids are the fixed ones of the OASIS TLP 2.0 marking-definition extension
(``cti-stix-common-objects``, ``extension-definition-specifications/tlp-2.0``); the TLP 1.0
ids built into STIX 2.1 itself (section 7.2.1.4) are read too, since feeds still send them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hanoi.core.errors import invalid
from hanoi.core.gate import Reason

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"


class TLP(Enum):
    """A TLP 2.0 level; ``value`` is the bare name, ``label`` the ``TLP:`` form."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def label(self) -> str:
        return f"TLP:{self.value}"

    @property
    def rank(self) -> int:
        """0 (CLEAR, no limit) to 4 (RED, named recipients only)."""
        return _RANK[self]

    @property
    def stix_id(self) -> str:
        """The STIX 2.1 marking-definition id of this level (TLP 2.0 extension)."""
        return STIX_TLP2_IDS[self]

    def stix_marking_definition(self) -> dict[str, Any]:
        """The complete, standard STIX 2.1 marking-definition object of this level."""
        return {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.stix_id,
            "created": TLP2_CREATED,
            "name": self.label,
            "extensions": {
                TLP2_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "tlp_2_0": self.value.lower(),
                }
            },
        }


_RANK = {TLP.CLEAR: 0, TLP.GREEN: 1, TLP.AMBER: 2, TLP.AMBER_STRICT: 3, TLP.RED: 4}

STIX_TLP2_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# TLP 1.0 markings predefined by STIX 2.1 (the stix2 library's TLP_WHITE ... TLP_RED).
STIX_TLP1_IDS: dict[str, TLP] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,  # white
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}


@dataclass(frozen=True, slots=True)
class ParsedTLP:
    """A parsed level, with a note when the input was read rather than matched exactly."""

    level: TLP
    note: str | None = None


_WHITE_NOTE = "TLP 1.0 WHITE is TLP 2.0 CLEAR"
_PREFIX = re.compile(r"^\s*tlp\s*[:_\-\s]?\s*", re.IGNORECASE)
_SEPARATOR = re.compile(r"\s*[\s_\-+]\s*")
_NAMES = {
    "clear": TLP.CLEAR,
    "green": TLP.GREEN,
    "amber": TLP.AMBER,
    "amber+strict": TLP.AMBER_STRICT,
    "red": TLP.RED,
}


def parse_tlp(raw: str) -> ParsedTLP:
    """Read a TLP level as people and tools write it.

    Accepts ``TLP:AMBER+STRICT``, ``amber+strict``, ``AMBER_STRICT``, ``tlp-green``, ``Red``,
    and the STIX 2.1 marking-definition ids (TLP 2.0 and TLP 1.0). ``WHITE`` (TLP 1.0) is read
    as ``CLEAR`` with a note. Anything else raises ``InvalidInput`` on field ``tlp``.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("tlp", "a TLP level is required (CLEAR, GREEN, AMBER, AMBER+STRICT, RED)")
    text = raw.strip()
    if len(text) > 64:
        raise invalid("tlp", f"too long for a TLP level ({len(text)} characters)")
    lowered = text.lower()
    if lowered.startswith("marking-definition--"):
        for level, stix_id in STIX_TLP2_IDS.items():
            if lowered == stix_id:
                return ParsedTLP(level)
        if lowered in STIX_TLP1_IDS:
            level = STIX_TLP1_IDS[lowered]
            return ParsedTLP(level, f"STIX TLP 1.0 marking read as TLP 2.0 {level.value}")
        raise invalid("tlp", f"{text!r} is not a TLP marking-definition id")
    # One separator of any kind between AMBER and STRICT; a dangling one ("AMBER+") is refused
    # rather than read as the laxer AMBER.
    word = _SEPARATOR.sub("+", _PREFIX.sub("", text).strip()).lower()
    if word == "white":
        return ParsedTLP(TLP.CLEAR, _WHITE_NOTE)
    if word in _NAMES:
        return ParsedTLP(_NAMES[word])
    raise invalid("tlp", f"{text!r} is not a TLP 2.0 level (CLEAR, GREEN, AMBER, AMBER+STRICT, RED)")


def most_restrictive(*levels: TLP) -> TLP:
    """The strictest of ``levels`` (what a combination of differently marked data carries)."""
    if not levels:
        raise ValueError("most_restrictive() needs at least one level")
    return max(levels, key=lambda level: level.rank)


def rule_code(tlp: TLP) -> str:
    """The rule code of a marking (``TLP-AMBER-STRICT`` for ``AMBER+STRICT``)."""
    return "TLP-" + tlp.value.replace("+", "-")


def disclosure_reason(tlp: TLP, member: str | None, *, who: str, named: Collection[str] = (),
                      named_here: Collection[str] = ()) -> Reason:
    """The TLP 2.0 rule for passing an item so marked to ``member`` (None: the public), for
    every wing: CLEAR goes to anyone; GREEN to any member of the community; AMBER and
    AMBER+STRICT to the members the originator ``named``; AMBER also to the members this node
    named on a need-to-know basis (``named_here``); RED never leaves the node."""
    if tlp is TLP.CLEAR:
        return Reason("TLP-CLEAR", "allow", "disclosure is not limited")
    if tlp is TLP.RED:
        return Reason("TLP-RED", "deny", "never leaves this node")
    code = rule_code(tlp)
    if member is None:
        return Reason(code, "deny", "the recipient is not a member of the community")
    if tlp is TLP.GREEN:
        return Reason(code, "allow", f"{who} is a member of the community")
    if member in named:
        return Reason(code, "allow", f"the originator named {who}")
    if tlp is TLP.AMBER and member in named_here:
        return Reason(code, "allow", f"this node named {who} (need-to-know)")
    return Reason(code, "deny", f"{who} was not named as a recipient")
