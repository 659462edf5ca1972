"""Deep nesting is measured before anything recursive reads it (issue 11 item 4): the depth of
JSON text without parsing it, and the STIX readers and pattern parser refusing what is too deep
with an error naming the field and the depth, instead of a RecursionError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.nesting import MAX_DEPTH, check_json_depth, json_depth, value_depth
from hanoi.signals.formats import misp, parse_document, stix
from hanoi.signals.formats.common import BadField

DEEP = 100_000

# Strings full of the characters that could fool a scanner: brackets, quotes, backslashes.
tricky_text = st.text(alphabet='[]{}"\\ab\n', max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300)
@given(json_values, st.integers(min_value=0, max_value=6000))
def test_json_depth_of_the_text_is_the_depth_of_the_value(value: Any, padding: int) -> None:
    # Padding takes long texts down the vectorised path, short ones down the loop.
    text = json.dumps(value, ensure_ascii=False) + " " * padding
    assert json_depth(text) == json_depth(text.encode()) == value_depth(value, 10**9)


def test_depth_is_measured_without_recursion() -> None:
    deep = b"[" * DEEP + b"]" * DEEP
    assert json_depth(deep) == DEEP
    with pytest.raises(InvalidInput) as err:
        check_json_depth(deep, "bundle")
    assert err.value.problems[0].field == "bundle"
    assert f"nested {DEEP:,} levels deep; at most {MAX_DEPTH}" in err.value.problems[0].message
    check_json_depth(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, "bundle")  # the limit itself passes
    nested: Any = []
    for _ in range(DEEP):
        nested = [nested]
    assert value_depth(nested) == MAX_DEPTH + 1  # stops counting past the limit


def _deep_bundle() -> bytes:
    return b'{"type": "bundle", "objects": ' + b"[" * DEEP + b"]" * DEEP + b"}"


def test_a_deep_stix_bundle_is_refused_naming_the_bundle() -> None:
    for reader in (lambda d: stix.parse_bundle(d, best_effort=True),
                   lambda d: parse_document(d, fmt="stix", best_effort=True),
                   lambda d: parse_document(d, best_effort=True)):  # detected as STIX
        with pytest.raises(InvalidInput) as err:
            reader(_deep_bundle())
        assert err.value.problems[0].field == "bundle"
        assert f"{DEEP + 1:,} levels deep" in err.value.problems[0].message


def test_a_deep_misp_event_is_refused_naming_the_event() -> None:
    deep = b'{"Event": {"info": "x", "Attribute": ' + b"[" * DEEP + b"]" * DEEP + b"}}"
    for reader in (lambda d: misp.parse_events(d, best_effort=True),
                   lambda d: misp.parse_event(d, best_effort=True),
                   lambda d: parse_document(d, best_effort=True)):  # detected as MISP
        with pytest.raises(InvalidInput) as err:
            reader(deep)
        assert err.value.problems[0].field == "Event"
        assert "levels deep" in err.value.problems[0].message


PATTERN = "[url:value = 'http://deep.example/']"


@pytest.mark.parametrize("pattern", [
    "(" * 5000 + PATTERN + ")" * 5000,                       # nested observations
    "[" + "(" * 5000 + "url:value = 'http://deep.example/'" + ")" * 5000 + "]",  # nested comparisons
])
def test_a_deeply_parenthesised_pattern_is_a_bad_field(pattern: str) -> None:
    with pytest.raises(BadField, match=r"parentheses nested 5,000 deep; at most 32"):
        stix.parse_pattern(pattern)
    assert stix.parse_pattern("(" * 32 + PATTERN + ")" * 32) == [("url", "value", "http://deep.example/")]


def test_a_deep_pattern_rejects_its_indicator_alone() -> None:
    def indicator(n: int, pattern: str) -> dict[str, Any]:
        return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-00000000000{n}",
                "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
                "pattern": pattern, "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z"}

    bundle = json.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                         "objects": [indicator(1, "(" * 5000 + PATTERN + ")" * 5000),
                                     indicator(2, "[domain-name:value = 'fine.example']")]})
    reports, rejects = stix.parse_bundle(bundle, best_effort=True)
    assert [r["value"] for r in reports] == ["fine.example"]
    assert [r.ref for r in rejects] == ["indicator--00000000-0000-4000-8000-000000000001"]
    assert "parentheses nested 5,000 deep" in rejects[0].reason
    with pytest.raises(InvalidInput) as err:  # all or nothing: named in the refusal
        stix.parse_bundle(bundle, best_effort=False)
    assert err.value.problems[0].field == "indicator--00000000-0000-4000-8000-000000000001"
