"""The classification table: data from other tools gets an offence code by one documented rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.offences import OFFENCES
from hanoi.signals.classification import (
    INDICATOR_TYPE,
    MACHINE_TAG,
    MAPPINGS,
    MISP_CATEGORY,
    TAG,
    URLHAUS_THREAT,
    VOCABULARIES,
    classify,
    table,
    tag_word,
)
from tests.paths import ROOT

DOC = ROOT / "docs" / "classification.md"


def test_every_row_names_a_catalogue_offence_or_none_and_says_why() -> None:
    for row in MAPPINGS:
        assert row.vocabulary in VOCABULARIES
        assert row.offence is None or row.offence in OFFENCES
        assert row.reason.strip().endswith(".") and len(row.reason) > 20, row
        if row.offence is not None and row.offence.startswith("UNCC-"):
            # A mapping names the article of the offence it gives, so a lawyer can check it.
            assert f"Art. {row.offence.removeprefix('UNCC-')}" in row.reason, row


def test_the_doc_page_explains_every_row_of_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented: set[tuple[str, str, str, str]] = set()
    vocabulary = None
    for line in text.splitlines():
        heading = re.fullmatch(r"### .*\(`([a-z_]+)`\)", line)
        if heading:
            vocabulary = heading.group(1)
        m = re.fullmatch(r"\| `(.+)` \| ([A-Z0-9-]+|none) \| (.+) \|", line)
        if m and vocabulary:
            documented.add((vocabulary, m.group(1).replace("\\|", "|"), m.group(2), m.group(3)))
    assert documented == {(r.vocabulary, r.term, r.offence or "none", r.reason) for r in MAPPINGS}


@pytest.mark.parametrize(("terms", "offence", "decided_by"), [
    # The most specific vocabulary decides: a taxonomy value before its predicate...
    ([(TAG, 'rsit:malicious-code="infected-system"')], "UNCC-7", 'machine_tag rsit:malicious-code="infected-system"'),
    ([(TAG, 'rsit:malicious-code="c2-server"')], "UNCC-11", "machine_tag rsit:malicious-code"),
    # ... a taxonomy tag before a STIX indicator type, before URLhaus's threat, before a plain tag.
    ([(TAG, "phishing"), (TAG, 'rsit:fraud="masquerade"')], "UNCC-12", 'machine_tag rsit:fraud="masquerade"'),
    ([(TAG, "malware"), (INDICATOR_TYPE, "compromised")], "UNCC-7", "indicator_type compromised"),
    ([(TAG, "ransomware"), (URLHAUS_THREAT, "malware_download")], "UNCC-11", "urlhaus_threat malware_download"),
    ([(MISP_CATEGORY, "Payload delivery"), (TAG, "Phishing")], "UNCC-13", "tag phishing"),
    # Within a vocabulary, the row listed first.
    ([(TAG, "ransomware"), (TAG, "phishing")], "UNCC-13", "tag phishing"),
    # Plain tags are read in any case, '_' and spaces as '-'.
    ([(TAG, " Money_Mule ")], "UNCC-17", "tag money-mule"),
])
def test_the_most_specific_term_decides(terms: list[tuple[str, str]], offence: str, decided_by: str) -> None:
    found = classify(terms)
    assert found is not None and (found.offence, found.term) == (offence, decided_by)
    assert found.by == f"mapping: {decided_by}"


@pytest.mark.parametrize("terms", [
    [],
    [(INDICATOR_TYPE, "malicious-activity")],
    [(INDICATOR_TYPE, "anonymization"), (TAG, "tor")],  # lawful tools map to no offence (Art. 6)
    [(TAG, "spam"), (TAG, "hate-speech"), (TAG, "copyright")],
    [(TAG, 'rsit:abusive-content="harmful-speech"')],
    [(TAG, "tlp:green"), (TAG, "Mozi"), (MISP_CATEGORY, "Network activity")],
    [(TAG, "   ")],
])
def test_words_that_name_no_offence_classify_nothing(terms: list[tuple[str, str]]) -> None:
    assert classify(terms) is None


def test_a_word_mapped_to_none_does_not_block_another() -> None:
    found = classify([(TAG, "spam"), (TAG, "phishing")])
    assert found is not None and found.offence == "UNCC-13"


def test_tag_words_and_the_table_listing() -> None:
    assert tag_word("  Exploit_Kit ") == "exploit-kit"
    rows = table()
    assert len(rows) == len(MAPPINGS) and rows[0] == {
        "vocabulary": MAPPINGS[0].vocabulary, "term": MAPPINGS[0].term, "offence": MAPPINGS[0].offence,
        "reason": MAPPINGS[0].reason}
    assert {r["vocabulary"] for r in rows} == set(VOCABULARIES)


_TERMS = st.lists(st.one_of(
    st.tuples(st.just(TAG), st.sampled_from(
        [r.term for r in MAPPINGS if r.vocabulary in (TAG, MACHINE_TAG)] + ["mirai", "rsit:other", "x:y=\"z\""])),
    st.tuples(st.just(INDICATOR_TYPE), st.sampled_from([r.term for r in MAPPINGS if r.vocabulary == INDICATOR_TYPE])),
    st.tuples(st.just(MISP_CATEGORY), st.sampled_from([r.term for r in MAPPINGS if r.vocabulary == MISP_CATEGORY])),
    st.tuples(st.just(URLHAUS_THREAT), st.just("malware_download")),
), max_size=8)


@settings(max_examples=300)
@given(_TERMS, st.randoms())
def test_the_order_of_an_entrys_terms_does_not_matter(terms: list[tuple[str, str]], rng: object) -> None:
    shuffled = list(terms)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert classify(terms) == classify(shuffled)
    found = classify(terms)
    if found is not None:  # the decision is the row of one of the entry's own terms
        decided = found.term.split(" ", 1)[1].lower()
        assert any(decided == term.lower() or term.lower().startswith(decided) for _, term in terms)
