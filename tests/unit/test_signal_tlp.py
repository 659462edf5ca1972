"""TLP 2.0 levels: spellings people use, ordering, and the standard STIX 2.1 ids."""

from __future__ import annotations

import pytest

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import (
    STIX_TLP2_IDS,
    TLP,
    TLP2_EXTENSION_ID,
    ParsedTLP,
    most_restrictive,
    parse_tlp,
)

# Copied from the OASIS TLP 2.0 extension's JSON schema (cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0/marking-definition.json).
OASIS_IDS = {
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "TLP:AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "TLP:RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def test_stix_ids_are_the_oasis_tlp2_ids() -> None:
    assert {level.label: level.stix_id for level in TLP} == OASIS_IDS
    assert len(set(STIX_TLP2_IDS.values())) == 5


def test_stix_marking_definition_object_is_the_standard_one() -> None:
    assert TLP.AMBER_STRICT.stix_marking_definition() == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:AMBER+STRICT",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "amber+strict",
            }
        },
    }
    assert TLP2_EXTENSION_ID == "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("TLP:AMBER+STRICT", TLP.AMBER_STRICT),
        ("amber+strict", TLP.AMBER_STRICT),
        ("AMBER_STRICT", TLP.AMBER_STRICT),
        ("tlp:amber strict", TLP.AMBER_STRICT),
        ("Amber + Strict", TLP.AMBER_STRICT),
        ("TLP: Red", TLP.RED),
        ("tlp-green", TLP.GREEN),
        ("TLP_AMBER", TLP.AMBER),
        ("  clear ", TLP.CLEAR),
        ("TLP:CLEAR", TLP.CLEAR),
        ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", TLP.RED),
    ],
)
def test_common_spellings(raw: str, level: TLP) -> None:
    assert parse_tlp(raw) == ParsedTLP(level)


def test_white_is_clear_with_a_note() -> None:
    for raw in ("white", "TLP:WHITE", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"):
        parsed = parse_tlp(raw)
        assert parsed.level is TLP.CLEAR
        assert parsed.note


def test_tlp1_stix_ids_are_read_with_a_note() -> None:
    parsed = parse_tlp("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82")
    assert parsed.level is TLP.AMBER
    assert parsed.note and "TLP 1.0" in parsed.note


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "purple",
        "TLP:AMBER+",  # truncated AMBER+STRICT: reading it as AMBER would loosen it
        "amber+loose",
        "marking-definition--00000000-0000-0000-0000-000000000000",
    ],
)
def test_unknown_levels_are_refused_on_the_tlp_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_tlp(raw)
    assert caught.value.problems[0].field == "tlp"


def test_order_is_by_restriction_not_alphabet() -> None:
    assert [level.rank for level in TLP] == [0, 1, 2, 3, 4]
    assert most_restrictive(TLP.CLEAR, TLP.RED, TLP.AMBER) is TLP.RED
    assert most_restrictive(TLP.AMBER, TLP.AMBER_STRICT) is TLP.AMBER_STRICT
    assert most_restrictive(TLP.GREEN, TLP.CLEAR) is TLP.GREEN
    with pytest.raises(TypeError):
        _ = TLP.AMBER < TLP.CLEAR  # type: ignore[operator]
