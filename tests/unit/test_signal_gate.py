"""The signals gate: no marking, standing or naming lets a report reach someone it must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.citations import RULES
from hanoi.core.gate import Outcome, PartnerView, StandingPolicy
from hanoi.core.tlp import TLP
from hanoi.signals.gate import PUBLIC, ReportView, Viewer, decide_signal, sees

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NODE_ID = "gb-node"
# Few members, so a recipient is often the source or one of the names (the edge cases).
MEMBERS = ("fr-cert", "de-bka", "br-pf")

partners = st.builds(
    PartnerView,
    member_id=st.sampled_from(MEMBERS),
    name=st.just("Partner"),
    country=st.sampled_from(["FR", "DE", "BR", "QZ"]),
    state_status=st.sampled_from(["party", "party", "signatory", "non-party"]),
    standing=st.sampled_from(["good", "good", "concerns", "suspended"]),
    other_treaties=st.sampled_from([(), ("Budapest Convention",)]),
)
recipients = st.one_of(st.none(), partners)
names = st.frozensets(st.sampled_from(MEMBERS), max_size=2)
policies = st.builds(StandingPolicy, concerns=st.sampled_from(["review", "deny"]),
                     non_party_without_treaty=st.sampled_from(["review", "deny"]))


@st.composite
def reports(draw: st.DrawFn) -> ReportView:
    here = draw(st.booleans())
    source = NODE_ID if here else draw(st.sampled_from(MEMBERS))
    expires = draw(st.one_of(st.none(), st.integers(-3, 3).map(lambda d: NOW + timedelta(days=d))))
    return ReportView(draw(st.sampled_from(list(TLP))), source, here, draw(names), draw(names),
                      draw(st.booleans()), expires, draw(st.sampled_from(["", "no onward use"])),
                      classified=draw(st.sampled_from([True, True, False])))


def _viewer(recipient: PartnerView | None, policy: StandingPolicy) -> Viewer:
    return PUBLIC if recipient is None else Viewer.of(recipient, policy)


@settings(max_examples=800)
@given(reports(), recipients, policies)
def test_fast_path_is_the_gate(report: ReportView, recipient: PartnerView | None,
                               policy: StandingPolicy) -> None:
    """Lookups use ``sees``; it must agree with the full decision on every input."""
    decision = decide_signal(report, recipient, now=NOW, policy=policy)
    assert sees(_viewer(recipient, policy), report, NOW) == decision.allowed


@settings(max_examples=800)
@given(reports(), recipients, policies)
def test_no_leak(report: ReportView, recipient: PartnerView | None, policy: StandingPolicy) -> None:
    decision = decide_signal(report, recipient, now=NOW, policy=policy)
    assert all(r.code in RULES for r in decision.reasons)
    if not decision.allowed:
        assert any(r.effect != "allow" for r in decision.reasons)  # a refusal names its rule
        return
    own = recipient is not None and recipient.member_id == report.source
    assert recipient is None or recipient.standing.value != "suspended"
    if own:
        return  # the originator sees its own report, whatever its marking
    if recipient is None:
        assert report.tlp is TLP.CLEAR
    assert report.tlp is not TLP.RED, "RED never leaves the node"
    assert report.classified, "a report without an offence code serves this node's lookups only"
    assert not report.expired(NOW)
    assert report.originated_here or report.consent, "received without consent, passed on"
    if report.tlp is TLP.AMBER_STRICT:
        assert recipient is not None and recipient.member_id in report.recipients
    if report.tlp is TLP.AMBER:
        assert recipient is not None and recipient.member_id in report.recipients | report.named
    if report.tlp in (TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT):
        assert recipient is not None and recipient.standing.value == "good"
        assert recipient.state_status.value == "party" or recipient.other_treaties


@given(reports(), partners)
def test_suspended_gets_nothing(report: ReportView, partner: PartnerView) -> None:
    suspended = PartnerView(partner.member_id, partner.name, partner.country, partner.state_status,
                            "suspended")  # type: ignore[arg-type]
    decision = decide_signal(report, suspended, now=NOW)
    assert decision.denied and decision.fired("GATE-SUSPENDED", "deny")


def _partner(member_id: str = "de-bka", standing: str = "good") -> PartnerView:
    return PartnerView(member_id, "BKA", "DE", "party", standing)  # type: ignore[arg-type]


def test_each_marking_cites_its_rule() -> None:
    de = _partner()
    cases: dict[TLP, tuple[str, Outcome]] = {
        TLP.CLEAR: ("TLP-CLEAR", "allow"), TLP.GREEN: ("TLP-GREEN", "allow"),
        TLP.AMBER: ("TLP-AMBER", "deny"), TLP.AMBER_STRICT: ("TLP-AMBER-STRICT", "deny"),
        TLP.RED: ("TLP-RED", "deny"),
    }
    for tlp, (code, effect) in cases.items():
        d = decide_signal(ReportView(tlp, NODE_ID, True), de, now=NOW)
        assert d.fired(code, effect), (tlp, d.summary())


def test_amber_named_by_node_but_strict_only_by_originator() -> None:
    de = _partner()
    amber = ReportView(TLP.AMBER, "fr-cert", False, named=frozenset({"de-bka"}), consent=True)
    assert decide_signal(amber, de, now=NOW).allowed
    strict = ReportView(TLP.AMBER_STRICT, "fr-cert", False, named=frozenset({"de-bka"}), consent=True)
    assert decide_signal(strict, de, now=NOW).fired("TLP-AMBER-STRICT", "deny")
    named = ReportView(TLP.AMBER_STRICT, "fr-cert", False, recipients=frozenset({"de-bka"}), consent=True)
    d = decide_signal(named, de, now=NOW)
    assert d.allowed and "TLP:AMBER+STRICT: share only within your organisation." in d.conditions


def test_onward_transfer_needs_consent_and_cites_article_36() -> None:
    report = ReportView(TLP.CLEAR, "fr-cert", False, consent=False, conditions="law enforcement only")
    d = decide_signal(report, _partner(), now=NOW)
    assert d.denied and d.fired("ONWARD-CONSENT", "deny")
    assert RULES["ONWARD-CONSENT"].citation == "UNCC Art. 36"
    ok = decide_signal(ReportView(TLP.CLEAR, "fr-cert", False, consent=True,
                                  conditions="law enforcement only"), _partner(), now=NOW)
    assert ok.allowed and ok.fired("ONWARD-CONSENT", "allow")
    assert "Originator's conditions: law enforcement only" in ok.conditions


def test_concerns_get_clear_only_and_need_review_for_the_rest() -> None:
    concerns = _partner(standing="concerns")
    assert decide_signal(ReportView(TLP.CLEAR, NODE_ID, True), concerns, now=NOW).allowed
    green = decide_signal(ReportView(TLP.GREEN, NODE_ID, True), concerns, now=NOW)
    assert green.outcome == "review" and green.reviewer_required


def test_the_originator_sees_its_own_red_report() -> None:
    red = ReportView(TLP.RED, "de-bka", False, consent=False)
    assert decide_signal(red, _partner(), now=NOW).fired("SIGNAL-ORIGINATOR", "allow")
    assert not decide_signal(red, _partner("fr-cert"), now=NOW).allowed


def test_an_unclassified_report_goes_to_no_one_but_its_originator() -> None:
    report = ReportView(TLP.CLEAR, NODE_ID, True, classified=False)
    for recipient in (None, _partner()):
        decision = decide_signal(report, recipient, now=NOW)
        assert decision.denied and decision.fired("SIGNAL-UNCLASSIFIED", "deny")
    theirs = ReportView(TLP.AMBER, "de-bka", False, classified=False)
    assert decide_signal(theirs, _partner("de-bka"), now=NOW).allowed  # its originator still sees it
