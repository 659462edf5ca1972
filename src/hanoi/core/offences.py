"""The offence catalogue: the conduct the Convention covers (UNCC Arts. 7-17, plus serious crime).

Requests, signals (abuse type) and media hashes all name an offence by code, so this module
stays general: a code, a short name, and the rule row in ``citations.py`` that it applies.
``SERIOUS`` stands for any other conduct punishable by at least four years (Art. 2); whether a
given serious crime is in scope depends on its maximum penalty, so callers pass it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput, Problem

SERIOUS = "SERIOUS"
# Art. 2: "serious crime" is conduct punishable by at least four years' deprivation of liberty.
SERIOUS_CRIME_MIN_YEARS = 4


@dataclass(frozen=True, slots=True)
class Offence:
    """One entry of the catalogue."""

    code: str
    article: str
    name: str
    rule: str
    in_catalogue: bool

    @property
    def citation(self) -> str:
        return RULES[self.rule].citation

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "article": self.article,
            "name": self.name,
            "rule": self.rule,
            "citation": self.citation,
            "text": RULES[self.rule].text,
            "in_catalogue": self.in_catalogue,
        }


def _uncc(article: int, name: str) -> Offence:
    return Offence(f"UNCC-{article}", str(article), name, f"OFFENCE-{article}", True)


OFFENCES: dict[str, Offence] = {
    o.code: o
    for o in (
        _uncc(7, "Illegal access"),
        _uncc(8, "Illegal interception"),
        _uncc(9, "Interference with electronic data"),
        _uncc(10, "Interference with an ICT system"),
        _uncc(11, "Misuse of devices"),
        _uncc(12, "ICT-related forgery"),
        _uncc(13, "ICT-related theft or fraud"),
        _uncc(14, "Online child sexual abuse or exploitation material"),
        _uncc(15, "Solicitation or grooming of a child"),
        _uncc(16, "Non-consensual dissemination of intimate images"),
        _uncc(17, "Laundering of proceeds of crime"),
        Offence(SERIOUS, "2", "Other serious crime (maximum penalty of at least four years)",
                "OFFENCE-SERIOUS", False),
    )
}


def offence(code: Any, field_name: str = "offence_code") -> Offence:
    """The offence with this code (any case); ``InvalidInput`` naming the field if unknown."""
    problem = offence_problem(code, field_name)
    if problem is not None:
        raise InvalidInput(f"{field_name}: {problem.message}", [problem], problem.rule)
    return OFFENCES[str(code).strip().upper()]


def offence_problem(code: Any, field_name: str = "offence_code") -> Problem | None:
    """The problem with an offence code, or None if it is in the catalogue."""
    if isinstance(code, str) and code.strip().upper() in OFFENCES:
        return None
    known = ", ".join(OFFENCES)
    return Problem(field_name, f"{code!r} is not an offence code; use one of: {known}",
                   "OFFENCE-CATALOGUE")


def in_scope(code: str, max_penalty_years: int | None,
             min_years: int = SERIOUS_CRIME_MIN_YEARS) -> bool:
    """Whether the Convention's cooperation covers this offence.

    Catalogue offences always are; ``SERIOUS`` only with a known maximum penalty of at least
    ``min_years`` (a node may set a higher threshold, never a lower one than Art. 2's).
    """
    o = offence(code)
    if o.in_catalogue:
        return True
    return max_penalty_years is not None and max_penalty_years >= min_years


def catalogue() -> list[dict[str, Any]]:
    """Every offence as a JSON-safe dict, in article order, for API and CLI listings."""
    return [o.as_dict() for o in OFFENCES.values()]
