"""The gate for passing a hash list to a member (pure): who the member is, a named reviewer's
finding, the list's TLP marking, and onward transfer (a received list is never passed on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanoi.core.gate import Decision, PartnerView, Reason, Review, StandingPolicy, review_reasons, standing_reasons
from hanoi.core.tlp import TLP, disclosure_reason


def tlp_reasons(tlp: TLP, recipient: str, named: Any) -> list[Reason]:
    """The TLP rule for passing a list to ``recipient``: the list's named recipients are the
    ones its originator (this node) named."""
    return [disclosure_reason(tlp, recipient, who=recipient, named=frozenset(named or ()))]


def decide_distribution(lst: Mapping[str, Any], member: Mapping[str, Any], standing: StandingPolicy,
                        review: Review | None = None) -> Decision:
    """Passing list ``lst`` to ``member`` (both rows): standing, the reviewer, TLP, onward
    transfer, and a federation endpoint to deliver to."""
    reasons = standing_reasons(PartnerView.from_dict(member), standing, review)
    reasons += review_reasons(review)
    reasons += tlp_reasons(TLP(lst["tlp"]), member["id"], lst["recipients"])
    if lst["origin"] is not None:
        reasons.append(Reason("GATE-ONWARD-TRANSFER", "deny",
                              f"the list came from {lst['origin']}: it is not passed on"))
    if not member.get("endpoint"):
        reasons.append(Reason("FED-UNDELIVERABLE", "deny", f"{member['id']} has no federation endpoint"))
    return Decision.of(reasons)
