"""The safeguards gate for signals: may this report go to this recipient? Pure.

Every way a report leaves the node asks the same question: a lookup answer, a listing, an
export (STIX / TAXII / MISP / CSV), a federation push. ``decide_signal`` answers it with a
``hanoi.core.gate.Decision`` listing every rule that fired:

- the recipient's standing (``standing_reasons``): suspended gets nothing; concerns or a
  non-Party without a treaty need a named person's review, so nothing goes automatically;
- the report's originator: the organisation that reported it always sees its own report
  (unless suspended);
- expiry: a report past ``expires_at`` is no longer shared;
- classification: a report without an offence code (an import from another tool that nothing
  classified) serves this node's own lookups only, until it is classified;
- onward transfer (Art. 36): a report that did not originate with this node goes to a third
  organisation only with its originator's consent;
- TLP 2.0: RED never leaves the node; AMBER+STRICT only to the organisations the originator
  named; AMBER to those and to members this node names (need-to-know); GREEN to the community
  (members, whatever their kind, in good standing); CLEAR to anyone, the public included.

Node staff (a token without a member) are inside the node: nothing leaves, no gate.

Lookups answer thousands of values a second, so the index does not build a ``Decision`` per
report: ``Viewer`` holds what the rules need to know about one recipient (computed once per
call, from ``standing_reasons``) and ``sees`` applies the same rules as plain comparisons. A
property-based test holds ``sees`` equal to ``decide_signal(...).allowed`` for every recipient,
marking and standing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from hanoi.core.gate import DEFAULT_STANDING, Decision, PartnerView, Reason, StandingPolicy, standing_reasons
from hanoi.core.members import Standing
from hanoi.core.tlp import TLP, disclosure_reason

HANDLING = {
    TLP.CLEAR: "",
    TLP.GREEN: "TLP:GREEN: share within your community, not publicly.",
    TLP.AMBER: "TLP:AMBER: share only within your organisation and with the clients you name, "
               "on a need-to-know basis.",
    TLP.AMBER_STRICT: "TLP:AMBER+STRICT: share only within your organisation.",
    TLP.RED: "",
}


@dataclass(frozen=True, slots=True)
class ReportView:
    """What the gate needs to know about one report of a signal.

    ``source`` is the reporting organisation (a member id, or this node's own id when
    ``originated_here``). ``recipients`` are the organisations the originator named;
    ``named`` those this node named for an AMBER report. ``consent`` is the originator's
    consent to onward transfer (Art. 36); it does not matter for a report made here.
    """

    tlp: TLP
    source: str
    originated_here: bool = False
    recipients: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()
    consent: bool = False
    expires_at: datetime | None = None
    conditions: str = ""
    classified: bool = True

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def decide_signal(report: ReportView, recipient: PartnerView | None, *, now: datetime,
                  policy: StandingPolicy = DEFAULT_STANDING) -> Decision:
    """May ``report`` go to ``recipient`` (a member; ``None`` is the public, anyone at all)?"""
    reasons: list[Reason] = []
    conditions: list[str] = []
    who = recipient.label if recipient is not None else "the public"
    if recipient is not None and recipient.member_id == report.source:
        reasons.append(Reason("SIGNAL-ORIGINATOR", "allow", f"{who} reported it"))
        if recipient.standing is Standing.SUSPENDED:
            reasons.append(Reason("GATE-SUSPENDED", "deny",
                                  f"{who} is suspended after a safeguards assessment"))
        return Decision.of(reasons)
    if recipient is not None:
        standing = standing_reasons(recipient, policy)
        if report.tlp is TLP.CLEAR:
            # CLEAR is not limited: only a suspension stops it (nothing goes to a suspended one).
            standing = [r for r in standing if r.code == "GATE-SUSPENDED"]
        reasons += standing
    if report.expired(now):
        reasons.append(Reason("SIGNAL-EXPIRED", "deny", "the report has expired"))
    if not report.classified:
        reasons.append(Reason("SIGNAL-UNCLASSIFIED", "deny", "the report has no offence code yet"))
    if not report.originated_here:
        if report.consent:
            reasons.append(Reason("ONWARD-CONSENT", "allow",
                                  f"{report.source} consented to onward transfer"))
        else:
            reasons.append(Reason("ONWARD-CONSENT", "deny",
                                  f"{report.source} did not consent to onward transfer"))
    reasons.append(_tlp_reason(report, recipient, who))
    if report.conditions:
        conditions.append(f"Originator's conditions: {report.conditions}")
    conditions.append(HANDLING[report.tlp])
    return Decision.of(reasons, conditions)


def _tlp_reason(report: ReportView, recipient: PartnerView | None, who: str) -> Reason:
    return disclosure_reason(report.tlp, recipient.member_id if recipient is not None else None, who=who,
                             named=report.recipients, named_here=report.named)


# --- the fast path ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """One recipient, reduced to what ``sees`` needs; build it with ``Viewer.of``.

    ``member_id`` None is the public. ``suspended``: nothing at all. ``trusted``: the standing
    rules let items go without a review (anything beyond CLEAR needs it).
    """

    member_id: str | None
    suspended: bool
    trusted: bool

    @classmethod
    def of(cls, recipient: PartnerView | None, policy: StandingPolicy = DEFAULT_STANDING) -> Viewer:
        if recipient is None:
            return cls(None, False, False)
        reasons = standing_reasons(recipient, policy)
        return cls(recipient.member_id, recipient.standing is Standing.SUSPENDED,
                   all(r.effect == "allow" for r in reasons))


PUBLIC = Viewer(None, False, False)


def sees(viewer: Viewer, report: ReportView, now: datetime) -> bool:
    """``decide_signal(report, recipient, now=now).allowed``, as plain comparisons."""
    return sees_fields(viewer, report.tlp, report.source, report.originated_here,
                       report.recipients, report.named, report.consent, report.expires_at, now,
                       report.classified)


def sees_fields(viewer: Viewer, tlp: TLP, source: str, originated_here: bool,
                recipients: Collection[str], named: Collection[str], consent: bool,
                expires_at: datetime | None, now: datetime, classified: bool = True) -> bool:
    """``sees`` over the report's fields (the index keeps fields, not ``ReportView`` objects)."""
    if viewer.suspended:
        return False
    if viewer.member_id is not None and viewer.member_id == source:
        return True
    if expires_at is not None and expires_at <= now:
        return False
    if not classified:
        return False
    if not originated_here and not consent:
        return False
    if tlp is TLP.CLEAR:
        return True
    if not viewer.trusted or tlp is TLP.RED:
        return False
    if tlp is TLP.GREEN:
        return True
    member = viewer.member_id
    if member is None:  # trusted implies a member; kept explicit for the type checker
        return False
    return member in recipients or (tlp is TLP.AMBER and member in named)


__all__ = ["HANDLING", "PUBLIC", "ReportView", "Viewer", "decide_signal", "sees", "sees_fields"]
