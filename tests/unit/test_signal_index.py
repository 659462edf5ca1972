"""The lookup index: answers equal the gate over every stored report; the fast path is exact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.gate import PartnerView
from hanoi.core.tlp import TLP, most_restrictive
from hanoi.signals.gate import PUBLIC, ReportView, Viewer, decide_signal
from hanoi.signals.index import FAST_PATTERNS, IndexedReport, SignalIndex, detect_normal, looks_normal
from hanoi.signals.types import detect_type, normalise

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NODE_ID = "gb-node"
MEMBERS = ("fr-cert", "de-bka", "br-pf")
VALUES = [f"{i:064x}" for i in range(1, 9)]


@st.composite
def stored_reports(draw: st.DrawFn) -> list[IndexedReport]:
    out = []
    for rid in range(1, draw(st.integers(1, 25)) + 1):
        sid = draw(st.integers(1, len(VALUES)))
        here = draw(st.booleans())
        out.append(IndexedReport(
            rid, sid, "sha256", VALUES[sid - 1], NODE_ID if here else draw(st.sampled_from(MEMBERS)),
            draw(st.sampled_from(list(TLP))), draw(st.integers(0, 100)), here, draw(st.booleans()),
            draw(st.frozensets(st.sampled_from(MEMBERS), max_size=2)),
            draw(st.frozensets(st.sampled_from(MEMBERS), max_size=2)),
            draw(st.sampled_from([None, NOW - timedelta(days=1), NOW + timedelta(days=1)])),
            draw(st.sampled_from([True, True, False]))))
    return out


askers = st.one_of(
    st.none(), st.just("public"),
    st.builds(PartnerView, member_id=st.sampled_from(MEMBERS), name=st.just("P"), country=st.just("FR"),
              state_status=st.sampled_from(["party", "non-party"]),
              standing=st.sampled_from(["good", "concerns", "suspended"])))


def _view(r: IndexedReport) -> ReportView:
    return ReportView(r.tlp, r.source, r.originated_here, r.recipients, r.named, r.consent, r.expires_at,
                      classified=r.classified)


def _changed(r: IndexedReport, data: st.DataObject) -> IndexedReport:
    """The report after a re-import or a classification changed its terms."""
    return replace(r, tlp=data.draw(st.sampled_from(list(TLP))), confidence=data.draw(st.integers(0, 100)),
                   consent=data.draw(st.booleans()), classified=data.draw(st.booleans()),
                   named=data.draw(st.frozensets(st.sampled_from(MEMBERS), max_size=2)),
                   expires_at=data.draw(st.sampled_from([None, NOW - timedelta(days=1), NOW + timedelta(days=1)])))


@settings(max_examples=150, deadline=None)
@given(stored_reports(), askers, st.booleans(), st.data())
def test_lookup_equals_the_gate_report_by_report(reports: list[IndexedReport], who: object, update: bool,
                                                 data: st.DataObject) -> None:
    idx = SignalIndex()
    for r in reports:
        idx.add(r)
    if update:  # a re-import or a classification changes some reports after they were indexed
        for i in range(0, len(reports), 2):
            reports[i] = _changed(reports[i], data)
            idx.update(reports[i])
    for r in reports[::3]:  # some links, so campaign ids are compared too
        idx.link(r.signal_id, 1 + r.signal_id % len(VALUES), r.report_id)
    if who is None:
        viewer, allowed = None, (lambda r: r.expires_at is None or r.expires_at > NOW)
    elif who == "public":
        viewer, allowed = PUBLIC, (lambda r: decide_signal(_view(r), None, now=NOW).allowed)
    else:
        assert isinstance(who, PartnerView)
        viewer = Viewer.of(who)
        allowed = (lambda r: decide_signal(_view(r), who, now=NOW).allowed)  # noqa: E731
    asker = idx.asker(viewer)
    answers = idx.lookup("sha256", [*VALUES, "f" * 64], asker, NOW.timestamp())
    assert answers[-1] is None
    columns = idx.lookup_columns("sha256", [*VALUES, "f" * 64], asker, NOW.timestamp())
    assert [bool(x) for x in columns.match] == [a is not None for a in answers]
    for i, a in enumerate(answers):  # the bulk (numpy) answer is the same answer
        if a is not None:
            assert (columns.signal_id[i], columns.confidence[i], columns.sources[i],
                    columns.tlp[i], columns.campaign[i] or None) == (
                a.signal_id, a.confidence, a.sources, a.tlp.rank, a.campaign)
    for sid, answer in enumerate(answers[:-1], start=1):
        seen = [r for r in reports if r.signal_id == sid and allowed(r)]
        if not seen:
            assert answer is None
            continue
        assert answer is not None
        assert sorted(answer.reports) == sorted(r.report_id for r in seen)
        assert answer.confidence == max(r.confidence for r in seen)
        assert answer.sources == len({r.source for r in seen})
        assert answer.tlp is most_restrictive(*(r.tlp for r in seen))


def _report(rid: int, sid: int, tlp: TLP = TLP.GREEN, **kw: object) -> IndexedReport:
    base: dict[str, object] = {"source": "fr-cert", "confidence": 60, "originated_here": False,
                               "consent": True}
    base.update(kw)
    return IndexedReport(rid, sid, "domain", f"d{sid}.example.com", tlp=tlp, **base)  # type: ignore[arg-type]


def test_campaign_ids_shown_to_members_come_only_from_community_links() -> None:
    idx = SignalIndex()
    for sid in (1, 2, 3):
        idx.add(_report(sid, sid))
    idx.add(_report(4, 1, TLP.RED))
    idx.link(1, 2, report_id=1)  # GREEN evidence: the community may see it
    idx.link(1, 3, report_id=4)  # RED evidence: staff only
    member = idx.asker(Viewer("de-bka", False, True))
    staff = idx.asker(None)
    now = NOW.timestamp()
    by_member = idx.lookup("domain", ["d1.example.com", "d2.example.com", "d3.example.com"], member, now)
    by_staff = idx.lookup("domain", ["d1.example.com", "d2.example.com", "d3.example.com"], staff, now)
    assert [a.campaign if a else None for a in by_member] == [1, 1, None]
    assert [a.campaign if a else None for a in by_staff] == [1, 1, 1]
    members, links = idx.campaign(3, member, now)
    assert members == [3] and links == []  # the RED link is not walked for a member
    assert idx.campaign(3, staff, now)[0] == [1, 2, 3]


def test_adding_a_report_twice_changes_nothing() -> None:
    idx = SignalIndex()
    idx.add(_report(1, 1))
    idx.add(_report(1, 1))
    idx.add(_report(2, 1, source="de-bka"))
    assert idx.reports_of(1) == [2, 1] and idx.reports == 2
    answer = idx.lookup("domain", ["d1.example.com"], idx.asker(None), NOW.timestamp())[0]
    assert answer is not None and answer.sources == 2


def test_suspended_asker_gets_nothing_even_for_its_own_reports() -> None:
    idx = SignalIndex()
    idx.add(_report(1, 1, TLP.CLEAR, source="de-bka"))
    assert idx.lookup("domain", ["d1.example.com"], idx.asker(Viewer("de-bka", True, False)),
                      NOW.timestamp()) == [None]
    assert idx.lookup("domain", ["d1.example.com"], idx.asker(Viewer("de-bka", False, False)),
                      NOW.timestamp())[0] is not None


# --- looks_normal: only ever True for values normalise leaves unchanged ----------------------


@pytest.mark.parametrize("type_name", sorted(FAST_PATTERNS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_values_taken_as_normal_are_normal(type_name: str, data: st.DataObject) -> None:
    value = data.draw(st.from_regex(FAST_PATTERNS[type_name], fullmatch=True))
    assume(looks_normal(type_name, value))
    try:
        assert normalise(type_name, value) == value
    except InvalidInput as err:  # pragma: no cover - a failure explains itself
        pytest.fail(f"{type_name} {value!r} taken as normal but refused: {err}")


@pytest.mark.parametrize(("type_name", "value"), [
    ("url", "http://example.com"), ("url", "HTTP://example.com/"), ("url", "http://a.com/./x"),
    ("url", "http://xn--bcher-kva.example/"), ("url", "http://example.com:80/"),
    ("domain", "Example.com"), ("domain", "example.com."), ("ipv4", "010.0.0.1"),
    ("sha256", "A" * 64), ("email", "a@example.com"),
])
def test_values_needing_work_are_not_taken_as_normal(type_name: str, value: str) -> None:
    assert not looks_normal(type_name, value)


@pytest.mark.parametrize("type_name", sorted(FAST_PATTERNS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_untyped_fast_path_detects_what_detect_type_detects(type_name: str, data: st.DataObject) -> None:
    value = data.draw(st.from_regex(FAST_PATTERNS[type_name], fullmatch=True))
    guess = detect_normal(value)
    assume(guess is not None)
    assert guess is not None and guess == detect_type(value)
    assert normalise(guess, value) == value
