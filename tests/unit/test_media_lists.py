"""The pure parts of media hash lists: validating a submission, case references, the TLP rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import TLP, rule_code
from hanoi.media.gate import tlp_reasons
from hanoi.media.model import MAX_BATCH, check_case_ref, digest_of, parse_items

pdq_hex = st.binary(min_size=32, max_size=32).map(bytes.hex).filter(
    lambda h: h not in ("0" * 64, "f" * 64))


@given(pdq_hex, st.integers(50, 100), st.booleans())
def test_a_good_pdq_is_accepted_normalised_and_kept_once(h: str, q: int, upper: bool) -> None:
    given_ = h.upper() if upper else h
    out = parse_items([{"pdq": given_, "quality": q, "case_ref": "C-1"},
                       {"algorithm": "PDQ", "value": h, "quality": q, "case_ref": "C-1"}])
    assert [(x.algorithm, x.value, x.quality, x.case_ref) for x in out] == [("pdq", h, q, "C-1")]
    assert out[0].digest == digest_of("pdq", h)


@given(pdq_hex, st.integers(0, 49))
def test_low_quality_is_refused_naming_the_field(h: str, q: int) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_items([{"pdq": h, "quality": q}], "C-1")
    assert [p.field for p in err.value.problems] == ["hashes[0].quality"]
    assert "below 50" in err.value.problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_items([{"pdq": "ab" * 32}, {"md5": "z" * 32}, "text", {"sha256": "1" * 64}], "C")
    assert [p.field for p in err.value.problems] == \
        ["hashes[0].quality", "hashes[1].md5", "hashes[2]"]


def test_batch_size_and_shape() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_items([{"md5": "1" * 32}] * (MAX_BATCH + 1), "C")
    assert err.value.problems[0].rule == "MEDIA-BATCH"
    with pytest.raises(InvalidInput):
        parse_items([], "C")
    with pytest.raises(InvalidInput):
        parse_items({"md5": "1" * 32}, "C")
    # an item of three hashes counts three towards the limit
    three = [{"md5": f"{i:032x}", "sha256": f"{i:064x}", "pdq": f"{i:064x}", "quality": 80}
             for i in range(1, 3_335)]
    with pytest.raises(InvalidInput) as err:
        parse_items(three, "C")
    assert "10,002" in str(err.value)


@pytest.mark.parametrize("ref", ["RPH-2026-0412", "case:17/b", "A"])
def test_opaque_case_references_pass(ref: str) -> None:
    assert check_case_ref(ref) == ref


@pytest.mark.parametrize("ref", ["jane.doe@example.org", "Jane Doe", "", "-x", "x" * 65, None, 12])
def test_case_references_that_could_carry_personal_data_are_refused(ref: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_case_ref(ref)
    assert err.value.problems[0].rule == "MEDIA-CASE-REF"


@pytest.mark.parametrize(("level", "named", "effect"), [
    (TLP.CLEAR, False, "allow"), (TLP.GREEN, False, "allow"),
    (TLP.AMBER, True, "allow"), (TLP.AMBER, False, "deny"),
    (TLP.AMBER_STRICT, True, "allow"), (TLP.AMBER_STRICT, False, "deny"),
    (TLP.RED, True, "deny"), (TLP.RED, False, "deny"),
])
def test_tlp_rule(level: TLP, named: bool, effect: str) -> None:
    (reason,) = tlp_reasons(level, "ie-platform", ["ie-platform"] if named else ["nl-other"])
    assert reason.code == rule_code(level) and reason.effect == effect


def test_digests_differ_by_algorithm() -> None:
    assert digest_of("md5", "1" * 32) != digest_of("sha256", "1" * 32)
    assert len(digest_of("pdq", "ab" * 32)) == 64
